/* The CUDA backend's state and the launchers the op table calls (C++ only, kernels/ private).
 *
 * Every launcher queues work on ctx->stream and returns; nothing synchronizes except memory
 * transfers to or from the host, sumsq (it returns a host value) and scratch growth. */
#ifndef BYTELM_CUDA_CTX_H
#define BYTELM_CUDA_CTX_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "byte_lm/model/backend.h" /* ScanFwd, ScanBwd, ScanStep, SampleArgs */

struct LtPlan; /* matmul_bf16.cu: a cuBLASLt product's descriptors and chosen algorithm */

/* One live device allocation, for the memory counter. */
struct MemBlock {
    void *p;
    size_t bytes;
};

struct CudaCtx {
    int device;
    int num_sms;
    cudaStream_t stream;
    cublasHandle_t cublas;
    cublasLtHandle_t lt;
    void *lt_ws; /* cuBLASLt workspace */
    size_t lt_ws_bytes;
    LtPlan *plans; /* cached per distinct product shape */
    int n_plans, cap_plans;
    void *scratch; /* device memory reused by every op that needs temporaries */
    size_t scratch_bytes;
    double *host_result; /* pinned, for sumsq's answer */
    /* every cudaMalloc the backend makes, so peak memory is the backend's own count */
    MemBlock *blocks;
    int n_blocks, cap_blocks;
    size_t mem_now, mem_peak;
};

/* cudaMalloc / cudaFree with the memory counter; dev_malloc returns NULL when out of memory. */
void *dev_malloc(CudaCtx *c, size_t bytes);
void dev_free(CudaCtx *c, void *p);

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
/* gemv.cu: the same products for M <= GEMV_MAX_M input rows, at the weights' bandwidth; the
 * matmul launchers send such calls here */
#define GEMV_MAX_M 8
void cuda_gemv(CudaCtx *c, float *out, int ldo, const float *inp, int ldi, const float *w, int M,
               int K, int N, int accumulate);
void cuda_gemv_bf16(CudaCtx *c, void *out, int out_bf16, int ldo, const float *add,
                    const __nv_bfloat16 *inp, int ldi, const __nv_bfloat16 *w, int M, int K,
                    int N);
void cuda_matmul_bwd(CudaCtx *c, float *dinp, int lddi, float *dw, const float *dout, int lddo,
                     const float *inp, int ldi, const float *w, int M, int K, int N,
                     int accumulate_dinp);

void cuda_conv1d_fwd(CudaCtx *c, float *out, const float *in, int in_stride, const float *w,
                     const float *bias, float *conv_state, int B, int L, int D, int K);
void cuda_conv1d_bwd(CudaCtx *c, float *din, int din_stride, float *dw, float *dbias,
                     const float *dout, const float *in, int in_stride, const float *w,
                     const float *bias, int B, int L, int D, int K);

/* Selective scan (scan.cu): the backend's arguments; the saved states take
 * cuda_scan_saved_bytes. Only the state sizes scan_state_supported() names are built. */
size_t cuda_scan_saved_bytes(int B, int L, int D, int N);
void cuda_scan_fwd(CudaCtx *c, const ScanFwd *a);
void cuda_scan_bwd(CudaCtx *c, const ScanBwd *a);
int cuda_scan_state_ok(int N);
/* conv1d is built for kernel sizes 1..CUDA_CONV_KMAX */
#define CUDA_CONV_KMAX 8

void cuda_conv1d_fwd_bf16(CudaCtx *c, __nv_bfloat16 *out, const __nv_bfloat16 *in, int in_stride,
                          const float *w, const float *bias, float *conv_state, int B, int L,
                          int D, int K);
void cuda_conv1d_bwd_bf16(CudaCtx *c, __nv_bfloat16 *din, int din_stride, float *dw,
                          float *dbias, const __nv_bfloat16 *dout, const __nv_bfloat16 *in,
                          int in_stride, const float *w, const float *bias, int B, int L, int D,
                          int K);
void cuda_rmsnorm_fwd_bf16(CudaCtx *c, __nv_bfloat16 *out, float *rstd, const float *inp,
                           const float *w, int rows, int C, float eps);
/* matmul_bf16.cu: bf16 operands, fp32 accumulation, through cuBLASLt (see backend.h) */
void cuda_lt_init(CudaCtx *c);
void cuda_lt_destroy(CudaCtx *c);
void cuda_matmul_fwd_bf16(CudaCtx *c, void *out, int out_bf16, int ldo, const float *add,
                          const __nv_bfloat16 *inp, int ldi, const __nv_bfloat16 *w, int M, int K,
                          int N);
void cuda_matmul_bwd_bf16(CudaCtx *c, void *dinp, int dinp_bf16, int lddi, float *dw,
                          const __nv_bfloat16 *dout, int lddo, const __nv_bfloat16 *inp, int ldi,
                          const __nv_bfloat16 *w, int M, int K, int N, int accumulate_dinp);
/* gemm_rows.cu: the forward product for 9..GEMM_ROWS_MAX_M input rows on the tensor cores (the
 * step at larger batches); false, launching nothing, for a shape or alignment it does not take.
 * From 33 rows it takes only products of few columns: on wide ones cuBLASLt's kernels were
 * faster in the step (kernels/NOTES.md, g5 and g7). */
#define GEMM_ROWS_MAX_M 64
bool cuda_gemm_rows_bf16(CudaCtx *c, void *out, int out_bf16, int ldo, const float *add,
                         const __nv_bfloat16 *inp, int ldi, const __nv_bfloat16 *w, int M, int K,
                         int N);
/* whether cuda_gemm_rows_bf16 takes an M x K x N product of aligned operands */
bool cuda_gemm_rows_takes(const CudaCtx *c, int M, int K, int N);
/* whether cuda_matmul_fwd_bf16 runs an M x K x N product (aligned operands) as a programmatic
 * dependent that fetches its weights under the kernel before it (the GEMV, gemm_rows.cu); on
 * cuBLASLt it reads them only once it runs, so the op before may warm L2 with them */
bool cuda_matmul_fwd_bf16_fetches_early(const CudaCtx *c, int M, int K, int N);
/* FLOP/s of an n x n x n product measured now on random data: bf16 operands through cuBLASLt,
 * or fp32 through cuBLAS (no TF32). */
double cuda_matmul_rate(CudaCtx *c, int bf16, int n);
/* cast.cu */
void cuda_cast_bf16(CudaCtx *c, __nv_bfloat16 *dst, int ldd, const float *src, int lds, int rows,
                    int cols);

void cuda_cross_entropy(CudaCtx *c, float *losses, float *dlogits, const float *logits,
                        const uint8_t *targets, int rows, int V, float dscale);

/* shadow: when not NULL, also set to param rounded to bf16, in the same pass */
void cuda_adamw(CudaCtx *c, float *param, __nv_bfloat16 *shadow, const float *grad, float *m,
                float *v, size_t n, float lr, float beta1, float beta2, float eps, float wd,
                float grad_scale, int t);
double cuda_sumsq(CudaCtx *c, const float *x, size_t n);

/* generation: gemv.cu (the normalized product), scan_step.cu, sample.cu */
void cuda_norm_matmul(CudaCtx *c, void *out, int out_bf16, int ldo, const float *inp,
                      const float *norm_w, float eps, const void *w, int half, int M, int K, int N);
void cuda_ssm_step(CudaCtx *c, const ScanStep *a);
/* scan_step_mma.cu: the bf16 step at many streams (cuda_ssm_step asks it from STEP_WIDE_MIN_B),
 * dt_proj on the tensor cores; false, launching nothing, for a shape or alignment it does not
 * take */
bool cuda_ssm_step_mma(CudaCtx *c, const ScanStep *a);
void cuda_sample(CudaCtx *c, const SampleArgs *a);

/* graph.cu: recording the ops queued on the stream and replaying them (Backend.graph_*) */
struct CudaGraph;
void cuda_graph_begin(CudaCtx *c);
void *cuda_graph_end(CudaCtx *c);
int cuda_graph_run(CudaCtx *c, void *graph);
void cuda_graph_free(CudaCtx *c, void *graph);

#endif
