/* Embedding lookup and its gradient.
 *
 * The gradient scatters rows onto 256 table rows, so most rows collide. Instead of atomics
 * (whose order, and so whose rounding, changes from run to run) it runs in two passes: each
 * block sums a fixed range of rows into a private [256, 32] tile in shared memory, every table
 * entry owned by one warp that visits its rows in order; a second pass adds the per-range tiles
 * in range order. The result is the same bits on every run. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"

#define EMB_VOCAB 256
#define EMB_COLS 32        /* table columns per block: one per lane */
#define EMB_WARPS 8        /* warp w owns the table rows v with v % 8 == w */
#define EMB_RANGE 4096     /* input rows per block in the first pass */

__global__ void embedding_fwd_kernel(float *out, const uint8_t *ids, const float *table,
                                     int rows, int C)
{
    size_t n = (size_t)rows * C;
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        size_t r = i / C, col = i % C;
        out[i] = table[(size_t)ids[r] * C + col];
    }
}

/* float4 version when C % 4 == 0 (the usual d_model) */
__global__ void embedding_fwd_vec_kernel(float4 *out, const uint8_t *ids, const float4 *table,
                                         int rows, int C4)
{
    size_t n = (size_t)rows * C4;
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        size_t r = i / C4, col = i % C4;
        out[i] = table[(size_t)ids[r] * C4 + col];
    }
}

/* grid (column tiles, row ranges); part[range][v][c] = sum of dout[r][c] over the range's rows
 * with ids[r] == v */
__global__ void __launch_bounds__(EMB_WARPS * 32)
embedding_bwd_partial_kernel(float *part, const float *dout, const uint8_t *ids, int rows, int C)
{
    __shared__ float acc[EMB_VOCAB][EMB_COLS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int col = blockIdx.x * EMB_COLS + lane;
    const int r0 = blockIdx.y * EMB_RANGE;
    const int r1 = min(rows, r0 + EMB_RANGE);
    for (int i = threadIdx.x; i < EMB_VOCAB * EMB_COLS; i += blockDim.x) (&acc[0][0])[i] = 0.0f;
    __syncthreads();

    for (int base = r0; base < r1; base += 32) {
        int r = base + lane;
        int v = r < r1 ? ids[r] : -1;
        unsigned mine = __ballot_sync(0xffffffffu, v >= 0 && (v % EMB_WARPS) == warp);
        while (mine) { /* this warp's rows of the 32, in increasing order */
            int src = __ffs(mine) - 1;
            mine &= mine - 1;
            int vv = __shfl_sync(0xffffffffu, v, src);
            if (col < C) acc[vv][lane] += dout[(size_t)(base + src) * C + col];
        }
    }
    __syncthreads();
    float *p = part + (size_t)blockIdx.y * EMB_VOCAB * C;
    for (int v = warp; v < EMB_VOCAB; v += EMB_WARPS)
        if (col < C) p[(size_t)v * C + col] = acc[v][lane];
}

/* dtable[v][c] += sum over ranges of part[range][v][c], in range order */
__global__ void embedding_bwd_reduce_kernel(float *dtable, const float *part, int nrange, int C)
{
    size_t n = (size_t)EMB_VOCAB * C;
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        double s = 0.0;
        for (int k = 0; k < nrange; k++) s += part[(size_t)k * n + i];
        dtable[i] = (float)((double)dtable[i] + s);
    }
}

static int grid_for(CudaCtx *c, size_t n, int threads)
{
    size_t blocks = (n + threads - 1) / threads;
    size_t cap = (size_t)c->num_sms * 32;
    return (int)(blocks < cap ? (blocks ? blocks : 1) : cap);
}

void cuda_embedding_fwd(CudaCtx *c, float *out, const uint8_t *ids, const float *table, int rows,
                        int C)
{
    if (rows == 0 || C == 0) return;
    bool vec = C % 4 == 0 && ((uintptr_t)out % 16 == 0) && ((uintptr_t)table % 16 == 0);
    if (vec) {
        size_t n = (size_t)rows * (C / 4);
        embedding_fwd_vec_kernel<<<grid_for(c, n, 256), 256, 0, c->stream>>>(
            (float4 *)out, ids, (const float4 *)table, rows, C / 4);
    } else {
        size_t n = (size_t)rows * C;
        embedding_fwd_kernel<<<grid_for(c, n, 256), 256, 0, c->stream>>>(out, ids, table, rows,
                                                                          C);
    }
    CUDA_LAUNCH_CHECK();
}

void cuda_embedding_bwd(CudaCtx *c, float *dtable, const float *dout, const uint8_t *ids,
                        int rows, int C)
{
    if (rows == 0 || C == 0) return;
    int nrange = (rows + EMB_RANGE - 1) / EMB_RANGE;
    float *part = (float *)cuda_scratch(c, (size_t)nrange * EMB_VOCAB * C * sizeof(float));
    dim3 grid((C + EMB_COLS - 1) / EMB_COLS, nrange);
    embedding_bwd_partial_kernel<<<grid, EMB_WARPS * 32, 0, c->stream>>>(part, dout, ids, rows,
                                                                          C);
    CUDA_LAUNCH_CHECK();
    size_t n = (size_t)EMB_VOCAB * C;
    embedding_bwd_reduce_kernel<<<grid_for(c, n, 256), 256, 0, c->stream>>>(dtable, part, nrange,
                                                                             C);
    CUDA_LAUNCH_CHECK();
}
