/* Shared pieces of the selective-scan kernels (scan_fwd.cu, scan_bwd.cu).
 *
 * Thread mapping (both directions): a lane holds KC adjacent channels (2, or 1 for small grids)
 * and NPT = 4 states of each; the G = N/4 lanes of a group hold all N states of the same
 * channels (lane q: states 4q .. 4q+3). A warp covers CW = 32/G groups (KC CW channels), a block
 * of 64 threads CH of them. Two channels per lane give every dependent EX2 -> FFMA chain an
 * independent twin to issue beside it, and let the per-state loads (B, C) and the sums over
 * channels (dB, dC) cover two channels at once; when that leaves fewer than two blocks per SM
 * (a batch of 2, say), one channel per lane doubles the threads instead. Each block walks its
 * sequence in chunks of TC steps; the chunk's inputs are staged in shared memory with cp.async
 * one chunk ahead of where they are first read (two or three stages: scan_fwd.cu, scan_bwd.cu),
 * row-major [t][channel], so global loads are coalesced across channels.
 *
 * Per-(t, d) work that all G lanes of a group need (softplus, delta*u, the gate) is done once
 * per element by the lane that "owns" timestep t (t = i*G + q, interleaved), for both of its
 * channels, and shared through a per-warp buffer. Sums over the states of a channel (y, and in
 * the backward du, ddelta) are reduce-scattered over the G lanes at the end of the chunk,
 * leaving each owner lane the totals of its own timesteps: about one shuffle per value, against
 * log2(G) per value for a butterfly all-reduce. */
#ifndef BYTELM_SCAN_COMMON_CUH
#define BYTELM_SCAN_COMMON_CUH

#include <stddef.h>
#include <stdint.h>

#include "kernels/cp_async.cuh"
#include "kernels/device_math.cuh"

namespace scan {

constexpr int NT = 64;     /* threads per block */
constexpr int NPT = 4;     /* states per lane and channel */
constexpr unsigned FULL = 0xffffffffu;

/* Channels one block covers at state size N with KC channels a lane (Geo<N, KC>::CH). */
constexpr int channels_per_block(int N, int KC) { return (NT / 32) * (32 / (N / NPT)) * KC; }

template <int N, int KC> struct Geo {
    static_assert(KC == 1 || KC == 2, "one or two channels a lane");
    static_assert(N % NPT == 0 && N >= 4 && N <= 64, "d_state must be 4..64");
    static constexpr int G = N / NPT;   /* lanes per group */
    static_assert(32 % G == 0, "d_state / 4 must divide 32");
    static constexpr int CW = 32 / G;   /* groups per warp */
    static constexpr int NW = NT / 32;  /* warps per block */
    static constexpr int CH = NW * CW * KC; /* channels per block */
};

/* The smallest row pitch P >= minp (a multiple of step) for which lane (cw = lane / G,
 * q = lane % G) accessing row-major element [q + i*G][cw] of eb-byte elements makes no bank
 * conflict: in each phase of 128 bytes (128/eb lanes) the slots (q*P + cw) mod (128/eb) differ. */
constexpr int free_pitch(int G, int CW, int eb, int minp, int step)
{
    const int lp = 128 / eb;
    for (int P = minp; P < minp + 64 * step; P += step) {
        bool ok = true;
        for (int ph = 0; ph < 32 / lp && ok; ph++) {
            unsigned long long used = 0;
            for (int l = ph * lp; l < (ph + 1) * lp; l++) {
                int cw = l / G, q = l % G, slot = (q * P + cw) % lp;
                if ((used >> slot) & 1ull) {
                    ok = false;
                    break;
                }
                used |= 1ull << slot;
            }
        }
        if (ok) return P;
    }
    return minp;
}

/* Pitch (in elements of eb bytes) of a staged [t][channel] tile that owner lanes read, KC
 * channels at a time, without bank conflicts, with rows a multiple of 16 bytes for cp.async. */
constexpr int chan_pitch(int G, int CW, int eb, int CH, int KC)
{
    return KC * free_pitch(G, CW, KC * eb, CH / KC, 16 / (KC * eb));
}

/* The KC adjacent activations at p (KC-element aligned) as floats: one load for a pair. */
template <int KC> __device__ __forceinline__ void ld_chan(const float *p, float (&v)[KC])
{
    if constexpr (KC == 2) {
        const float2 x = *(const float2 *)p;
        v[0] = x.x, v[1] = x.y;
    } else
        v[0] = p[0];
}
template <int KC> __device__ __forceinline__ void ld_chan(const __nv_bfloat16 *p, float (&v)[KC])
{
    if constexpr (KC == 2) {
        const float2 x = __bfloat1622float2(*(const __nv_bfloat162 *)p);
        v[0] = x.x, v[1] = x.y;
    } else
        v[0] = bl_to_f(p[0]);
}

__device__ __forceinline__ void st_pair(float *p, float a, float b) { *(float2 *)p = make_float2(a, b); }
__device__ __forceinline__ void st_pair(__nv_bfloat16 *p, float a, float b)
{
    *(__nv_bfloat162 *)p = __floats2bfloat162_rn(a, b);
}

/* Store the KC channel values v at p[0..KC): one paired store when both channels exist and the
 * row allows it (pair_ok), else one store per existing channel (dv). Written as three guarded
 * stores with no early return, so that the compiler can predicate them instead of branching. */
template <typename T, int KC>
__device__ __forceinline__ void st_chan(T *p, const float (&v)[KC], const bool (&dv)[KC], bool pair_ok)
{
    if constexpr (KC == 2) {
        const bool pair = pair_ok && dv[1];
        if (pair) st_pair(p, v[0], v[1]);
        if (!pair && dv[0]) p[0] = bl_from_f<T>(v[0]);
        if (!pair && dv[1]) p[1] = bl_from_f<T>(v[1]);
    } else {
        if (dv[0]) p[0] = bl_from_f<T>(v[0]);
    }
}

/* Store an owner's OWN steps of its KC channels, step i (t = i G + q) at p + i G ld, of a chunk
 * of OWN G steps of which nr exist. A whole chunk whose channels all exist, with paired rows
 * (every chunk but the last, in every block but the last), takes plain paired stores with no
 * test; otherwise each step's stores are guarded by its existence (t < nr) and st_chan's. */
template <int G, typename T, int OWN, int KC>
__device__ __forceinline__ void st_owned(T *p, int ld, const float (&v)[OWN][KC], const bool (&dv)[KC],
                                         bool pair_ok, int q, int nr)
{
    if (nr == OWN * G && dv[KC - 1] && (KC == 1 || pair_ok)) {
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            if constexpr (KC == 2)
                st_pair(p + (size_t)(i * G) * ld, v[i][0], v[i][1]);
            else
                p[(size_t)(i * G) * ld] = bl_from_f<T>(v[i][0]);
        }
    } else {
#pragma unroll
        for (int i = 0; i < OWN; i++)
            if (i * G + q < nr) st_chan(p + (size_t)(i * G) * ld, v[i], dv, pair_ok); /* st_chan tests dv */
    }
}

/* The constants of a lane's KC channels d0 .. d0+KC-1 (state slice q): whether each exists
 * (dv), and A * log2(e) of its NPT states (so exp(delta A) = 2^(delta A2)), dt_bias and D, a
 * missing channel reading the last one's so no load leaves the tensors. */
template <int N, int KC>
__device__ __forceinline__ void chan_consts(const float *A_log, const float *dt_bias,
                                            const float *Dskip, int d0, int D, int q,
                                            bool (&dv)[KC], float (&A2)[KC][NPT],
                                            float (&bias)[KC], float (&Dsk)[KC])
{
#pragma unroll
    for (int k = 0; k < KC; k++) {
        dv[k] = d0 + k < D;
        const int d = dv[k] ? d0 + k : D - 1;
#pragma unroll
        for (int j = 0; j < NPT; j++) A2[k][j] = -expf(A_log[(size_t)d * N + q * NPT + j]) * BL_LOG2E;
        bias[k] = dt_bias[d];
        Dsk[k] = Dskip[d];
    }
}

/* The C contraction of one channel's NPT states, c3 s3 first: every kernel that forms y uses
 * this one order, so that the forward and both builds of the backward round alike (the model
 * test's weights after one AdamW step are within rounding of the order). */
__device__ __forceinline__ float c_dot(const float4 &c, const float (&s)[NPT])
{
    return fmaf(c.x, s[0], fmaf(c.y, s[1], fmaf(c.z, s[2], c.w * s[3])));
}

/* Per-channel pairs packed in one float4 (x, y for the first channel, z, w for the second). */
template <int KC> __device__ __forceinline__ void unpack2(const float4 &v, float (&a)[KC], float (&b)[KC])
{
    a[0] = v.x, b[0] = v.y;
    if constexpr (KC == 2) a[1] = v.z, b[1] = v.w;
}
template <int KC> __device__ __forceinline__ float4 pack2(const float (&a)[KC], const float (&b)[KC])
{
    if constexpr (KC == 2)
        return make_float4(a[0], b[0], a[1], b[1]);
    else
        return make_float4(a[0], b[0], 0.0f, 0.0f);
}

/* One element when the 16-byte path does not apply: cp.async for 4-byte types, a plain copy
 * otherwise (bf16 rows of odd width). */
template <typename T> __device__ __forceinline__ void copy_elem(T *sdst, const T *gsrc, bool valid)
{
    if constexpr (sizeof(T) == 4)
        cp_async4(sdst, gsrc, valid);
    else
        *sdst = valid ? *gsrc : bl_from_f<T>(0.0f);
}

/* Rows [row0, row0 + TC) (only the first nrows exist) and columns [d0, d0 + CH) (only those
 * below D exist) of a row-major tensor with leading dimension ld, into dst[TC][P], one element
 * per copy: the path for rows that are not whole 16-byte pieces (TilePlan takes the others);
 * missing elements become zero. */
template <typename T, int TC, int CH, int P, int NTH = NT>
__device__ __forceinline__ void load_act_tile(T *dst, const T *src, size_t ld, size_t row0,
                                              int nrows, int d0, int D)
{
    /* compile-time trip counts (threadIdx.x < NTH): unrolled, no loop bookkeeping */
    constexpr int IT = (TC * CH + NTH - 1) / NTH;
#pragma unroll
    for (int it = 0; it < IT; it++) {
        const int i = (int)threadIdx.x + it * NTH;
        if (TC * CH % NTH == 0 || i < TC * CH) {
            int r = i / CH, cc = i % CH;
            bool ok = r < nrows && d0 + cc < D;
            const T *g = ok ? src + (row0 + r) * ld + d0 + cc : src;
            copy_elem(dst + r * P + cc, g, ok);
        }
    }
}

/* A thread's share of staging [TC][W] tiles (W elements of eb bytes a row, smem pitch P) with
 * 16-byte copies, worked out once per kernel: copy it goes to smem offset soff and reads row r,
 * column cc of the chunk. Per copy a chunk then works out the row's offset, tests the row and
 * issues one cp.async: about 15 instructions as compiled, with the 64-bit address (kernels/
 * NOTES.md, the machine code counted). Working each row out in 64 bits, as the element loads
 * above do, had cost a tenth of the scan's instructions. col_ok: the column exists (cc + d0 < D
 * for activations). */
template <int TC, int W, int P, int eb, int NTH = NT> struct TilePlan {
    static constexpr int E = 16 / eb, CPR = W / E, NCP = TC * CPR, IT = (NCP + NTH - 1) / NTH;
    static_assert(W % E == 0, "rows of whole 16-byte pieces");
    int soff[IT], r[IT], cc[IT];
    bool col_ok[IT];
    __device__ __forceinline__ void init(int ncol)
    {
#pragma unroll
        for (int it = 0; it < IT; it++) {
            const int i = (int)threadIdx.x + it * NTH;
            r[it] = i / CPR, cc[it] = (i % CPR) * E, soff[it] = (r[it] * P + cc[it]) * eb;
            col_ok[it] = (NCP % NTH == 0 || i < NCP) && cc[it] < ncol;
        }
    }
    /* src: the chunk's first row at its first column; nr rows exist; missing ones read zeros */
    template <typename T> __device__ __forceinline__ void load(T *dst, const T *src, int ld, int nr) const
    {
#pragma unroll
        for (int it = 0; it < IT; it++) {
            if (NCP % NTH != 0 && (int)threadIdx.x + it * NTH >= NCP) continue;
            const bool ok = col_ok[it] && r[it] < nr;
            cp_async16((char *)dst + soff[it], src + (ok ? r[it] * ld + cc[it] : 0), ok);
        }
    }
};

/* Rows [row0, row0 + TC) of Bm or Cm (N floats at stride ld) into dst[TC][N], one float per
 * copy: the path for strides or pointers that are not 16-byte aligned. */
template <int TC, int N, int NTH = NT>
__device__ __forceinline__ void load_bc_tile(float *dst, const float *src, size_t ld, size_t row0, int nrows)
{
    constexpr int IT = (TC * N + NTH - 1) / NTH;
#pragma unroll
    for (int it = 0; it < IT; it++) {
        const int i = (int)threadIdx.x + it * NTH;
        if (TC * N % NTH == 0 || i < TC * N) {
            int r = i / N, cc = i % N;
            bool ok = r < nrows;
            cp_async4(dst + r * N + cc, ok ? src + (row0 + r) * ld + cc : src, ok);
        }
    }
}

/* ---- reductions across lanes ----
 * RSLanes<L0, LEN, M, MLO>::run(p, lane): over the lanes that differ in bits M, M/2, ..., MLO
 * of the lane index, reduce-scatter p[0..LEN) (each round the lane whose bit M is set keeps the
 * upper half of its array and the partner the lower half, both adding what the other sent),
 * and once a single value is left, all-reduce it over the remaining bits. Pure register code
 * after unrolling: every index is a compile-time constant. */
template <int L0, int LEN, int M, int MLO> struct RSLanes {
    __device__ __forceinline__ static void run(float (&p)[L0], int lane)
    {
        if constexpr (M >= MLO && M > 0) {
            if constexpr (LEN > 1) {
                constexpr int H = LEN / 2;
                const bool up = (lane & M) != 0;
#pragma unroll
                for (int i = 0; i < H; i++) {
                    float send = up ? p[i] : p[i + H];
                    float keep = up ? p[i + H] : p[i];
                    p[i] = keep + __shfl_xor_sync(FULL, send, M);
                }
                RSLanes<L0, H, M / 2, MLO>::run(p, lane);
            } else {
                p[0] += __shfl_xor_sync(FULL, p[0], M);
                RSLanes<L0, 1, M / 2, MLO>::run(p, lane);
            }
        }
    }
};

/* Sum v[t] (t < LEN) over the G lanes of a channel; afterwards lane q holds in v[i]
 * (i < LEN/G) the total for t = i*G + q, the timesteps it owns. */
template <int LEN, int G> __device__ __forceinline__ void sum_states_owned(float (&v)[LEN], int lane)
{
    if constexpr (G > 1) {
        constexpr int OWN = LEN / G;
        float p[LEN];
#pragma unroll
        for (int qq = 0; qq < G; qq++)
#pragma unroll
            for (int i = 0; i < OWN; i++) p[qq * OWN + i] = v[i * G + qq];
        RSLanes<LEN, LEN, G / 2, 1>::run(p, lane);
#pragma unroll
        for (int i = 0; i < OWN; i++) v[i] = p[i];
    }
}

} // namespace scan

#endif
