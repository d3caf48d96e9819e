/* The backend interface: every tensor operation the model performs, as a table of functions.
 *
 * Two implementations: backend_cpu (plain threaded C + CBLAS, the oracle) and backend_cuda
 * (kernels/ + cuBLAS). The model never loops over tensors itself; it calls these.
 *
 * Conventions (the same for both backends):
 * - Every tensor pointer is backend memory (host memory for the CPU, device memory for CUDA),
 *   allocated with be->alloc. All tensors are fp32 here; a backend may store activations in a
 *   narrower type internally, but this interface speaks fp32.
 * - Activations are token-major: a [rows, C] row-major matrix, rows = B*L, row r = b*L + t.
 *   Where a tensor is a column slice of a wider matrix, its row stride ("ld"/"stride") is given.
 * - Weights use PyTorch's layouts (nn.Linear weight is [out_features, in_features]).
 * - "dX (+=)" means the op accumulates into dX; otherwise it overwrites dX.
 * - Byte ids and targets are uint8_t in backend memory.
 * - Mixed precision (the `_bf16` ops, and the scan with its struct's `bf16` set): tensors typed
 *   `bf16` hold bfloat16 values (the upper half of an IEEE fp32). Each such op computes what its
 *   fp32 namesake computes on the bf16 inputs widened to fp32 (exactly), with fp32 arithmetic
 *   and fp32 sums, and rounds each bf16 output once, to nearest even, where it is stored.
 *   fp32-typed arguments mean what they mean in the fp32 op. So the CPU twin of a bf16 op is
 *   its fp32 op between a widening and a rounding, and both backends agree to fp32 summation
 *   order before that one rounding.
 */
#ifndef BYTELM_BACKEND_H
#define BYTELM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/bf16.h"    /* the bf16 storage type */
#include "byte_lm/base/sampler.h" /* SamplerConfig, SampleStream */

typedef struct Backend Backend;

/* Where a backend's memory and work live: host RAM and cores, or one CUDA GPU. */
typedef enum { BACKEND_CPU = 0, BACKEND_CUDA = 1 } BackendKind;

/* ---- arguments of the selective scan with the Mamba-1 epilogue ----
 * For each sequence b, channel d, state n, over t = 0..L-1:
 *   delta = softplus(delta_pre[b,t,d] + dt_bias[d]);  A = -exp(A_log[d, n])
 *   s[n]  = exp(delta * A) * s[n] + delta * Bm[b,t,n] * u[b,t,d]
 *   y[b,t,d] = (sum_n Cm[b,t,n] * s[n] + Dskip[d] * u[b,t,d]) * silu(z[b,t,d])
 * The activations (u, delta_pre, z, y and their gradients du, ddelta_pre, dz, dy) are stored as
 * `bf16` when the struct's bf16 flag is set, else as fp32: with the flag the op is the mixed-
 * precision one of the conventions above. Bm, Cm, their gradients, the parameters, ssm_state
 * and saved are fp32 either way. */
typedef struct {
    int bf16;              /* 1: the activations are bf16; 0: fp32 */
    void *y;               /* [B*L, D], contiguous */
    const void *u;         /* [B*L, D], contiguous */
    const void *delta_pre; /* [B*L, D], contiguous; dt_bias is added before the softplus */
    const void *z;         /* the gate, row stride z_stride (a slice of in_proj's output) */
    int z_stride;
    const float *dt_bias;  /* [D] */
    const float *A_log;    /* [D, N] */
    /* [B*L, N] each, row stride bc_stride (column slices of x_proj's output) */
    const float *Bm, *Cm;
    int bc_stride;
    const float *Dskip;    /* [D] */
    /* [B, D, N]: initial state when not NULL (zero otherwise), updated to the final one */
    float *ssm_state;
    /* scan_saved_bytes(B, L, D, N) bytes of backend memory that the forward fills for the
     * backward (e.g. chunk-boundary states); NULL when no backward will follow */
    void *saved;
    int B, L, D, N;
} ScanFwd;

/* Gradients of the forward above (zero initial state). The forward's inputs and `saved` mean
 * what they mean in ScanFwd; dy is the gradient of y. */
typedef struct {
    int bf16;         /* 1: the activations and their gradients are bf16; 0: fp32 */
    void *du;         /* [B*L, D], contiguous, overwritten */
    void *ddelta_pre; /* [B*L, D], contiguous, overwritten */
    void *dz;         /* row stride dz_stride, overwritten */
    int dz_stride;
    float *ddt_bias;  /* [D] (+=) */
    float *dA_log;    /* [D, N] (+=) */
    float *dBm, *dCm; /* row stride dbc_stride, overwritten */
    int dbc_stride;
    float *dDskip;    /* [D] (+=) */
    const void *dy;
    const void *u, *delta_pre, *z;
    int z_stride;
    const float *dt_bias, *A_log, *Bm, *Cm;
    int bc_stride;
    const float *Dskip;
    const void *saved;
    int B, L, D, N;
} ScanBwd;

/* ---- one recurrent step of the scan, dt_proj included (generation) ----
 * delta_pre = xdbl[:, 0:R] @ dt_w^T (dt_proj), then scan_fwd with L = 1 from and into
 * ssm_state. With bf16 set it is what the bf16 forward does: the dt slice rounded to bf16, dt_w
 * bf16, delta_pre rounded to bf16, and the scan's bf16 activations (u, z, y); otherwise all
 * fp32. So the op equals matmul_fwd (or cast_bf16 + matmul_fwd_bf16) followed by scan_fwd, in
 * one pass that keeps delta in registers. */
typedef struct {
    int bf16;
    void *y;          /* [B, D] */
    const void *u;    /* [B, D] */
    const void *z;    /* row stride z_stride */
    int z_stride;
    const float *xdbl; /* [B, R + 2N] rows of stride xdbl_stride: dt | B | C */
    int xdbl_stride;
    const void *dt_w; /* [D, R]: fp32, or bf16 with the flag */
    const float *dt_bias, *A_log, *Dskip;
    float *ssm_state; /* [B, D, N], read and updated */
    int B, D, N, R;
    /* bf16 only, a hint that changes no result: the weights ([N, K] bf16, row-major) of the
     * two products the step runs next (out_proj, then the next layer's in_proj or the head), so
     * a backend may start pulling them into its cache while this op runs; w NULL: none */
    struct {
        const void *w;
        int K, N;
    } ahead[2];
} ScanStep;

/* ---- sampling on the backend: each stream's next byte from its logits ----
 * For every stream b, sampler_pick (base/sampler.h) on logits[b] with streams[b] and its ring
 * history + b * window: out[b] is the byte, out[B + b] is 1 when all of b's logits were finite
 * (a byte drawn from NaN or infinite logits is noise, and the caller stops). */
typedef struct {
    SamplerConfig cfg;
    int strict_utf8;       /* mask what would make the output invalid UTF-8 */
    long max_bytes;        /* the byte budget strict mode finishes characters within; 0: none */
    int B;
    const float *logits;   /* [B, 256] */
    uint8_t *out;          /* [2B] */
    SampleStream *streams; /* [B], advanced */
    uint8_t *history;      /* [B, cfg.repetition_window] rings; NULL when the window is 0 */
} SampleArgs;

struct Backend {
    const char *name; /* "cpu" or "cuda", for messages; code asks `kind` */
    BackendKind kind;
    void *ctx;        /* implementation state (thread count, cuBLAS handle, stream, ...) */
    /* 1 when bf16 mixed precision is this backend's default (the GPU: its matrix units run bf16
     * products about 15 times faster than fp32); 0 for fp32 (the CPU) */
    int bf16_default;
    /* 1 when the scan runs state size n (d_state); d_states lists those sizes for messages.
     * model_create refuses a config with another, so no op meets one. */
    int (*d_state_ok)(Backend *be, int n);
    const char *d_states;
    /* the largest conv_kernel its conv1d runs (every size from 1 up); model_create refuses more */
    int conv_kernel_max;

    /* ---- memory ---- */
    void *(*alloc)(Backend *be, size_t bytes); /* aborts with a message when out of memory */
    void (*free)(Backend *be, void *p);
    void (*upload)(Backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(Backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(Backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(Backend *be, void *p, size_t bytes);
    void (*sync)(Backend *be); /* waits for all queued work; reports asynchronous errors */
    void (*destroy)(Backend *be);

    /* ---- embedding: out[r, :] = table[ids[r], :] ---- */
    void (*embedding_fwd)(Backend *be, float *out, const uint8_t *ids, const float *table, int rows,
                          int C);
    /* dtable (+=)[ids[r], :] += dout[r, :] */
    void (*embedding_bwd)(Backend *be, float *dtable, const float *dout, const uint8_t *ids, int rows,
                          int C);

    /* ---- RMSNorm: out = inp * rstd * w, rstd[r] = 1/sqrt(mean(inp[r]^2) + eps) ---- */
    void (*rmsnorm_fwd)(Backend *be, float *out, float *rstd, const float *inp, const float *w,
                        int rows, int C, float eps);
    /* dinp (+=), dw (+=). The residual stream's gradient flows through the += on dinp. */
    void (*rmsnorm_bwd)(Backend *be, float *dinp, float *dw, const float *dout, const float *inp,
                        const float *w, const float *rstd, int rows, int C);

    /* ---- matmul: out[M, N] (= or += when accumulate) inp[M, K] @ w[N, K]^T ---- */
    void (*matmul_fwd)(Backend *be, float *out, int ldo, const float *inp, int ldi, const float *w,
                       int M, int K, int N, int accumulate);
    /* dinp[M, K] (= or += when accumulate_dinp) dout @ w, skipped when dinp is NULL;
     * dw[N, K] (+=) dout^T @ inp. */
    void (*matmul_bwd)(Backend *be, float *dinp, int lddi, float *dw, const float *dout, int lddo,
                       const float *inp, int ldi, const float *w, int M, int K, int N,
                       int accumulate_dinp);

    /* ---- depthwise causal conv1d + bias + SiLU over each sequence of L rows ----
     * out[B*L, D] (contiguous) = silu(sum_k w[d, k] * in[b, t - (K-1) + k, d] + bias[d]).
     * in has row stride in_stride. Inputs before t = 0 come from conv_state[b, d, 0..K-2]
     * (oldest first) when conv_state is not NULL, else are zero; when not NULL, conv_state is
     * updated to the last K-1 inputs of each sequence (so L = 1 is one recurrent step). */
    void (*conv1d_fwd)(Backend *be, float *out, const float *in, int in_stride, const float *w,
                       const float *bias, float *conv_state, int B, int L, int D, int K);
    /* din (overwrites, row stride din_stride), dw (+=), dbias (+=). Zero initial state only. */
    void (*conv1d_bwd)(Backend *be, float *din, int din_stride, float *dw, float *dbias,
                       const float *dout, const float *in, int in_stride, const float *w,
                       const float *bias, int B, int L, int D, int K);

    /* ---- selective scan with the Mamba-1 epilogue (arguments: ScanFwd, ScanBwd above) ---- */
    size_t (*scan_saved_bytes)(Backend *be, int B, int L, int D, int N);
    void (*scan_fwd)(Backend *be, const ScanFwd *a);
    void (*scan_bwd)(Backend *be, const ScanBwd *a);

    /* ---- fused softmax cross-entropy over V classes ----
     * losses[r] = -log softmax(logits[r])[targets[r]] (nats). When dlogits is not NULL it is set to
     * (softmax - onehot(target)) * dscale; dlogits may alias logits. */
    void (*cross_entropy)(Backend *be, float *losses, float *dlogits, const float *logits,
                          const uint8_t *targets, int rows, int V, float dscale);

    /* ---- optimizer ----
     * AdamW step t (1-based) on n elements with g = grad * grad_scale:
     *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  mh = m/(1-b1^t);  vh = v/(1-b2^t)
     *   param -= lr * (mh / (sqrt(vh) + eps) + wd * param) */
    void (*adamw)(Backend *be, float *param, const float *grad, float *m, float *v, size_t n,
                  float lr, float beta1, float beta2, float eps, float wd, float grad_scale, int t);
    /* sum of squares of x[0..n), accumulated in double, returned on the host */
    double (*sumsq)(Backend *be, const float *x, size_t n);

    /* ---- mixed precision: bf16 storage, fp32 arithmetic ----
     * dst[r, c] = round(src[r, c]) over rows x cols, leading dimensions ldd and lds. */
    void (*cast_bf16)(Backend *be, bf16 *dst, int ldd, const float *src, int lds, int rows,
                      int cols);
    /* rmsnorm_fwd with a bf16 output (inp, w and rstd fp32) */
    void (*rmsnorm_fwd_bf16)(Backend *be, bf16 *out, float *rstd, const float *inp,
                             const float *w, int rows, int C, float eps);
    /* out[M, N] = add + inp @ w^T with bf16 operands. out is bf16 when out_bf16, else fp32;
     * add (fp32, leading dimension ldo, may equal out, NULL for none) only with an fp32 out. */
    void (*matmul_fwd_bf16)(Backend *be, void *out, int out_bf16, int ldo, const float *add,
                            const bf16 *inp, int ldi, const bf16 *w, int M, int K, int N);
    /* matmul_bwd with bf16 dout, inp and w; dinp bf16 when dinp_bf16, else fp32; dw fp32 (+=). */
    void (*matmul_bwd_bf16)(Backend *be, void *dinp, int dinp_bf16, int lddi, float *dw,
                            const bf16 *dout, int lddo, const bf16 *inp, int ldi, const bf16 *w,
                            int M, int K, int N, int accumulate_dinp);
    /* conv1d_fwd / conv1d_bwd on bf16 activations; w, bias, dw, dbias and conv_state fp32 */
    void (*conv1d_fwd_bf16)(Backend *be, bf16 *out, const bf16 *in, int in_stride, const float *w,
                            const float *bias, float *conv_state, int B, int L, int D, int K);
    void (*conv1d_bwd_bf16)(Backend *be, bf16 *din, int din_stride, float *dw, float *dbias,
                            const bf16 *dout, const bf16 *in, int in_stride, const float *w,
                            const float *bias, int B, int L, int D, int K);
    /* adamw that also writes shadow[i] = round(param[i]) in the same pass */
    void (*adamw_bf16)(Backend *be, float *param, bf16 *shadow, const float *grad, float *m,
                       float *v, size_t n, float lr, float beta1, float beta2, float eps, float wd,
                       float grad_scale, int t);

    /* ---- generation ---- */
    /* out[M, N] = rmsnorm(inp) @ w^T for a step's few rows: rmsnorm_fwd(inp, norm_w, eps) (its
     * rstd not kept) then matmul_fwd; with half set, rmsnorm_fwd_bf16 then matmul_fwd_bf16 (w
     * bf16, out bf16 when out_bf16, else fp32). inp is [M, K] contiguous. One op, so the norm
     * costs no pass of its own. */
    void (*norm_matmul)(Backend *be, void *out, int out_bf16, int ldo, const float *inp,
                        const float *norm_w, float eps, const void *w, int half, int M, int K,
                        int N);
    void (*ssm_step)(Backend *be, const ScanStep *a);
    void (*sample)(Backend *be, const SampleArgs *a);

    /* ---- recording a fixed sequence of ops once and replaying it (CUDA graphs) ----
     * NULL on a backend without them (the CPU), whose caller runs the ops each time instead.
     * Between graph_begin and graph_end the queued ops are recorded, not run, so they must not
     * transfer to or from the host; graph_end returns the recording, or NULL when it could not
     * be made (the caller then runs the ops directly). graph_run replays it and returns 0, or -1
     * when it no longer applies because memory the ops use internally moved since; the caller
     * frees it and records again. */
    void (*graph_begin)(Backend *be);
    void *(*graph_end)(Backend *be);
    int (*graph_run)(Backend *be, void *graph);
    void (*graph_free)(Backend *be, void *graph);

    /* ---- what the backend measures of itself (every backend sets these) ----
     * The dense matmul rate, in FLOP/s, measured now on this device with bf16 operands (bf16)
     * or fp32 ones: the denominator of MFU. */
    double (*matmul_peak_flops)(Backend *be, int bf16);
    /* Most backend memory held at once since creation, in bytes. */
    size_t (*mem_peak_bytes)(Backend *be);
    /* All of the device's memory, in bytes (the model plans its activations against it). */
    size_t (*mem_total_bytes)(Backend *be);
};

/* Constructors. threads <= 0 means all cores. */
Backend *backend_cpu_create(int threads);
#ifdef BYTELM_CUDA
Backend *backend_cuda_create(int device);
/* What the CUDA runtime says about the GPUs: the count, or -1 with *why one of the reasons below
 * and *text the runtime's own words (backend_select.c words the message). */
enum { CUDA_PROBE_NO_DRIVER = 1, CUDA_PROBE_NO_DEVICE = 2, CUDA_PROBE_OTHER = 3 };
int backend_cuda_probe(int *why, const char **text);
#endif

#endif
