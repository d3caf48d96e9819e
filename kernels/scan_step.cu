/* The scan's recurrent step for generation (Backend.ssm_step): dt_proj, softplus, the state
 * update, the C contraction, D and the z gate for one byte of B streams, one thread per
 * (channel, state) so that even one stream fills the GPU, each block stepping up to
 * STEP_STREAMS streams with the parameters it loaded once; a channel's N threads split
 * dt_proj's dot and the C contraction and add them by a fixed butterfly. The sequence kernels'
 * chunk machinery has nothing to amortize at L = 1, and fusing dt_proj keeps delta out of
 * memory. The math follows the sequence forward (scan_fwd.cu): exp(delta A) =
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

template <typename T, typename TW, int N>
__global__ void __launch_bounds__(STEP_THREADS)
scan_step_kernel(T *__restrict__ y, const T *__restrict__ u, const T *__restrict__ z, int z_stride,
                 const float *__restrict__ xdbl, int xdbl_stride, const TW *__restrict__ dt_w,
                 const float *__restrict__ dt_bias, const float *__restrict__ A_log,
                 const float *__restrict__ Dskip, float *__restrict__ state, int B, int D, int R)
{
    extern __shared__ float xsh[];
    const int nx = R + 2 * N;
    const int b0 = blockIdx.y * STEP_STREAMS, nb = min(STEP_STREAMS, B - b0);
    /* N threads per channel, one state each; the group's lanes are consecutive in the warp */
    const int n = threadIdx.x % N;
    const int d = (blockIdx.x * STEP_THREADS + threadIdx.x) / N;
    const bool live = d < D; /* a dead lane still joins its group's shuffles */
    const int dd = live ? d : D - 1;
    /* the parameters, once for the block's streams and before waiting for x_proj (pdl.cuh):
     * dt_w's slice, A, dt_bias, D */
    const TW *wr = dt_w + (size_t)dd * R;
    constexpr int WPRE = 8;
    float wv[WPRE];
#pragma unroll
    for (int j = 0; j < WPRE; j++) wv[j] = n + j * N < R ? bl_to_f(wr[n + j * N]) : 0.0f;
    const float A2 = -expf(A_log[(size_t)dd * N + n]) * BL_LOG2E;
    const float bias = dt_bias[dd], dsk = Dskip[dd];
    pdl_wait();
    pdl_release();
    const bool in_smem = (size_t)nb * nx <= STEP_SMEM_X;
    if (in_smem) {
        for (int j = threadIdx.x; j < nb * nx; j += STEP_THREADS)
            xsh[j] = xdbl[(size_t)(b0 + j / nx) * xdbl_stride + j % nx];
        __syncthreads();
    }
#pragma unroll 2
    for (int q = 0; q < nb; q++) {
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
        const size_t i = (size_t)b * D + dd;
        const float uv = bl_to_f(u[i]);
        float *sp = state + i * N + n;
        const float sn = fmaf(bl_ex2(delta * A2), *sp, delta * uv * xs[R + n]);
        if (live) *sp = sn;
        float acc = xs[R + N + n] * sn;
#pragma unroll
        for (int off = N / 2; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off, N);
        if (live && n == 0) {
            float v = fmaf(dsk, uv, acc);
            if (z) {
                const float zv = bl_to_f(z[(size_t)b * z_stride + d]);
                v *= zv * bl_sigmoid(zv);
            }
            y[i] = bl_from_f<T>(v);
        }
    }
}

template <typename T, typename TW, int N> static void step_n(CudaCtx *c, const ScanStep *a)
{
    dim3 grid((int)(((size_t)a->D * N + STEP_THREADS - 1) / STEP_THREADS),
              (a->B + STEP_STREAMS - 1) / STEP_STREAMS);
    size_t nx = (size_t)a->R + 2 * N, rows = a->B < STEP_STREAMS ? a->B : STEP_STREAMS;
    size_t smem = rows * nx <= STEP_SMEM_X ? rows * nx * sizeof(float) : 0;
    launch_pdl(scan_step_kernel<T, TW, N>, grid, dim3(STEP_THREADS), smem, c->stream, (T *)a->y,
               (const T *)a->u, (const T *)a->z, a->z_stride, a->xdbl, a->xdbl_stride,
               (const TW *)a->dt_w, a->dt_bias, a->A_log, a->Dskip, a->ssm_state, a->B, a->D,
               a->R);
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
    if (a->bf16) step_t<__nv_bfloat16, __nv_bfloat16>(c, a);
    else step_t<float, float>(c, a);
}
