/* Selective scan backward for d_state = 16.
 *
 * A block is one warp over 32 channels; lane (g = lane/4, q = lane%4) holds 4 channels
 * (4g .. 4g+3) x 4 states (4q .. 4q+3) = 16 (channel, state) pairs. That shape is chosen for the
 * two sums the backward needs per step: over states (du, ddelta, the y before the gate) a
 * lane first adds its 4 states, leaving 4 lanes to combine by shuffles; over channels (dB, dC)
 * it first adds its 4 channels, leaving 8 lanes. Both cost about a quarter of what one lane per
 * (channel, state-group) would.
 *
 * Chunks of S16_TC steps are walked in reverse. Per chunk: lane l computes the per-element
 * inputs of channel l once (softplus, its derivative, the gate) into shared memory; the forward
 * states are recomputed from the saved chunk-start state and kept in shared memory (the window,
 * TC x 16 floats per lane); then the adjoint h runs backwards, carried to the previous chunk as
 * r = exp(delta A) h. With G = r_t s_{t-1} (the gradient w.r.t. delta A):
 *   ddelta_t = sum_n A_n G + u_t sum_n h B_n     du_t = delta_t sum_n h B_n + D dyc_t
 *   dA_n    += sum_t G delta_t                   dB_t = sum_d h delta u    dC_t = sum_d dyc s_t
 * dB and dC are summed over the warp's channels by shuffles, over a cluster of blocks through
 * distributed shared memory (double-buffered: a chunk's sums are published at its end and read
 * by the cluster at the end of the next chunk, so the cluster barrier's wait rarely waits), and
 * over clusters by the second pass in scan.cu, always in a fixed order. */
#include <cooperative_groups.h>

#include "kernels/cuda_check.h"
#include "kernels/scan16.cuh"
#include "kernels/scan_args.h"

namespace cg = cooperative_groups;

namespace scan {

template <int TC> struct Bwd16Smem {
    struct Stage {
        float u[TC][S16_CH], dp[TC][S16_CH], z[TC][S16_CH], dy[TC][S16_CH];
        float bm[TC][16], cm[TC][16];
    };
    Stage st[STAGES];
    float4 win[TC][4][S16_CH];   /* state before step t of channel slot i, states 4q..4q+3 */
    float dl[TC][S16_CH], dlu[TC][S16_CH], dyc[TC][S16_CH]; /* per channel, read as float4 */
    float4 ew[TC][S16_CH];       /* per channel: u, sigmoid(x), dz factor, y before D u */
    float wbc[TC][32];           /* this chunk's dB (0..15), dC (16..31) per step */
    float cbuf[2][TC][32];       /* the same, published to the cluster */
};

/* Block rank r adds slice r of cbuf[buf] over the cluster's blocks (in rank order) and writes
 * the cluster's partial rows for the chunk starting at t0. */
template <int TC>
__device__ __forceinline__ void bc_cluster_reduce(cg::cluster_group &cl, float *buf, float *part,
                                                  size_t prow0, int t0, int L)
{
    constexpr int E = TC * 32;
    const int CL = (int)cl.num_blocks(), rank = (int)cl.block_rank();
    const int per = (E + CL - 1) / CL, e0 = rank * per, e1 = min(E, e0 + per);
    for (int e = e0 + (int)threadIdx.x; e < e1; e += S16_CH) {
        float acc = 0.0f;
        for (int rr = 0; rr < CL; rr++) acc += cl.map_shared_rank(buf, rr)[e];
        if (t0 + e / 32 < L) part[(prow0 + t0) * 32 + e] = acc;
    }
}

template <int TC>
__global__ void __launch_bounds__(S16_CH) scan16_bwd_kernel(const ScanBwdArgs<float> a)
{
    constexpr int N = 16;
    __shared__ __align__(16) Bwd16Smem<TC> sm;
    cg::cluster_group cl = cg::this_cluster();
    const int lane = threadIdx.x, g = lane >> 2, q = lane & 3;
    const int b = blockIdx.y, d0 = blockIdx.x * S16_CH;
    const int L = a.L, D = a.D, nck = a.nchunk;
    const size_t row0 = (size_t)b * L;
    const size_t prow0 = (size_t)(blockIdx.x / cl.num_blocks()) * a.B * L + row0;
    /* this lane's own channel (prep and per-element gradients) */
    const int d_own = d0 + lane;
    const bool dv_own = d_own < D;
    const int dcl_own = dv_own ? d_own : D - 1;
    const float bias = a.dt_bias[dcl_own], Dsk = a.Dskip[dcl_own];
    /* dB/dC: after the shuffles, lanes with even g hold state 4q + ((g >> 1) & 3) */
    const bool bc_writer = (g & 1) == 0;
    const int bc_state = 4 * q + ((g >> 1) & 3);

    float A2[4][4]; /* [channel slot][state]: A * log2(e) */
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int d = min(d0 + 4 * g + i, D - 1);
#pragma unroll
        for (int j = 0; j < 4; j++) A2[i][j] = -expf(a.A_log[(size_t)d * N + 4 * q + j]) * BL_LOG2E;
    }
    float r[4][4], sv[4][4];
    double accA[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) r[i][j] = 0.0f, accA[i][j] = 0.0;
    double accD = 0.0, accB = 0.0;

    /* chunk-start states of this lane's pairs, fetched a chunk ahead */
    auto fetch_saved = [&](int k) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int d = d0 + 4 * g + i;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (d < D) v = *(const float4 *)(a.saved + (((size_t)b * nck + k) * D + d) * N + 4 * q);
            sv[i][0] = v.x, sv[i][1] = v.y, sv[i][2] = v.z, sv[i][3] = v.w;
        }
    };
    /* processing order kk = 0, 1, ... is chunk nck - 1 - kk */
    auto load = [&](int kk) {
        typename Bwd16Smem<TC>::Stage &st = sm.st[kk % STAGES];
        const int t0 = (nck - 1 - kk) * TC, nr = min(TC, L - t0);
        load_act_tile<float, TC, S16_CH, S16_CH, S16_CH>(&st.u[0][0], a.u, D, row0 + t0, nr, d0,
                                                         D, a.vec_act);
        load_act_tile<float, TC, S16_CH, S16_CH, S16_CH>(&st.dp[0][0], a.delta_pre, D, row0 + t0,
                                                         nr, d0, D, a.vec_act);
        if (a.z)
            load_act_tile<float, TC, S16_CH, S16_CH, S16_CH>(&st.z[0][0], a.z, a.z_stride,
                                                             row0 + t0, nr, d0, D, a.vec_act);
        load_act_tile<float, TC, S16_CH, S16_CH, S16_CH>(&st.dy[0][0], a.dy, D, row0 + t0, nr,
                                                         d0, D, a.vec_act);
        load_bc_tile<TC, N, S16_CH>(&st.bm[0][0], a.Bm, a.bc_stride, row0 + t0, nr, a.vec_bc);
        load_bc_tile<TC, N, S16_CH>(&st.cm[0][0], a.Cm, a.bc_stride, row0 + t0, nr, a.vec_bc);
    };

    load(0);
    cp_async_commit();
    fetch_saved(nck - 1);
    for (int kk = 0; kk < nck; kk++) {
        cp_async_wait<0>();
        __syncwarp();
        if (kk + 1 < nck) load(kk + 1);
        cp_async_commit();
        const typename Bwd16Smem<TC>::Stage &st = sm.st[kk % STAGES];
        const int k = nck - 1 - kk, t0 = k * TC;
        float *cb = &sm.wbc[0][0];

        /* ---- lane l: per-element inputs of channel l ---- */
#pragma unroll
        for (int t = 0; t < TC; t++) {
            float dl = 0.0f, uu = 0.0f, dyc = 0.0f, sgx = 0.0f, dzf = 0.0f;
            if (t0 + t < L) {
                uu = st.u[t][lane];
                dl = bl_softplus(st.dp[t][lane] + bias, &sgx);
                const float gy = st.dy[t][lane];
                dyc = gy;
                if (a.z) {
                    const float zz = st.z[t][lane], sz = bl_sigmoid(zz);
                    dyc = gy * zz * sz;
                    dzf = gy * sz * fmaf(zz, 1.0f - sz, 1.0f);
                }
            }
            sm.dl[t][lane] = dl;
            sm.dlu[t][lane] = dl * uu;
            sm.dyc[t][lane] = dyc;
            sm.ew[t][lane] = make_float4(uu, sgx, dzf, 0.0f);
        }
        __syncwarp();

        /* ---- forward recompute, keeping the states; dC and the y before the gate ---- */
        float s[4][4];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) s[i][j] = sv[i][j];
        if (kk + 1 < nck) fetch_saved(k - 1);
#pragma unroll
        for (int t = 0; t < TC; t++) {
            const float4 dl4 = *(const float4 *)&sm.dl[t][4 * g];
            const float4 du4 = *(const float4 *)&sm.dlu[t][4 * g];
            const float4 dy4 = *(const float4 *)&sm.dyc[t][4 * g];
            const float4 bv = *(const float4 *)&st.bm[t][4 * q];
            const float4 cv = *(const float4 *)&st.cm[t][4 * q];
            const float dl[4] = {dl4.x, dl4.y, dl4.z, dl4.w}, du[4] = {du4.x, du4.y, du4.z, du4.w};
            const float dy[4] = {dy4.x, dy4.y, dy4.z, dy4.w};
            const float bb[4] = {bv.x, bv.y, bv.z, bv.w}, cc[4] = {cv.x, cv.y, cv.z, cv.w};
            float yc[4], dC[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                sm.win[t][i][lane] = make_float4(s[i][0], s[i][1], s[i][2], s[i][3]);
                float acc = 0.0f;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    s[i][j] = fmaf(bl_ex2(dl[i] * A2[i][j]), s[i][j], du[i] * bb[j]);
                    acc = fmaf(cc[j], s[i][j], acc);
                    dC[j] = fmaf(dy[i], s[i][j], dC[j]);
                }
                yc[i] = acc;
            }
            RSLanes<4, 4, 2, 1>::run(yc, lane); /* lane q: channel slot q */
            sm.ew[t][lane].w = yc[0];
            RSLanes<4, 4, 16, 4>::run(dC, lane);
            if (bc_writer) cb[t * 32 + 16 + bc_state] = dC[0];
        }

        /* ---- reverse ---- */
        float accAf[4][4];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) accAf[i][j] = 0.0f;
        float accDf = 0.0f, accBf = 0.0f;
#pragma unroll
        for (int t = TC - 1; t >= 0; t--) {
            const float4 dl4 = *(const float4 *)&sm.dl[t][4 * g];
            const float4 du4 = *(const float4 *)&sm.dlu[t][4 * g];
            const float4 dy4 = *(const float4 *)&sm.dyc[t][4 * g];
            const float4 bv = *(const float4 *)&st.bm[t][4 * q];
            const float4 cv = *(const float4 *)&st.cm[t][4 * q];
            const float dl[4] = {dl4.x, dl4.y, dl4.z, dl4.w}, du[4] = {du4.x, du4.y, du4.z, du4.w};
            const float dy[4] = {dy4.x, dy4.y, dy4.z, dy4.w};
            const float bb[4] = {bv.x, bv.y, bv.z, bv.w}, cc[4] = {cv.x, cv.y, cv.z, cv.w};
            float v[8], dB[4] = {0.f, 0.f, 0.f, 0.f}; /* v: (ddelta A-part, sum h B) per slot */
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float4 w = sm.win[t][i][lane];
                const float sp[4] = {w.x, w.y, w.z, w.w};
                float dd = 0.0f, hb = 0.0f;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const float ea = bl_ex2(dl[i] * A2[i][j]);
                    const float h = fmaf(cc[j], dy[i], r[i][j]);
                    r[i][j] = ea * h;
                    const float gd = r[i][j] * sp[j];
                    accAf[i][j] = fmaf(gd, dl[i], accAf[i][j]);
                    dd = fmaf(gd, A2[i][j], dd);
                    hb = fmaf(h, bb[j], hb);
                    dB[j] = fmaf(h, du[i], dB[j]);
                }
                v[2 * i] = dd;
                v[2 * i + 1] = hb;
            }
            RSLanes<4, 4, 16, 4>::run(dB, lane);
            if (bc_writer) cb[t * 32 + bc_state] = dB[0];
            RSLanes<8, 8, 2, 1>::run(v, lane); /* lane q: slot q's (dd, hb) */
            if (t0 + t < L) {
                const float dlo = sm.dl[t][lane], dyco = sm.dyc[t][lane];
                const float4 e = sm.ew[t][lane]; /* u, sigmoid(x), dz factor, y before D u */
                const float hb = v[1];
                const float du_v = fmaf(dlo, hb, Dsk * dyco);
                const float ddp = fmaf(e.x, hb, v[0] * BL_LN2) * e.y;
                accDf = fmaf(dyco, e.x, accDf);
                accBf += ddp;
                if (dv_own) {
                    const size_t o = (row0 + t0 + t) * D + d_own;
                    a.du[o] = du_v;
                    a.ddelta_pre[o] = ddp;
                    if (a.dz && a.z) a.dz[(row0 + t0 + t) * a.dz_stride + d_own] = e.z * fmaf(Dsk, e.x, e.w);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) accA[i][j] += accAf[i][j];
        accD += accDf;
        accB += accBf;

        /* ---- dB, dC over the cluster: the previous chunk's, now that every block wrote it;
         * then publish this chunk's (its buffer's last readers, two chunks back, finished
         * before they arrived at the barrier just waited on) ---- */
        __syncwarp();
        if (kk > 0) {
            cluster_wait();
            bc_cluster_reduce<TC>(cl, &sm.cbuf[(kk - 1) & 1][0][0], a.part_bc, prow0, t0 + TC, L);
        }
        for (int e = lane; e < TC * 32; e += S16_CH) (&sm.cbuf[kk & 1][0][0])[e] = cb[e];
        cluster_arrive();
    }
    cluster_wait();
    bc_cluster_reduce<TC>(cl, &sm.cbuf[(nck - 1) & 1][0][0], a.part_bc, prow0, 0, L);
    cluster_arrive(); /* no block leaves while another may still read its shared memory */
    cluster_wait();

    if (dv_own) {
        a.part_D[(size_t)b * D + d_own] = (float)accD;
        a.part_bias[(size_t)b * D + d_own] = (float)accB;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int d = d0 + 4 * g + i;
        if (d < D) /* dA_log = dA * A, A = A2 ln 2 */
            *(float4 *)(a.part_A + ((size_t)b * D + d) * N + 4 * q) = make_float4(
                (float)(accA[i][0] * A2[i][0] * BL_LN2), (float)(accA[i][1] * A2[i][1] * BL_LN2),
                (float)(accA[i][2] * A2[i][2] * BL_LN2), (float)(accA[i][3] * A2[i][3] * BL_LN2));
    }
}

} // namespace scan

void scan16_bwd_dispatch(const ScanBwdArgs<float> &a, int grid_x, int cluster, cudaStream_t s)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(grid_x, a.B, 1);
    cfg.blockDim = dim3(S16_CH, 1, 1);
    cfg.dynamicSmemBytes = 0;
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = cluster;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    CUDA_CHECK(cudaLaunchKernelEx(&cfg, scan::scan16_bwd_kernel<S16_TC>, a));
    CUDA_LAUNCH_CHECK();
}
