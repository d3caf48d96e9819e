/* Selective scan forward: fused softplus(delta_pre + dt_bias), the recurrence with the state in
 * registers, the C contraction, D skip and the silu(z) gate. Nothing of size (B, D, L, N) is
 * written; with `saved` the state at the start of every SC steps is stored for the backward.
 * See scan_common.cuh for the thread mapping. */
#include "kernels/cuda_check.h"
#include "kernels/scan_args.h"
#include "kernels/scan_common.cuh"

namespace scan {

template <typename T, int N, int KC, int TC> struct FwdSmem {
    using Gm = Geo<N, KC>;
    static constexpr int P = chan_pitch(Gm::G, Gm::CW, (int)sizeof(T), Gm::CH, KC);
    static constexpr int PW = free_pitch(Gm::G, Gm::CW, 16, Gm::CW, 1);
    /* PIPE (an owner holds at most 4 steps of a chunk, d_state >= 16): the next chunk's owner
     * work runs during this chunk's main loop, so three stages (chunk k's main loop reads one,
     * chunk k + 1's owner work another, chunk k + 2 loads into the third); else two. With 8 or
     * 16 owner steps (d_state 8, 4) the overlap's registers spill. */
    static constexpr bool PIPE = TC / Gm::G <= 4;
    static constexpr int NST = PIPE ? 3 : 2;
    struct Stage {
        T u[TC * P], dp[TC * P], z[TC * P];
        float bm[TC * N], cm[TC * N];
    };
    Stage st[NST];
    float4 pw[Gm::NW][TC * PW]; /* per warp at [t][group]: delta, delta*u of each channel */
};

/* TC: steps per staged chunk; SC: steps between saved states (divides TC). SAVE: store them.
 * WRITE_Y: produce y (false when only `saved` is wanted). Z: the gate z exists (a template
 * parameter, so the owner work has no branch in it). MINB: blocks per SM the register cap
 * allows (4 for grids that fit in that, which then give the overlapped owner work more room).
 *
 * With PIPE the owner work (softplus, delta * u, the gate's silu) of chunk k + 1 is done during
 * chunk k's main loop, in the same straight-line code, so that its exp -> rcp -> series chains
 * fill the issue slots the loop's dependent FMA chains leave; its results go to shared memory
 * after the loop (a store before the loop's loads would have to wait for them). */
template <typename T, int N, int KC, int TC, int SC, bool SAVE, bool WRITE_Y, bool Z, int MINB>
__global__ void __launch_bounds__(NT, MINB) scan_fwd_kernel(const ScanFwdArgs<T> a)
{
    using Gm = Geo<N, KC>;
    using Sm = FwdSmem<T, N, KC, TC>;
    constexpr int G = Gm::G, CW = Gm::CW, CH = Gm::CH, P = Sm::P, PW = Sm::PW, OWN = TC / G;
    constexpr int NST = Sm::NST;
    constexpr bool PIPE = Sm::PIPE, GATE = WRITE_Y && Z;
    static_assert(TC % G == 0 && TC % SC == 0, "chunk must be a multiple of N/4 and of SC");
    extern __shared__ __align__(16) unsigned char smem_raw[];
    Sm &sm = *reinterpret_cast<Sm *>(smem_raw);

    const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
    const int cw = lane / G, q = lane % G, c = (w * CW + cw) * KC; /* first channel, in block */
    const int b = blockIdx.y, d0 = blockIdx.x * CH;
    const int L = a.L, D = a.D, nck = (L + TC - 1) / TC;
    const size_t row0 = (size_t)b * L;

    bool dv[KC];
    float A2[KC][NPT], bias[KC], Dsk[KC], s[KC][NPT];
    chan_consts<N, KC>(a.A_log, a.dt_bias, a.Dskip, d0 + c, D, q, dv, A2, bias, Dsk);
#pragma unroll
    for (int k = 0; k < KC; k++) {
#pragma unroll
        for (int j = 0; j < NPT; j++) s[k][j] = 0.0f;
        if (a.ssm_state && dv[k]) {
            float4 v = *(const float4 *)(a.ssm_state + ((size_t)b * D + d0 + c + k) * N + q * NPT);
            s[k][0] = v.x, s[k][1] = v.y, s[k][2] = v.z, s[k][3] = v.w;
        }
    }

    TilePlan<TC, CH, P, (int)sizeof(T)> act_plan;
    TilePlan<TC, N, N, 4> bc_plan;
    act_plan.init(D - d0);
    bc_plan.init(N);
    /* each tile's first row and column in this sequence, and the owner's first y row, as
     * element offsets worked out once (a chunk adds its first step's rows; offsets, not
     * pointers, keep the kernel's registers) */
    const size_t ao = row0 * D + d0, zo = row0 * a.z_stride + d0, bo = row0 * a.bc_stride;
    const size_t yo = (row0 + q) * D + d0 + c;
    auto load = [&](int k) {
        typename Sm::Stage &st = sm.st[k % NST];
        const int t0 = k * TC, nr = min(TC, L - t0);
        const size_t rw = row0 + t0;
        if (a.vec_act) {
            const size_t o = ao + (size_t)t0 * D;
            act_plan.load(st.u, a.u + o, D, nr);
            act_plan.load(st.dp, a.delta_pre + o, D, nr);
            if (GATE) act_plan.load(st.z, a.z + zo + (size_t)t0 * a.z_stride, a.z_stride, nr);
        } else {
            load_act_tile<T, TC, CH, P>(st.u, a.u, D, rw, nr, d0, D);
            load_act_tile<T, TC, CH, P>(st.dp, a.delta_pre, D, rw, nr, d0, D);
            if (GATE) load_act_tile<T, TC, CH, P>(st.z, a.z, a.z_stride, rw, nr, d0, D);
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
    /* Owner work of chunk k, with no branch: delta and delta * u of the owner's steps, and the
     * gate silu(z) when there is one. A step past the end (only in the last chunk) reads the
     * zeros its tiles were filled with, and its delta is masked so that it keeps the state.
     * All loads first: the chains of the owner's steps are independent. */
    auto owner = [&](int k, float (&dl)[OWN][KC], float (&dlu)[OWN][KC], float (&gt)[OWN][KC]) {
        const typename Sm::Stage &st = sm.st[k % NST];
        const int nr = min(TC, L - k * TC);
        float xs[OWN][KC], us[OWN][KC], zs[OWN][KC];
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            ld_chan(st.dp + (i * G + q) * P + c, xs[i]);
            ld_chan(st.u + (i * G + q) * P + c, us[i]);
            if constexpr (GATE) ld_chan(st.z + (i * G + q) * P + c, zs[i]);
        }
#pragma unroll
        for (int i = 0; i < OWN; i++)
#pragma unroll
            for (int kc = 0; kc < KC; kc++) {
                const float x = xs[i][kc] + bias[kc];
                const float sp = fmaxf(x, 0.0f) + bl_log1p_unit(bl_exp_neg_abs(x));
                dl[i][kc] = i * G + q < nr ? sp : 0.0f;
                dlu[i][kc] = dl[i][kc] * us[i][kc];
                gt[i][kc] = 1.0f;
                if constexpr (GATE) gt[i][kc] = zs[i][kc] * bl_sigmoid(zs[i][kc]);
            }
    };
    auto put_owned = [&](float4 *pwb, const float (&dl)[OWN][KC], const float (&dlu)[OWN][KC]) {
#pragma unroll
        for (int i = 0; i < OWN; i++) pwb[(i * G + q) * PW + cw] = pack2(dl[i], dlu[i]);
    };

#pragma unroll
    for (int k = 0; k < NST - 1; k++) {
        if (k < nck) load(k);
        cp_async_commit();
    }
    float gcur[OWN][KC]; /* the gate of the chunk in the main loop */
    if constexpr (PIPE) {
        float dl[OWN][KC], dlu[OWN][KC];
        cp_async_wait<NST - 2>();
        __syncthreads(); /* chunk 0 landed */
        owner(0, dl, dlu, gcur);
        put_owned(sm.pw[w], dl, dlu);
    }
    for (int k = 0; k < nck; k++) {
        /* chunk k (PIPE: k + 1), the one group in flight, landed; for every thread, and the
         * stage loaded next is free */
        cp_async_wait<0>();
        __syncthreads();
        if (k + NST - 1 < nck) load(k + NST - 1);
        cp_async_commit();
        const typename Sm::Stage &st = sm.st[k % NST];
        const int t0 = k * TC, nr = min(TC, L - t0);
        const float4 *pw = sm.pw[w];

        /* the owner work: the next chunk's (the last chunk redoes its own: no branch), or
         * without PIPE this chunk's, shared before the main loop */
        float dln[OWN][KC], dlun[OWN][KC], gnext[OWN][KC];
        if constexpr (PIPE) {
            owner(min(k + 1, nck - 1), dln, dlun, gnext);
        } else {
            owner(k, dln, dlun, gcur);
            put_owned(sm.pw[w], dln, dlun);
            __syncwarp();
        }

        float yp[KC * TC]; /* [channel][t] */
#pragma unroll
        for (int t = 0; t < TC; t++) {
            /* step 0 of a chunk always exists: no test there, which would be a branch cutting the
             * loop's first steps off from the owner work before them */
            if (SAVE && t % SC == 0 && (t == 0 || t < nr)) {
                const size_t ks = (size_t)(t0 + t) / SC;
#pragma unroll
                for (int kc = 0; kc < KC; kc++)
                    if (dv[kc])
                        *(float4 *)(a.saved + (((size_t)b * a.nchunk + ks) * D + d0 + c + kc) * N +
                                    q * NPT) = make_float4(s[kc][0], s[kc][1], s[kc][2], s[kc][3]);
            }
            const float4 bv = *(const float4 *)(st.bm + t * N + q * NPT);
            const float4 cv = *(const float4 *)(st.cm + t * N + q * NPT);
            float dls[KC], dlus[KC];
            unpack2(pw[t * PW + cw], dls, dlus);
#pragma unroll
            for (int kc = 0; kc < KC; kc++) {
                /* one exponential of the eight a step (two channels) on the FMA pipe: the SFU
                 * binds in this loop, and one is what the issue slots have room for */
                float ea[NPT];
#pragma unroll
                for (int j = 0; j < NPT; j++) {
                    const float x = dls[kc] * A2[kc][j];
                    ea[j] = KC == 2 && kc == 1 && j == NPT - 1 ? bl_ex2_fma(x) : bl_ex2(x);
                }
                s[kc][0] = fmaf(ea[0], s[kc][0], dlus[kc] * bv.x);
                s[kc][1] = fmaf(ea[1], s[kc][1], dlus[kc] * bv.y);
                s[kc][2] = fmaf(ea[2], s[kc][2], dlus[kc] * bv.z);
                s[kc][3] = fmaf(ea[3], s[kc][3], dlus[kc] * bv.w);
                yp[kc * TC + t] = c_dot(cv, s[kc]);
            }
        }
        if (WRITE_Y) {
            sum_states_owned<KC * TC, G>(yp, lane); /* owner: yp[kc * OWN + i] */
            float v[OWN][KC];
#pragma unroll
            for (int i = 0; i < OWN; i++) {
                float us[KC];
                ld_chan(st.u + (i * G + q) * P + c, us);
#pragma unroll
                for (int kc = 0; kc < KC; kc++) {
                    v[i][kc] = fmaf(Dsk[kc], us[kc], yp[kc * OWN + i]);
                    if constexpr (GATE) v[i][kc] *= gcur[i][kc];
                }
            }
            st_owned<G>(a.y + yo + (size_t)t0 * D, D, v, dv, a.pair_out, q, nr);
        }
        if constexpr (PIPE) {
            __syncwarp(); /* every lane's reads of this chunk's pw are done */
            put_owned(sm.pw[w], dln, dlun);
#pragma unroll
            for (int i = 0; i < OWN; i++)
#pragma unroll
                for (int kc = 0; kc < KC; kc++) gcur[i][kc] = gnext[i][kc];
        }
    }
    if (a.ssm_state)
#pragma unroll
        for (int kc = 0; kc < KC; kc++)
            if (dv[kc])
                *(float4 *)(a.ssm_state + ((size_t)b * D + d0 + c + kc) * N + q * NPT) =
                    make_float4(s[kc][0], s[kc][1], s[kc][2], s[kc][3]);
}

/* The forward stages 16 steps a chunk (fewer barriers per step) and saves every SCAN_SC. */
template <typename T, int N, int KC, int MINB>
static void launch_fwd(const ScanFwdArgs<T> &a, cudaStream_t s)
{
    constexpr int TC = 16;
    const dim3 grid((a.D + Geo<N, KC>::CH - 1) / Geo<N, KC>::CH, a.B);
    /* with a gate or without; without y the gate is not read */
    auto kern = a.saved ? (a.y ? (a.z ? scan_fwd_kernel<T, N, KC, TC, SCAN_SC, true, true, true, MINB>
                                      : scan_fwd_kernel<T, N, KC, TC, SCAN_SC, true, true, false, MINB>)
                               : scan_fwd_kernel<T, N, KC, TC, SCAN_SC, true, false, false, MINB>)
                        : (a.z ? scan_fwd_kernel<T, N, KC, TC, SCAN_SC, false, true, true, MINB>
                               : scan_fwd_kernel<T, N, KC, TC, SCAN_SC, false, true, false, MINB>);
    const size_t smem = sizeof(FwdSmem<T, N, KC, TC>);
    cuda_allow_smem(kern, smem);
    kern<<<grid, NT, smem, s>>>(a);
    CUDA_LAUNCH_CHECK();
}

template <typename T, int N> static void launch_fwd(const ScanFwdArgs<T> &a, int kc, bool roomy, cudaStream_t s)
{
    if (kc == 2)
        roomy ? launch_fwd<T, N, 2, 4>(a, s) : launch_fwd<T, N, 2, 6>(a, s);
    else
        roomy ? launch_fwd<T, N, 1, 4>(a, s) : launch_fwd<T, N, 1, 6>(a, s);
}

template <typename T> static void dispatch_fwd(const ScanFwdArgs<T> &a, int N, int kc, bool roomy, cudaStream_t s)
{
    switch (N) {
    case 4: launch_fwd<T, 4>(a, kc, roomy, s); break;
    case 8: launch_fwd<T, 8>(a, kc, roomy, s); break;
    case 16: launch_fwd<T, 16>(a, kc, roomy, s); break;
    case 32: launch_fwd<T, 32>(a, kc, roomy, s); break;
    default: break; /* refused before any launch: scan_state_supported */
    }
}

} // namespace scan

int scan_channels_per_block(int N, int kc) { return scan::channels_per_block(N, kc); }

bool scan_state_supported(int N) { return N == 4 || N == 8 || N == 16 || N == 32; }

void scan_fwd_dispatch(const ScanFwdArgs<float> &a, int N, int kc, bool roomy, cudaStream_t s)
{
    scan::dispatch_fwd(a, N, kc, roomy, s);
}
void scan_fwd_dispatch(const ScanFwdArgs<__nv_bfloat16> &a, int N, int kc, bool roomy, cudaStream_t s)
{
    scan::dispatch_fwd(a, N, kc, roomy, s);
}
