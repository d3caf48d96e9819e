/* Selective scan backward.
 *
 * Walks each sequence's chunks in reverse. Per chunk: the forward states are recomputed from
 * the chunk-start state the forward saved and kept in registers (TC x 4 per thread), then the
 * adjoint h = dLoss/ds runs backwards through the chunk, carried to the previous chunk as
 * r = exp(delta A) h. With G(t, n) = r_t s_{t-1} (the gradient w.r.t. delta A):
 *   ddelta_t = sum_n A_n G + u_t sum_n h B_n      du_t = delta_t sum_n h B_n + D dyc_t
 *   dA_n    += sum_t G delta_t                    dB_t = sum_d h delta u     dC_t = sum_d dyc s_t
 * where dyc is dy times the gate. Sums over n are reduce-scattered over the G lanes of a
 * channel (scan_common.cuh). dB and dC sum over channels: over the warp's channel lanes by
 * shuffles, over the block's warps in shared memory, over a cluster of blocks through
 * distributed shared memory, and over clusters by a second kernel (scan.cu) reading one
 * partial row per cluster: a fixed order everywhere, so the result is the same on every run.
 * dA_log, dDskip and ddt_bias are written per sequence and summed over sequences there too. */
#include <cooperative_groups.h>

#include "kernels/cuda_check.h"
#include "kernels/scan_args.h"
#include "kernels/scan_common.cuh"

namespace cg = cooperative_groups;

namespace scan {

template <typename T, int N, int TC> struct BwdSmem {
    using Gm = Geo<N>;
    static constexpr int P = free_pitch(Gm::G, Gm::CW, 4, Gm::CH, 16 / (int)sizeof(T));
    static constexpr int PW = free_pitch(Gm::G, Gm::CW, 16, Gm::CW, 1);
    struct Stage {
        T u[TC * P], dp[TC * P], z[TC * P], dy[TC * P];
        float bm[TC * N], cm[TC * N];
        float sv[Gm::CH * N]; /* chunk-start states of the block's channels */
    };
    Stage st[STAGES];
    float4 pw[Gm::NW][TC * PW];    /* per warp at [t][cw]: delta, delta*u, dyc */
    float4 ew[Gm::NW][TC * PW];    /* per warp at [t][cw]: u, sigmoid(x), dz factor */
    float wbc[Gm::NW][TC * 2 * N]; /* per warp: sums over its channels of dB, dC at [t][2N] */
    float cbuf[2][TC * 2 * N];     /* per block, double-buffered for the cluster reduction */
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

/* 6 blocks per SM: the shared memory allows 6 anyway; the register cap keeps the compiler from
 * trading that occupancy for a few registers. */
template <typename T, int N, int TC>
__global__ void __launch_bounds__(NT, 6) scan_bwd_kernel(const ScanBwdArgs<T> a)
{
    using Gm = Geo<N>;
    using Sm = BwdSmem<T, N, TC>;
    constexpr int G = Gm::G, CW = Gm::CW, CH = Gm::CH, NW = Gm::NW;
    constexpr int P = Sm::P, PW = Sm::PW, OWN = TC / G, E = TC * 2 * N;
    static_assert(TC % G == 0, "chunk must be a multiple of N/4");
    /* dB/dC over the warp's channel lanes: 8 values per lane per step, reduce-scattered over
     * RS rounds (masks 16, 8, ...), then all-reduced over the rest (masks down to G) */
    constexpr int LOGCW = CW >= 32 ? 5 : CW >= 16 ? 4 : CW >= 8 ? 3 : CW >= 4 ? 2 : CW >= 2 ? 1 : 0;
    constexpr int RS = LOGCW < 3 ? LOGCW : 3;
    constexpr int RV = 8 >> RS;      /* values each lane holds afterwards */
    constexpr int SHIFT = 5 - RS;    /* lane bits that chose them */
    constexpr int DUP = LOGCW - RS;  /* lane bits over which they were all-reduced */
    __shared__ __align__(16) Sm sm;
    cg::cluster_group cl = cg::this_cluster();

    const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
    const int cw = lane / G, q = lane % G, c = w * CW + cw;
    const int b = blockIdx.y, d0 = blockIdx.x * CH, d = d0 + c;
    const int L = a.L, D = a.D, nck = a.nchunk;
    const bool dv = d < D;
    const int dcl = dv ? d : D - 1;
    const size_t row0 = (size_t)b * L;
    const int CL = (int)cl.num_blocks();
    const size_t prow0 = (size_t)(blockIdx.x / CL) * a.B * L + row0; /* this cluster's rows */
    /* the lanes that write the warp's dB/dC totals, and which (kind, state) they hold */
    const bool bc_writer = ((lane / G) & ((1 << DUP) - 1)) == 0;
    const int bc_idx0 = ((lane >> SHIFT) & ((1 << RS) - 1)) * RV;

    float A2[NPT];
#pragma unroll
    for (int j = 0; j < NPT; j++) A2[j] = -expf(a.A_log[(size_t)dcl * N + q * NPT + j]) * BL_LOG2E;
    const float bias = a.dt_bias[dcl], Dsk = a.Dskip[dcl];
    float r[NPT] = {0.0f, 0.0f, 0.0f, 0.0f}; /* exp(delta A) h carried to the previous step */
    double accA[NPT] = {0.0, 0.0, 0.0, 0.0}, accD = 0.0, accB = 0.0;

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
    float4 *pw = sm.pw[w], *ew = sm.ew[w];
    for (int kk = 0; kk < nck; kk++) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (kk + STAGES - 1 < nck) load(kk + STAGES - 1);
        cp_async_commit();
        const typename Sm::Stage &st = sm.st[kk % STAGES];
        const int k = nck - 1 - kk, t0 = k * TC;

        /* ---- owners: per-element inputs, once ---- */
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            const int t = i * G + q;
            float dl = 0.0f, uu = 0.0f, dyc = 0.0f, sgx = 0.0f, dzf = 0.0f;
            if (t0 + t < L) {
                uu = bl_to_f(st.u[t * P + c]);
                dl = bl_softplus(bl_to_f(st.dp[t * P + c]) + bias, &sgx);
                const float g = bl_to_f(st.dy[t * P + c]);
                dyc = g;
                if (a.z) {
                    const float zz = bl_to_f(st.z[t * P + c]), sz = bl_sigmoid(zz);
                    dyc = g * zz * sz;
                    dzf = g * sz * fmaf(zz, 1.0f - sz, 1.0f);
                }
            }
            pw[t * PW + cw] = make_float4(dl, dl * uu, dyc, 0.0f);
            ew[t * PW + cw] = make_float4(uu, sgx, dzf, 0.0f);
        }
        __syncwarp();

        /* ---- forward recompute from the saved chunk-start state ---- */
        float s[NPT];
        {
            const float4 v = *(const float4 *)(st.sv + c * N + q * NPT);
            s[0] = v.x, s[1] = v.y, s[2] = v.z, s[3] = v.w;
        }
        float sw[TC][NPT]; /* sw[t] = state before step t */
        float yc[TC];
#pragma unroll
        for (int t = 0; t < TC; t++) {
            const float4 pr = pw[t * PW + cw];
            const float4 bv = *(const float4 *)(st.bm + t * N + q * NPT);
            const float4 cv = *(const float4 *)(st.cm + t * N + q * NPT);
#pragma unroll
            for (int j = 0; j < NPT; j++) sw[t][j] = s[j];
            s[0] = fmaf(bl_ex2(pr.x * A2[0]), s[0], pr.y * bv.x);
            s[1] = fmaf(bl_ex2(pr.x * A2[1]), s[1], pr.y * bv.y);
            s[2] = fmaf(bl_ex2(pr.x * A2[2]), s[2], pr.y * bv.z);
            s[3] = fmaf(bl_ex2(pr.x * A2[3]), s[3], pr.y * bv.w);
            yc[t] = fmaf(cv.x, s[0], fmaf(cv.y, s[1], fmaf(cv.z, s[2], cv.w * s[3])));
        }
        sum_states_owned<TC, G>(yc, lane);

        /* ---- reverse ---- */
        float ddl[TC], hb[TC];
        float accAf[NPT] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int t = TC - 1; t >= 0; t--) {
            const float4 pr = pw[t * PW + cw];
            const float4 bv = *(const float4 *)(st.bm + t * N + q * NPT);
            const float4 cv = *(const float4 *)(st.cm + t * N + q * NPT);
            const float bb[NPT] = {bv.x, bv.y, bv.z, bv.w}, cc[NPT] = {cv.x, cv.y, cv.z, cv.w};
            float v[8]; /* dB contributions, then dC contributions */
            float dd = 0.0f, hbt = 0.0f;
#pragma unroll
            for (int j = 0; j < NPT; j++) {
                const float sa = t == TC - 1 ? s[j] : sw[t + 1][j]; /* state after step t */
                const float ea = bl_ex2(pr.x * A2[j]);
                const float h = fmaf(cc[j], pr.z, r[j]);
                r[j] = ea * h;
                const float gd = r[j] * sw[t][j]; /* dLoss / d(delta A) */
                accAf[j] = fmaf(gd, pr.x, accAf[j]);
                dd = fmaf(gd, A2[j], dd);
                hbt = fmaf(h, bb[j], hbt);
                v[j] = h * pr.y;
                v[NPT + j] = pr.z * sa;
            }
            ddl[t] = dd;
            hb[t] = hbt;
            RSLanes<8, 8, 16, G>::run(v, lane);
            if (bc_writer) {
#pragma unroll
                for (int i = 0; i < RV; i++) {
                    const int idx = bc_idx0 + i, kind = idx / NPT, j = idx % NPT;
                    sm.wbc[w][t * 2 * N + kind * N + q * NPT + j] = v[i];
                }
            }
        }
#pragma unroll
        for (int j = 0; j < NPT; j++) accA[j] += accAf[j];
        sum_states_owned<TC, G>(ddl, lane);
        sum_states_owned<TC, G>(hb, lane);

        /* ---- owners: per-element gradients ---- */
        float accDf = 0.0f, accBf = 0.0f;
#pragma unroll
        for (int i = 0; i < OWN; i++) {
            const int t = i * G + q;
            if (t0 + t < L) {
                const float4 pr = pw[t * PW + cw], ep = ew[t * PW + cw];
                const float dl = pr.x, dyc = pr.z, uu = ep.x, sgx = ep.y, dzf = ep.z;
                const float du = fmaf(dl, hb[i], Dsk * dyc);
                const float ddp = fmaf(uu, hb[i], ddl[i] * BL_LN2) * sgx;
                accDf = fmaf(dyc, uu, accDf);
                accBf += ddp;
                if (dv) {
                    const size_t o = (row0 + t0 + t) * D + d;
                    a.du[o] = bl_from_f<T>(du);
                    a.ddelta_pre[o] = bl_from_f<T>(ddp);
                    if (a.dz && a.z)
                        a.dz[(row0 + t0 + t) * a.dz_stride + d] =
                            bl_from_f<T>(dzf * fmaf(Dsk, uu, yc[i]));
                }
            }
        }
        accD += accDf;
        accB += accBf;

        /* ---- dB, dC: warps -> block -> cluster ---- */
        __syncthreads(); /* wbc complete */
        if (kk > 0) {
            cluster_wait(); /* every block's cbuf for chunk kk-1 is written */
            cluster_reduce_chunk<N, TC>(cl, sm.cbuf[(kk - 1) & 1], a.part_bc, prow0, t0 + TC, L);
        }
        /* safe to overwrite cbuf[kk&1]: its readers (chunk kk-2) finished before they arrived
         * at the barrier just waited on */
        for (int e = tid; e < E; e += NT) {
            float acc = sm.wbc[0][e];
#pragma unroll
            for (int ww = 1; ww < NW; ww++) acc += sm.wbc[ww][e];
            sm.cbuf[kk & 1][e] = acc;
        }
        cluster_arrive();
    }
    cluster_wait();
    cluster_reduce_chunk<N, TC>(cl, sm.cbuf[(nck - 1) & 1], a.part_bc, prow0, 0, L);
    cluster_arrive(); /* no block leaves while another may still read its shared memory */
    cluster_wait();

    /* per-sequence parameter gradients */
    float fD = (float)accD, fB = (float)accB;
#pragma unroll
    for (int m = 1; m < G; m <<= 1) {
        fD += __shfl_xor_sync(FULL, fD, m);
        fB += __shfl_xor_sync(FULL, fB, m);
    }
    if (dv) {
        if (q == 0) {
            a.part_D[(size_t)b * D + d] = fD;
            a.part_bias[(size_t)b * D + d] = fB;
        }
        /* dA_log = dA * A, A = A2 ln 2 */
        *(float4 *)(a.part_A + ((size_t)b * D + d) * N + q * NPT) =
            make_float4((float)(accA[0] * A2[0] * BL_LN2), (float)(accA[1] * A2[1] * BL_LN2),
                        (float)(accA[2] * A2[2] * BL_LN2), (float)(accA[3] * A2[3] * BL_LN2));
    }
}

template <typename T, int N, int TC>
static void launch_bwd(const ScanBwdArgs<T> &a, int grid_x, int cluster, cudaStream_t s)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(grid_x, a.B, 1);
    cfg.blockDim = dim3(NT, 1, 1);
    cfg.dynamicSmemBytes = 0;
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = cluster;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    CUDA_CHECK(cudaLaunchKernelEx(&cfg, scan_bwd_kernel<T, N, TC>, a));
    CUDA_LAUNCH_CHECK();
}

} // namespace scan

template <typename T>
static void dispatch_launch_bwd(const ScanBwdArgs<T> &a, int N, int chunk, int grid_x, int cluster,
                       cudaStream_t s)
{
    if (N == 16 && chunk == 16)
        scan::launch_bwd<T, 16, 16>(a, grid_x, cluster, s);
    else if (N == 8 && chunk == 8)
        scan::launch_bwd<T, 8, 8>(a, grid_x, cluster, s);
    else if (N == 32 && chunk == 16)
        scan::launch_bwd<T, 32, 16>(a, grid_x, cluster, s);
    else {
        fprintf(stderr, "bytelm: CUDA scan: d_state %d with chunk %d is not built\n", N, chunk);
        abort();
    }
}

void scan_bwd_dispatch(const ScanBwdArgs<float> &a, int N, int chunk, int grid_x, int cluster,
                       cudaStream_t s)
{
    dispatch_launch_bwd(a, N, chunk, grid_x, cluster, s);
}
void scan_bwd_dispatch(const ScanBwdArgs<__nv_bfloat16> &a, int N, int chunk, int grid_x,
                       int cluster, cudaStream_t s)
{
    dispatch_launch_bwd(a, N, chunk, grid_x, cluster, s);
}
