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

#define CONV_TILE 64
#define CONV_THREADS 128
#define CONV_KMAX 8

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

template <typename T, int K>
__global__ void __launch_bounds__(CONV_THREADS)
conv1d_fwd_kernel(T *__restrict__ out, const T *__restrict__ in, int in_stride,
                  const float *__restrict__ w, const float *__restrict__ bias,
                  const float *__restrict__ state, int L, int D)
{
    const int d = blockIdx.x * CONV_THREADS + threadIdx.x;
    if (d >= D) return;
    const int b = blockIdx.z, t0 = blockIdx.y * CONV_TILE, t1 = min(L, t0 + CONV_TILE);
    float wk[K], x[K];
#pragma unroll
    for (int k = 0; k < K; k++) wk[k] = w[(size_t)d * K + k];
    const float bs = bias[d];
#pragma unroll
    for (int k = 0; k < K - 1; k++) x[k + 1] = conv_x(in, in_stride, state, b, t0 - (K - 1) + k, d, L, D, K);
    /* unrolled, with restrict pointers, so several rows' loads are in flight at once */
#pragma unroll 8
    for (int t = t0; t < t1; t++) {
#pragma unroll
        for (int k = 0; k < K - 1; k++) x[k] = x[k + 1];
        x[K - 1] = bl_to_f(in[((size_t)b * L + t) * in_stride + d]);
        float a = bs;
#pragma unroll
        for (int k = 0; k < K; k++) a = fmaf(wk[k], x[k], a);
        out[((size_t)b * L + t) * D + d] = bl_from_f<T>(a * bl_sigmoid(a));
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

/* part: [B * tiles][K + 1][D]: dw[d][k] partials, then dbias */
template <typename T, int K>
__global__ void __launch_bounds__(CONV_THREADS)
conv1d_bwd_kernel(T *__restrict__ din, int din_stride, float *__restrict__ part,
                  const T *__restrict__ dout, const T *__restrict__ in, int in_stride,
                  const float *__restrict__ w, const float *__restrict__ bias, int L, int D)
{
    const int d = blockIdx.x * CONV_THREADS + threadIdx.x;
    if (d >= D) return;
    const int b = blockIdx.z, t0 = blockIdx.y * CONV_TILE, t1 = min(L, t0 + CONV_TILE);
    float wk[K], x[K], g[K], dw[K], db = 0.0f;
#pragma unroll
    for (int k = 0; k < K; k++) {
        wk[k] = w[(size_t)d * K + k];
        g[k] = 0.0f;
        dw[k] = 0.0f;
    }
    const float bs = bias[d];
#pragma unroll
    for (int k = 0; k < K - 1; k++) x[k + 1] = conv_x(in, in_stride, (const float *)NULL, b, t0 - (K - 1) + k, d, L, D, K);
    /* s walks the rows whose gradient the tile's din needs: t0 .. t1 - 1 + (K - 1) */
    const int s1 = min(L, t1 + K - 1);
#pragma unroll 4
    for (int s = t0; s < t1 + K - 1; s++) {
        float gs = 0.0f;
#pragma unroll
        for (int k = 0; k < K - 1; k++) x[k] = x[k + 1];
        if (s < s1) {
            x[K - 1] = bl_to_f(in[((size_t)b * L + s) * in_stride + d]);
            float a = bs;
#pragma unroll
            for (int k = 0; k < K; k++) a = fmaf(wk[k], x[k], a);
            float sg = bl_sigmoid(a);
            gs = bl_to_f(dout[((size_t)b * L + s) * D + d]) * sg * (1.0f + a * (1.0f - sg));
            if (s < t1) { /* the tile's own rows feed dw, dbias */
                db += gs;
#pragma unroll
                for (int k = 0; k < K; k++) dw[k] = fmaf(gs, x[k], dw[k]);
            }
        }
#pragma unroll
        for (int k = 0; k < K - 1; k++) g[k] = g[k + 1];
        g[K - 1] = gs; /* g[K-1-k] = gradient at row s - k */
        int t = s - (K - 1);
        if (t >= t0 && t < t1) {
            float acc = 0.0f;
#pragma unroll
            for (int k = 0; k < K; k++) acc = fmaf(wk[k], g[K - 1 - k], acc);
            din[((size_t)b * L + t) * din_stride + d] = bl_from_f<T>(acc);
        }
    }
    float *p = part + ((size_t)b * gridDim.y + blockIdx.y) * (K + 1) * D;
#pragma unroll
    for (int k = 0; k < K; k++) p[(size_t)k * D + d] = dw[k];
    p[(size_t)K * D + d] = db;
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

#define CONV_DISPATCH(K, CALL)                                                              \
    switch (K) {                                                                            \
    case 1: CALL(1); break;                                                                 \
    case 2: CALL(2); break;                                                                 \
    case 3: CALL(3); break;                                                                 \
    case 4: CALL(4); break;                                                                 \
    case 5: CALL(5); break;                                                                 \
    case 6: CALL(6); break;                                                                 \
    case 7: CALL(7); break;                                                                 \
    case 8: CALL(8); break;                                                                 \
    default:                                                                                \
        fprintf(stderr, "bytelm: CUDA conv1d: kernel size %d not supported (1..%d)\n", K,    \
                CONV_KMAX);                                                                 \
        abort();                                                                            \
    }

template <typename T>
static void conv_fwd(CudaCtx *c, T *out, const T *in, int in_stride, const float *w,
                     const float *bias, float *conv_state, int B, int L, int D, int K)
{
    if (B == 0 || D == 0 || L == 0) return;
    dim3 grid((D + CONV_THREADS - 1) / CONV_THREADS, (L + CONV_TILE - 1) / CONV_TILE, B);
#define CONV_FWD(KK)                                                                         \
    conv1d_fwd_kernel<T, KK><<<grid, CONV_THREADS, 0, c->stream>>>(out, in, in_stride, w, bias, \
                                                                   conv_state, L, D)
    CONV_DISPATCH(K, CONV_FWD)
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
    dim3 grid((D + CONV_THREADS - 1) / CONV_THREADS, tiles, B);
#define CONV_BWD(KK)                                                                         \
    conv1d_bwd_kernel<T, KK><<<grid, CONV_THREADS, 0, c->stream>>>(din, din_stride, part, dout, \
                                                                   in, in_stride, w, bias, L, D)
    CONV_DISPATCH(K, CONV_BWD)
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
