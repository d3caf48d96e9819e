/* Depthwise causal conv1d + bias + SiLU, forward (with the recurrent conv state) and backward.
 *
 * One thread per (sequence, channel, tile of CONV_TILE steps) walks its tile with the last K
 * inputs in registers, so each input is read about once (K - 1 extra rows per tile) and reads
 * are coalesced across channels. The backward recomputes the pre-activation, keeps the last K
 * gradients in registers for din, and writes dw/dbias partials per tile; a second kernel adds
 * the partials in tile order (deterministic, no atomics). */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/pdl.cuh"

#define CONV_TILE 64
#define CONV_THREADS 128
#define CONV_KMAX CUDA_CONV_KMAX

/* input (b, s, d) of the extended sequence [state, in]: s < 0 is state slot (K-1) + s.
 * T is the activation storage type (in, out, dout, din): float or bf16; the state, weights
 * and all arithmetic are fp32. */
template <typename T>
__device__ __forceinline__ float conv_x(const T *in, int in_stride, const float *state,
                                        int b, int s, int d, int L, int D, int K)
{
    if (s >= 0) return bl_to_f(in[((size_t)b * L + s) * in_stride + d]);
    if (state) return state[((size_t)b * D + d) * (K - 1) + (K - 1) + s];
    return 0.0f;
}

/* V adjacent channels of one row moved as one access (8 bytes of bf16, 16 of fp32 at V = 4):
 * a warp then covers 128 channels of a row instead of 32, a quarter of the memory
 * instructions, which is what bounds these kernels (a bf16 row of 32 channels is 64 bytes). */
template <typename T, int V> struct alignas(sizeof(T) * V) ConvPack {
    T v[V];
};

template <typename T, int V>
__device__ __forceinline__ void conv_load(float (&o)[V], const T *p)
{
    ConvPack<T, V> q = *reinterpret_cast<const ConvPack<T, V> *>(p);
#pragma unroll
    for (int j = 0; j < V; j++) o[j] = bl_to_f(q.v[j]);
}

template <typename T, int V>
__device__ __forceinline__ void conv_store(T *p, const float (&o)[V])
{
    ConvPack<T, V> q;
#pragma unroll
    for (int j = 0; j < V; j++) q.v[j] = bl_from_f<T>(o[j]);
    *reinterpret_cast<ConvPack<T, V> *>(p) = q;
}

/* The K-1 inputs before row t0 of channels d0 .. d0+V-1 into x[j][1 .. K-1] (rows before 0
 * come from the state, or are 0 without one). */
template <typename T, int K, int V>
__device__ __forceinline__ void conv_prologue(float (&x)[V][K], const T *in, int in_stride,
                                              const float *state, int b, int t0, int d0, int L,
                                              int D)
{
#pragma unroll
    for (int k = 0; k < K - 1; k++) {
        int s = t0 - (K - 1) + k;
        float r[V];
        if (s >= 0) {
            conv_load<T, V>(r, in + ((size_t)b * L + s) * in_stride + d0);
        } else {
#pragma unroll
            for (int j = 0; j < V; j++) r[j] = conv_x(in, in_stride, state, b, s, d0 + j, L, D, K);
        }
#pragma unroll
        for (int j = 0; j < V; j++) x[j][k + 1] = r[j];
    }
}

/* Row r enters the window of the last K inputs (x[j][K-1] is the newest). */
template <int K, int V>
__device__ __forceinline__ void conv_push(float (&x)[V][K], const float (&r)[V])
{
#pragma unroll
    for (int j = 0; j < V; j++) {
#pragma unroll
        for (int k = 0; k < K - 1; k++) x[j][k] = x[j][k + 1];
        x[j][K - 1] = r[j];
    }
}

/* The pre-activation of one channel: bias + w . x over its window. */
template <int K>
__device__ __forceinline__ float conv_pre(const float (&x)[K], const float (&w)[K], float bias)
{
    float a = bias;
#pragma unroll
    for (int k = 0; k < K; k++) a = fmaf(w[k], x[k], a);
    return a;
}

/* One thread per (sequence, V channels, tile of CONV_TILE steps). */
template <typename T, int K, int V>
__global__ void __launch_bounds__(CONV_THREADS)
conv1d_fwd_kernel(T *__restrict__ out, const T *__restrict__ in, int in_stride,
                  const float *__restrict__ w, const float *__restrict__ bias,
                  const float *__restrict__ state, int L, int D)
{
    const int d0 = (blockIdx.x * CONV_THREADS + threadIdx.x) * V;
    if (d0 >= D) return;
    const int b = blockIdx.z, t0 = blockIdx.y * CONV_TILE, t1 = min(L, t0 + CONV_TILE);
    float wk[V][K], x[V][K], bs[V];
#pragma unroll
    for (int j = 0; j < V; j++) {
        bs[j] = bias[d0 + j];
#pragma unroll
        for (int k = 0; k < K; k++) wk[j][k] = w[(size_t)(d0 + j) * K + k];
    }
    conv_prologue<T, K, V>(x, in, in_stride, state, b, t0, d0, L, D);
    /* unrolled, with restrict pointers, so several rows' loads are in flight at once */
#pragma unroll 4
    for (int t = t0; t < t1; t++) {
        float r[V], o[V];
        conv_load<T, V>(r, in + ((size_t)b * L + t) * in_stride + d0);
        conv_push<K, V>(x, r);
#pragma unroll
        for (int j = 0; j < V; j++) {
            float a = conv_pre<K>(x[j], wk[j], bs[j]);
            o[j] = a * bl_sigmoid(a);
        }
        conv_store<T, V>(out + ((size_t)b * L + t) * D + d0, o);
    }
}

/* New state = the last K-1 inputs of [old state, in]; read before written, one thread per
 * (b, d). */
template <typename T>
__global__ void conv1d_state_kernel(float *state, const T *in, int in_stride, int B, int L,
                                    int D, int K)
{
    size_t i = bl_gtid();
    if (i >= (size_t)B * D) return;
    int b = (int)(i / D), d = (int)(i % D);
    float v[CONV_KMAX];
    for (int j = 0; j < K - 1; j++) v[j] = conv_x(in, in_stride, state, b, L - (K - 1) + j, d, L, D, K);
    for (int j = 0; j < K - 1; j++) state[i * (K - 1) + j] = v[j];
}

/* One recurrent step (L = 1 with a state), fused: the window is the state plus this input, the
 * output its SiLU'd sum, and the state shifts by one, all in one pass per (b, d) instead of the
 * sequence kernel plus the state kernel (generation runs this once per layer and byte). A
 * programmatic dependent (pdl.cuh): the weights are read before waiting for in_proj. */
template <typename T, int K>
__global__ void conv1d_step_kernel(T *__restrict__ out, const T *__restrict__ in, int in_stride,
                                   const float *__restrict__ w, const float *__restrict__ bias,
                                   float *__restrict__ state, int B, int D)
{
    size_t i = bl_gtid();
    const bool live = i < (size_t)B * D;
    const int b = live ? (int)(i / D) : 0, d = live ? (int)(i % D) : 0;
    float x[K], wk[K];
#pragma unroll
    for (int k = 0; k < K; k++) wk[k] = w[(size_t)d * K + k]; /* weights: before the wait */
    const float bs = bias[d];
    pdl_wait();
    pdl_release();
    if (!live) return;
#pragma unroll
    for (int k = 0; k < K - 1; k++) x[k] = state[i * (K - 1) + k];
    x[K - 1] = bl_to_f(in[(size_t)b * in_stride + d]);
    const float a = conv_pre<K>(x, wk, bs);
    out[i] = bl_from_f<T>(a * bl_sigmoid(a));
#pragma unroll
    for (int k = 0; k < K - 1; k++) state[i * (K - 1) + k] = x[k + 1];
}

/* Row s (row index b*L + s) of in and dout for V channels: its input enters the window x,
 * and gs gets its gradient at the pre-activation, a = bias + w . x recomputed and dout
 * multiplied by SiLU's derivative. */
template <typename T, int K, int V>
__device__ __forceinline__ void conv_grad_row(float (&gs)[V], float (&x)[V][K], const T *in,
                                              int in_stride, const T *dout, size_t row, int D,
                                              int d0, const float (&wk)[V][K],
                                              const float (&bs)[V])
{
    float r[V], go[V];
    conv_load<T, V>(r, in + row * in_stride + d0);
    conv_load<T, V>(go, dout + row * D + d0);
    conv_push<K, V>(x, r);
#pragma unroll
    for (int j = 0; j < V; j++) {
        float a = conv_pre<K>(x[j], wk[j], bs[j]);
        float sg = bl_sigmoid(a);
        gs[j] = go[j] * sg * (1.0f + a * (1.0f - sg));
    }
}

/* Row s's gradient gs enters the window g (g[j][K-1-k] is the gradient at row s - k), and
 * din of row s - (K-1) = sum_k w_k g(row s-(K-1)+k) goes into acc. */
template <int K, int V>
__device__ __forceinline__ void conv_shift_g(float (&acc)[V], float (&g)[V][K],
                                             const float (&gs)[V], const float (&wk)[V][K])
{
#pragma unroll
    for (int j = 0; j < V; j++) {
#pragma unroll
        for (int k = 0; k < K - 1; k++) g[j][k] = g[j][k + 1];
        g[j][K - 1] = gs[j];
        float a = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) a = fmaf(wk[j][k], g[j][K - 1 - k], a);
        acc[j] = a;
    }
}

/* part: [B * tiles][K + 1][D]: dw[d][k] partials, then dbias. The walk over the tile's own
 * rows has no bounds tests (its loads can all be issued ahead); the K-1 rows after it, whose
 * gradients din of the tile's last rows needs, come in a short loop of their own. */
template <typename T, int K, int V>
__global__ void __launch_bounds__(CONV_THREADS)
conv1d_bwd_kernel(T *__restrict__ din, int din_stride, float *__restrict__ part,
                  const T *__restrict__ dout, const T *__restrict__ in, int in_stride,
                  const float *__restrict__ w, const float *__restrict__ bias, int L, int D)
{
    const int d0 = (blockIdx.x * CONV_THREADS + threadIdx.x) * V;
    if (d0 >= D) return;
    const int b = blockIdx.z, t0 = blockIdx.y * CONV_TILE, t1 = min(L, t0 + CONV_TILE);
    float wk[V][K], x[V][K], g[V][K], dw[V][K], db[V], bs[V];
#pragma unroll
    for (int j = 0; j < V; j++) {
        bs[j] = bias[d0 + j];
        db[j] = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) {
            wk[j][k] = w[(size_t)(d0 + j) * K + k];
            g[j][k] = 0.0f;
            dw[j][k] = 0.0f;
        }
    }
    conv_prologue<T, K, V>(x, in, in_stride, (const float *)NULL, b, t0, d0, L, D);
#pragma unroll 4
    for (int s = t0; s < t1; s++) {
        float gs[V], acc[V];
        conv_grad_row<T, K, V>(gs, x, in, in_stride, dout, (size_t)b * L + s, D, d0, wk, bs);
#pragma unroll
        for (int j = 0; j < V; j++) { /* the tile's own rows feed dw, dbias */
            db[j] += gs[j];
#pragma unroll
            for (int k = 0; k < K; k++) dw[j][k] = fmaf(gs[j], x[j][k], dw[j][k]);
        }
        conv_shift_g<K, V>(acc, g, gs, wk);
        if (s - (K - 1) >= t0) conv_store<T, V>(din + ((size_t)b * L + s - (K - 1)) * din_stride + d0, acc);
    }
#pragma unroll
    for (int s = t1; s < t1 + K - 1; s++) {
        float gs[V], acc[V];
        if (s < L) {
            conv_grad_row<T, K, V>(gs, x, in, in_stride, dout, (size_t)b * L + s, D, d0, wk, bs);
        } else {
#pragma unroll
            for (int j = 0; j < V; j++) gs[j] = 0.0f;
        }
        conv_shift_g<K, V>(acc, g, gs, wk);
        if (s - (K - 1) >= t0) conv_store<T, V>(din + ((size_t)b * L + s - (K - 1)) * din_stride + d0, acc);
    }
    float *p = part + ((size_t)b * gridDim.y + blockIdx.y) * (K + 1) * D;
#pragma unroll
    for (int j = 0; j < V; j++) {
#pragma unroll
        for (int k = 0; k < K; k++) p[(size_t)k * D + d0 + j] = dw[j][k];
        p[(size_t)K * D + d0 + j] = db[j];
    }
}

__global__ void conv1d_bwd_reduce_kernel(float *dw, float *dbias, const float *part, int nparts,
                                         int D, int K)
{
    size_t i = bl_gtid();
    if (i >= (size_t)(K + 1) * D) return;
    int k = (int)(i / D), d = (int)(i % D);
    double s = 0.0;
    for (int p = 0; p < nparts; p++) s += part[(size_t)p * (K + 1) * D + i];
    if (k < K)
        dw[(size_t)d * K + k] = (float)((double)dw[(size_t)d * K + k] + s);
    else
        dbias[d] = (float)((double)dbias[d] + s);
}

/* Channels a thread: 4 when every row of every tensor it touches starts 4-aligned and K <= 4
 * (a thread then holds 4 x 4K window values in registers), else 1. */
static int conv_vec(int K, int D, int stride_a, int stride_b, const void *p0, const void *p1,
                    const void *p2, size_t elem)
{
    size_t a = 4 * elem;
    if (K > 4 || D % 4 || stride_a % 4 || stride_b % 4) return 1;
    if ((uintptr_t)p0 % a || (uintptr_t)p1 % a || (p2 && (uintptr_t)p2 % a)) return 1;
    return 4;
}

/* K is 1..CONV_KMAX: model_create refuses a larger conv_kernel (Backend.conv_kernel_max). */
#define CONV_DISPATCH(K, V, CALL)                                                           \
    if ((V) == 4) {                                                                         \
        switch (K) {                                                                        \
        case 1: CALL(1, 4); break;                                                          \
        case 2: CALL(2, 4); break;                                                          \
        case 3: CALL(3, 4); break;                                                          \
        default: CALL(4, 4); break;                                                         \
        }                                                                                   \
    } else {                                                                                \
        switch (K) {                                                                        \
        case 1: CALL(1, 1); break;                                                          \
        case 2: CALL(2, 1); break;                                                          \
        case 3: CALL(3, 1); break;                                                          \
        case 4: CALL(4, 1); break;                                                          \
        case 5: CALL(5, 1); break;                                                          \
        case 6: CALL(6, 1); break;                                                          \
        case 7: CALL(7, 1); break;                                                          \
        default: CALL(8, 1); break;                                                         \
        }                                                                                   \
    }

template <typename T>
static void conv_fwd(CudaCtx *c, T *out, const T *in, int in_stride, const float *w,
                     const float *bias, float *conv_state, int B, int L, int D, int K)
{
    if (B == 0 || D == 0 || L == 0) return;
    if (L == 1 && conv_state && K > 1) {
        const int blocks = (int)(((size_t)B * D + 127) / 128);
#define CONV_STEP(KK, VV)                                                                    \
    launch_pdl(conv1d_step_kernel<T, KK>, dim3(blocks), dim3(128), 0, c->stream, out, in,       \
               in_stride, w, bias, conv_state, B, D)
        CONV_DISPATCH(K, 1, CONV_STEP)
#undef CONV_STEP
        return;
    }
    int V = conv_vec(K, D, in_stride, D, in, out, NULL, sizeof(T));
    int threads = (D + V - 1) / V;
    dim3 grid((threads + CONV_THREADS - 1) / CONV_THREADS, (L + CONV_TILE - 1) / CONV_TILE, B);
#define CONV_FWD(KK, VV)                                                                     \
    conv1d_fwd_kernel<T, KK, VV><<<grid, CONV_THREADS, 0, c->stream>>>(out, in, in_stride, w,   \
                                                                       bias, conv_state, L, D)
    CONV_DISPATCH(K, V, CONV_FWD)
#undef CONV_FWD
    CUDA_LAUNCH_CHECK();
    if (conv_state && K > 1) {
        size_t n = (size_t)B * D;
        conv1d_state_kernel<T><<<(int)((n + 255) / 256), 256, 0, c->stream>>>(conv_state, in,
                                                                              in_stride, B, L, D, K);
        CUDA_LAUNCH_CHECK();
    }
}

template <typename T>
static void conv_bwd(CudaCtx *c, T *din, int din_stride, float *dw, float *dbias, const T *dout,
                     const T *in, int in_stride, const float *w, const float *bias, int B, int L,
                     int D, int K)
{
    if (B == 0 || D == 0 || L == 0) return;
    int tiles = (L + CONV_TILE - 1) / CONV_TILE;
    int nparts = B * tiles;
    float *part = (float *)cuda_scratch(c, (size_t)nparts * (K + 1) * D * sizeof(float));
    int V = conv_vec(K, D, in_stride, din_stride, in, din, dout, sizeof(T));
    int threads = (D + V - 1) / V;
    dim3 grid((threads + CONV_THREADS - 1) / CONV_THREADS, tiles, B);
#define CONV_BWD(KK, VV)                                                                     \
    conv1d_bwd_kernel<T, KK, VV><<<grid, CONV_THREADS, 0, c->stream>>>(                         \
        din, din_stride, part, dout, in, in_stride, w, bias, L, D)
    CONV_DISPATCH(K, V, CONV_BWD)
#undef CONV_BWD
    CUDA_LAUNCH_CHECK();
    size_t n = (size_t)(K + 1) * D;
    conv1d_bwd_reduce_kernel<<<(int)((n + 255) / 256), 256, 0, c->stream>>>(dw, dbias, part,
                                                                            nparts, D, K);
    CUDA_LAUNCH_CHECK();
}

void cuda_conv1d_fwd(CudaCtx *c, float *out, const float *in, int in_stride, const float *w,
                     const float *bias, float *conv_state, int B, int L, int D, int K)
{
    conv_fwd(c, out, in, in_stride, w, bias, conv_state, B, L, D, K);
}

void cuda_conv1d_bwd(CudaCtx *c, float *din, int din_stride, float *dw, float *dbias,
                     const float *dout, const float *in, int in_stride, const float *w,
                     const float *bias, int B, int L, int D, int K)
{
    conv_bwd(c, din, din_stride, dw, dbias, dout, in, in_stride, w, bias, B, L, D, K);
}

void cuda_conv1d_fwd_bf16(CudaCtx *c, __nv_bfloat16 *out, const __nv_bfloat16 *in, int in_stride,
                          const float *w, const float *bias, float *conv_state, int B, int L,
                          int D, int K)
{
    conv_fwd(c, out, in, in_stride, w, bias, conv_state, B, L, D, K);
}

void cuda_conv1d_bwd_bf16(CudaCtx *c, __nv_bfloat16 *din, int din_stride, float *dw,
                          float *dbias, const __nv_bfloat16 *dout, const __nv_bfloat16 *in,
                          int in_stride, const float *w, const float *bias, int B, int L, int D,
                          int K)
{
    conv_bwd(c, din, din_stride, dw, dbias, dout, in, in_stride, w, bias, B, L, D, K);
}
