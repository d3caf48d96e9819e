/* The bf16 scan step (Backend.ssm_step) at many streams, with dt_proj on the tensor cores;
 * scan_step.cu asks it first from STEP_WIDE_MIN_B streams, where its wide kernel would run.
 *
 * At many streams scan_step.cu's wide kernel spent half of its instructions on dt_proj's dot (a
 * thread's R products, each with a shared load of dt_w), and every kernel that read the states
 * a thread's 64 bytes at a time moved each 32-byte sector twice (kernels/NOTES.md, g6). Here a
 * block takes one m16n8k16 tile: 16 channels by 8 streams, a thread per (stream, channel) pair.
 * It copies everything it reads into shared memory in 16-byte pieces in address order (whole
 * sectors a warp): the states, A_log and dt_w's rows before waiting for x_proj, the streams'
 * x_proj rows after. Every warp then gets the tile's delta_pre from mma.sync (four of them at
 * R = 64, cheaper than a second barrier to share one warp's), and lane (g, t) keeps the value of
 * its own pair. The new states go back through shared memory in address order too.
 *
 * Before its wait it also asks L2 for the weights of the products after it (ScanStep's ahead)
 * where those run on cuBLASLt, whose kernels start reading them only once they run.
 *
 * The arithmetic is the bf16 forward's, as in the other step kernels: the dt slice rounded to
 * bf16, products exact and summed in fp32, delta_pre rounded to bf16; only the order of the sum
 * differs. */
#include "kernels/cp_async.cuh"
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/mma_bf16.cuh"
#include "kernels/pdl.cuh"

#define MMA_CH 16     /* a block: the 16 channels of one mma tile's rows ... */
#define MMA_STREAMS 8 /* ... by its 8 columns, one pair a thread */
#define MMA_THREADS (MMA_CH * MMA_STREAMS)
#define MMA_MAX_KS 4 /* R up to 64 (the models' ranks: ceil(d_model / 16)) */

/* The block's shared rows, in floats unless named otherwise. Each is copied in 16-byte pieces
 * from global memory in address order (whole sectors a warp), and padded so that the compute
 * phase's reads are conflict-free at the models' shapes (N 16, R 32 or 64):
 * - states: a channel's N at srow = N + 4, a stream's 16 channels at sstr = 16 srow + 4 (the
 *   warp's 8 channels x 4 streams fall in 8 different 16-byte bank groups);
 * - A_log: 16 rows at srow;
 * - dt_w: 16 rows of R bf16 at wrow = R + 16 bf16 (a half-warp's 8-byte loads in 16 banks);
 * - the streams' rows [dt slice | B | C] at xrow = 16 mod 32 (8 lanes' 16-byte loads). */
struct MmaLayout {
    int srow, sstr, wrow, nx, xrow;
    __host__ __device__ MmaLayout(int N, int R)
        : srow(N + 4), sstr(16 * (N + 4) + 4), wrow(R + 16), nx(R + 2 * N),
          xrow(nx + ((16 - nx % 32) + 32) % 32) {}
    __host__ __device__ int st_floats() const { return MMA_STREAMS * sstr; }
    __host__ __device__ int a_floats() const { return MMA_CH * srow; }
    __host__ __device__ int w_floats() const { return MMA_CH * wrow / 2; }
    __host__ __device__ int x_floats() const { return MMA_STREAMS * xrow; }
    __host__ __device__ size_t bytes() const
    {
        return sizeof(float) * (size_t)(st_floats() + a_floats() + w_floats() + x_floats());
    }
};

/* Piece j of the block's states (8 streams x 16 channels x N / 4 pieces of 16 bytes, in address
 * order): its offsets in floats in shared memory and in the state tensor, and whether the stream
 * and channel exist (if not, the global offset is the block's first, a valid address). The
 * divisions are by powers of two known at compile time. */
template <int N> struct StatePiece {
    int sh;
    size_t gl;
    bool in;
    __device__ __forceinline__ StatePiece(int j, const MmaLayout &lay, int b0, int d0, int nb,
                                          int nc, int D)
    {
        constexpr int PC = N / 4;
        const int qq = j / (MMA_CH * PC), cc = (j / PC) % MMA_CH, k = j % PC;
        in = qq < nb && cc < nc;
        sh = qq * lay.sstr + cc * lay.srow + 4 * k;
        gl = in ? ((size_t)(b0 + qq) * D + d0 + cc) * N + 4 * k : ((size_t)b0 * D + d0) * N;
    }
};

/* Copies ROWS rows of PIECES 16-byte pieces from g (row r at g + r * gstride bytes) to shared
 * rows at sstride bytes; rows from live on are zero-filled. The shape is known at compile
 * time, so the loop unrolls and its divisions are by constants. */
template <int ROWS, int PIECES>
__device__ __forceinline__ void stage16(char *sm, int sstride, const char *g, size_t gstride,
                                        int live)
{
    constexpr int TOTAL = ROWS * PIECES;
#pragma unroll
    for (int j0 = 0; j0 < TOTAL; j0 += MMA_THREADS) {
        const int j = j0 + threadIdx.x;
        if (TOTAL % MMA_THREADS == 0 || j < TOTAL) {
            const int r = j / PIECES, c = j - r * PIECES;
            cp_async16(sm + r * sstride + 16 * c, g + (size_t)min(r, live - 1) * gstride + 16 * c,
                       r < live);
        }
    }
}

/* The weights of the products after this op, to be pulled into L2 while it runs (ScanStep's
 * ahead): each block asks for its share of each. */
struct StepAheadL2 {
    const char *w[2];
    uint32_t bytes[2];
};

__device__ __forceinline__ void prefetch_share(const StepAheadL2 &ah)
{
    if (threadIdx.x >= 2) return;
    /* selected, not indexed by the thread: an indexed parameter would go through local memory */
    const char *w = threadIdx.x ? ah.w[1] : ah.w[0];
    const uint32_t total = threadIdx.x ? ah.bytes[1] : ah.bytes[0];
    const uint32_t nblk = gridDim.x * gridDim.y, blk = blockIdx.y * gridDim.x + blockIdx.x;
    const uint32_t share = ((total + nblk - 1) / nblk + 15) / 16 * 16, off = blk * share;
    if (w && off < total) prefetch_l2_bulk(w + off, min(share, total - off));
}

template <int N, int KS>
__global__ void __launch_bounds__(MMA_THREADS)
scan_step_mma_kernel(__nv_bfloat16 *__restrict__ y, const __nv_bfloat16 *__restrict__ u,
                     const __nv_bfloat16 *__restrict__ z, int z_stride,
                     const float *__restrict__ xdbl, int xdbl_stride,
                     const __nv_bfloat16 *__restrict__ dt_w, const float *__restrict__ dt_bias,
                     const float *__restrict__ A_log, const float *__restrict__ Dskip,
                     float *__restrict__ state, int B, int D, StepAheadL2 ahead)
{
    constexpr int R = 16 * KS;
    extern __shared__ float4 sh4[];
    const MmaLayout lay(N, R);
    float *st_sh = (float *)sh4, *a_sh = st_sh + lay.st_floats();
    __nv_bfloat16 *w_sh = (__nv_bfloat16 *)(a_sh + lay.a_floats());
    float *x_sh = (float *)(w_sh + MMA_CH * lay.wrow);
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, w = threadIdx.x / 32;
    const int d0 = blockIdx.x * MMA_CH, b0 = blockIdx.y * MMA_STREAMS;
    const int nc = min(MMA_CH, D - d0), nb = min(MMA_STREAMS, B - b0);
    /* Before waiting for x_proj (pdl.cuh): the block's states (only this op writes them, see
     * scan_step.cu), A_log and dt_w's rows; a stream's 16 channels of state are one run of
     * 16 N floats. Missing channels and streams are zeros, so every value the tile computes
     * is finite. */
    constexpr int PIECES = MMA_STREAMS * MMA_CH * N / 4;
    for (int j = threadIdx.x; j < PIECES; j += MMA_THREADS) {
        const StatePiece<N> p(j, lay, b0, d0, nb, nc, D);
        cp_async16(st_sh + p.sh, state + p.gl, p.in);
    }
    stage16<MMA_CH, N / 4>((char *)a_sh, 4 * lay.srow, (const char *)(A_log + (size_t)d0 * N),
                           4 * N, nc);
    stage16<MMA_CH, R / 8>((char *)w_sh, 2 * lay.wrow, (const char *)(dt_w + (size_t)d0 * R),
                           2 * R, nc);
    cp_async_commit();
    prefetch_share(ahead);
    /* this thread's pair: d's value w of the tile (mma_bf16): channel g + 8 (w / 2), stream
     * 2t + w % 2 */
    const int c = g + 8 * (w / 2), q = 2 * t + w % 2;
    const bool live = c < nc && q < nb;
    const int dc = d0 + min(c, nc - 1), bq = b0 + min(q, nb - 1);
    const float bias = dt_bias[dc], dsk = Dskip[dc];
    pdl_wait();
    pdl_release();
    stage16<MMA_STREAMS, (R + 2 * N) / 4>((char *)x_sh, 4 * lay.xrow,
                                          (const char *)(xdbl + (size_t)b0 * xdbl_stride),
                                          4 * (size_t)xdbl_stride, nb);
    cp_async_commit();
    const float uv = __bfloat162float(u[(size_t)bq * D + dc]);
    const float zv = z ? __bfloat162float(z[(size_t)bq * z_stride + dc]) : 0.0f;
    /* A log2(e) once a block (every stream used to evaluate it again): each thread rewrites
     * the piece of A_log it copied, once its first group landed */
    cp_async_wait<1>();
    if (threadIdx.x < MMA_CH * N / 4) {
        const int r = threadIdx.x / (N / 4), k = threadIdx.x % (N / 4);
        float4 *ap = (float4 *)(a_sh + r * lay.srow + 4 * k);
        const float4 al = *ap;
        *ap = make_float4(bl_a_log2e(al.x), bl_a_log2e(al.y), bl_a_log2e(al.z), bl_a_log2e(al.w));
    }
    cp_async_wait<0>();
    __syncthreads();
    /* delta_pre for the whole tile, in every warp. The contraction's order is free, so k step
     * ks gives lane t the four k at 16 ks + 4t: the low two as a's k 2t, 2t + 1 (a[0], a[1],
     * b0), the high two as its k 2t + 8, 2t + 9 (a[2], a[3], b1); one 8-byte load a row of dt_w
     * and one 16-byte load of the dt slice a step. */
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
        const int k = 16 * ks + 4 * t;
        const uint2 w0 = *(const uint2 *)(w_sh + g * lay.wrow + k);
        const uint2 w1 = *(const uint2 *)(w_sh + (g + 8) * lay.wrow + k);
        const float4 xv = *(const float4 *)(x_sh + g * lay.xrow + k);
        const uint32_t a[4] = {w0.x, w1.x, w0.y, w1.y};
        mma_bf16(acc, a, pack_bf16x2(xv.x, xv.y), pack_bf16x2(xv.z, xv.w));
    }
    /* delta_pre rounded as the bf16 forward's product output */
    const float dp = w == 0 ? acc[0] : w == 1 ? acc[1] : w == 2 ? acc[2] : acc[3];
    const float x = __bfloat162float(__float2bfloat16_rn(dp)) + bias;
    const float delta = fmaxf(x, 0.0f) + bl_log1p_unit(bl_exp_neg_abs(x)), du = delta * uv;
    float *sv = st_sh + q * lay.sstr + c * lay.srow;
    const float *av = a_sh + c * lay.srow, *bv = x_sh + q * lay.xrow + R, *cv = bv + N;
    float yacc = 0.0f;
#pragma unroll
    for (int k = 0; k < N / 4; k++) {
        const float4 s = *(const float4 *)(sv + 4 * k);
        const float4 a = *(const float4 *)(av + 4 * k), b = *(const float4 *)(bv + 4 * k),
                     cc = *(const float4 *)(cv + 4 * k);
        float sp[4] = {s.x, s.y, s.z, s.w};
        const float as[4] = {a.x, a.y, a.z, a.w}, bs[4] = {b.x, b.y, b.z, b.w},
                    cs[4] = {cc.x, cc.y, cc.z, cc.w};
#pragma unroll
        for (int e = 0; e < 4; e++) {
            sp[e] = fmaf(bl_ex2(delta * as[e]), sp[e], du * bs[e]);
            yacc = fmaf(cs[e], sp[e], yacc);
        }
        *(float4 *)(sv + 4 * k) = make_float4(sp[0], sp[1], sp[2], sp[3]);
    }
    if (live) {
        float v = fmaf(dsk, uv, yacc);
        if (z) v *= zv * bl_sigmoid(zv);
        y[(size_t)bq * D + dc] = __float2bfloat16_rn(v);
    }
    __syncthreads();
    /* the new states back in address order */
    for (int j = threadIdx.x; j < PIECES; j += MMA_THREADS) {
        const StatePiece<N> p(j, lay, b0, d0, nb, nc, D);
        if (p.in) *(float4 *)(state + p.gl) = *(const float4 *)(st_sh + p.sh);
    }
}

template <int N, int KS> static void launch_mma(CudaCtx *c, const ScanStep *a, StepAheadL2 ah)
{
    const dim3 grid((a->D + MMA_CH - 1) / MMA_CH, (a->B + MMA_STREAMS - 1) / MMA_STREAMS);
    launch_pdl(scan_step_mma_kernel<N, KS>, grid, dim3(MMA_THREADS), MmaLayout(N, 16 * KS).bytes(),
               c->stream, (__nv_bfloat16 *)a->y, (const __nv_bfloat16 *)a->u,
               (const __nv_bfloat16 *)a->z, a->z_stride, a->xdbl, a->xdbl_stride,
               (const __nv_bfloat16 *)a->dt_w, a->dt_bias, a->A_log, a->Dskip, a->ssm_state,
               a->B, a->D, ah);
}

template <int N> static void launch_n(CudaCtx *c, const ScanStep *a, StepAheadL2 ah)
{
    switch (a->R / 16) {
    case 1: launch_mma<N, 1>(c, a, ah); break;
    case 2: launch_mma<N, 2>(c, a, ah); break;
    case 3: launch_mma<N, 3>(c, a, ah); break;
    default: launch_mma<N, 4>(c, a, ah); break;
    }
}

/* ScanStep's ahead, kept only for the products that read their weights once they run
 * (cuBLASLt's, from 33 rows). gemm_rows.cu's and the GEMV's fetch theirs under the kernel
 * before them; prefetching for those too cost 353m 2% at 16 and 32 streams (kernels/NOTES.md,
 * g8 and g9). */
static StepAheadL2 ahead_of(const CudaCtx *c, const ScanStep *a)
{
    StepAheadL2 ah = {};
    for (int i = 0; i < 2; i++) {
        const size_t bytes = (size_t)a->ahead[i].N * a->ahead[i].K * 2;
        if (!a->ahead[i].w || (uintptr_t)a->ahead[i].w % 16 || bytes % 16 || bytes > UINT32_MAX ||
            cuda_matmul_fwd_bf16_fetches_early(c, a->B, a->ahead[i].K, a->ahead[i].N))
            continue;
        ah.w[i] = (const char *)a->ahead[i].w, ah.bytes[i] = (uint32_t)bytes;
    }
    return ah;
}

bool cuda_ssm_step_mma(CudaCtx *c, const ScanStep *a)
{
    /* 16-byte copies of every row */
    const bool aligned = a->xdbl_stride % 4 == 0 && (uintptr_t)a->xdbl % 16 == 0 &&
                         (uintptr_t)a->A_log % 16 == 0 && (uintptr_t)a->ssm_state % 16 == 0 &&
                         (uintptr_t)a->dt_w % 16 == 0;
    if (!a->bf16 || a->R % 16 || a->R / 16 > MMA_MAX_KS || !aligned)
        return false;
    const StepAheadL2 ah = ahead_of(c, a);
    switch (a->N) {
    case 4: launch_n<4>(c, a, ah); return true;
    case 8: launch_n<8>(c, a, ah); return true;
    case 16: launch_n<16>(c, a, ah); return true;
    default: return false;
    }
}
