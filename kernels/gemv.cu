/* Products with few input rows (M <= GEMV_MAX_M: generation's per-byte step, one row per
 * stream) read the weights once at memory bandwidth; cuBLAS picks tiled GEMM kernels for them
 * that leave most of the bandwidth unused.
 *
 * One warp per output column n: each lane walks the weight row w[n, :] in 16-byte pieces, 32
 * pieces apart, multiplies each by the same piece of every input row (those stay in L1: every
 * warp reads them), and the warp adds its lanes' sums by a fixed butterfly. The order of the sums
 * is fixed, so results are the same on every run. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"

#define GEMV_WARPS 8

/* V elements of T from p, widened to fp32: one element at a time here, 16 bytes at once in the
 * two specializations below */
template <typename T, int V> struct Piece {
    static __device__ __forceinline__ void load(const T *p, float *x)
    {
#pragma unroll
        for (int j = 0; j < V; j++) x[j] = bl_to_f(p[j]);
    }
};
template <> struct Piece<float, 4> {
    static __device__ __forceinline__ void load(const float *p, float *x)
    {
        float4 v = __ldg(reinterpret_cast<const float4 *>(p));
        x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    }
};
template <> struct Piece<__nv_bfloat16, 8> {
    static __device__ __forceinline__ void load(const __nv_bfloat16 *p, float *x)
    {
        uint4 v = __ldg(reinterpret_cast<const uint4 *>(p));
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            x[2 * i] = __uint_as_float(w[i] << 16);
            x[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
};

/* How the result is stored: fp32 (=, or += out, or = add + ...) or rounded to bf16. */
struct GemvOut {
    void *out;
    int out_bf16;
    int ldo;
    const float *add; /* fp32 addend with leading dimension ldo, or NULL */
};

template <typename TW, typename TI, int M, int V>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
gemv_kernel(GemvOut o, const TI *__restrict__ inp, int ldi, const TW *__restrict__ w, int K, int N)
{
    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (n >= N) return;
    const TW *wr = w + (size_t)n * K;
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; m++) acc[m] = 0.0f;
#pragma unroll 4
    for (int k = lane * V; k < K; k += 32 * V) {
        float wv[V];
        Piece<TW, V>::load(wr + k, wv);
#pragma unroll
        for (int m = 0; m < M; m++) {
            float xv[V];
            Piece<TI, V>::load(inp + (size_t)m * ldi + k, xv);
#pragma unroll
            for (int j = 0; j < V; j++) acc[m] = fmaf(wv[j], xv[j], acc[m]);
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], off);
    if (lane < M) {
        float v = 0.0f;
#pragma unroll
        for (int m = 0; m < M; m++)
            if (m == lane) v = acc[m];
        const size_t at = (size_t)lane * o.ldo + n;
        if (o.add) v += o.add[at];
        if (o.out_bf16) static_cast<__nv_bfloat16 *>(o.out)[at] = __float2bfloat16_rn(v);
        else static_cast<float *>(o.out)[at] = v;
    }
}

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

template <typename TW, typename TI, int M>
static void launch_m(CudaCtx *c, const GemvOut &o, const TI *inp, int ldi, const TW *w, int K,
                     int N)
{
    constexpr int V = 16 / (int)sizeof(TW);
    static_assert(sizeof(TW) == sizeof(TI), "one piece width for weights and inputs");
    bool vec = K % V == 0 && ldi % V == 0 && aligned16(w) && aligned16(inp);
    dim3 grid((N + GEMV_WARPS - 1) / GEMV_WARPS);
    if (vec) gemv_kernel<TW, TI, M, V><<<grid, GEMV_WARPS * 32, 0, c->stream>>>(o, inp, ldi, w, K, N);
    else gemv_kernel<TW, TI, M, 1><<<grid, GEMV_WARPS * 32, 0, c->stream>>>(o, inp, ldi, w, K, N);
    CUDA_LAUNCH_CHECK();
}

template <typename TW, typename TI>
static void launch(CudaCtx *c, const GemvOut &o, const TI *inp, int ldi, const TW *w, int M,
                   int K, int N)
{
    switch (M) {
    case 1: launch_m<TW, TI, 1>(c, o, inp, ldi, w, K, N); break;
    case 2: launch_m<TW, TI, 2>(c, o, inp, ldi, w, K, N); break;
    case 3: launch_m<TW, TI, 3>(c, o, inp, ldi, w, K, N); break;
    case 4: launch_m<TW, TI, 4>(c, o, inp, ldi, w, K, N); break;
    case 5: launch_m<TW, TI, 5>(c, o, inp, ldi, w, K, N); break;
    case 6: launch_m<TW, TI, 6>(c, o, inp, ldi, w, K, N); break;
    case 7: launch_m<TW, TI, 7>(c, o, inp, ldi, w, K, N); break;
    default: launch_m<TW, TI, 8>(c, o, inp, ldi, w, K, N); break;
    }
}

void cuda_gemv(CudaCtx *c, float *out, int ldo, const float *inp, int ldi, const float *w, int M,
               int K, int N, int accumulate)
{
    GemvOut o = {out, 0, ldo, accumulate ? out : NULL};
    launch<float, float>(c, o, inp, ldi, w, M, K, N);
}

void cuda_gemv_bf16(CudaCtx *c, void *out, int out_bf16, int ldo, const float *add,
                    const __nv_bfloat16 *inp, int ldi, const __nv_bfloat16 *w, int M, int K, int N)
{
    GemvOut o = {out, out_bf16, ldo, add};
    launch<__nv_bfloat16, __nv_bfloat16>(c, o, inp, ldi, w, M, K, N);
}
