/* Selective scan backward.
 *
 * Walks each sequence's chunks of SCAN_SC steps in reverse. Per chunk: the forward states are
 * recomputed from the chunk-start state the forward saved and kept in registers (SC x 4 KC floats
 * a lane), then the adjoint h = dLoss/ds runs backwards through the chunk, carried to the
 * previous chunk as r = exp(delta A) h. With G(t, n) = r_t s_{t-1} (the gradient w.r.t. delta A):
 *   ddelta_t = sum_n A_n G + u_t sum_n h B_n      du_t = delta_t sum_n h B_n + D dyc_t
 *   dA_n    += sum_t G delta_t                    dB_t = sum_d h delta u     dC_t = sum_d dyc s_t
 * where dyc is dy times the gate. Sums over n are reduce-scattered over the G lanes of a group
 * (scan_common.cuh). dB and dC sum over channels: over a lane's channels in registers (the
 * contraction's FFMA), over the block's groups through shared memory (each group writes its row,
 * then every thread adds one float4 column over the rows), and over blocks by a second kernel
 * (scan.cu) reading the partial row each block wrote to global memory: a fixed order
 * everywhere, so the result is the same on every run. dA_log, dDskip and ddt_bias are written
 * per sequence and summed over sequences there too.
 *
 * What binds is shared memory's bandwidth (32 floats a clock per SM, whatever the broadcast)
 * as much as the issue rate: every step reads B, C, delta, delta u and dyc from staged tiles and
 * writes the dB, dC rows. So the reverse walk computes exp(delta A) a second time rather than
 * reading it back from shared memory (the SFU has room: kernels/NOTES.md, v6), and the roomy
 * build forms y = C s and dC in the reverse walk, where C and dyc are read anyway. */
#include "kernels/cuda_check.h"
#include "kernels/scan_args.h"
#include "kernels/scan_common.cuh"

namespace scan {

/* SPLIT (the roomy build): dC and dB have buffers of their own, both filled in the reverse walk
 * and summed after it, one warp a kind; else dC (formed in the recompute) and dB take turns in
 * one buffer, with two barriers more a chunk, for 6 blocks per SM. */
template <typename T, int N, int KC, int TC, bool SPLIT> struct BwdSmem {
    /* PIPE: the roomy build with one channel a lane does the next chunk's owner work during
     * this chunk's recompute, so a third stage holds the chunk after that while it loads */
    static constexpr bool PIPE = SPLIT && KC == 1;
    static constexpr int NST = PIPE ? 3 : 2;
    using Gm = Geo<N, KC>;
    static constexpr int P = chan_pitch(Gm::G, Gm::CW, (int)sizeof(T), Gm::CH, KC);
    static constexpr int PW = free_pitch(Gm::G, Gm::CW, 16, Gm::CW, 1);
    static constexpr int PW2 = free_pitch(Gm::G, Gm::CW, 8, Gm::CW, 1);
    static constexpr int NPART = Gm::NW * Gm::CW; /* groups per block */
    static constexpr int NACC = KC * NPT + 2 * KC; /* per-lane sums kept in double */
    struct Stage {
        T u[TC * P], dp[TC * P], z[TC * P], dy[TC * P];
        float bm[TC * N], cm[TC * N];
    };
    Stage st[NST];
    /* per warp at [t][group]: delta, delta*u of each channel; dyc of each. By chunk parity in
     * the build that writes the next chunk's while this one's are read, else only [0] */
    float4 pw[PIPE ? 2 : 1][Gm::NW][TC * PW];
    float2 pd[PIPE ? 2 : 1][Gm::NW][TC * PW2];
    /* per group: its dC, dB contributions at step t; each step's rows padded by N/4 float4s so
     * that the two steps a quarter-warp reads in block_sum fall on different banks */
    float4 red[SPLIT ? 2 : 1][TC][NPART + 1][N / 4];
    double acc[NACC][NT];        /* dA (per channel, state), dDskip, ddt_bias (per channel) */
};

/* A sum over the lane's channels kc of a * b, one state at a time: the first channel starts it
 * (sum is not read), the second adds to it. The dB and dC contributions of a step. */
__device__ __forceinline__ float chan_sum(int kc, float a, float b, float sum)
{
    return kc == 0 ? a * b : fmaf(a, b, sum);
}

/* The lane's dyc values from their per-warp slot. */
template <int KC> __device__ __forceinline__ void load_dyc(const float2 &v, float (&d)[KC])
{
    d[0] = v.x;
    if constexpr (KC == 2) d[1] = v.y;
}

__device__ __forceinline__ float4 add4(const float4 &a, const float4 &b)
{
    return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

/* Sum red[t][g][.] over the groups g into out[t * 2N + n] for n < N and the nr steps that
 * exist: one float4 column per thread (from `first`, NTH apart), stored straight to the global
 * partial row. Eight rows are loaded at a time and added as a tree (a chain of adds would wait
 * on each load in turn); the order is fixed, so the sums are the same on every run. */
template <int N, int TC, int NPART, int NTH = NT>
__device__ __forceinline__ void block_sum(const float4 (&red)[TC][NPART + 1][N / 4], float *out, int nr,
                                          int first)
{
    constexpr int C4 = N / 4;
    for (int e = first; e < TC * C4; e += NTH) {
        const int t = e / C4, k4 = e % C4;
        if (t >= nr) continue;
        constexpr int R = NPART < 8 ? NPART : 8;
        static_assert(NPART % R == 0 && (R & (R - 1)) == 0, "groups a block: a power of two");
        float4 acc;
#pragma unroll
        for (int g0 = 0; g0 < NPART; g0 += R) {
            float4 v[R];
#pragma unroll
            for (int g = 0; g < R; g++) v[g] = red[t][g0 + g][k4];
#pragma unroll
            for (int h = R / 2; h >= 1; h /= 2)
#pragma unroll
                for (int g = 0; g < h; g++) v[g] = add4(v[g], v[g + h]);
            acc = g0 == 0 ? v[0] : add4(acc, v[0]);
        }
        *(float4 *)(out + t * 2 * N + k4 * 4) = acc;
    }
}

/* MINB blocks per SM: the register cap that occupancy allows. Two builds: 6 (168 registers) for
 * grids larger than 4 blocks per SM, and 4 (up to 255 registers, so the compiler can keep more
 * independent steps in flight, and separate dC and dB buffers) for grids that fit in that.
 * Z: the gate z exists (a template parameter, so the owner work has no branch in it and the
 * compiler can interleave the owners' independent exp -> rcp chains). In the build for 4 with
 * one channel a lane, the owner work of the next chunk runs during this chunk's recompute (6-7%
 * faster at a batch of 2); with two channels a lane the same overlap measured 7% slower, and 7%
 * slower again during the reverse walk (kernels/NOTES.md, v8), so those builds do a chunk's
 * owner work at its start. */
template <typename T, int N, int KC, int TC, int MINB, bool Z>
__global__ void __launch_bounds__(NT, MINB) scan_bwd_kernel(const ScanBwdArgs<T> a)
{
    using Gm = Geo<N, KC>;
    constexpr bool SPLIT = MINB <= 4;
    using Sm = BwdSmem<T, N, KC, TC, SPLIT>;
    constexpr int NST = Sm::NST;
    constexpr bool PIPE = Sm::PIPE;
    constexpr int G = Gm::G, CW = Gm::CW, CH = Gm::CH;
    constexpr int P = Sm::P, PW = Sm::PW, PW2 = Sm::PW2, NPART = Sm::NPART, OWN = TC / G;
    static_assert(TC % G == 0, "chunk must be a multiple of N/4");
    extern __shared__ __align__(16) unsigned char smem_raw[];
    Sm &sm = *reinterpret_cast<Sm *>(smem_raw);

    const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
    const int cw = lane / G, q = lane % G, grp = w * CW + cw, c = grp * KC;
    const int b = blockIdx.y, d0 = blockIdx.x * CH;
    const int L = a.L, D = a.D, nck = a.nchunk;
    const size_t row0 = (size_t)b * L;
    float *const prow = a.part_bc + ((size_t)blockIdx.x * a.B * L + row0) * (2 * N); /* this block's rows */

    bool dv[KC];
    float A2[KC][NPT], bias[KC], Dsk[KC];
    chan_consts<N, KC>(a.A_log, a.dt_bias, a.Dskip, d0 + c, D, q, dv, A2, bias, Dsk);
    float r[KC][NPT]; /* exp(delta A) h carried to the previous step */
#pragma unroll
    for (int k = 0; k < KC; k++)
#pragma unroll
        for (int j = 0; j < NPT; j++) r[k][j] = 0.0f;
#pragma unroll
    for (int i = 0; i < Sm::NACC; i++) sm.acc[i][tid] = 0.0;
    /* dA, dDskip, ddt_bias of the lane: float sums over FLUSH chunks at a time, added to the
     * double sums in shared memory (acc) after each FLUSH chunks and after the last */
    constexpr int FLUSH = 8;
    float accAf[KC][NPT], accDf[KC], accBf[KC];
#pragma unroll
    for (int kc = 0; kc < KC; kc++) {
        accDf[kc] = accBf[kc] = 0.0f;
#pragma unroll
        for (int j = 0; j < NPT; j++) accAf[kc][j] = 0.0f;
    }

    /* processing order kk = 0, 1, ... is chunk nck - 1 - kk. (The forward stages the same way;
     * one helper for both cost the backward 2% and 4 registers: kernels/NOTES.md.) */
    TilePlan<TC, CH, P, (int)sizeof(T)> act_plan;
    TilePlan<TC, N, N, 4> bc_plan;
    act_plan.init(D - d0);
    bc_plan.init(N);
    /* each tile's first row and column in this sequence as element offsets, worked out once (a
     * chunk adds its first step's rows; offsets, not pointers, keep the kernel's registers) */
    const size_t ao = row0 * D + d0, zo = row0 * a.z_stride + d0, bo = row0 * a.bc_stride;
    auto load = [&](int kk) {
        typename Sm::Stage &st = sm.st[kk % NST];
        const int k = nck - 1 - kk, t0 = k * TC, nr = min(TC, L - t0);
        const size_t rw = row0 + t0;
        if (a.vec_act) {
            const size_t o = ao + (size_t)t0 * D;
            act_plan.load(st.u, a.u + o, D, nr);
            act_plan.load(st.dp, a.delta_pre + o, D, nr);
            if (Z) act_plan.load(st.z, a.z + zo + (size_t)t0 * a.z_stride, a.z_stride, nr);
            act_plan.load(st.dy, a.dy + o, D, nr);
        } else {
            load_act_tile<T, TC, CH, P>(st.u, a.u, D, rw, nr, d0, D);
            load_act_tile<T, TC, CH, P>(st.dp, a.delta_pre, D, rw, nr, d0, D);
            if (Z) load_act_tile<T, TC, CH, P>(st.z, a.z, a.z_stride, rw, nr, d0, D);
            load_act_tile<T, TC, CH, P>(st.dy, a.dy, D, rw, nr, d0, D);
        }
        if (a.vec_bc) {
            const size_t o = bo + (size_t)t0 * a.bc_stride;
            bc_plan.load(st.bm, a.Bm + o, a.bc_stride, nr);
            bc_plan.load(st.cm, a.Cm + o, a.bc_stride, nr);
        } else {
            load_bc_tile<TC, N>(st.bm, a.Bm, a.bc_stride, rw, nr);
            load_bc_tile<TC, N>(st.cm, a.Cm, a.bc_stride, rw, nr);
        }
    };
    /* the chunk-start states of the lane's channels, fetched a chunk ahead into registers. A
     * missing channel reads the last one's: its dy tile is zero, so it adds nothing to any sum
     * (and nothing of it is stored); a select here would wait for the load at once. */
    auto load_states = [&](int kk, float4 (&v)[KC]) {
        const size_t k = (size_t)(nck - 1 - kk);
#pragma unroll
        for (int kc = 0; kc < KC; kc++) {
            const int d = dv[kc] ? d0 + c + kc : D - 1;
            v[kc] = *(const float4 *)(a.saved + (((size_t)b * nck + k) * D + d) * N + q * NPT);
        }
    };
    float4 svn[KC];
    load_states(0, svn);
    /* the owner's first rows of du and ddelta_pre, and of dz, as element offsets */
    const size_t go = (row0 + q) * D + d0 + c, gzo = (row0 + q) * a.dz_stride + d0 + c;

    /* Owners: per-element inputs of chunk kk, once. No branch: a step past the end (only in
     * the last chunk) reads the zeros its tiles were filled with, and its delta is masked so
     * that it keeps the state; its dy is zero, so it adds nothing to any sum. All loads first:
     * the owner's steps are independent exp -> rcp chains to interleave. sgx and dzf stay with
     * the owner for its epilogue. */
    auto owner = [&](int kk, float (&dl)[OWN][KC], float (&dlu)[OWN][KC], float (&dyc)[OWN][KC],
                     float (&sgx)[OWN][KC], float (&dzf)[OWN][KC]) {
        const typename Sm::Stage &st = sm.st[kk % NST];
        const int nr = min(TC, L - (nck - 1 - kk) * TC);
        float us[OWN][KC], xs[OWN][KC], gs[OWN][KC], zs[OWN][KC];
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            const int t = i * G + q;
            ld_chan(st.u + t * P + c, us[i]);
            ld_chan(st.dp + t * P + c, xs[i]);
            ld_chan(st.dy + t * P + c, gs[i]);
            if constexpr (Z) ld_chan(st.z + t * P + c, zs[i]);
        }
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            const bool live = i * G + q < nr;
#pragma unroll
            for (int kc = 0; kc < KC; kc++) {
                const float sp = bl_softplus(xs[i][kc] + bias[kc], &sgx[i][kc]);
                dl[i][kc] = live ? sp : 0.0f;
                dlu[i][kc] = dl[i][kc] * us[i][kc];
                dyc[i][kc] = gs[i][kc];
                dzf[i][kc] = 0.0f;
                if constexpr (Z) {
                    const float z = zs[i][kc], sz = bl_sigmoid(z);
                    dyc[i][kc] = gs[i][kc] * z * sz;
                    dzf[i][kc] = gs[i][kc] * sz * fmaf(z, 1.0f - sz, 1.0f);
                }
            }
        }
    };
    /* the owner's values into the per-warp buffers of chunk parity par */
    auto put_owned = [&](int par, const float (&dl)[OWN][KC], const float (&dlu)[OWN][KC],
                         const float (&dyc)[OWN][KC]) {
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            const int t = i * G + q;
            sm.pw[par][w][t * PW + cw] = pack2(dl[i], dlu[i]);
            sm.pd[par][w][t * PW2 + cw] = make_float2(dyc[i][0], dyc[i][KC - 1]);
        }
    };

#pragma unroll
    for (int kk = 0; kk < NST - 1; kk++) {
        if (kk < nck) load(kk);
        cp_async_commit();
    }
    float sgx[OWN][KC], dzf[OWN][KC]; /* the chunk in hand's, kept by the owner for its epilogue */
    if constexpr (PIPE) {
        float dl[OWN][KC], dlu[OWN][KC], dyc[OWN][KC];
        cp_async_wait<NST - 2>();
        __syncthreads(); /* chunk 0 landed */
        owner(0, dl, dlu, dyc, sgx, dzf);
        put_owned(0, dl, dlu, dyc);
    }
    for (int kk = 0; kk < nck; kk++) {
        /* chunk kk (PIPE: kk + 1) landed, the one group in flight; for every thread, and the
         * stage loaded next is free */
        cp_async_wait<0>();
        __syncthreads();
        if (kk + NST - 1 < nck) load(kk + NST - 1);
        cp_async_commit();
        const typename Sm::Stage &st = sm.st[kk % NST];
        const int k = nck - 1 - kk, t0 = k * TC, nr = min(TC, L - t0);
        float s[KC][NPT];
#pragma unroll
        for (int kc = 0; kc < KC; kc++) s[kc][0] = svn[kc].x, s[kc][1] = svn[kc].y, s[kc][2] = svn[kc].z, s[kc][3] = svn[kc].w;
        if (kk + 1 < nck) load_states(kk + 1, svn);
        const int par = PIPE ? kk & 1 : 0; /* the buffers of this chunk's owner values */
        const float4 *pw = sm.pw[par][w];
        const float2 *pd = sm.pd[par][w];

        /* the owner work: this chunk's now, or (PIPE) the next one's, in the same straight-line
         * code as the recompute so that its chains fill the recompute's issue slots; its stores
         * wait until after the recompute, whose loads could not move above them (the last
         * chunk redoes its own: no branch) */
        float dln[OWN][KC], dlun[OWN][KC], dycn[OWN][KC], sgxn[OWN][KC], dzfn[OWN][KC];
        if constexpr (PIPE) {
            owner(min(kk + 1, nck - 1), dln, dlun, dycn, sgxn, dzfn);
        } else {
            owner(kk, dln, dlun, dycn, sgx, dzf);
            put_owned(par, dln, dlun, dycn);
            __syncwarp();
        }

        /* ---- forward recompute from the saved chunk-start state. The shared operands of
         * step t + 1 are loaded before step t's stores (the compiler cannot tell they do not
         * overlap, and would otherwise wait for each load right after them). The 6-blocks build
         * forms y = C s and dC = sum_d dyc s here, so that its one red buffer can take dC's
         * block sums before the reverse walk; the roomy build forms them in the reverse walk,
         * where C and dyc are loaded anyway (shared memory's bandwidth is what binds). ---- */
        float sw[TC + 1][KC][NPT]; /* sw[t] = state before step t; sw[TC]: after the chunk */
        float yc[KC * TC];         /* [channel][t] */
        {
            float4 bv = *(const float4 *)(st.bm + q * NPT), cv = make_float4(0.f, 0.f, 0.f, 0.f);
            float4 pwv = pw[cw];
            float2 pdv = make_float2(0.f, 0.f);
            if constexpr (!SPLIT) cv = *(const float4 *)(st.cm + q * NPT), pdv = pd[cw];
#pragma unroll
            for (int t = 0; t < TC; t++) {
                float4 bvn = bv, cvn = cv, pwn = pwv;
                float2 pdn = pdv;
                if (t + 1 < TC) {
                    bvn = *(const float4 *)(st.bm + (t + 1) * N + q * NPT);
                    pwn = pw[(t + 1) * PW + cw];
                    if constexpr (!SPLIT) {
                        cvn = *(const float4 *)(st.cm + (t + 1) * N + q * NPT);
                        pdn = pd[(t + 1) * PW2 + cw];
                    }
                }
                float dls[KC], dlus[KC], dycs[KC];
                unpack2(pwv, dls, dlus);
                load_dyc(pdv, dycs);
                float vc[NPT];
#pragma unroll
                for (int kc = 0; kc < KC; kc++) {
#pragma unroll
                    for (int j = 0; j < NPT; j++) sw[t][kc][j] = s[kc][j];
                    float ea[NPT];
#pragma unroll
                    for (int j = 0; j < NPT; j++) ea[j] = bl_ex2(dls[kc] * A2[kc][j]);
                    s[kc][0] = fmaf(ea[0], s[kc][0], dlus[kc] * bv.x);
                    s[kc][1] = fmaf(ea[1], s[kc][1], dlus[kc] * bv.y);
                    s[kc][2] = fmaf(ea[2], s[kc][2], dlus[kc] * bv.z);
                    s[kc][3] = fmaf(ea[3], s[kc][3], dlus[kc] * bv.w);
                    if constexpr (!SPLIT) {
                        yc[kc * TC + t] = c_dot(cv, s[kc]);
#pragma unroll
                        for (int j = 0; j < NPT; j++) vc[j] = chan_sum(kc, dycs[kc], s[kc][j], vc[j]);
                    }
                }
                if constexpr (!SPLIT) sm.red[0][t][grp][q] = make_float4(vc[0], vc[1], vc[2], vc[3]);
                bv = bvn, cv = cvn, pwv = pwn, pdv = pdn;
            }
#pragma unroll
            for (int kc = 0; kc < KC; kc++)
#pragma unroll
                for (int j = 0; j < NPT; j++) sw[TC][kc][j] = s[kc][j];
        }
        if constexpr (PIPE) put_owned((kk + 1) & 1, dln, dlun, dycn);
        float *const pc = prow + (size_t)t0 * (2 * N); /* the chunk's partial rows */
        if constexpr (!SPLIT) {
            sum_states_owned<KC * TC, G>(yc, lane);
            __syncthreads(); /* red holds every group's dC */
            block_sum<N, TC, NPART>(sm.red[0], pc + N, nr, tid);
            __syncthreads(); /* red is free for dB */
        }

        /* ---- reverse (step t - 1's shared operands loaded before step t's stores); the
         * second exponential of each state and step is cheaper than keeping the first in
         * shared memory ---- */
        float ddl[KC * TC], hb[KC * TC]; /* [channel][t] */
        {
            float4 bv = *(const float4 *)(st.bm + (TC - 1) * N + q * NPT);
            float4 cv = *(const float4 *)(st.cm + (TC - 1) * N + q * NPT);
            float4 pwv = pw[(TC - 1) * PW + cw];
            float2 pdv = pd[(TC - 1) * PW2 + cw];
#pragma unroll
            for (int t = TC - 1; t >= 0; t--) {
                float4 bvn = bv, cvn = cv, pwn = pwv;
                float2 pdn = pdv;
                if (t > 0) {
                    bvn = *(const float4 *)(st.bm + (t - 1) * N + q * NPT);
                    cvn = *(const float4 *)(st.cm + (t - 1) * N + q * NPT);
                    pwn = pw[(t - 1) * PW + cw];
                    pdn = pd[(t - 1) * PW2 + cw];
                }
                const float bb[NPT] = {bv.x, bv.y, bv.z, bv.w}, cc[NPT] = {cv.x, cv.y, cv.z, cv.w};
                float dls[KC], dlus[KC], dycs[KC];
                unpack2(pwv, dls, dlus);
                load_dyc(pdv, dycs);
                float vb[NPT], vc[NPT]; /* dB, dC contributions of the lane's channels */
#pragma unroll
                for (int kc = 0; kc < KC; kc++) {
                    float dd = 0.0f, hbt = 0.0f, ea[NPT];
#pragma unroll
                    for (int j = 0; j < NPT; j++) ea[j] = bl_ex2(dls[kc] * A2[kc][j]);
#pragma unroll
                    for (int j = 0; j < NPT; j++) {
                        const float h = fmaf(cc[j], dycs[kc], r[kc][j]);
                        r[kc][j] = ea[j] * h;
                        const float gd = r[kc][j] * sw[t][kc][j]; /* dLoss / d(delta A) */
                        accAf[kc][j] = fmaf(gd, dls[kc], accAf[kc][j]);
                        dd = fmaf(gd, A2[kc][j], dd);
                        hbt = fmaf(h, bb[j], hbt);
                        vb[j] = chan_sum(kc, h, dlus[kc], vb[j]);
                        if constexpr (SPLIT) /* with the state after step t */
                            vc[j] = chan_sum(kc, dycs[kc], sw[t + 1][kc][j], vc[j]);
                    }
                    ddl[kc * TC + t] = dd;
                    hb[kc * TC + t] = hbt;
                    if constexpr (SPLIT) yc[kc * TC + t] = c_dot(cv, sw[t + 1][kc]);
                }
                sm.red[SPLIT ? 1 : 0][t][grp][q] = make_float4(vb[0], vb[1], vb[2], vb[3]);
                if constexpr (SPLIT) sm.red[0][t][grp][q] = make_float4(vc[0], vc[1], vc[2], vc[3]);
                bv = bvn, cv = cvn, pwv = pwn, pdv = pdn;
            }
        }
        if constexpr (SPLIT) sum_states_owned<KC * TC, G>(yc, lane);
        sum_states_owned<KC * TC, G>(ddl, lane);
        sum_states_owned<KC * TC, G>(hb, lane);

        /* ---- owners: per-element gradients (computed for every step: one past the end has
         * dy = 0, so h = ddl = 0 and it adds nothing to the sums; only its stores are skipped) */
        {
            float du[OWN][KC], ddp[OWN][KC], dz[OWN][KC];
#pragma unroll
            for (int i = 0; i < OWN; i++) {
                const int t = i * G + q;
                float dls[KC], dlus[KC], dycs[KC], us[KC];
                unpack2(pw[t * PW + cw], dls, dlus);
                load_dyc(pd[t * PW2 + cw], dycs);
                ld_chan(st.u + t * P + c, us);
#pragma unroll
                for (int kc = 0; kc < KC; kc++) {
                    const float h = hb[kc * OWN + i], dd = ddl[kc * OWN + i], y = yc[kc * OWN + i];
                    du[i][kc] = fmaf(dls[kc], h, Dsk[kc] * dycs[kc]);
                    ddp[i][kc] = fmaf(us[kc], h, dd * BL_LN2) * sgx[i][kc];
                    dz[i][kc] = dzf[i][kc] * fmaf(Dsk[kc], us[kc], y);
                    accDf[kc] = fmaf(dycs[kc], us[kc], accDf[kc]);
                    accBf[kc] += ddp[i][kc];
                }
            }
            const size_t o = go + (size_t)t0 * D;
            st_owned<G>(a.du + o, D, du, dv, a.pair_out, q, nr);
            st_owned<G>(a.ddelta_pre + o, D, ddp, dv, a.pair_out, q, nr);
            if (Z && a.dz)
                st_owned<G>(a.dz + gzo + (size_t)t0 * a.dz_stride, a.dz_stride, dz, dv, a.pair_out, q, nr);
        }
        if constexpr (PIPE)
#pragma unroll
            for (int i = 0; i < OWN; i++)
#pragma unroll
                for (int kc = 0; kc < KC; kc++) sgx[i][kc] = sgxn[i][kc], dzf[i][kc] = dzfn[i][kc];
        if (kk % FLUSH == FLUSH - 1 || kk == nck - 1) {
#pragma unroll
            for (int kc = 0; kc < KC; kc++) {
#pragma unroll
                for (int j = 0; j < NPT; j++) {
                    sm.acc[kc * NPT + j][tid] += (double)accAf[kc][j];
                    accAf[kc][j] = 0.0f;
                }
                sm.acc[KC * NPT + kc][tid] += (double)accDf[kc];
                sm.acc[KC * NPT + KC + kc][tid] += (double)accBf[kc];
                accDf[kc] = accBf[kc] = 0.0f;
            }
        }

        /* ---- dB, dC: groups -> block partial rows (the top barrier of the next chunk orders
         * these reads of red before its new writes). With SPLIT each warp sums one kind. ---- */
        __syncthreads(); /* red holds every group's dB (and with SPLIT its dC) */
        if constexpr (SPLIT) {
            if (w == 0)
                block_sum<N, TC, NPART, 32>(sm.red[1], pc, nr, lane);
            else
                block_sum<N, TC, NPART, 32>(sm.red[0], pc + N, nr, lane);
        } else {
            block_sum<N, TC, NPART>(sm.red[0], pc, nr, tid);
        }
    }

    /* per-sequence parameter gradients */
    float fD[KC], fB[KC];
#pragma unroll
    for (int kc = 0; kc < KC; kc++) {
        fD[kc] = (float)sm.acc[KC * NPT + kc][tid];
        fB[kc] = (float)sm.acc[KC * NPT + KC + kc][tid];
#pragma unroll
        for (int m = 1; m < G; m <<= 1) {
            fD[kc] += __shfl_xor_sync(FULL, fD[kc], m);
            fB[kc] += __shfl_xor_sync(FULL, fB[kc], m);
        }
    }
#pragma unroll
    for (int kc = 0; kc < KC; kc++) {
        if (!dv[kc]) continue;
        const size_t dd = (size_t)b * D + d0 + c + kc;
        if (q == 0) {
            a.part_D[dd] = fD[kc];
            a.part_bias[dd] = fB[kc];
        }
        /* dA_log = dA * A, A = A2 ln 2 */
        float o[NPT];
#pragma unroll
        for (int j = 0; j < NPT; j++)
            o[j] = (float)(sm.acc[kc * NPT + j][tid] * A2[kc][j] * BL_LN2);
        *(float4 *)(a.part_A + dd * N + q * NPT) = make_float4(o[0], o[1], o[2], o[3]);
    }
}

template <typename T, int N, int KC, int MINB, bool Z>
static void launch_bwd_z(const ScanBwdArgs<T> &a, int grid_x, cudaStream_t s)
{
    auto kern = scan_bwd_kernel<T, N, KC, SCAN_SC, MINB, Z>;
    const size_t smem = sizeof(BwdSmem<T, N, KC, SCAN_SC, (MINB <= 4)>);
    cuda_allow_smem(kern, smem);
    kern<<<dim3(grid_x, a.B, 1), NT, smem, s>>>(a);
    CUDA_LAUNCH_CHECK();
}

template <typename T, int N, int KC, int MINB>
static void launch_bwd(const ScanBwdArgs<T> &a, int grid_x, cudaStream_t s)
{
    a.z ? launch_bwd_z<T, N, KC, MINB, true>(a, grid_x, s) : launch_bwd_z<T, N, KC, MINB, false>(a, grid_x, s);
}

/* kc 2 or 1 channels a lane; roomy: the grid fits in 4 blocks per SM */
template <typename T, int N>
static void launch_bwd(const ScanBwdArgs<T> &a, int grid_x, int kc, bool roomy, cudaStream_t s)
{
    if (kc == 2)
        roomy ? launch_bwd<T, N, 2, 4>(a, grid_x, s) : launch_bwd<T, N, 2, 6>(a, grid_x, s);
    else
        roomy ? launch_bwd<T, N, 1, 4>(a, grid_x, s) : launch_bwd<T, N, 1, 6>(a, grid_x, s);
}

template <typename T>
static void dispatch_bwd(const ScanBwdArgs<T> &a, int N, int grid_x, int kc, bool roomy, cudaStream_t s)
{
    switch (N) {
    case 4: launch_bwd<T, 4>(a, grid_x, kc, roomy, s); break;
    case 8: launch_bwd<T, 8>(a, grid_x, kc, roomy, s); break;
    case 16: launch_bwd<T, 16>(a, grid_x, kc, roomy, s); break;
    case 32: launch_bwd<T, 32>(a, grid_x, kc, roomy, s); break;
    default: break; /* refused before any launch: scan_state_supported */
    }
}

} // namespace scan

void scan_bwd_dispatch(const ScanBwdArgs<float> &a, int N, int grid_x, int kc, bool roomy, cudaStream_t s)
{
    scan::dispatch_bwd(a, N, grid_x, kc, roomy, s);
}
void scan_bwd_dispatch(const ScanBwdArgs<__nv_bfloat16> &a, int N, int grid_x, int kc, bool roomy,
                       cudaStream_t s)
{
    scan::dispatch_bwd(a, N, grid_x, kc, roomy, s);
}
