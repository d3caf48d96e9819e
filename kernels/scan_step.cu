/* The scan's recurrent step for generation (Backend.ssm_step): dt_proj, softplus, the state
 * update, the C contraction, D and the z gate for one byte of B streams. Its kernels, by batch:
 * - below STEP_WIDE_MIN_B streams, one thread per (channel, state) so that even one stream
 *   fills the GPU, each block stepping up to STEP_STREAMS streams with the parameters it loaded
 *   once; a channel's N threads split dt_proj's dot and the C contraction and add them by a
 *   fixed butterfly;
 * - from there, one thread per (stream, channel) (scan_step_wide_kernel), which does none of
 *   that repeated per-state work;
 * - in bf16 from there, where the shapes allow, scan_step_mma.cu's kernel instead, with dt_proj
 *   on the tensor cores.
 * The sequence kernels' chunk machinery has nothing to amortize at L = 1, and fusing dt_proj
 * keeps delta out of memory. The math follows the sequence forward (scan_fwd.cu): exp(delta A) =
 * 2^(delta A log2 e) on the SFU, softplus and the gate from device_math.cuh. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/pdl.cuh"

#define STEP_THREADS 128
#define STEP_STREAMS 8    /* streams a block steps, its parameters loaded once for all */
#define STEP_SMEM_X 12288 /* up to this many floats of the streams' R + 2N rows go to shared
                           * memory (48 KB); beyond, the rows are read from global memory (L1
                           * serves the block) */

/* Copies rows x len values (row r at src + r * src_stride) into shared memory, value v of
 * column col to dst[r * dst_stride + at(col)] as f(v, col), with U loads of a thread issued
 * before any is used (a plain strided loop waits out a global load's latency per element). */
template <int U, int THREADS, typename TS, typename F, typename M>
__device__ __forceinline__ void stage_rows(float *dst, int dst_stride, const TS *src,
                                           size_t src_stride, int len, int rows, F f, M at)
{
    const int total = rows * len, drow = THREADS / len, dcol = THREADS % len;
    int row = threadIdx.x / len, col = threadIdx.x % len;
    for (int j0 = threadIdx.x; j0 < total; j0 += U * THREADS) {
        float v[U];
        int di[U], cl[U];
#pragma unroll
        for (int k = 0; k < U; k++) {
            const bool in = j0 + k * THREADS < total;
            v[k] = in ? bl_to_f(src[(size_t)row * src_stride + col]) : 0.0f;
            di[k] = row * dst_stride + at(col), cl[k] = col;
            row += drow, col += dcol;
            if (col >= len) col -= len, row++;
        }
#pragma unroll
        for (int k = 0; k < U; k++)
            if (j0 + k * THREADS < total) dst[di[k]] = f(v[k], cl[k]);
    }
}

/* stage_rows' value and column maps that change nothing */
struct SameValue {
    __device__ float operator()(float v, int) const { return v; }
};
struct SameColumn {
    __device__ int operator()(int col) const { return col; }
};

template <typename T, typename TW, int N>
__global__ void __launch_bounds__(STEP_THREADS)
scan_step_kernel(T *__restrict__ y, const T *__restrict__ u, const T *__restrict__ z, int z_stride,
                 const float *__restrict__ xdbl, int xdbl_stride, const TW *__restrict__ dt_w,
                 const float *__restrict__ dt_bias, const float *__restrict__ A_log,
                 const float *__restrict__ Dskip, float *__restrict__ state, int B, int D, int R)
{
    extern __shared__ float xsh[];
    constexpr int S = STEP_STREAMS, OWN = (S + N - 1) / N; /* streams whose output a lane writes */
    const int nx = R + 2 * N;
    const int b0 = blockIdx.y * S, nb = min(S, B - b0);
    /* N threads per channel, one state each; the group's lanes are consecutive in the warp */
    const int n = threadIdx.x % N;
    const int d = (blockIdx.x * STEP_THREADS + threadIdx.x) / N;
    const bool live = d < D; /* a dead lane still joins its group's shuffles */
    const int dd = live ? d : D - 1;
    /* Before waiting for x_proj (pdl.cuh): the parameters, once for the block's streams (dt_w's
     * slice, A, dt_bias, D), and the streams' states. Only this op writes a state, and its
     * previous run on it is at least two kernels back, finished before the predecessor could
     * release us (every step kernel releases after its own wait), so the read is safe here and
     * every stream's state is in flight at once instead of one round trip per stream. */
    const TW *wr = dt_w + (size_t)dd * R;
    constexpr int WPRE = 8;
    float wv[WPRE];
#pragma unroll
    for (int j = 0; j < WPRE; j++) wv[j] = n + j * N < R ? bl_to_f(wr[n + j * N]) : 0.0f;
    const float A2 = -expf(A_log[(size_t)dd * N + n]) * BL_LOG2E;
    const float bias = dt_bias[dd], dsk = Dskip[dd];
    float sv[S];
#pragma unroll
    for (int q = 0; q < S; q++) sv[q] = q < nb ? state[((size_t)(b0 + q) * D + dd) * N + n] : 0.0f;
    pdl_wait();
    pdl_release();
    /* the inputs of every stream, issued together: u for all, z for the streams this lane ends */
    float uv[S], zv[OWN];
#pragma unroll
    for (int q = 0; q < S; q++) uv[q] = q < nb ? bl_to_f(u[(size_t)(b0 + q) * D + dd]) : 0.0f;
#pragma unroll
    for (int o = 0; o < OWN; o++) {
        const int q = n + o * N;
        zv[o] = z && q < nb ? bl_to_f(z[(size_t)(b0 + q) * z_stride + dd]) : 0.0f;
    }
    const bool in_smem = (size_t)nb * nx <= STEP_SMEM_X;
    if (in_smem) {
        stage_rows<6, STEP_THREADS>(xsh, nx, xdbl + (size_t)b0 * xdbl_stride, xdbl_stride, nx,
                                    nb, SameValue(), SameColumn());
        __syncthreads();
    }
    float yv[OWN];
#pragma unroll
    for (int o = 0; o < OWN; o++) yv[o] = 0.0f;
#pragma unroll
    for (int q = 0; q < S; q++) {
        if (q >= nb) break;
        const int b = b0 + q;
        const float *xs = in_smem ? xsh + q * nx : xdbl + (size_t)b * xdbl_stride;
        /* the bf16 forward rounds the dt slice before dt_proj (cast_bf16) */
        auto xdt = [&](int r) {
            const float xv = xs[r];
            return sizeof(TW) == 2 ? __bfloat162float(__float2bfloat16_rn(xv)) : xv;
        };
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < WPRE; j++)
            if (n + j * N < R) dot = fmaf(xdt(n + j * N), wv[j], dot);
        for (int r = n + WPRE * N; r < R; r += N) dot = fmaf(xdt(r), bl_to_f(wr[r]), dot);
#pragma unroll
        for (int off = N / 2; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off, N);
        if (sizeof(TW) == 2) dot = __bfloat162float(__float2bfloat16_rn(dot)); /* bf16 delta_pre */
        const float x = dot + bias;
        const float delta = fmaxf(x, 0.0f) + bl_log1p_unit(bl_exp_neg_abs(x));
        const float sn = fmaf(bl_ex2(delta * A2), sv[q], delta * uv[q] * xs[R + n]);
        if (live) state[((size_t)b * D + dd) * N + n] = sn;
        float acc = xs[R + N + n] * sn;
#pragma unroll
        for (int off = N / 2; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off, N);
        /* every lane of the group holds the sum; lane q % N ends stream q */
        if (n == q % N) yv[q / N] = fmaf(dsk, uv[q], acc);
    }
#pragma unroll
    for (int o = 0; o < OWN; o++) {
        const int q = n + o * N;
        if (!live || q >= nb) continue;
        float v = yv[o];
        if (z) v *= zv[o] * bl_sigmoid(zv[o]);
        y[(size_t)(b0 + q) * D + d] = bl_from_f<T>(v);
    }
}

/* Larger batches: a thread per (stream, channel) holding the channel's N states, a block of
 * WIDE_CH channels by WIDE_STREAMS streams. The per-state kernel above spends most of its
 * issue on work its N threads repeat (softplus, delta u) and on shuffles; with many streams it
 * has parallelism to spare, so one thread does a channel's whole step: dt_proj from the block's
 * slice of dt_w staged once in shared memory, its states in 16-byte loads, the sums over states
 * in registers. Shared rows are padded so that every read is conflict-free or a broadcast: dt_w's
 * to an odd stride (a warp's 32 rows hit 32 banks), the streams' to 16-byte pieces (the dt
 * slice to a multiple of 4, zeros in the pad on both sides, so the dot needs no tail). */
#define WIDE_CH 64
#define WIDE_STREAMS 8
#define WIDE_THREADS (WIDE_CH * WIDE_STREAMS)
#define STEP_WIDE_MIN_B 16 /* streams from which the wide kernel is used */
#define WIDE_MAX_N 16      /* its states and A live in registers */

/* The wide kernel's shared rows, for the launch and the kernel alike: the dt slice padded to
 * R4 (a multiple of 4), dt_w's rows at the odd stride ws, the streams' rows of xst floats
 * ([dt slice, pad][B][C], each part 16-byte aligned), dt_w's rows first. */
struct WideLayout {
    int R4, ws, xst;
    __host__ __device__ WideLayout(int R, int N)
        : R4((R + 3) & ~3), ws(R4 | 1), xst(R4 + 2 * N) {}
    __host__ __device__ int floats() const { return WIDE_CH * ws + WIDE_STREAMS * xst; }
};

/* Zeros columns [from, to) of rows rows at stride stride (the pads the dot reads). */
__device__ __forceinline__ void zero_cols(float *dst, int stride, int from, int to, int rows)
{
    const int w = to - from;
    for (int j = threadIdx.x; j < rows * w; j += WIDE_THREADS)
        dst[(j / w) * stride + from + j % w] = 0.0f;
}

/* dt_w's rows into wsh at stride ws as floats: one 16-byte load a thread where the rows allow
 * (the model's shapes), the general staging otherwise; the pad past R is zeroed. */
template <typename TW>
__device__ __forceinline__ void stage_dt_w(float *wsh, int ws, const TW *w, int R, int R4,
                                           int rows)
{
    constexpr int V = 16 / sizeof(TW);
    if (R % V == 0 && ((uintptr_t)w & 15) == 0) {
        const int vr = R / V, total = rows * vr;
        for (int j = threadIdx.x; j < total; j += WIDE_THREADS) {
            const int row = j / vr, c0 = (j - row * vr) * V;
            const uint4 raw = *(const uint4 *)(w + (size_t)row * R + c0);
            const TW *e = (const TW *)&raw;
#pragma unroll
            for (int k = 0; k < V; k++) wsh[row * ws + c0 + k] = bl_to_f(e[k]);
        }
    } else {
        stage_rows<8, WIDE_THREADS>(wsh, ws, w, R, R, rows, SameValue(), SameColumn());
    }
    zero_cols(wsh, ws, R, R4, rows);
}

template <typename T, typename TW, int N>
__global__ void __launch_bounds__(WIDE_THREADS, 2)
scan_step_wide_kernel(T *__restrict__ y, const T *__restrict__ u, const T *__restrict__ z,
                      int z_stride, const float *__restrict__ xdbl, int xdbl_stride,
                      const TW *__restrict__ dt_w, const float *__restrict__ dt_bias,
                      const float *__restrict__ A_log, const float *__restrict__ Dskip,
                      float *__restrict__ state, int B, int D, int R)
{
    extern __shared__ float4 sh4[];
    const WideLayout lay(R, N);
    const int nx = R + 2 * N, R4 = lay.R4, ws = lay.ws, xst = lay.xst;
    float *wsh = (float *)sh4, *xsh = wsh + WIDE_CH * ws; /* WIDE_CH * ws: 16-byte aligned */
    const int c = threadIdx.x % WIDE_CH, q = threadIdx.x / WIDE_CH;
    const int d0 = blockIdx.x * WIDE_CH, b0 = blockIdx.y * WIDE_STREAMS;
    const int d = d0 + c, b = b0 + q, nb = min(WIDE_STREAMS, B - b0);
    const bool live = d < D && b < B;
    const int dd = min(d, D - 1), bb = min(b, B - 1);
    /* Before waiting for x_proj (pdl.cuh): dt_w's slice, A, dt_bias, D and the state, which only
     * this op writes (see scan_step_kernel). A = -exp(A_log) by the SFU: each of the B streams
     * computes it again, and a full-precision expf per state was a fifth of the kernel. */
    stage_dt_w(wsh, ws, dt_w + (size_t)d0 * R, R, R4, min(WIDE_CH, D - d0));
    float A2[N], sv[N];
    const float4 *ap = (const float4 *)(A_log + (size_t)dd * N);
    const float4 *sp = (const float4 *)(state + ((size_t)bb * D + dd) * N);
#pragma unroll
    for (int k = 0; k < N / 4; k++) {
        const float4 a = ap[k], s = sp[k];
        A2[4 * k] = bl_a_log2e(a.x), A2[4 * k + 1] = bl_a_log2e(a.y);
        A2[4 * k + 2] = bl_a_log2e(a.z), A2[4 * k + 3] = bl_a_log2e(a.w);
        sv[4 * k] = s.x, sv[4 * k + 1] = s.y, sv[4 * k + 2] = s.z, sv[4 * k + 3] = s.w;
    }
    const float bias = dt_bias[dd], dsk = Dskip[dd];
    pdl_wait();
    pdl_release();
    const size_t i = (size_t)bb * D + dd;
    const float uv = bl_to_f(u[i]), zv = z ? bl_to_f(z[(size_t)bb * z_stride + dd]) : 0.0f;
    /* the streams' rows, the B and C parts moved past the pad; the bf16 forward rounds the dt
     * slice before dt_proj (cast_bf16) */
    stage_rows<2, WIDE_THREADS>(
        xsh, xst, xdbl + (size_t)b0 * xdbl_stride, xdbl_stride, nx, nb,
        [R](float v, int col) {
            return sizeof(TW) == 2 && col < R ? __bfloat162float(__float2bfloat16_rn(v)) : v;
        },
        [R, R4](int col) { return col < R ? col : col + R4 - R; });
    zero_cols(xsh, xst, R, R4, nb);
    __syncthreads();
    if (!live) return;
    const float4 *x4 = (const float4 *)(xsh + q * xst);
    const float *wr = wsh + c * ws;
    float dot = 0.0f;
#pragma unroll 4
    for (int r = 0; r < R4 / 4; r++) {
        const float4 xv = x4[r];
        dot = fmaf(xv.x, wr[4 * r], dot);
        dot = fmaf(xv.y, wr[4 * r + 1], dot);
        dot = fmaf(xv.z, wr[4 * r + 2], dot);
        dot = fmaf(xv.w, wr[4 * r + 3], dot);
    }
    if (sizeof(TW) == 2) dot = __bfloat162float(__float2bfloat16_rn(dot)); /* bf16 delta_pre */
    const float x = dot + bias;
    const float delta = fmaxf(x, 0.0f) + bl_log1p_unit(bl_exp_neg_abs(x)), du = delta * uv;
    float acc = 0.0f;
    const float4 *b4 = x4 + R4 / 4, *c4 = b4 + N / 4;
#pragma unroll
    for (int k = 0; k < N / 4; k++) {
        const float4 bv = b4[k], cv = c4[k];
        const float bs[4] = {bv.x, bv.y, bv.z, bv.w}, cs[4] = {cv.x, cv.y, cv.z, cv.w};
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int n = 4 * k + e;
            sv[n] = fmaf(bl_ex2(delta * A2[n]), sv[n], du * bs[e]);
            acc = fmaf(cs[e], sv[n], acc);
        }
    }
    float4 *so = (float4 *)(state + i * N);
#pragma unroll
    for (int k = 0; k < N / 4; k++)
        so[k] = make_float4(sv[4 * k], sv[4 * k + 1], sv[4 * k + 2], sv[4 * k + 3]);
    float v = fmaf(dsk, uv, acc);
    if (z) v *= zv * bl_sigmoid(zv);
    y[i] = bl_from_f<T>(v);
}

template <typename T, typename TW, int N> static void step_n(CudaCtx *c, const ScanStep *a)
{
    auto kern = scan_step_kernel<T, TW, N>;
    dim3 grid((int)(((size_t)a->D * N + STEP_THREADS - 1) / STEP_THREADS),
              (a->B + STEP_STREAMS - 1) / STEP_STREAMS),
        block(STEP_THREADS);
    size_t nx = (size_t)a->R + 2 * N, rows = a->B < STEP_STREAMS ? a->B : STEP_STREAMS;
    size_t smem = rows * nx <= STEP_SMEM_X ? rows * nx * sizeof(float) : 0;
    if constexpr (N <= WIDE_MAX_N) {
        const size_t wide_smem = (size_t)WideLayout(a->R, N).floats() * sizeof(float);
        if (a->B >= STEP_WIDE_MIN_B && wide_smem <= 48 * 1024) {
            kern = scan_step_wide_kernel<T, TW, N>;
            grid = dim3((a->D + WIDE_CH - 1) / WIDE_CH, (a->B + WIDE_STREAMS - 1) / WIDE_STREAMS);
            block = dim3(WIDE_THREADS), smem = wide_smem;
        }
    }
    launch_pdl(kern, grid, block, smem, c->stream, (T *)a->y, (const T *)a->u, (const T *)a->z,
               a->z_stride, a->xdbl, a->xdbl_stride, (const TW *)a->dt_w, a->dt_bias, a->A_log,
               a->Dskip, a->ssm_state, a->B, a->D, a->R);
}

template <typename T, typename TW> static void step_t(CudaCtx *c, const ScanStep *a)
{
    switch (a->N) {
    case 4: step_n<T, TW, 4>(c, a); break;
    case 8: step_n<T, TW, 8>(c, a); break;
    case 16: step_n<T, TW, 16>(c, a); break;
    case 32: step_n<T, TW, 32>(c, a); break;
    default: /* model_create refused it (Backend.d_state_ok) */
        fprintf(stderr, "bytelm: ssm_step: state size %d is not built\n", a->N);
        abort();
    }
}

void cuda_ssm_step(CudaCtx *c, const ScanStep *a)
{
    if (a->B == 0 || a->D == 0) return;
    /* where the pairs fill the GPU, the tensor-core kernel if it takes the shape */
    if (a->B >= STEP_WIDE_MIN_B && cuda_ssm_step_mma(c, a)) return;
    if (a->bf16) step_t<__nv_bfloat16, __nv_bfloat16>(c, a);
    else step_t<float, float>(c, a);
}
