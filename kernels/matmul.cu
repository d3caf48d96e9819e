/* Matmuls through cuBLAS, fp32 in and out with CUBLAS_COMPUTE_32F (no TF32).
 *
 * cuBLAS is column-major. A row-major [R, C] matrix with leading dimension ld is, read
 * column-major, its transpose [C, R] with the same ld, so every product below is written for
 * the transposes: out^T = w x^T and so on. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"

static void gemm(CudaCtx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const float alpha = 1.0f;
    CUBLAS_CHECK(cublasGemmEx(c->cublas, ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B,
                              CUDA_R_32F, ldb, &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
}

/* out[M, N] = inp[M, K] @ w[N, K]^T   <=>   out^T[N, M] = w[N, K] @ inp^T[K, M]
 * (w stored row-major [N, K] is column-major [K, N]: op T gives [N, K]) */
void cuda_matmul_fwd(CudaCtx *c, float *out, int ldo, const float *inp, int ldi, const float *w,
                     int M, int K, int N, int accumulate)
{
    if (M == 0 || N == 0) return;
    if (M <= GEMV_MAX_M && K > 0) return cuda_gemv(c, out, ldo, inp, ldi, w, M, K, N, accumulate);
    gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, w, K, inp, ldi, accumulate ? 1.0f : 0.0f, out,
         ldo);
}

/* dinp[M, K] = dout[M, N] @ w[N, K]   <=>   dinp^T[K, M] = w^T[K, N] @ dout^T[N, M]
 * dw[N, K] += dout^T @ inp             <=>   dw^T[K, N] += inp^T[K, M] @ dout[M, N] */
void cuda_matmul_bwd(CudaCtx *c, float *dinp, int lddi, float *dw, const float *dout, int lddo,
                     const float *inp, int ldi, const float *w, int M, int K, int N,
                     int accumulate_dinp)
{
    if (M == 0) return;
    if (dinp)
        gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, w, K, dout, lddo, accumulate_dinp ? 1.0f : 0.0f,
             dinp, lddi);
    gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, inp, ldi, dout, lddo, 1.0f, dw, K);
}
