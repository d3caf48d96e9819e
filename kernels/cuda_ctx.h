/* The CUDA backend's state and the launchers the op table calls (C++ only, kernels/ private).
 *
 * Every launcher queues work on ctx->stream and returns; nothing synchronizes except memory
 * transfers to or from the host, sumsq (it returns a host value) and scratch growth. */
#ifndef BYTELM_CUDA_CTX_H
#define BYTELM_CUDA_CTX_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

struct CudaCtx {
    int device;
    int num_sms;
    cudaStream_t stream;
    cublasHandle_t cublas;
    void *scratch; /* device memory reused by every op that needs temporaries */
    size_t scratch_bytes;
    double *host_result; /* pinned, for sumsq's answer */
};

/* At least `bytes` of device scratch, valid until the next call of any op. Growing waits for the
 * stream (the old buffer may still be in use), so sizes settle after the first training step. */
void *cuda_scratch(CudaCtx *c, size_t bytes);

/* Carves consecutive 256-byte-aligned pieces out of one scratch request. */
struct ScratchCarver {
    char *base;
    size_t used;
    template <typename T> T *take(size_t count)
    {
        size_t off = (used + 255) / 256 * 256;
        used = off + count * sizeof(T);
        return reinterpret_cast<T *>(base + off);
    }
};
static inline size_t scratch_round(size_t bytes) { return (bytes + 255) / 256 * 256; }

/* ---- launchers (one file each in kernels/) ---- */
void cuda_embedding_fwd(CudaCtx *c, float *out, const uint8_t *ids, const float *table, int rows,
                        int C);
void cuda_embedding_bwd(CudaCtx *c, float *dtable, const float *dout, const uint8_t *ids,
                        int rows, int C);

void cuda_rmsnorm_fwd(CudaCtx *c, float *out, float *rstd, const float *inp, const float *w,
                      int rows, int C, float eps);
void cuda_rmsnorm_bwd(CudaCtx *c, float *dinp, float *dw, const float *dout, const float *inp,
                      const float *w, const float *rstd, int rows, int C);

void cuda_matmul_fwd(CudaCtx *c, float *out, int ldo, const float *inp, int ldi, const float *w,
                     int M, int K, int N, int accumulate);
void cuda_matmul_bwd(CudaCtx *c, float *dinp, int lddi, float *dw, const float *dout, int lddo,
                     const float *inp, int ldi, const float *w, int M, int K, int N,
                     int accumulate_dinp);

void cuda_conv1d_fwd(CudaCtx *c, float *out, const float *in, int in_stride, const float *w,
                     const float *bias, float *conv_state, int B, int L, int D, int K);
void cuda_conv1d_bwd(CudaCtx *c, float *din, int din_stride, float *dw, float *dbias,
                     const float *dout, const float *in, int in_stride, const float *w,
                     const float *bias, int B, int L, int D, int K);

/* Selective scan. chunk = 0 picks the default chunk length (scan_chunk_len); the benchmark
 * passes other values, and then must pass the same to fwd, bwd and saved_bytes. */
int scan_chunk_len(int B, int L, int D, int N);
size_t cuda_scan_saved_bytes(int B, int L, int D, int N, int chunk);
void cuda_scan_fwd(CudaCtx *c, float *y, const float *u, const float *delta_pre,
                   const float *dt_bias, const float *A_log, const float *Bm, const float *Cm,
                   int bc_stride, const float *Dskip, const float *z, int z_stride,
                   float *ssm_state, void *saved, int B, int L, int D, int N, int chunk);
void cuda_scan_bwd(CudaCtx *c, float *du, float *ddelta_pre, float *ddt_bias, float *dA_log,
                   float *dBm, float *dCm, int dbc_stride, float *dDskip, float *dz, int dz_stride,
                   const float *dy, const float *u, const float *delta_pre, const float *dt_bias,
                   const float *A_log, const float *Bm, const float *Cm, int bc_stride,
                   const float *Dskip, const float *z, int z_stride, const void *saved, int B,
                   int L, int D, int N, int chunk);

void cuda_cross_entropy(CudaCtx *c, float *losses, float *dlogits, const float *logits,
                        const uint8_t *targets, int rows, int V, float dscale);

void cuda_adamw(CudaCtx *c, float *param, const float *grad, float *m, float *v, size_t n,
                float lr, float beta1, float beta2, float eps, float wd, float grad_scale, int t);
double cuda_sumsq(CudaCtx *c, const float *x, size_t n);

#endif
