/* The CUDA backend: device memory on one stream and the op table. The ops live in kernels/, one
 * file per op; fp32 matmuls go through cuBLAS in fp32 (no TF32), so results match the CPU
 * oracle to fp32 rounding; the mixed-precision ones through cuBLASLt (matmul_bf16.cu). */
#include <stdio.h>
#include <stdlib.h>

#ifndef BYTELM_CUDA
#define BYTELM_CUDA 1 /* this file is the CUDA build: declare backend_cuda_create */
#endif
extern "C" {
#include "byte_lm/model/backend.h"
}
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"

static CudaCtx *ctx_of(Backend *be) { return static_cast<CudaCtx *>(be->ctx); }

void *dev_malloc(CudaCtx *c, size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    if (c->n_blocks == c->cap_blocks) {
        c->cap_blocks = c->cap_blocks ? 2 * c->cap_blocks : 64;
        c->blocks = static_cast<MemBlock *>(realloc(c->blocks, (size_t)c->cap_blocks * sizeof(MemBlock)));
        if (!c->blocks) {
            fprintf(stderr, "bytelm: out of host memory\n");
            abort();
        }
    }
    c->blocks[c->n_blocks++] = {p, bytes};
    c->mem_now += bytes;
    if (c->mem_now > c->mem_peak) c->mem_peak = c->mem_now;
    return p;
}

/* cudaFree waits for the device, so queued work using p finishes first */
void dev_free(CudaCtx *c, void *p)
{
    if (!p) return;
    for (int i = c->n_blocks - 1; i >= 0; i--)
        if (c->blocks[i].p == p) {
            c->mem_now -= c->blocks[i].bytes;
            c->blocks[i] = c->blocks[--c->n_blocks];
            break;
        }
    CUDA_CHECK(cudaFree(p));
}

void *cuda_scratch(CudaCtx *c, size_t bytes)
{
    if (bytes <= c->scratch_bytes) return c->scratch;
    CUDA_CHECK(cudaStreamSynchronize(c->stream)); /* the old buffer may still be read */
    if (c->scratch) dev_free(c, c->scratch);
    c->scratch = NULL;
    size_t grow = bytes + bytes / 4;
    c->scratch = dev_malloc(c, grow);
    if (!c->scratch) {
        fprintf(stderr, "bytelm: CUDA: out of device memory (scratch of %zu bytes)\n", grow);
        abort();
    }
    c->scratch_bytes = grow;
    return c->scratch;
}

static void *be_alloc(Backend *be, size_t bytes)
{
    void *p = dev_malloc(ctx_of(be), bytes);
    if (!p) {
        fprintf(stderr, "bytelm: CUDA: out of device memory allocating %zu bytes\n", bytes);
        abort();
    }
    return p;
}

static void be_free(Backend *be, void *p) { dev_free(ctx_of(be), p); }

/* Host memory may be pageable and reused by the caller right after return: copy on the stream,
 * then wait. */
static void be_upload(Backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return;
    CudaCtx *c = ctx_of(be);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void be_download(Backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return;
    CudaCtx *c = ctx_of(be);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void be_copy(Backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx_of(be)->stream));
}

static void be_zero(Backend *be, void *p, size_t bytes)
{
    if (!bytes) return;
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx_of(be)->stream));
}

static void be_sync(Backend *be) { CUDA_CHECK(cudaStreamSynchronize(ctx_of(be)->stream)); }

static void be_destroy(Backend *be)
{
    if (!be) return;
    CudaCtx *c = ctx_of(be);
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (c->scratch) dev_free(c, c->scratch);
    cuda_lt_destroy(c);
    free(c->blocks);
    CUDA_CHECK(cudaFreeHost(c->host_result));
    CUBLAS_CHECK(cublasDestroy(c->cublas));
    CUDA_CHECK(cudaStreamDestroy(c->stream));
    free(c);
    free(be);
}

/* ---- the op table: thin adapters from the C interface to the launchers ---- */

static void op_embedding_fwd(Backend *be, float *out, const uint8_t *ids, const float *table,
                             int rows, int C)
{
    cuda_embedding_fwd(ctx_of(be), out, ids, table, rows, C);
}
static void op_embedding_bwd(Backend *be, float *dtable, const float *dout, const uint8_t *ids,
                             int rows, int C)
{
    cuda_embedding_bwd(ctx_of(be), dtable, dout, ids, rows, C);
}
static void op_rmsnorm_fwd(Backend *be, float *out, float *rstd, const float *inp, const float *w,
                           int rows, int C, float eps)
{
    cuda_rmsnorm_fwd(ctx_of(be), out, rstd, inp, w, rows, C, eps);
}
static void op_rmsnorm_bwd(Backend *be, float *dinp, float *dw, const float *dout,
                           const float *inp, const float *w, const float *rstd, int rows, int C)
{
    cuda_rmsnorm_bwd(ctx_of(be), dinp, dw, dout, inp, w, rstd, rows, C);
}
static void op_matmul_fwd(Backend *be, float *out, int ldo, const float *inp, int ldi,
                          const float *w, int M, int K, int N, int accumulate)
{
    cuda_matmul_fwd(ctx_of(be), out, ldo, inp, ldi, w, M, K, N, accumulate);
}
static void op_matmul_bwd(Backend *be, float *dinp, int lddi, float *dw, const float *dout,
                          int lddo, const float *inp, int ldi, const float *w, int M, int K, int N,
                          int accumulate_dinp)
{
    cuda_matmul_bwd(ctx_of(be), dinp, lddi, dw, dout, lddo, inp, ldi, w, M, K, N,
                    accumulate_dinp);
}
static void op_conv1d_fwd(Backend *be, float *out, const float *in, int in_stride, const float *w,
                          const float *bias, float *conv_state, int B, int L, int D, int K)
{
    cuda_conv1d_fwd(ctx_of(be), out, in, in_stride, w, bias, conv_state, B, L, D, K);
}
static void op_conv1d_bwd(Backend *be, float *din, int din_stride, float *dw, float *dbias,
                          const float *dout, const float *in, int in_stride, const float *w,
                          const float *bias, int B, int L, int D, int K)
{
    cuda_conv1d_bwd(ctx_of(be), din, din_stride, dw, dbias, dout, in, in_stride, w, bias, B, L,
                    D, K);
}
static size_t op_scan_saved_bytes(Backend *be, int B, int L, int D, int N)
{
    (void)be;
    return cuda_scan_saved_bytes(B, L, D, N);
}
static int op_d_state_ok(Backend *be, int n)
{
    (void)be;
    return cuda_scan_state_ok(n);
}
static void op_scan_fwd(Backend *be, const ScanFwd *a) { cuda_scan_fwd(ctx_of(be), a); }
static void op_scan_bwd(Backend *be, const ScanBwd *a) { cuda_scan_bwd(ctx_of(be), a); }
static void op_cross_entropy(Backend *be, float *losses, float *dlogits, const float *logits,
                             const uint8_t *targets, int rows, int V, float dscale)
{
    cuda_cross_entropy(ctx_of(be), losses, dlogits, logits, targets, rows, V, dscale);
}
static void op_adamw(Backend *be, float *param, const float *grad, float *m, float *v, size_t n,
                     float lr, float beta1, float beta2, float eps, float wd, float grad_scale,
                     int t)
{
    cuda_adamw(ctx_of(be), param, NULL, grad, m, v, n, lr, beta1, beta2, eps, wd, grad_scale, t);
}
static double op_sumsq(Backend *be, const float *x, size_t n)
{
    return cuda_sumsq(ctx_of(be), x, n);
}

/* ---- generation and graphs ---- */
static void op_norm_matmul(Backend *be, void *out, int out_bf16, int ldo, const float *inp,
                           const float *norm_w, float eps, const void *w, int bf16, int M, int K,
                           int N)
{
    cuda_norm_matmul(ctx_of(be), out, out_bf16, ldo, inp, norm_w, eps, w, bf16, M, K, N);
}
static void op_ssm_step(Backend *be, const ScanStep *a) { cuda_ssm_step(ctx_of(be), a); }
static void op_sample(Backend *be, const SampleArgs *a) { cuda_sample(ctx_of(be), a); }
static void op_graph_begin(Backend *be) { cuda_graph_begin(ctx_of(be)); }
static void *op_graph_end(Backend *be) { return cuda_graph_end(ctx_of(be)); }
static int op_graph_run(Backend *be, void *g) { return cuda_graph_run(ctx_of(be), g); }
static void op_graph_free(Backend *be, void *g) { cuda_graph_free(ctx_of(be), g); }

/* ---- mixed precision: bf16 in the interface is __nv_bfloat16 here (same 16 bits) ---- */
typedef __nv_bfloat16 nvbf;
#define NB(p) reinterpret_cast<nvbf *>(p)
#define CNB(p) reinterpret_cast<const nvbf *>(p)

static void op_cast_bf16(Backend *be, bf16 *dst, int ldd, const float *src, int lds, int rows,
                         int cols)
{
    cuda_cast_bf16(ctx_of(be), NB(dst), ldd, src, lds, rows, cols);
}
static void op_rmsnorm_fwd_bf16(Backend *be, bf16 *out, float *rstd, const float *inp,
                                const float *w, int rows, int C, float eps)
{
    cuda_rmsnorm_fwd_bf16(ctx_of(be), NB(out), rstd, inp, w, rows, C, eps);
}
static void op_matmul_fwd_bf16(Backend *be, void *out, int out_bf16, int ldo, const float *add,
                               const bf16 *inp, int ldi, const bf16 *w, int M, int K, int N)
{
    cuda_matmul_fwd_bf16(ctx_of(be), out, out_bf16, ldo, add, CNB(inp), ldi, CNB(w), M, K, N);
}
static void op_matmul_bwd_bf16(Backend *be, void *dinp, int dinp_bf16, int lddi, float *dw,
                               const bf16 *dout, int lddo, const bf16 *inp, int ldi,
                               const bf16 *w, int M, int K, int N, int accumulate_dinp)
{
    cuda_matmul_bwd_bf16(ctx_of(be), dinp, dinp_bf16, lddi, dw, CNB(dout), lddo, CNB(inp), ldi,
                         CNB(w), M, K, N, accumulate_dinp);
}
static void op_conv1d_fwd_bf16(Backend *be, bf16 *out, const bf16 *in, int in_stride,
                               const float *w, const float *bias, float *conv_state, int B, int L,
                               int D, int K)
{
    cuda_conv1d_fwd_bf16(ctx_of(be), NB(out), CNB(in), in_stride, w, bias, conv_state, B, L, D, K);
}
static void op_conv1d_bwd_bf16(Backend *be, bf16 *din, int din_stride, float *dw, float *dbias,
                               const bf16 *dout, const bf16 *in, int in_stride, const float *w,
                               const float *bias, int B, int L, int D, int K)
{
    cuda_conv1d_bwd_bf16(ctx_of(be), NB(din), din_stride, dw, dbias, CNB(dout), CNB(in), in_stride,
                         w, bias, B, L, D, K);
}
static void op_adamw_bf16(Backend *be, float *param, bf16 *shadow, const float *grad, float *m,
                          float *v, size_t n, float lr, float beta1, float beta2, float eps,
                          float wd, float grad_scale, int t)
{
    cuda_adamw(ctx_of(be), param, NB(shadow), grad, m, v, n, lr, beta1, beta2, eps, wd, grad_scale,
               t);
}
static double op_matmul_peak_flops(Backend *be, int bf16)
{
    return cuda_matmul_rate(ctx_of(be), bf16, 8192);
}
static size_t op_mem_peak_bytes(Backend *be) { return ctx_of(be)->mem_peak; }
static size_t op_mem_total_bytes(Backend *be)
{
    (void)be;
    size_t free_b = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total));
    return total;
}

/* The GPU count, or -1 with the reason: the caller (backend_select.c) words the message. */
extern "C" int backend_cuda_probe(int *why, const char **text)
{
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    *text = cudaGetErrorString(err);
    if (err == cudaSuccess) return count;
    cudaGetLastError(); /* clear it: the probe's failure is not a later call's */
    *why = err == cudaErrorInsufficientDriver ? CUDA_PROBE_NO_DRIVER
           : err == cudaErrorNoDevice         ? CUDA_PROBE_NO_DEVICE
                                              : CUDA_PROBE_OTHER;
    return -1;
}

/* NULL when the GPU cannot be used; the caller reports it (backend_select.c probes first). */
extern "C" Backend *backend_cuda_create(int device)
{
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0 || device < 0 || device >= count) return NULL;
    CUDA_CHECK(cudaSetDevice(device));
    CudaCtx *c = static_cast<CudaCtx *>(calloc(1, sizeof *c));
    Backend *be = static_cast<Backend *>(calloc(1, sizeof *be));
    if (!c || !be) {
        fprintf(stderr, "bytelm: out of host memory\n");
        abort();
    }
    c->device = device;
    CUDA_CHECK(cudaDeviceGetAttribute(&c->num_sms, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&c->cublas));
    CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    /* default math: no TF32 unless asked for; the matmuls also request CUBLAS_COMPUTE_32F */
    CUBLAS_CHECK(cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH));
    CUDA_CHECK(cudaMallocHost(&c->host_result, sizeof(double)));
    cuda_lt_init(c);

    be->name = "cuda";
    be->kind = BACKEND_CUDA;
    be->ctx = c;
    be->bf16_default = 1;
    be->d_state_ok = op_d_state_ok;
    be->d_states = "4, 8, 16 or 32";
    be->conv_kernel_max = CUDA_CONV_KMAX;
    be->alloc = be_alloc;
    be->free = be_free;
    be->upload = be_upload;
    be->download = be_download;
    be->copy = be_copy;
    be->zero = be_zero;
    be->sync = be_sync;
    be->destroy = be_destroy;
    be->embedding_fwd = op_embedding_fwd;
    be->embedding_bwd = op_embedding_bwd;
    be->rmsnorm_fwd = op_rmsnorm_fwd;
    be->rmsnorm_bwd = op_rmsnorm_bwd;
    be->matmul_fwd = op_matmul_fwd;
    be->matmul_bwd = op_matmul_bwd;
    be->conv1d_fwd = op_conv1d_fwd;
    be->conv1d_bwd = op_conv1d_bwd;
    be->scan_saved_bytes = op_scan_saved_bytes;
    be->scan_fwd = op_scan_fwd;
    be->scan_bwd = op_scan_bwd;
    be->cross_entropy = op_cross_entropy;
    be->adamw = op_adamw;
    be->sumsq = op_sumsq;
    be->cast_bf16 = op_cast_bf16;
    be->rmsnorm_fwd_bf16 = op_rmsnorm_fwd_bf16;
    be->matmul_fwd_bf16 = op_matmul_fwd_bf16;
    be->matmul_bwd_bf16 = op_matmul_bwd_bf16;
    be->conv1d_fwd_bf16 = op_conv1d_fwd_bf16;
    be->conv1d_bwd_bf16 = op_conv1d_bwd_bf16;
    be->adamw_bf16 = op_adamw_bf16;
    be->norm_matmul = op_norm_matmul;
    be->ssm_step = op_ssm_step;
    be->sample = op_sample;
    be->graph_begin = op_graph_begin;
    be->graph_end = op_graph_end;
    be->graph_run = op_graph_run;
    be->graph_free = op_graph_free;
    be->matmul_peak_flops = op_matmul_peak_flops;
    be->mem_peak_bytes = op_mem_peak_bytes;
    be->mem_total_bytes = op_mem_total_bytes;
    return be;
}
