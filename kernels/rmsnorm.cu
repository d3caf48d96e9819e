/* RMSNorm forward and backward: one warp per row.
 *
 * Forward: a first pass over the row sums squares, a second writes the output; the second read
 * of the row comes from L1 (a warp's row is a few KB). Backward: the row's dot product first,
 * then dinp (+=) and, for the usual widths (C % 4 == 0, C <= 2048), dw accumulated in registers
 * across the rows a warp visits, written once per warp as a partial row; a second kernel sums
 * the partials in a fixed order (no atomics, same bits every run). Other widths use a separate
 * column-reduction kernel for dw. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/pdl.cuh"

#define RMS_WARPS 8
#define RMS_MAX_NV 16 /* float4 per lane in the register path: C <= 16 * 128 */

__device__ __forceinline__ float warp_sum(float v)
{
    for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

/* Four consecutive outputs: one 16-byte store in fp32, one 8-byte store in bf16. */
__device__ __forceinline__ void store4(float *o, float4 v) { *(float4 *)o = v; }
__device__ __forceinline__ void store4(__nv_bfloat16 *o, float4 v)
{
    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 u;
    u.x = *(unsigned *)&lo;
    u.y = *(unsigned *)&hi;
    *(uint2 *)o = u;
}

/* TO: the output's storage type (fp32, or bf16 for the mixed-precision plan) */
template <typename TO, bool VEC>
__global__ void __launch_bounds__(RMS_WARPS * 32)
rmsnorm_fwd_kernel(TO *out, float *rstd, const float *inp, const float *w, int rows, int C,
                   float eps)
{
    const int lane = threadIdx.x & 31;
    const size_t wid = (size_t)blockIdx.x * RMS_WARPS + (threadIdx.x >> 5);
    const size_t nw = (size_t)gridDim.x * RMS_WARPS;
    for (size_t r = wid; r < (size_t)rows; r += nw) {
        const float *x = inp + r * C;
        TO *o = out + r * C;
        float ss = 0.0f;
        if (VEC) {
            for (int c = lane * 4; c < C; c += 128) {
                float4 v = *(const float4 *)(x + c);
                ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
            }
        } else {
            for (int c = lane; c < C; c += 32) ss += x[c] * x[c];
        }
        ss = warp_sum(ss);
        float rs = 1.0f / sqrtf(ss / (float)C + eps);
        if (lane == 0) rstd[r] = rs;
        if (VEC) {
            for (int c = lane * 4; c < C; c += 128) {
                float4 v = *(const float4 *)(x + c), g = *(const float4 *)(w + c);
                store4(o + c, make_float4(v.x * rs * g.x, v.y * rs * g.y, v.z * rs * g.z,
                                          v.w * rs * g.w));
            }
        } else {
            for (int c = lane; c < C; c += 32) o[c] = bl_from_f<TO>(x[c] * rs * w[c]);
        }
    }
}

/* dx_j = r w_j g_j - x_j r^3 / C * sum_c g_c w_c x_c. Register path: lane holds columns
 * lane*4 + 128 j (j < NV) of dw. part: [gridDim.x * RMS_WARPS][C]. */
template <int NV>
__global__ void __launch_bounds__(RMS_WARPS * 32)
rmsnorm_bwd_kernel(float *dinp, float *part, const float *dout, const float *inp, const float *w,
                   const float *rstd, int rows, int C)
{
    const int lane = threadIdx.x & 31;
    const size_t wid = (size_t)blockIdx.x * RMS_WARPS + (threadIdx.x >> 5);
    const size_t nw = (size_t)gridDim.x * RMS_WARPS;
    float4 dwa[NV];
#pragma unroll
    for (int j = 0; j < NV; j++) dwa[j] = make_float4(0.f, 0.f, 0.f, 0.f);
    for (size_t r = wid; r < (size_t)rows; r += nw) {
        const float *x = inp + r * C, *g = dout + r * C;
        float *dx = dinp + r * C;
        float4 xv[NV], gv[NV];
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < NV; j++) {
            int c = lane * 4 + 128 * j;
            if (c < C) {
                xv[j] = *(const float4 *)(x + c);
                gv[j] = *(const float4 *)(g + c);
                float4 wv = *(const float4 *)(w + c);
                dot += gv[j].x * wv.x * xv[j].x + gv[j].y * wv.y * xv[j].y +
                       gv[j].z * wv.z * xv[j].z + gv[j].w * wv.w * xv[j].w;
            }
        }
        dot = warp_sum(dot);
        const float rs = rstd[r];
        const float k = dot * rs * rs * rs / (float)C;
#pragma unroll
        for (int j = 0; j < NV; j++) {
            int c = lane * 4 + 128 * j;
            if (c < C) {
                float4 wv = *(const float4 *)(w + c), d = *(float4 *)(dx + c);
                d.x += rs * wv.x * gv[j].x - k * xv[j].x;
                d.y += rs * wv.y * gv[j].y - k * xv[j].y;
                d.z += rs * wv.z * gv[j].z - k * xv[j].z;
                d.w += rs * wv.w * gv[j].w - k * xv[j].w;
                *(float4 *)(dx + c) = d;
                dwa[j].x += gv[j].x * xv[j].x * rs;
                dwa[j].y += gv[j].y * xv[j].y * rs;
                dwa[j].z += gv[j].z * xv[j].z * rs;
                dwa[j].w += gv[j].w * xv[j].w * rs;
            }
        }
    }
    float *p = part + wid * C;
#pragma unroll
    for (int j = 0; j < NV; j++) {
        int c = lane * 4 + 128 * j;
        if (c < C) *(float4 *)(p + c) = dwa[j];
    }
}

/* Any width: dinp only (dw by rmsnorm_dw_partial_kernel). */
__global__ void __launch_bounds__(RMS_WARPS * 32)
rmsnorm_bwd_dx_kernel(float *dinp, const float *dout, const float *inp, const float *w,
                      const float *rstd, int rows, int C)
{
    const int lane = threadIdx.x & 31;
    const size_t wid = (size_t)blockIdx.x * RMS_WARPS + (threadIdx.x >> 5);
    const size_t nw = (size_t)gridDim.x * RMS_WARPS;
    for (size_t r = wid; r < (size_t)rows; r += nw) {
        const float *x = inp + r * C, *g = dout + r * C;
        float *dx = dinp + r * C;
        float dot = 0.0f;
        for (int c = lane; c < C; c += 32) dot += g[c] * w[c] * x[c];
        dot = warp_sum(dot);
        const float rs = rstd[r];
        const float k = dot * rs * rs * rs / (float)C;
        for (int c = lane; c < C; c += 32) dx[c] += rs * w[c] * g[c] - k * x[c];
    }
}

/* Any width: part[range][c] = sum over the range's rows of g x r, one thread per column. */
#define RMS_DW_RANGE 256
__global__ void rmsnorm_dw_partial_kernel(float *part, const float *dout, const float *inp,
                                          const float *rstd, int rows, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * RMS_DW_RANGE, r1 = min(rows, r0 + RMS_DW_RANGE);
    float acc = 0.0f;
    for (int r = r0; r < r1; r++) acc += dout[(size_t)r * C + c] * inp[(size_t)r * C + c] * rstd[r];
    part[(size_t)blockIdx.y * C + c] = acc;
}

/* dw[c] += sum_p part[p][c], in p order */
__global__ void rmsnorm_dw_reduce_kernel(float *dw, const float *part, int nparts, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s = 0.0;
    for (int p = 0; p < nparts; p++) s += part[(size_t)p * C + c];
    dw[c] = (float)((double)dw[c] + s);
}

/* Few rows (generation's step at a larger batch): a block per row, a float4 a thread, so the
 * row is read once in one round trip instead of a warp walking it twice. C % 4 == 0 and
 * C <= 4 * RMS_ROW_THREADS. A programmatic dependent (pdl.cuh) that reads nothing before its
 * wait: it starts under the kernel before it, and the product after it fetches its weights
 * under this one. */
#define RMS_ROW_THREADS 1024
template <typename TO>
__global__ void __launch_bounds__(RMS_ROW_THREADS)
rmsnorm_fwd_row_kernel(TO *out, float *rstd, const float *inp, const float *w, int C, float eps)
{
    __shared__ float part[RMS_ROW_THREADS / 32];
    const int r = blockIdx.x, c = threadIdx.x * 4, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const bool on = c < C;
    float4 v = make_float4(0, 0, 0, 0), g = v;
    pdl_wait();
    pdl_release();
    if (on) {
        v = *(const float4 *)(inp + (size_t)r * C + c);
        g = *(const float4 *)(w + c);
    }
    float ss = warp_sum(v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w);
    if (lane == 0) part[wid] = ss;
    __syncthreads();
    const int nw = (blockDim.x + 31) / 32;
    ss = 0.0f;
    for (int i = 0; i < nw; i++) ss += part[i]; /* the same order in every thread */
    const float rs = 1.0f / sqrtf(ss / (float)C + eps);
    if (threadIdx.x == 0) rstd[r] = rs;
    if (on)
        store4(out + (size_t)r * C + c,
               make_float4(v.x * rs * g.x, v.y * rs * g.y, v.z * rs * g.z, v.w * rs * g.w));
}

static int row_blocks(CudaCtx *c, int rows, int rows_per_warp)
{
    long warps = ((long)rows + rows_per_warp - 1) / rows_per_warp;
    long blocks = (warps + RMS_WARPS - 1) / RMS_WARPS;
    long cap = (long)c->num_sms * 16;
    return (int)(blocks < 1 ? 1 : (blocks < cap ? blocks : cap));
}

template <typename TO>
static void rms_fwd(CudaCtx *c, TO *out, float *rstd, const float *inp, const float *w, int rows,
                    int C, float eps)
{
    if (rows == 0) return;
    bool vec = C % 4 == 0 && (uintptr_t)out % (4 * sizeof(TO)) == 0 && (uintptr_t)inp % 16 == 0 &&
               (uintptr_t)w % 16 == 0;
    /* a block a row while the warp-a-row kernel would fill at most one block per SM */
    if (vec && C <= 4 * RMS_ROW_THREADS && rows <= c->num_sms * RMS_WARPS) {
        int threads = (C / 4 + 31) / 32 * 32;
        launch_pdl(rmsnorm_fwd_row_kernel<TO>, dim3(rows), dim3(threads), 0, c->stream, out, rstd,
                   inp, w, C, eps);
        return;
    }
    int grid = row_blocks(c, rows, 1);
    if (vec)
        rmsnorm_fwd_kernel<TO, true><<<grid, RMS_WARPS * 32, 0, c->stream>>>(out, rstd, inp, w,
                                                                             rows, C, eps);
    else
        rmsnorm_fwd_kernel<TO, false><<<grid, RMS_WARPS * 32, 0, c->stream>>>(out, rstd, inp, w,
                                                                              rows, C, eps);
    CUDA_LAUNCH_CHECK();
}

void cuda_rmsnorm_fwd(CudaCtx *c, float *out, float *rstd, const float *inp, const float *w,
                      int rows, int C, float eps)
{
    rms_fwd(c, out, rstd, inp, w, rows, C, eps);
}

void cuda_rmsnorm_fwd_bf16(CudaCtx *c, __nv_bfloat16 *out, float *rstd, const float *inp,
                           const float *w, int rows, int C, float eps)
{
    rms_fwd(c, out, rstd, inp, w, rows, C, eps);
}

template <int NV>
static void launch_bwd_reg(CudaCtx *c, float *dinp, float *part, int grid, const float *dout,
                           const float *inp, const float *w, const float *rstd, int rows, int C)
{
    rmsnorm_bwd_kernel<NV><<<grid, RMS_WARPS * 32, 0, c->stream>>>(dinp, part, dout, inp, w, rstd,
                                                                   rows, C);
    CUDA_LAUNCH_CHECK();
}

void cuda_rmsnorm_bwd(CudaCtx *c, float *dinp, float *dw, const float *dout, const float *inp,
                      const float *w, const float *rstd, int rows, int C)
{
    if (rows == 0) return;
    bool vec = C % 4 == 0 && C <= RMS_MAX_NV * 128 && (uintptr_t)dinp % 16 == 0 &&
               (uintptr_t)dout % 16 == 0 && (uintptr_t)inp % 16 == 0 && (uintptr_t)w % 16 == 0;
    int rgrid = (C + 255) / 256;
    if (vec) {
        /* enough rows per warp that the partials stay small next to the row data */
        int grid = row_blocks(c, rows, 32);
        int nparts = grid * RMS_WARPS;
        float *part = (float *)cuda_scratch(c, (size_t)nparts * C * sizeof(float));
        int nv = (C + 127) / 128;
        if (nv <= 1)
            launch_bwd_reg<1>(c, dinp, part, grid, dout, inp, w, rstd, rows, C);
        else if (nv <= 2)
            launch_bwd_reg<2>(c, dinp, part, grid, dout, inp, w, rstd, rows, C);
        else if (nv <= 4)
            launch_bwd_reg<4>(c, dinp, part, grid, dout, inp, w, rstd, rows, C);
        else if (nv <= 8)
            launch_bwd_reg<8>(c, dinp, part, grid, dout, inp, w, rstd, rows, C);
        else
            launch_bwd_reg<16>(c, dinp, part, grid, dout, inp, w, rstd, rows, C);
        rmsnorm_dw_reduce_kernel<<<rgrid, 256, 0, c->stream>>>(dw, part, nparts, C);
        CUDA_LAUNCH_CHECK();
        return;
    }
    rmsnorm_bwd_dx_kernel<<<row_blocks(c, rows, 1), RMS_WARPS * 32, 0, c->stream>>>(
        dinp, dout, inp, w, rstd, rows, C);
    CUDA_LAUNCH_CHECK();
    int nranges = (rows + RMS_DW_RANGE - 1) / RMS_DW_RANGE;
    float *part = (float *)cuda_scratch(c, (size_t)nranges * C * sizeof(float));
    rmsnorm_dw_partial_kernel<<<dim3(rgrid, nranges), 256, 0, c->stream>>>(part, dout, inp, rstd,
                                                                            rows, C);
    CUDA_LAUNCH_CHECK();
    rmsnorm_dw_reduce_kernel<<<rgrid, 256, 0, c->stream>>>(dw, part, nranges, C);
    CUDA_LAUNCH_CHECK();
}
