/* Selective scan forward for d_state = 16, one thread per (sequence, channel).
 *
 * All 16 states of a channel live in one thread's registers, so the sum over states for y
 * needs no shuffles and the per-element work (softplus, the gate, the loads of u, delta_pre,
 * z) is done once, by the thread that uses it. A block is one warp over 32 consecutive
 * channels: each staged row is 128 contiguous bytes. B_t and C_t are read from shared memory
 * as broadcasts. The kernel is bound by the special-function unit: 16 exponentials per element
 * for the decays plus 4 for softplus and the gate. The state at the start of every chunk of
 * TC steps is saved for scan16_bwd.cu. */
#include "kernels/cuda_check.h"
#include "kernels/scan16.cuh"
#include "kernels/scan_args.h"

namespace scan {

template <int TC> struct Fwd16Smem {
    struct Stage {
        float u[TC][S16_CH], dp[TC][S16_CH], z[TC][S16_CH];
        float bm[TC][16], cm[TC][16];
    };
    Stage st[STAGES];
};

template <int TC, bool SAVE, bool WRITE_Y>
__global__ void __launch_bounds__(S16_CH) scan16_fwd_kernel(const ScanFwdArgs<float> a)
{
    constexpr int N = 16;
    __shared__ __align__(16) Fwd16Smem<TC> sm;
    const int lane = threadIdx.x;
    const int b = blockIdx.y, d0 = blockIdx.x * S16_CH, d = d0 + lane;
    const int L = a.L, D = a.D, nck = a.nchunk;
    const bool dv = d < D;
    const int dcl = dv ? d : D - 1;
    const size_t row0 = (size_t)b * L;

    float A2[N], s[N];
#pragma unroll
    for (int n = 0; n < N; n++) {
        A2[n] = -expf(a.A_log[(size_t)dcl * N + n]) * BL_LOG2E;
        s[n] = 0.0f;
    }
    if (a.ssm_state && dv) {
        const float4 *p = (const float4 *)(a.ssm_state + ((size_t)b * D + d) * N);
#pragma unroll
        for (int i = 0; i < N / 4; i++) {
            float4 v = p[i];
            s[4 * i] = v.x, s[4 * i + 1] = v.y, s[4 * i + 2] = v.z, s[4 * i + 3] = v.w;
        }
    }
    const float bias = a.dt_bias[dcl], Dsk = a.Dskip[dcl];

    auto load = [&](int k) {
        typename Fwd16Smem<TC>::Stage &st = sm.st[k % STAGES];
        const int t0 = k * TC, nr = min(TC, L - t0);
        load_act_tile<float, TC, S16_CH, S16_CH, S16_CH>(&st.u[0][0], a.u, D, row0 + t0, nr, d0,
                                                         D, a.vec_act);
        load_act_tile<float, TC, S16_CH, S16_CH, S16_CH>(&st.dp[0][0], a.delta_pre, D, row0 + t0,
                                                         nr, d0, D, a.vec_act);
        if (WRITE_Y && a.z)
            load_act_tile<float, TC, S16_CH, S16_CH, S16_CH>(&st.z[0][0], a.z, a.z_stride,
                                                             row0 + t0, nr, d0, D, a.vec_act);
        load_bc_tile<TC, N, S16_CH>(&st.bm[0][0], a.Bm, a.bc_stride, row0 + t0, nr, a.vec_bc);
        load_bc_tile<TC, N, S16_CH>(&st.cm[0][0], a.Cm, a.bc_stride, row0 + t0, nr, a.vec_bc);
    };

    load(0);
    cp_async_commit();
    for (int k = 0; k < nck; k++) {
        cp_async_wait<0>();
        __syncwarp(); /* the block is one warp: chunk k is visible to every lane */
        if (k + 1 < nck) load(k + 1); /* into the stage every lane finished with last chunk */
        cp_async_commit();
        const typename Fwd16Smem<TC>::Stage &st = sm.st[k % STAGES];
        const int t0 = k * TC;

        if (SAVE && dv) {
            float4 *p = (float4 *)(a.saved + (((size_t)b * nck + k) * D + d) * N);
#pragma unroll
            for (int i = 0; i < N / 4; i++)
                p[i] = make_float4(s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]);
        }
#pragma unroll
        for (int t = 0; t < TC; t++) {
            const bool valid = t0 + t < L;
            const float uu = st.u[t][lane];
            const float x = st.dp[t][lane] + bias;
            /* padded steps: delta = 0 keeps the state */
            const float dl = valid ? fmaxf(x, 0.0f) + bl_log1p_unit(bl_exp_neg_abs(x)) : 0.0f;
            const float dlu = dl * uu;
            float y0 = 0.0f, y1 = 0.0f, y2 = 0.0f, y3 = 0.0f;
#pragma unroll
            for (int i = 0; i < N / 4; i++) {
                const float4 bv = *(const float4 *)&st.bm[t][4 * i];
                const float4 cv = *(const float4 *)&st.cm[t][4 * i];
                s[4 * i + 0] = fmaf(bl_ex2(dl * A2[4 * i + 0]), s[4 * i + 0], dlu * bv.x);
                s[4 * i + 1] = fmaf(bl_ex2(dl * A2[4 * i + 1]), s[4 * i + 1], dlu * bv.y);
                s[4 * i + 2] = fmaf(bl_ex2(dl * A2[4 * i + 2]), s[4 * i + 2], dlu * bv.z);
                s[4 * i + 3] = fmaf(bl_ex2(dl * A2[4 * i + 3]), s[4 * i + 3], dlu * bv.w);
                y0 = fmaf(cv.x, s[4 * i + 0], y0);
                y1 = fmaf(cv.y, s[4 * i + 1], y1);
                y2 = fmaf(cv.z, s[4 * i + 2], y2);
                y3 = fmaf(cv.w, s[4 * i + 3], y3);
            }
            if (WRITE_Y && dv && valid) {
                float v = fmaf(Dsk, uu, (y0 + y1) + (y2 + y3));
                if (a.z) {
                    const float zz = st.z[t][lane];
                    v *= zz * bl_sigmoid(zz);
                }
                a.y[(row0 + t0 + t) * D + d] = v;
            }
        }
    }
    if (a.ssm_state && dv) {
        float4 *p = (float4 *)(a.ssm_state + ((size_t)b * D + d) * N);
#pragma unroll
        for (int i = 0; i < N / 4; i++)
            p[i] = make_float4(s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]);
    }
}

} // namespace scan

void scan16_fwd_dispatch(const ScanFwdArgs<float> &a, cudaStream_t s)
{
    dim3 grid((a.D + S16_CH - 1) / S16_CH, a.B);
    if (a.saved && a.y)
        scan::scan16_fwd_kernel<S16_TC, true, true><<<grid, S16_CH, 0, s>>>(a);
    else if (a.saved)
        scan::scan16_fwd_kernel<S16_TC, true, false><<<grid, S16_CH, 0, s>>>(a);
    else
        scan::scan16_fwd_kernel<S16_TC, false, true><<<grid, S16_CH, 0, s>>>(a);
    CUDA_LAUNCH_CHECK();
}
