/* Fused softmax cross-entropy: one warp per row, the row held in registers (V = 256: two float4
 * per lane), so logits are read once and dlogits (which may alias them) written once. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"

#define CE_WARPS 8

__device__ __forceinline__ float ce_warp_max(float v)
{
    for (int m = 16; m; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}
__device__ __forceinline__ float ce_warp_sum(float v)
{
    for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

/* exp(v - mx) of a row whose max is mx; an infinite mx puts all the mass on the logits equal to
 * it (v - mx would be NaN there). */
__device__ __forceinline__ float ce_exp(float v, float mx)
{
    return isinf(mx) ? (v == mx ? 1.0f : 0.0f) : expf(v - mx);
}

/* The loss log(sum) + (mx - xt), in that order: log(sum) + mx first would round log(sum) away
 * whenever mx is huge (at 1e30 every loss would read 0). */
__device__ __forceinline__ float ce_loss(float sum, float mx, float xt)
{
    float gap = isinf(mx) ? (xt == mx ? 0.0f : INFINITY) : mx - xt;
    return logf(sum) + gap;
}

/* V == NV * 128: lane holds columns lane*4 + 128 j. */
template <int NV>
__global__ void __launch_bounds__(CE_WARPS * 32)
cross_entropy_kernel(float *losses, float *dlogits, const float *logits, const uint8_t *targets,
                     int rows, float dscale)
{
    constexpr int V = NV * 128;
    const int lane = threadIdx.x & 31;
    const size_t wid = (size_t)blockIdx.x * CE_WARPS + (threadIdx.x >> 5);
    const size_t nw = (size_t)gridDim.x * CE_WARPS;
    for (size_t r = wid; r < (size_t)rows; r += nw) {
        const float *x = logits + r * V;
        float4 v[NV];
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < NV; j++) {
            v[j] = *(const float4 *)(x + lane * 4 + 128 * j);
            mx = fmaxf(mx, fmaxf(fmaxf(v[j].x, v[j].y), fmaxf(v[j].z, v[j].w)));
        }
        mx = ce_warp_max(mx);
        const int tgt = targets[r];
        float sum = 0.0f, xt = 0.0f;
#pragma unroll
        for (int j = 0; j < NV; j++) {
            int c = lane * 4 + 128 * j;
            sum += ce_exp(v[j].x, mx) + ce_exp(v[j].y, mx) + ce_exp(v[j].z, mx) + ce_exp(v[j].w, mx);
            if (tgt >= c && tgt < c + 4)
                xt = tgt == c ? v[j].x : tgt == c + 1 ? v[j].y : tgt == c + 2 ? v[j].z : v[j].w;
        }
        sum = ce_warp_sum(sum);
        xt = ce_warp_sum(xt); /* exactly one lane holds the target logit */
        if (lane == 0) losses[r] = ce_loss(sum, mx, xt);
        if (dlogits) {
            float *g = dlogits + r * V;
            const float inv = 1.0f / sum;
#pragma unroll
            for (int j = 0; j < NV; j++) {
                int c = lane * 4 + 128 * j;
                float4 p;
                p.x = (ce_exp(v[j].x, mx) * inv - (tgt == c ? 1.0f : 0.0f)) * dscale;
                p.y = (ce_exp(v[j].y, mx) * inv - (tgt == c + 1 ? 1.0f : 0.0f)) * dscale;
                p.z = (ce_exp(v[j].z, mx) * inv - (tgt == c + 2 ? 1.0f : 0.0f)) * dscale;
                p.w = (ce_exp(v[j].w, mx) * inv - (tgt == c + 3 ? 1.0f : 0.0f)) * dscale;
                *(float4 *)(g + c) = p;
            }
        }
    }
}

/* Any V: three passes over the row (L1-resident). dlogits may alias logits: the target logit
 * and the row statistics are taken before the row is written. */
__global__ void __launch_bounds__(CE_WARPS * 32)
cross_entropy_any_kernel(float *losses, float *dlogits, const float *logits,
                         const uint8_t *targets, int rows, int V, float dscale)
{
    const int lane = threadIdx.x & 31;
    const size_t wid = (size_t)blockIdx.x * CE_WARPS + (threadIdx.x >> 5);
    const size_t nw = (size_t)gridDim.x * CE_WARPS;
    for (size_t r = wid; r < (size_t)rows; r += nw) {
        const float *x = logits + r * V;
        float mx = -INFINITY;
        for (int c = lane; c < V; c += 32) mx = fmaxf(mx, x[c]);
        mx = ce_warp_max(mx);
        float sum = 0.0f;
        for (int c = lane; c < V; c += 32) sum += ce_exp(x[c], mx);
        sum = ce_warp_sum(sum);
        const int tgt = targets[r];
        const float xt = x[tgt], inv = 1.0f / sum;
        __syncwarp();
        if (lane == 0) losses[r] = ce_loss(sum, mx, xt);
        if (dlogits) {
            float *g = dlogits + r * V;
            for (int c = lane; c < V; c += 32)
                g[c] = (ce_exp(x[c], mx) * inv - (c == tgt ? 1.0f : 0.0f)) * dscale;
        }
    }
}

void cuda_cross_entropy(CudaCtx *c, float *losses, float *dlogits, const float *logits,
                        const uint8_t *targets, int rows, int V, float dscale)
{
    if (rows == 0) return;
    long blocks = ((long)rows + CE_WARPS - 1) / CE_WARPS, cap = (long)c->num_sms * 16;
    int grid = (int)(blocks < cap ? blocks : cap);
    bool aligned = (uintptr_t)logits % 16 == 0 && (!dlogits || (uintptr_t)dlogits % 16 == 0);
    if (aligned && V == 256)
        cross_entropy_kernel<2><<<grid, CE_WARPS * 32, 0, c->stream>>>(losses, dlogits, logits,
                                                                       targets, rows, dscale);
    else if (aligned && V == 128)
        cross_entropy_kernel<1><<<grid, CE_WARPS * 32, 0, c->stream>>>(losses, dlogits, logits,
                                                                       targets, rows, dscale);
    else
        cross_entropy_any_kernel<<<grid, CE_WARPS * 32, 0, c->stream>>>(losses, dlogits, logits,
                                                                        targets, rows, V, dscale);
    CUDA_LAUNCH_CHECK();
}
