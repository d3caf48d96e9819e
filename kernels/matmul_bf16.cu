/* Mixed-precision matmuls through cuBLASLt: bf16 operands, fp32 accumulation (CUBLAS_COMPUTE_32F),
 * fp32 or bf16 results. cuBLASLt rather than cublasGemmEx because its output D may differ from
 * the addend C: the residual add res_next = res + y W^T is the product's own epilogue, with no
 * copy of the stream first.
 *
 * Column-major as in matmul.cu: every product is written for the transposes. A product's
 * descriptors and the algorithm the heuristic picks depend only on its shape, types and operand
 * alignment, so they are made once per distinct product and cached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"

#define LT_WORKSPACE (32u << 20)

struct LtKey {
    int ta, tb, m, n, k, lda, ldb, ldc, ldd;
    int type;         /* cudaDataType of C and D (cuBLASLt wants them alike) */
    int beta_nonzero; /* the algorithm differs when C is read */
    int align;        /* smallest alignment, in bytes (<= 256), of the four pointers */
};

struct LtPlan {
    LtKey key;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc, ld;
    cublasLtMatmulAlgo_t algo;
};

static int ptr_align(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    int a = 256;
    while (a > 1 && v % a) a /= 2;
    return a;
}

void cuda_lt_init(CudaCtx *c)
{
    CUBLAS_CHECK(cublasLtCreate(&c->lt));
    c->lt_ws_bytes = LT_WORKSPACE;
    c->lt_ws = dev_malloc(c, c->lt_ws_bytes);
    if (!c->lt_ws) {
        fprintf(stderr, "bytelm: CUDA: out of device memory (cuBLASLt workspace)\n");
        abort();
    }
}

void cuda_lt_destroy(CudaCtx *c)
{
    for (int i = 0; i < c->n_plans; i++) {
        LtPlan *p = &c->plans[i];
        cublasLtMatrixLayoutDestroy(p->la);
        cublasLtMatrixLayoutDestroy(p->lb);
        cublasLtMatrixLayoutDestroy(p->lc);
        cublasLtMatrixLayoutDestroy(p->ld);
        cublasLtMatmulDescDestroy(p->desc);
    }
    free(c->plans);
    c->plans = NULL;
    c->n_plans = c->cap_plans = 0;
    if (c->lt_ws) dev_free(c, c->lt_ws);
    c->lt_ws = NULL;
    if (c->lt) cublasLtDestroy(c->lt);
    c->lt = NULL;
}

static LtPlan *plan_for(CudaCtx *c, const LtKey &k)
{
    for (int i = 0; i < c->n_plans; i++)
        if (!memcmp(&c->plans[i].key, &k, sizeof k)) return &c->plans[i];
    if (c->n_plans == c->cap_plans) {
        c->cap_plans = c->cap_plans ? 2 * c->cap_plans : 32;
        c->plans = (LtPlan *)realloc(c->plans, (size_t)c->cap_plans * sizeof(LtPlan));
        if (!c->plans) {
            fprintf(stderr, "bytelm: out of host memory\n");
            abort();
        }
    }
    LtPlan *p = &c->plans[c->n_plans];
    memset(p, 0, sizeof *p);
    p->key = k;
    cublasOperation_t ta = (cublasOperation_t)k.ta, tb = (cublasOperation_t)k.tb;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    /* stored shapes: op(A) is m x k, op(B) is k x n */
    int ar = ta == CUBLAS_OP_N ? k.m : k.k, ac = ta == CUBLAS_OP_N ? k.k : k.m;
    int br = tb == CUBLAS_OP_N ? k.k : k.n, bc = tb == CUBLAS_OP_N ? k.n : k.k;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, ar, ac, k.lda));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, br, bc, k.ldb));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lc, (cudaDataType)k.type, k.m, k.n, k.ldc));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->ld, (cudaDataType)k.type, k.m, k.n, k.ldd));
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = c->lt_ws_bytes;
    uint32_t al = (uint32_t)k.align;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &ws, sizeof ws));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                  &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                  &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                  &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                  &al, sizeof al));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(c->lt, p->desc, p->la, p->lb, p->lc, p->ld, pref, 1,
                                            &res, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (!found) {
        fprintf(stderr, "bytelm: cuBLASLt: no algorithm for a %d x %d x %d bf16 product\n", k.m,
                k.n, k.k);
        abort();
    }
    p->algo = res.algo;
    c->n_plans++;
    return p;
}

/* D[m, n] = op(A) op(B) + beta C, column-major; A, B bf16; C, D of type t (fp32 or bf16). */
static void lt_gemm(CudaCtx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B, int ldb, float beta,
                    const void *C, int ldc, void *D, int ldd, cudaDataType t)
{
    if (m == 0 || n == 0) return;
    if (k == 0) {
        fprintf(stderr, "bytelm: cuBLASLt: empty inner dimension\n");
        abort();
    }
    LtKey key;
    memset(&key, 0, sizeof key);
    key.ta = ta, key.tb = tb, key.m = m, key.n = n, key.k = k;
    key.lda = lda, key.ldb = ldb, key.ldc = ldc, key.ldd = ldd;
    key.type = t;
    key.beta_nonzero = beta != 0.0f;
    int al = ptr_align(A);
    if (ptr_align(B) < al) al = ptr_align(B);
    if (ptr_align(C) < al) al = ptr_align(C);
    if (ptr_align(D) < al) al = ptr_align(D);
    key.align = al;
    LtPlan *p = plan_for(c, key);
    const float alpha = 1.0f;
    CUBLAS_CHECK(cublasLtMatmul(c->lt, p->desc, &alpha, A, p->la, B, p->lb, &beta, C, p->lc, D, p->ld,
                            &p->algo, c->lt_ws, c->lt_ws_bytes, c->stream));
}

/* the products the GEMV takes (it fetches its weights early, like gemm_rows.cu) */
static bool gemv_takes(int M, int K) { return M <= GEMV_MAX_M && K > 0; }

/* out[M, N] = add + inp[M, K] @ w[N, K]^T   <=>   out^T = w inp^T (+ add^T) */
void cuda_matmul_fwd_bf16(CudaCtx *c, void *out, int out_bf16, int ldo, const float *add,
                          const __nv_bfloat16 *inp, int ldi, const __nv_bfloat16 *w, int M, int K,
                          int N)
{
    if (M == 0 || N == 0) return;
    if (out_bf16 && add) {
        fprintf(stderr, "bytelm: matmul_fwd_bf16: an addend needs an fp32 output\n");
        abort();
    }
    if (gemv_takes(M, K))
        return cuda_gemv_bf16(c, out, out_bf16, ldo, add, inp, ldi, w, M, K, N);
    if (cuda_gemm_rows_bf16(c, out, out_bf16, ldo, add, inp, ldi, w, M, K, N)) return;
    cudaDataType t = out_bf16 ? CUDA_R_16BF : CUDA_R_32F;
    lt_gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, w, K, inp, ldi, add ? 1.0f : 0.0f,
            add ? (const void *)add : out, ldo, out, ldo, t);
}

bool cuda_matmul_fwd_bf16_fetches_early(const CudaCtx *c, int M, int K, int N)
{
    return gemv_takes(M, K) || cuda_gemm_rows_takes(c, M, K, N);
}

/* dinp[M, K] (+)= dout @ w    <=>   dinp^T = w^T dout^T
 * dw[N, K] += dout^T @ inp    <=>   dw^T += inp^T dout */
void cuda_matmul_bwd_bf16(CudaCtx *c, void *dinp, int dinp_bf16, int lddi, float *dw,
                          const __nv_bfloat16 *dout, int lddo, const __nv_bfloat16 *inp, int ldi,
                          const __nv_bfloat16 *w, int M, int K, int N, int accumulate_dinp)
{
    if (M == 0) return;
    if (dinp)
        lt_gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, w, K, dout, lddo,
                accumulate_dinp ? 1.0f : 0.0f, dinp, lddi, dinp, lddi,
                dinp_bf16 ? CUDA_R_16BF : CUDA_R_32F);
    lt_gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, inp, ldi, dout, lddo, 1.0f, dw, K, dw, K,
            CUDA_R_32F);
}

/* uniform in [-1, 1) from a hash of the index: random data, so the rate is not a zeros rate */
template <typename T> __global__ void fill_random_kernel(T *x, size_t n, uint32_t seed)
{
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 16, h *= 0x7feb352du, h ^= h >> 15, h *= 0x846ca68bu, h ^= h >> 16;
        x[i] = bl_from_f<T>((float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
}

double cuda_matmul_rate(CudaCtx *c, int bf16, int n)
{
    size_t e = (size_t)n * n, eb = bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
    void *a = dev_malloc(c, e * eb), *b = dev_malloc(c, e * eb), *o = dev_malloc(c, e * sizeof(float));
    if (!a || !b || !o) {
        fprintf(stderr, "bytelm: CUDA: out of device memory (matmul rate)\n");
        abort();
    }
    int grid = c->num_sms * 8;
    if (bf16) {
        fill_random_kernel<<<grid, 256, 0, c->stream>>>((__nv_bfloat16 *)a, e, 1u);
        fill_random_kernel<<<grid, 256, 0, c->stream>>>((__nv_bfloat16 *)b, e, 2u);
    } else {
        fill_random_kernel<<<grid, 256, 0, c->stream>>>((float *)a, e, 1u);
        fill_random_kernel<<<grid, 256, 0, c->stream>>>((float *)b, e, 2u);
    }
    CUDA_LAUNCH_CHECK();
    auto once = [&]() {
        if (bf16)
            cuda_matmul_fwd_bf16(c, o, 0, n, NULL, (const __nv_bfloat16 *)a, n,
                                 (const __nv_bfloat16 *)b, n, n, n);
        else
            cuda_matmul_fwd(c, (float *)o, n, (const float *)a, n, (const float *)b, n, n, n, 0);
    };
    for (int i = 0; i < 3; i++) once();
    cudaEvent_t t0, t1;
    CUDA_CHECK(cudaEventCreate(&t0));
    CUDA_CHECK(cudaEventCreate(&t1));
    const int reps = 10;
    CUDA_CHECK(cudaEventRecord(t0, c->stream));
    for (int i = 0; i < reps; i++) once();
    CUDA_CHECK(cudaEventRecord(t1, c->stream));
    CUDA_CHECK(cudaEventSynchronize(t1));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
    CUDA_CHECK(cudaEventDestroy(t0));
    CUDA_CHECK(cudaEventDestroy(t1));
    dev_free(c, a), dev_free(c, b), dev_free(c, o);
    return 2.0 * (double)n * n * n * reps / (ms * 1e-3);
}
