/* Products with few input rows (M <= GEMV_MAX_M: generation's per-byte step, one row per
 * stream) read the weights once at memory bandwidth; cuBLAS picks tiled GEMM kernels for them
 * that leave most of the bandwidth unused. Also the step's normalized product (norm_matmul):
 * RMSNorm of the input rows in the prologue, so the norm is not a kernel of its own.
 *
 * One to eight warps per group of CPW output columns (one column, warps_per_column's count of
 * warps; two from 3 rows where a warp's share of the rows is long; or, for the normalized
 * product of one or two rows, plan_fat's spread): each lane walks the weight rows w[n, :] in
 * 16-byte pieces, multiplies each by the same piece of every input row (those stay in L1: every
 * warp reads them), the warp adds its lanes' sums by a fixed butterfly and the group's warps add
 * theirs in warp order, so results are the same on every run. Launched as programmatic dependents (pdl.cuh): the first PF pieces of each lane's
 * weights are loaded before waiting for the previous kernel, since the weights do not depend on
 * it. PF is chosen per launch as the fewest that hold a lane's share (2, 4 or 8): registers
 * held for pieces a lane never loads cost blocks an SM, at 8 streams 16-21% of a byte's time
 * (kernels/NOTES.md, g12). From 3 rows with bf16 weights the normalized product rounds each
 * row once a block into shared memory (SROWS) instead of once a warp. After the wait a kernel
 * makes one round trip for what the previous kernel wrote, not two or three: the norm's weights
 * are copied into shared memory before it, and the addend is read right after it, not once the
 * sums are done (g15). */
#include "kernels/cp_async.cuh"
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/pdl.cuh"

#define GEMV_WARPS 8
#define GEMV_PREFETCH 8 /* the most 16-byte pieces a lane holds in registers across the wait */
#define GEMV_FAT_M 2    /* normalized products of up to this many rows: plan_fat */
#define GEMV_FAT_CPW 4  /* the most columns a warp takes there */
#define GEMV_FAT_PF 16  /* and the 16-byte pieces a lane holds across the wait */
#define GEMV_ROWS_SMEM 32768 /* from 3 rows, bf16 weights: the normalized rows in shared
                              * memory, up to this many bytes of them */
#define GEMV_TWO_COL_BYTES 16384 /* from 3 rows, two columns a warp where a warp reads this many
                                  * bytes of the input rows */
#define GEMV_NORM_W_SMEM 8192 /* the norm's weights staged in shared memory before the wait,
                              * up to this many bytes of them (K <= 2,048) */
#define GEMV_BLOCK_NORM_M 1 /* up to this many rows the whole block reads them for the norm
                             * (row_scales); beyond, a warp a row: at two streams the block's
                             * reads measured 10-13% slower (kernels/NOTES.md, g11) */

/* 16 bytes of T widened to 16 / sizeof(T) floats */
__device__ __forceinline__ void widen(uint4 v, float *x, float)
{
    x[0] = __uint_as_float(v.x), x[1] = __uint_as_float(v.y);
    x[2] = __uint_as_float(v.z), x[3] = __uint_as_float(v.w);
}
__device__ __forceinline__ void widen(uint4 v, float *x, __nv_bfloat16)
{
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        x[2 * i] = __uint_as_float(w[i] << 16);
        x[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}

/* V consecutive elements of T at p, widened; 16-byte loads when VEC (p aligned, V elements
 * a multiple of 16 bytes), else one element at a time. */
template <typename T, int V, bool VEC>
__device__ __forceinline__ void load_piece(const T *p, float *x)
{
    if (VEC) {
#pragma unroll
        for (int h = 0; h < (int)(V * sizeof(T)) / 16; h++)
            widen(__ldg(reinterpret_cast<const uint4 *>(p) + h), x + h * (16 / (int)sizeof(T)), T());
    } else {
#pragma unroll
        for (int j = 0; j < V; j++) x[j] = bl_to_f(p[j]);
    }
}

/* How the result is stored: fp32 (=, or = add + ...) or rounded to bf16. */
struct GemvOut {
    void *out;
    int out_bf16;
    int ldo;
    const float *add; /* fp32 addend with leading dimension ldo, or NULL */
};

/* The input rows' RMSNorm (NORM): the scale each row is multiplied by, computed as rmsnorm.cu
 * does, so the fused product sees the same normalized values. */
struct GemvNorm {
    const float *w;
    float eps;
    int staged; /* w copied into shared memory before the wait (after the SROWS rows) */
};

/* The M input rows' RMSNorm scales, rs[m] = 1 / sqrt(mean(x_m^2) + eps), in every thread. The
 * whole block reads the rows, a float4 of each row a thread with all M loads issued together, so
 * the norm costs one round trip and a block barrier after the wait instead of one warp walking
 * the row while the others wait (one stream: 353m's in_proj is the step's slowest kernel). Up
 * to 4 x 256 columns the sum's order is rmsnorm.cu's row kernel's (each warp's 32 float4s by
 * the same butterfly, then the warps in order), so both paths see the same scale. */
template <typename TI, int M, bool VEC>
__device__ __forceinline__ void row_scales(float *rs, float (*norm_sh)[GEMV_MAX_M],
                                           const TI *inp, int ldi, int K, float eps)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float ss[M];
#pragma unroll
    for (int m = 0; m < M; m++) ss[m] = 0.0f;
    if (VEC) {
        for (int c = threadIdx.x * 4; c < K; c += GEMV_WARPS * 32 * 4) {
            float v[M][4];
#pragma unroll
            for (int m = 0; m < M; m++) load_piece<TI, 4, true>(inp + (size_t)m * ldi + c, v[m]);
#pragma unroll
            for (int m = 0; m < M; m++)
                ss[m] += v[m][0] * v[m][0] + v[m][1] * v[m][1] + v[m][2] * v[m][2] + v[m][3] * v[m][3];
        }
    } else {
        for (int c = threadIdx.x; c < K; c += GEMV_WARPS * 32) {
            float v[M];
#pragma unroll
            for (int m = 0; m < M; m++) v[m] = bl_to_f(inp[(size_t)m * ldi + c]);
#pragma unroll
            for (int m = 0; m < M; m++) ss[m] += v[m] * v[m];
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
        for (int o = 16; o; o >>= 1) ss[m] += __shfl_xor_sync(0xffffffffu, ss[m], o);
        if (lane == 0) norm_sh[warp][m] = ss[m];
    }
    cp_async_wait<0>(); /* the norm's staged weights, if any, visible after the barrier */
    __syncthreads();
#pragma unroll
    for (int m = 0; m < M; m++) {
        float t = 0.0f;
        for (int i = 0; i < GEMV_WARPS; i++) t += norm_sh[i][m]; /* the same order in every thread */
        rs[m] = 1.0f / sqrtf(t / (float)K + eps);
    }
}

/* V of the norm's weights at k, 16 bytes a load, from gw: shared memory where they were staged,
 * else global memory (one generic pointer, so one code path). */
template <int V> __device__ __forceinline__ void norm_w_at(const float *gw, int k, float *g)
{
#pragma unroll
    for (int h = 0; h < V / 4; h++) {
        const float4 t = reinterpret_cast<const float4 *>(gw + k)[h];
        g[4 * h] = t.x, g[4 * h + 1] = t.y, g[4 * h + 2] = t.z, g[4 * h + 3] = t.w;
    }
}

/* One warp's CPW consecutive columns times the M rows. A lane holds the first PF / CPW pieces of
 * each of its columns across the wait; with CPW > 1 a piece of every input row is read once for
 * all of the warp's columns. A block holds GEMV_WARPS / wpr column groups, wpr warps sharing a
 * group's k. */
template <typename TW, typename TI, int M, int V, bool VEC, bool NORM, int CPW, int PF, bool SROWS = false>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
gemv_kernel(GemvOut o, const TI *__restrict__ inp, int ldi, const TW *__restrict__ w, int K, int N,
            GemvNorm nm, int wpr)
{
    extern __shared__ uint4 rows_sh[]; /* SROWS: the M normalized rows, as TW, K apart; then
                                        * the norm's weights where nm.staged */
    __shared__ float norm_sh[GEMV_WARPS][GEMV_MAX_M];
    __shared__ float part_sh[GEMV_WARPS][GEMV_MAX_M * CPW];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    constexpr int PC = PF / CPW; /* pieces of each column held across the wait */
    const int part = warp % wpr;
    const int n0 = (blockIdx.x * (GEMV_WARPS / wpr) + warp / wpr) * CPW;
    const TW *wr[CPW];
#pragma unroll
    for (int c = 0; c < CPW; c++) wr[c] = w + (size_t)(n0 + c < N ? n0 + c : 0) * K;
    const int stride = 32 * V * wpr; /* elements between a lane's pieces */
    const int k_first = (lane + 32 * part) * V;
    /* the norm's weights: a weight, so copied before the wait like the pieces below; read
     * after the norm's barrier, where from global memory they were a second round trip */
    float *g_sh = reinterpret_cast<float *>(reinterpret_cast<char *>(rows_sh) +
                                            (SROWS ? (size_t)M * K * sizeof(TW) : 0));
    if (NORM && VEC && nm.staged) {
        for (int i = threadIdx.x * 4; i < K; i += GEMV_WARPS * 32 * 4) cp_async16(g_sh + i, nm.w + i, true);
        cp_async_commit();
    }
    const float *gw = NORM && VEC && nm.staged ? g_sh : nm.w;
    uint4 pre[PC][CPW];
    if (VEC && n0 < N) {
#pragma unroll
        for (int j = 0; j < PC; j++) {
            const int k = k_first + j * stride;
#pragma unroll
            for (int c = 0; c < CPW; c++)
                if (k < K) pre[j][c] = __ldg(reinterpret_cast<const uint4 *>(wr[c] + k));
        }
    }
    pdl_wait();
    pdl_release();
    /* lane m * CPW + c of part 0's warps stores row m of column n0 + c; its addend is read
     * here, just after the wait, not after the sums, so that round trip is off the tail */
    float addv = 0.0f;
    if (!NORM && o.add && part == 0 && lane < M * CPW && n0 + lane % CPW < N)
        addv = o.add[(size_t)(lane / CPW) * o.ldo + n0 + lane % CPW];
    float rs[M];
    if (NORM && M <= GEMV_BLOCK_NORM_M) {
        row_scales<TI, M, VEC>(rs, norm_sh, inp, ldi, K, nm.eps);
    } else if (NORM) { /* warp m walks row m (rmsnorm_fwd_kernel's sum, lane for lane) */
        if (warp < M) {
            const TI *x = inp + (size_t)warp * ldi;
            float ss = 0.0f;
            if (VEC) {
                for (int c = lane * 4; c < K; c += 128) {
                    float v[4];
                    load_piece<TI, 4, true>(x + c, v);
                    ss += v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
                }
            } else {
                for (int c = lane; c < K; c += 32) {
                    const float v = bl_to_f(x[c]);
                    ss += v * v;
                }
            }
            for (int m = 16; m; m >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, m);
            if (lane == 0) norm_sh[0][warp] = 1.0f / sqrtf(ss / (float)K + nm.eps);
        }
        cp_async_wait<0>();
        __syncthreads();
        if (SROWS) { /* normalize (and round) each row once for the block, not once a warp */
            TW *xs = reinterpret_cast<TW *>(rows_sh);
            for (int i = threadIdx.x * 4; i < M * K; i += GEMV_WARPS * 32 * 4) {
                const int m = i / K, k = i - m * K;
                float x[4], g[4];
                load_piece<TI, 4, true>(inp + (size_t)m * ldi + k, x);
                norm_w_at<4>(gw, k, g);
#pragma unroll
                for (int j = 0; j < 4; j++) xs[i + j] = bl_from_f<TW>(x[j] * norm_sh[0][m] * g[j]);
            }
            __syncthreads();
        }
    }
    float acc[M][CPW];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int c = 0; c < CPW; c++) acc[m][c] = 0.0f;
    /* the input rows' piece at k, normalized (and rounded as the bf16 product's input is) */
    auto rows_at = [&](int k, float (*xv)[V]) {
        if (SROWS) {
#pragma unroll
            for (int m = 0; m < M; m++) widen(rows_sh[((size_t)m * K + k) / V], xv[m], TW());
            return;
        }
        float g[V];
        if (NORM) {
            if (VEC) norm_w_at<V>(gw, k, g);
            else load_piece<float, V, VEC>(nm.w + k, g);
        }
#pragma unroll
        for (int m = 0; m < M; m++) {
            load_piece<TI, V, VEC>(inp + (size_t)m * ldi + k, xv[m]);
            if (NORM) {
#pragma unroll
                for (int j = 0; j < V; j++) {
                    xv[m][j] = xv[m][j] * (M <= GEMV_BLOCK_NORM_M ? rs[m] : norm_sh[0][m]) * g[j];
                    if (sizeof(TW) == 2) xv[m][j] = __bfloat162float(__float2bfloat16_rn(xv[m][j]));
                }
            }
        }
    };
    auto fma_col = [&](int c, const float *wv, float (*xv)[V]) {
#pragma unroll
        for (int m = 0; m < M; m++)
#pragma unroll
            for (int j = 0; j < V; j++) acc[m][c] = fmaf(wv[j], xv[m][j], acc[m][c]);
    };
    if (n0 < N) {
        int k0 = k_first;
        if (VEC) {
#pragma unroll
            for (int j = 0; j < PC; j++) {
                const int k = k_first + j * stride;
                if (k < K) {
                    float xv[M][V];
                    rows_at(k, xv);
#pragma unroll
                    for (int c = 0; c < CPW; c++) {
                        float wv[V];
                        widen(pre[j][c], wv, TW());
                        fma_col(c, wv, xv);
                    }
                }
            }
            k0 = k_first + PC * stride;
        }
#pragma unroll 4
        for (int k = k0; k < K; k += stride) {
            float xv[M][V];
            rows_at(k, xv);
#pragma unroll
            for (int c = 0; c < CPW; c++) {
                float wv[V];
                load_piece<TW, V, VEC>(wr[c] + k, wv);
                fma_col(c, wv, xv);
            }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int c = 0; c < CPW; c++)
#pragma unroll
            for (int off = 16; off > 0; off >>= 1)
                acc[m][c] += __shfl_xor_sync(0xffffffffu, acc[m][c], off);
    if (wpr > 1) { /* the group's warps add their sums in a fixed order */
        if (lane == 0)
#pragma unroll
            for (int m = 0; m < M; m++)
#pragma unroll
                for (int c = 0; c < CPW; c++) part_sh[warp][m * CPW + c] = acc[m][c];
        __syncthreads();
        if (part != 0) return;
#pragma unroll
        for (int m = 0; m < M; m++)
#pragma unroll
            for (int c = 0; c < CPW; c++) {
                float t = part_sh[warp][m * CPW + c];
                for (int q = 1; q < wpr; q++) t += part_sh[warp + q][m * CPW + c];
                acc[m][c] = t;
            }
    }
    if (lane < M * CPW && n0 + lane % CPW < N) {
        float v = 0.0f;
#pragma unroll
        for (int m = 0; m < M; m++)
#pragma unroll
            for (int c = 0; c < CPW; c++)
                if (m * CPW + c == lane) v = acc[m][c];
        const size_t at = (size_t)(lane / CPW) * o.ldo + n0 + lane % CPW;
        if (o.add) v += NORM ? o.add[at] : addv;
        if (o.out_bf16) static_cast<__nv_bfloat16 *>(o.out)[at] = __float2bfloat16_rn(v);
        else static_cast<float *>(o.out)[at] = v;
    }
}

/* How a normalized product of M <= GEMV_FAT_M rows is spread: wpr warps a group of cpw
 * columns, the grid about one block a multiprocessor with a lane's pieces all held in
 * registers (at most GEMV_FAT_PF). Each block computes the norm of the rows, so a quarter of
 * the blocks is a quarter of that work, and the whole grid fits beside the kernel before it.
 * Among the spreads that give every SM (but a tenth) a block, the fewest blocks, then the
 * fewest warps a group; if none does, the most blocks. Used only where that is at most one
 * block an SM: in_proj at one stream measured 4% faster that way in bf16 and, at 256 blocks
 * of 114 registers in fp32, 9% slower (kernels/NOTES.md, g12). Returns the blocks. */
static long plan_fat(CudaCtx *c, int N, int K, int V, int *wpr_out, int *cpw_out)
{
    int best_w = GEMV_WARPS, best_c = 1;
    long best_blocks = -1;
    bool best_fills = false;
    for (int wpr = 1; wpr <= GEMV_WARPS; wpr *= 2)
        for (int cpw = 1; cpw <= GEMV_FAT_CPW; cpw *= 2) {
            const long pieces = (long)cpw * ((K + 32L * V * wpr - 1) / (32L * V * wpr));
            if (pieces > GEMV_FAT_PF) continue;
            const long groups = GEMV_WARPS / wpr * (long)cpw;
            const long blocks = (N + groups - 1) / groups;
            const bool fills = blocks * 10 >= (long)c->num_sms * 9;
            bool better;
            if (best_blocks < 0) better = true;
            else if (fills != best_fills) better = fills;
            else better = fills ? blocks < best_blocks : blocks > best_blocks;
            if (better) best_blocks = blocks, best_fills = fills, best_w = wpr, best_c = cpw;
        }
    *wpr_out = best_w, *cpw_out = best_c;
    return best_blocks;
}

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* Warps per column of the ordinary spread: enough blocks to give every multiprocessor two even
 * when N is small (x_proj has R + 2N columns, the head 256), one warp when the columns alone do
 * that. */
static int warps_per_column(CudaCtx *c, int N)
{
    int wpr = 1;
    while (wpr < GEMV_WARPS && (long)N * wpr < (long)2 * c->num_sms * GEMV_WARPS) wpr *= 2;
    return wpr;
}

/* The column spread's launch: PF the fewest of 2, 4, 8 that hold a lane's pieces (its CPW
 * columns' shares together). */
template <typename TW, typename TI, int M, bool NORM, int CPW, bool SROWS>
static void launch_cols(CudaCtx *c, dim3 grid, size_t smem, long pieces, const GemvOut &o,
                        const TI *inp, int ldi, const TW *w, int K, int N, GemvNorm nm, int wpr)
{
    constexpr int V = 16 / (int)sizeof(TW);
    dim3 block(GEMV_WARPS * 32);
    if (pieces <= 2) launch_pdl(gemv_kernel<TW, TI, M, V, true, NORM, CPW, 2, SROWS>, grid, block, smem, c->stream, o, inp, ldi, w, K, N, nm, wpr);
    else if (pieces <= 4) launch_pdl(gemv_kernel<TW, TI, M, V, true, NORM, CPW, 4, SROWS>, grid, block, smem, c->stream, o, inp, ldi, w, K, N, nm, wpr);
    else launch_pdl(gemv_kernel<TW, TI, M, V, true, NORM, CPW, GEMV_PREFETCH, SROWS>, grid, block, smem, c->stream, o, inp, ldi, w, K, N, nm, wpr);
}

/* The column spread with one column a warp, or two (two, from 3 rows only). */
template <typename TW, typename TI, int M, bool NORM, bool SROWS>
static void launch_rows(CudaCtx *c, bool two, int cols, size_t smem, long pieces,
                        const GemvOut &o, const TI *inp, int ldi, const TW *w, int K, int N,
                        GemvNorm nm, int wpr)
{
    if constexpr (M > GEMV_FAT_M) {
        if (two) {
            dim3 grid((unsigned)((N + 2L * cols - 1) / (2L * cols)));
            launch_cols<TW, TI, M, NORM, 2, SROWS>(c, grid, smem, 2 * pieces, o, inp, ldi, w, K, N, nm, wpr);
            return;
        }
    }
    launch_cols<TW, TI, M, NORM, 1, SROWS>(c, dim3((N + cols - 1) / cols), smem, pieces, o, inp, ldi, w, K, N, nm, wpr);
}

template <typename TW, typename TI, int M, bool NORM>
static void launch_m(CudaCtx *c, const GemvOut &o, const TI *inp, int ldi, const TW *w, int K,
                     int N, GemvNorm nm)
{
    constexpr int V = 16 / (int)sizeof(TW); /* a 16-byte weight piece */
    bool vec = K % V == 0 && ldi % V == 0 && aligned16(w) && aligned16(inp) &&
               (!NORM || aligned16(nm.w));
    nm.staged = NORM && vec && (size_t)K * sizeof(float) <= GEMV_NORM_W_SMEM;
    const size_t gbytes = nm.staged ? (size_t)K * sizeof(float) : 0;
    dim3 block(GEMV_WARPS * 32);
    if constexpr (NORM && M <= GEMV_FAT_M) {
        int wpr = 1, cpw = 1;
        const long blocks = vec ? plan_fat(c, N, K, V, &wpr, &cpw) : 0;
        if (vec && blocks <= c->num_sms) {
            dim3 grid((unsigned)blocks);
            if (cpw == 4) launch_pdl(gemv_kernel<TW, TI, M, V, true, NORM, 4, GEMV_FAT_PF>, grid, block, gbytes, c->stream, o, inp, ldi, w, K, N, nm, wpr);
            else if (cpw == 2) launch_pdl(gemv_kernel<TW, TI, M, V, true, NORM, 2, GEMV_FAT_PF>, grid, block, gbytes, c->stream, o, inp, ldi, w, K, N, nm, wpr);
            else launch_pdl(gemv_kernel<TW, TI, M, V, true, NORM, 1, GEMV_FAT_PF>, grid, block, gbytes, c->stream, o, inp, ldi, w, K, N, nm, wpr);
            return;
        }
    }
    const int wpr = warps_per_column(c, N), cols = GEMV_WARPS / wpr;
    const long pieces = (K + 32L * V * wpr - 1) / (32L * V * wpr); /* a lane's share */
    if (!vec) {
        dim3 grid((N + cols - 1) / cols);
        launch_pdl(gemv_kernel<TW, TI, M, 1, false, NORM, 1, GEMV_PREFETCH>, grid, block, 0, c->stream, o, inp, ldi, w, K, N, nm, wpr);
        return;
    }
    /* long rows: two columns a warp, each piece of the rows read once for both. At 4-8 rows,
     * 353m's in_proj (16 KB of rows a warp) measured 20-23% more bytes/s in bf16; from 4 KB,
     * small lost up to 8% in fp32 (kernels/NOTES.md, g12) */
    const long row_bytes = (long)M * (K / wpr) * (long)sizeof(TI);
    const bool two = M > GEMV_FAT_M && row_bytes >= GEMV_TWO_COL_BYTES &&
                     (N + 2L * cols - 1) / (2L * cols) >= c->num_sms;
    /* bf16 weights from 3 rows: the rows normalized and rounded once a block, into shared
     * memory (353m at 3 streams 11% more bytes/s, small at 8 7%; with fp32 weights, where a
     * warp's share is only two multiplies an element, small at 8 streams lost 5%: g13) */
    if constexpr (NORM && sizeof(TW) == 2 && M > GEMV_FAT_M) {
        const size_t srows = (size_t)M * K * sizeof(TW);
        if (srows <= GEMV_ROWS_SMEM) {
            launch_rows<TW, TI, M, NORM, true>(c, two, cols, srows + gbytes, pieces, o, inp, ldi, w, K, N, nm, wpr);
            return;
        }
    }
    launch_rows<TW, TI, M, NORM, false>(c, two, cols, gbytes, pieces, o, inp, ldi, w, K, N, nm, wpr);
}

template <typename TW, typename TI, bool NORM>
static void launch(CudaCtx *c, const GemvOut &o, const TI *inp, int ldi, const TW *w, int M,
                   int K, int N, GemvNorm nm = {})
{
    switch (M) {
    case 1: launch_m<TW, TI, 1, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    case 2: launch_m<TW, TI, 2, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    case 3: launch_m<TW, TI, 3, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    case 4: launch_m<TW, TI, 4, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    case 5: launch_m<TW, TI, 5, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    case 6: launch_m<TW, TI, 6, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    case 7: launch_m<TW, TI, 7, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    default: launch_m<TW, TI, 8, NORM>(c, o, inp, ldi, w, K, N, nm); break;
    }
}

void cuda_gemv(CudaCtx *c, float *out, int ldo, const float *inp, int ldi, const float *w, int M,
               int K, int N, int accumulate)
{
    GemvOut o = {out, 0, ldo, accumulate ? out : NULL};
    launch<float, float, false>(c, o, inp, ldi, w, M, K, N);
}

void cuda_gemv_bf16(CudaCtx *c, void *out, int out_bf16, int ldo, const float *add,
                    const __nv_bfloat16 *inp, int ldi, const __nv_bfloat16 *w, int M, int K, int N)
{
    GemvOut o = {out, out_bf16, ldo, add};
    launch<__nv_bfloat16, __nv_bfloat16, false>(c, o, inp, ldi, w, M, K, N);
}

/* Larger batches: the norm into scratch, then the ordinary product (cuBLAS). */
void cuda_norm_matmul(CudaCtx *c, void *out, int out_bf16, int ldo, const float *inp,
                      const float *norm_w, float eps, const void *w, int half, int M, int K, int N)
{
    if (M == 0 || N == 0) return;
    if (M <= GEMV_MAX_M) {
        GemvOut o = {out, out_bf16, ldo, NULL};
        GemvNorm nm = {norm_w, eps};
        if (half) launch<__nv_bfloat16, float, true>(c, o, inp, K, (const __nv_bfloat16 *)w, M, K, N, nm);
        else launch<float, float, true>(c, o, inp, K, (const float *)w, M, K, N, nm);
        return;
    }
    ScratchCarver sc = {(char *)cuda_scratch(c, scratch_round((size_t)M * K * sizeof(float)) +
                                                    scratch_round((size_t)M * sizeof(float))), 0};
    float *rstd = sc.take<float>((size_t)M);
    if (half) {
        __nv_bfloat16 *normed = sc.take<__nv_bfloat16>((size_t)M * K);
        cuda_rmsnorm_fwd_bf16(c, normed, rstd, inp, norm_w, M, K, eps);
        cuda_matmul_fwd_bf16(c, out, out_bf16, ldo, NULL, normed, K, (const __nv_bfloat16 *)w, M, K, N);
    } else {
        float *normed = sc.take<float>((size_t)M * K);
        cuda_rmsnorm_fwd(c, normed, rstd, inp, norm_w, M, K, eps);
        cuda_matmul_fwd(c, (float *)out, ldo, normed, K, (const float *)w, M, K, N, 0);
    }
}
