/* Selective scan backward.
 *
 * Walks each sequence's chunks of SCAN_SC steps in reverse. Per chunk: the forward states are
 * recomputed from the chunk-start state the forward saved and kept in registers (SC x 4 KC floats
 * a lane), dC formed on the way, then the adjoint h = dLoss/ds runs backwards through the chunk, carried to the
 * previous chunk as r = exp(delta A) h. With G(t, n) = r_t s_{t-1} (the gradient w.r.t. delta A):
 *   ddelta_t = sum_n A_n G + u_t sum_n h B_n      du_t = delta_t sum_n h B_n + D dyc_t
 *   dA_n    += sum_t G delta_t                    dB_t = sum_d h delta u     dC_t = sum_d dyc s_t
 * where dyc is dy times the gate. Sums over n are reduce-scattered over the G lanes of a group
 * (scan_common.cuh). dB and dC sum over channels: over a lane's channels in registers (the
 * contraction's FFMA), over the block's groups through shared memory (each group writes its row,
 * then every thread adds one float4 column over the rows; dC after the recompute, dB after the
 * reverse walk, in turn through one buffer), over a cluster of blocks through
 * distributed shared memory, and over clusters by a second kernel (scan.cu) reading one partial
 * row per cluster: a fixed order everywhere, so the result is the same on every run. dA_log,
 * dDskip and ddt_bias are written per sequence and summed over sequences there too. */
#include <cooperative_groups.h>

#include "kernels/cuda_check.h"
#include "kernels/scan_args.h"
#include "kernels/scan_common.cuh"

namespace cg = cooperative_groups;

namespace scan {

/* SPLIT: dC and dB have buffers of their own (both summed after the reverse walk, two barriers
 * fewer a chunk); else they take turns in one (8 KB less, for 6 blocks per SM). */
template <typename T, int N, int KC, int TC, bool SPLIT> struct BwdSmem {
    using Gm = Geo<N, KC>;
    static constexpr int P = chan_pitch(Gm::G, Gm::CW, (int)sizeof(T), Gm::CH, KC);
    static constexpr int PW = free_pitch(Gm::G, Gm::CW, 16, Gm::CW, 1);
    static constexpr int PW2 = free_pitch(Gm::G, Gm::CW, 8, Gm::CW, 1);
    static constexpr int NPART = Gm::NW * Gm::CW; /* groups per block */
    static constexpr int NACC = KC * NPT + 2 * KC; /* per-lane sums kept in double */
    struct Stage {
        T u[TC * P], dp[TC * P], z[TC * P], dy[TC * P];
        float bm[TC * N], cm[TC * N];
        float sv[Gm::CH * N]; /* chunk-start states of the block's channels */
    };
    Stage st[STAGES];
    float4 pw[Gm::NW][TC * PW];  /* per warp at [t][group]: delta, delta*u of each channel */
    float2 pd[Gm::NW][TC * PW2]; /* per warp at [t][group]: dyc of each channel */
    float4 red[SPLIT ? 2 : 1][TC][NPART][N / 4]; /* per group: its dC, dB contributions at step t */
    float cbuf[3][TC * 2 * N];   /* per block: dB, dC sums of 3 chunks for the cluster reduction */
    double acc[NACC][NT];        /* dA (per channel, state), dDskip, ddt_bias (per channel) */
};

/* Block rank r of the cluster adds slice r of every block's cbuf[par] (rank order) and writes
 * the cluster's partial rows for the chunk starting at t0. */
template <int N, int TC>
__device__ __forceinline__ void cluster_reduce_chunk(cg::cluster_group &cl, float *cbuf_par,
                                                     float *part, size_t prow0, int t0, int L)
{
    constexpr int E = TC * 2 * N;
    const int CL = (int)cl.num_blocks(), rank = (int)cl.block_rank();
    const int per = (E + CL - 1) / CL, e0 = rank * per, e1 = min(E, e0 + per);
    for (int e = e0 + (int)threadIdx.x; e < e1; e += NT) {
        float acc = 0.0f;
        for (int rr = 0; rr < CL; rr++) acc += cl.map_shared_rank(cbuf_par, rr)[e];
        const int t = e / (2 * N);
        if (t0 + t < L) part[(prow0 + t0) * 2 * N + e] = acc;
    }
}

/* The lane's dyc values from their per-warp slot. */
template <int KC> __device__ __forceinline__ void load_dyc(const float2 &v, float (&d)[KC])
{
    d[0] = v.x;
    if constexpr (KC == 2) d[1] = v.y;
}

/* Sum red[t][g][.] over the groups g (in g order) into out[t * 2N + n] for n < N: one float4
 * column per thread. */
template <int N, int TC, int NPART>
__device__ __forceinline__ void block_sum(const float4 (&red)[TC][NPART][N / 4], float *out)
{
    constexpr int C4 = N / 4;
    for (int e = threadIdx.x; e < TC * C4; e += NT) {
        const int t = e / C4, k4 = e % C4;
        float4 acc = red[t][0][k4];
#pragma unroll
        for (int g = 1; g < NPART; g++) {
            const float4 v = red[t][g][k4];
            acc.x += v.x, acc.y += v.y, acc.z += v.z, acc.w += v.w;
        }
        *(float4 *)(out + t * 2 * N + k4 * 4) = acc;
    }
}

/* MINB blocks per SM: the register cap that occupancy allows. Two builds: 6 (168 registers) for
 * grids larger than 4 blocks per SM, and 4 (up to 255 registers, so the compiler can keep more
 * independent steps in flight, and separate dC and dB buffers) for grids that fit in that. */
template <typename T, int N, int KC, int TC, int MINB>
__global__ void __launch_bounds__(NT, MINB) scan_bwd_kernel(const ScanBwdArgs<T> a)
{
    using Gm = Geo<N, KC>;
    constexpr bool SPLIT = MINB <= 4;
    using Sm = BwdSmem<T, N, KC, TC, SPLIT>;
    constexpr int G = Gm::G, CW = Gm::CW, CH = Gm::CH;
    constexpr int P = Sm::P, PW = Sm::PW, PW2 = Sm::PW2, NPART = Sm::NPART, OWN = TC / G;
    static_assert(TC % G == 0, "chunk must be a multiple of N/4");
    extern __shared__ __align__(16) unsigned char smem_raw[];
    Sm &sm = *reinterpret_cast<Sm *>(smem_raw);
    cg::cluster_group cl = cg::this_cluster();

    const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
    const int cw = lane / G, q = lane % G, grp = w * CW + cw, c = grp * KC;
    const int b = blockIdx.y, d0 = blockIdx.x * CH;
    const int L = a.L, D = a.D, nck = a.nchunk;
    const size_t row0 = (size_t)b * L;
    const int CL = (int)cl.num_blocks();
    const size_t prow0 = (size_t)(blockIdx.x / CL) * a.B * L + row0; /* this cluster's rows */

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

    /* processing order kk = 0, 1, ... is chunk nck - 1 - kk */
    auto load = [&](int kk) {
        typename Sm::Stage &st = sm.st[kk % STAGES];
        const int k = nck - 1 - kk, t0 = k * TC, nr = min(TC, L - t0);
        load_act_tile<T, TC, CH, P>(st.u, a.u, D, row0 + t0, nr, d0, D, a.vec_act);
        load_act_tile<T, TC, CH, P>(st.dp, a.delta_pre, D, row0 + t0, nr, d0, D, a.vec_act);
        if (a.z) load_act_tile<T, TC, CH, P>(st.z, a.z, a.z_stride, row0 + t0, nr, d0, D, a.vec_act);
        load_act_tile<T, TC, CH, P>(st.dy, a.dy, D, row0 + t0, nr, d0, D, a.vec_act);
        load_bc_tile<TC, N>(st.bm, a.Bm, a.bc_stride, row0 + t0, nr, a.vec_bc);
        load_bc_tile<TC, N>(st.cm, a.Cm, a.bc_stride, row0 + t0, nr, a.vec_bc);
        const float *sv = a.saved + (((size_t)b * nck + k) * D + d0) * N;
        for (int i = tid; i < CH * N / 4; i += NT) {
            bool ok = d0 + (i * 4) / N < D;
            cp_async16(st.sv + i * 4, ok ? sv + i * 4 : a.saved, ok);
        }
    };

#pragma unroll
    for (int kk = 0; kk < STAGES - 1; kk++) {
        if (kk < nck) load(kk);
        cp_async_commit();
    }
    float4 *pw = sm.pw[w];
    float2 *pd = sm.pd[w];
    for (int kk = 0; kk < nck; kk++) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (kk + STAGES - 1 < nck) load(kk + STAGES - 1);
        cp_async_commit();
        const typename Sm::Stage &st = sm.st[kk % STAGES];
        const int k = nck - 1 - kk, t0 = k * TC;

        /* ---- owners: per-element inputs, once ---- */
        float sgx[OWN][KC], dzf[OWN][KC]; /* kept by the owner for its epilogue */
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            const int t = i * G + q;
            float dl[KC], dlu[KC], dyc[KC];
#pragma unroll
            for (int kc = 0; kc < KC; kc++) dl[kc] = dlu[kc] = dyc[kc] = sgx[i][kc] = dzf[i][kc] = 0.0f;
            if (t0 + t < L) {
                float us[KC], xs[KC], gs[KC], zs[KC] = {};
                ld_chan(st.u + t * P + c, us);
                ld_chan(st.dp + t * P + c, xs);
                ld_chan(st.dy + t * P + c, gs);
                if (a.z) ld_chan(st.z + t * P + c, zs);
#pragma unroll
                for (int kc = 0; kc < KC; kc++) {
                    dl[kc] = bl_softplus(xs[kc] + bias[kc], &sgx[i][kc]);
                    dlu[kc] = dl[kc] * us[kc];
                    dyc[kc] = gs[kc];
                    if (a.z) {
                        const float sz = bl_sigmoid(zs[kc]);
                        dyc[kc] = gs[kc] * zs[kc] * sz;
                        dzf[i][kc] = gs[kc] * sz * fmaf(zs[kc], 1.0f - sz, 1.0f);
                    }
                }
            }
            pw[t * PW + cw] = pack2(dl, dlu);
            pd[t * PW2 + cw] = make_float2(dyc[0], dyc[KC - 1]);
        }
        __syncwarp();

        /* ---- forward recompute from the saved chunk-start state, with dC = sum_d dyc s ---- */
        float s[KC][NPT];
#pragma unroll
        for (int kc = 0; kc < KC; kc++) {
            const float4 v = *(const float4 *)(st.sv + (c + kc) * N + q * NPT);
            s[kc][0] = v.x, s[kc][1] = v.y, s[kc][2] = v.z, s[kc][3] = v.w;
        }
        float sw[TC][KC][NPT]; /* sw[t] = state before step t */
        float yc[KC * TC];     /* [channel][t] */
#pragma unroll
        for (int t = 0; t < TC; t++) {
            const float4 bv = *(const float4 *)(st.bm + t * N + q * NPT);
            const float4 cv = *(const float4 *)(st.cm + t * N + q * NPT);
            float dls[KC], dlus[KC], dycs[KC];
            unpack2(pw[t * PW + cw], dls, dlus);
            load_dyc(pd[t * PW2 + cw], dycs);
            float vc[NPT];
#pragma unroll
            for (int kc = 0; kc < KC; kc++) {
#pragma unroll
                for (int j = 0; j < NPT; j++) sw[t][kc][j] = s[kc][j];
                s[kc][0] = fmaf(bl_ex2(dls[kc] * A2[kc][0]), s[kc][0], dlus[kc] * bv.x);
                s[kc][1] = fmaf(bl_ex2(dls[kc] * A2[kc][1]), s[kc][1], dlus[kc] * bv.y);
                s[kc][2] = fmaf(bl_ex2(dls[kc] * A2[kc][2]), s[kc][2], dlus[kc] * bv.z);
                s[kc][3] = fmaf(bl_ex2(dls[kc] * A2[kc][3]), s[kc][3], dlus[kc] * bv.w);
                yc[kc * TC + t] =
                    fmaf(cv.x, s[kc][0], fmaf(cv.y, s[kc][1], fmaf(cv.z, s[kc][2], cv.w * s[kc][3])));
#pragma unroll
                for (int j = 0; j < NPT; j++)
                    vc[j] = kc == 0 ? dycs[kc] * s[kc][j] : fmaf(dycs[kc], s[kc][j], vc[j]);
            }
            sm.red[0][t][grp][q] = make_float4(vc[0], vc[1], vc[2], vc[3]);
        }
        sum_states_owned<KC * TC, G>(yc, lane);
        /* cbuf[kk % 3] was last read for chunk kk-3, before the arrivals that the wait of chunk
         * kk-1 waited on: writing it anywhere in this chunk is safe */
        float *cb = sm.cbuf[kk % 3];
        if constexpr (!SPLIT) {
            __syncthreads(); /* red holds every group's dC */
            block_sum<N, TC, NPART>(sm.red[0], cb + N);
            __syncthreads(); /* red is free for dB */
        }

        /* ---- reverse ---- */
        float ddl[KC * TC], hb[KC * TC]; /* [channel][t] */
        float accAf[KC][NPT];
#pragma unroll
        for (int kc = 0; kc < KC; kc++)
#pragma unroll
            for (int j = 0; j < NPT; j++) accAf[kc][j] = 0.0f;
#pragma unroll
        for (int t = TC - 1; t >= 0; t--) {
            const float4 bv = *(const float4 *)(st.bm + t * N + q * NPT);
            const float4 cv = *(const float4 *)(st.cm + t * N + q * NPT);
            const float bb[NPT] = {bv.x, bv.y, bv.z, bv.w}, cc[NPT] = {cv.x, cv.y, cv.z, cv.w};
            float dls[KC], dlus[KC], dycs[KC];
            unpack2(pw[t * PW + cw], dls, dlus);
            load_dyc(pd[t * PW2 + cw], dycs);
            float vb[NPT]; /* dB contributions of the lane's channels */
#pragma unroll
            for (int kc = 0; kc < KC; kc++) {
                float dd = 0.0f, hbt = 0.0f;
#pragma unroll
                for (int j = 0; j < NPT; j++) {
                    const float ea = bl_ex2(dls[kc] * A2[kc][j]);
                    const float h = fmaf(cc[j], dycs[kc], r[kc][j]);
                    r[kc][j] = ea * h;
                    const float gd = r[kc][j] * sw[t][kc][j]; /* dLoss / d(delta A) */
                    accAf[kc][j] = fmaf(gd, dls[kc], accAf[kc][j]);
                    dd = fmaf(gd, A2[kc][j], dd);
                    hbt = fmaf(h, bb[j], hbt);
                    vb[j] = kc == 0 ? h * dlus[kc] : fmaf(h, dlus[kc], vb[j]);
                }
                ddl[kc * TC + t] = dd;
                hb[kc * TC + t] = hbt;
            }
            sm.red[SPLIT ? 1 : 0][t][grp][q] = make_float4(vb[0], vb[1], vb[2], vb[3]);
        }
#pragma unroll
        for (int kc = 0; kc < KC; kc++)
#pragma unroll
            for (int j = 0; j < NPT; j++) sm.acc[kc * NPT + j][tid] += (double)accAf[kc][j];
        sum_states_owned<KC * TC, G>(ddl, lane);
        sum_states_owned<KC * TC, G>(hb, lane);

        /* ---- owners: per-element gradients ---- */
        float accDf[KC] = {}, accBf[KC] = {};
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            const int t = i * G + q;
            if (t0 + t < L) {
                float dls[KC], dlus[KC], dycs[KC], us[KC];
                unpack2(pw[t * PW + cw], dls, dlus);
                load_dyc(pd[t * PW2 + cw], dycs);
                ld_chan(st.u + t * P + c, us);
                float du[KC], ddp[KC], dz[KC];
#pragma unroll
                for (int kc = 0; kc < KC; kc++) {
                    const float h = hb[kc * OWN + i], dd = ddl[kc * OWN + i], y = yc[kc * OWN + i];
                    du[kc] = fmaf(dls[kc], h, Dsk[kc] * dycs[kc]);
                    ddp[kc] = fmaf(us[kc], h, dd * BL_LN2) * sgx[i][kc];
                    dz[kc] = dzf[i][kc] * fmaf(Dsk[kc], us[kc], y);
                    accDf[kc] = fmaf(dycs[kc], us[kc], accDf[kc]);
                    accBf[kc] += ddp[kc];
                }
                const size_t o = (row0 + t0 + t) * D + d0 + c;
                st_chan(a.du + o, du, dv, a.pair_out);
                st_chan(a.ddelta_pre + o, ddp, dv, a.pair_out);
                if (a.dz && a.z) st_chan(a.dz + (row0 + t0 + t) * a.dz_stride + d0 + c, dz, dv, a.pair_out);
            }
        }
#pragma unroll
        for (int kc = 0; kc < KC; kc++) {
            sm.acc[KC * NPT + kc][tid] += (double)accDf[kc];
            sm.acc[KC * NPT + KC + kc][tid] += (double)accBf[kc];
        }

        /* ---- dB, dC: groups -> block -> cluster ---- */
        __syncthreads(); /* red holds every group's dB (and with SPLIT its dC) */
        block_sum<N, TC, NPART>(sm.red[SPLIT ? 1 : 0], cb);
        if constexpr (SPLIT) block_sum<N, TC, NPART>(sm.red[0], cb + N);
        if (kk > 0) {
            cluster_wait(); /* every block's cbuf for chunk kk-1 is written */
            cluster_reduce_chunk<N, TC>(cl, sm.cbuf[(kk - 1) % 3], a.part_bc, prow0, t0 + TC, L);
        }
        cluster_arrive();
    }
    cluster_wait();
    cluster_reduce_chunk<N, TC>(cl, sm.cbuf[(nck - 1) % 3], a.part_bc, prow0, 0, L);
    cluster_arrive(); /* no block leaves while another may still read its shared memory */
    cluster_wait();

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

/* The launch configuration of the backward for a grid of grid_x x B blocks in clusters of
 * `cluster` (cfg's attribute array is attr). */
template <typename T, int N, int KC, int MINB>
static cudaLaunchConfig_t bwd_config(int grid_x, int B, int cluster, cudaStream_t s,
                                     cudaLaunchAttribute *attr)
{
    auto kern = scan_bwd_kernel<T, N, KC, SCAN_SC, MINB>;
    const size_t smem = sizeof(BwdSmem<T, N, KC, SCAN_SC, (MINB <= 4)>);
    if (smem > 48 * 1024) /* above the default: the launch needs the opt-in */
        CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(grid_x, B, 1);
    cfg.blockDim = dim3(NT, 1, 1);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = cluster;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cfg;
}

/* The largest cluster (up to max_cluster blocks) with which the whole grid is resident at once:
 * a grid one cluster too large for the GPU runs a second wave as long as the first. */
template <typename T, int N, int KC, int MINB> static int pick_cluster(int nbx, int B, int max_cluster)
{
    for (int c = max_cluster; c >= 1; c /= 2) {
        const int grid_x = (nbx + c - 1) / c * c;
        cudaLaunchAttribute attr[1];
        cudaLaunchConfig_t cfg = bwd_config<T, N, KC, MINB>(grid_x, B, c, 0, attr);
        int active = 0;
        CUDA_CHECK(cudaOccupancyMaxActiveClusters(&active, scan_bwd_kernel<T, N, KC, SCAN_SC, MINB>, &cfg));
        if ((long long)active * c >= (long long)grid_x * B) return c;
    }
    return max_cluster;
}

template <typename T, int N, int KC, int MINB>
static void launch_bwd(const ScanBwdArgs<T> &a, int grid_x, int cluster, cudaStream_t s)
{
    cudaLaunchAttribute attr[1];
    cudaLaunchConfig_t cfg = bwd_config<T, N, KC, MINB>(grid_x, a.B, cluster, s, attr);
    CUDA_CHECK(cudaLaunchKernelEx(&cfg, scan_bwd_kernel<T, N, KC, SCAN_SC, MINB>, a));
    CUDA_LAUNCH_CHECK();
}

/* kc 2 or 1 channels a lane; roomy: the grid fits in 4 blocks per SM */
template <typename T, int N>
static void launch_bwd(const ScanBwdArgs<T> &a, int grid_x, int cluster, int kc, bool roomy,
                       cudaStream_t s)
{
    if (kc == 2)
        roomy ? launch_bwd<T, N, 2, 4>(a, grid_x, cluster, s) : launch_bwd<T, N, 2, 6>(a, grid_x, cluster, s);
    else
        roomy ? launch_bwd<T, N, 1, 4>(a, grid_x, cluster, s) : launch_bwd<T, N, 1, 6>(a, grid_x, cluster, s);
}

template <typename T, int N> static int pick_cluster(int nbx, int B, int max_cluster, int kc, bool roomy)
{
    if (kc == 2)
        return roomy ? pick_cluster<T, N, 2, 4>(nbx, B, max_cluster) : pick_cluster<T, N, 2, 6>(nbx, B, max_cluster);
    return roomy ? pick_cluster<T, N, 1, 4>(nbx, B, max_cluster) : pick_cluster<T, N, 1, 6>(nbx, B, max_cluster);
}

template <typename T>
static void dispatch_bwd(const ScanBwdArgs<T> &a, int N, int grid_x, int cluster, int kc,
                         bool roomy, cudaStream_t s)
{
    switch (N) {
    case 4: launch_bwd<T, 4>(a, grid_x, cluster, kc, roomy, s); break;
    case 8: launch_bwd<T, 8>(a, grid_x, cluster, kc, roomy, s); break;
    case 16: launch_bwd<T, 16>(a, grid_x, cluster, kc, roomy, s); break;
    case 32: launch_bwd<T, 32>(a, grid_x, cluster, kc, roomy, s); break;
    default: break; /* refused before any launch: scan_state_supported */
    }
}

template <typename T>
static int dispatch_cluster(int N, int nbx, int B, int max_cluster, int kc, bool roomy)
{
    switch (N) {
    case 4: return pick_cluster<T, 4>(nbx, B, max_cluster, kc, roomy);
    case 8: return pick_cluster<T, 8>(nbx, B, max_cluster, kc, roomy);
    case 16: return pick_cluster<T, 16>(nbx, B, max_cluster, kc, roomy);
    case 32: return pick_cluster<T, 32>(nbx, B, max_cluster, kc, roomy);
    default: return 1;
    }
}

} // namespace scan

int scan_bwd_cluster(int N, bool bf16, int nbx, int B, int max_cluster, int kc, bool roomy)
{
    return bf16 ? scan::dispatch_cluster<__nv_bfloat16>(N, nbx, B, max_cluster, kc, roomy)
                : scan::dispatch_cluster<float>(N, nbx, B, max_cluster, kc, roomy);
}

void scan_bwd_dispatch(const ScanBwdArgs<float> &a, int N, int grid_x, int cluster, int kc,
                       bool roomy, cudaStream_t s)
{
    scan::dispatch_bwd(a, N, grid_x, cluster, kc, roomy, s);
}
void scan_bwd_dispatch(const ScanBwdArgs<__nv_bfloat16> &a, int N, int grid_x, int cluster,
                       int kc, bool roomy, cudaStream_t s)
{
    scan::dispatch_bwd(a, N, grid_x, cluster, kc, roomy, s);
}
