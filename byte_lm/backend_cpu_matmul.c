/* CPU matmuls through CBLAS (OpenBLAS). Weights are [N, K] (nn.Linear), activations row-major
 * with explicit leading dimensions. */
#include <cblas.h>

#include "backend_cpu_internal.h"

/* OpenBLAS keeps one process-wide thread count; set it to this backend's before each call so
 * that two backends with different counts each get theirs. */
static void blas_threads(Backend *be)
{
    openblas_set_num_threads(cpu_threads(be));
}

void cpu_matmul_fwd(Backend *be, float *out, int ldo, const float *inp, int ldi, const float *w,
                    int M, int K, int N, int accumulate)
{
    if (M <= 0 || N <= 0) return;
    blas_threads(be);
    /* beta = 0 makes BLAS overwrite out without reading it (so NaN garbage is not propagated) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, ldi, w, K,
                accumulate ? 1.0f : 0.0f, out, ldo);
}

void cpu_matmul_bwd(Backend *be, float *dinp, int lddi, float *dw, const float *dout, int lddo,
                    const float *inp, int ldi, const float *w, int M, int K, int N,
                    int accumulate_dinp)
{
    if (M <= 0 || N <= 0 || K <= 0) return;
    blas_threads(be);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, lddo, w, K,
                    accumulate_dinp ? 1.0f : 0.0f, dinp, lddi);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, lddo, inp, ldi, 1.0f,
                dw, K);
}
