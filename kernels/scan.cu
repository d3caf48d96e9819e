/* Selective scan entry points: the backend's ScanFwd / ScanBwd onto the kernels' arguments, the
 * `saved` layout, the backward's workspace and the deterministic second pass that sums the
 * backward's partials. Kernels: scan_fwd.cu, scan_bwd.cu. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/scan_args.h"

/* The kernels are built for a few state sizes; callers refuse the others before any launch
 * (the backend's d_state_ok), so reaching here with one is a bug. */
static void check_state(int N)
{
    if (!scan_state_supported(N)) {
        fprintf(stderr, "bytelm: CUDA scan: d_state %d is not built (4, 8, 16, 32)\n", N);
        abort();
    }
}

int cuda_scan_state_ok(int N) { return scan_state_supported(N); }

size_t cuda_scan_saved_bytes(int B, int L, int D, int N)
{
    size_t nchunk = ((size_t)L + SCAN_SC - 1) / SCAN_SC;
    return (size_t)B * nchunk * D * N * sizeof(float);
}

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }
static bool aligned(const void *p, size_t n) { return ((uintptr_t)p % n) == 0; }

/* 16-byte staging of activation rows: E elements per copy */
template <typename T> static bool vec_rows(int D, int stride, const void *p)
{
    const int E = 16 / (int)sizeof(T);
    return D % E == 0 && stride % E == 0 && aligned16(p);
}

/* One store per channel pair: even row starts and channel offsets, aligned base */
template <typename T> static bool pair_rows(int D, int stride, const void *p)
{
    return D % 2 == 0 && stride % 2 == 0 && aligned(p, 2 * sizeof(T));
}

/* Blocks of channels a sequence takes with kc channels a lane (the grid's x extent). */
static int blocks_x(int N, int D, int kc)
{
    const int ch = scan_channels_per_block(N, kc);
    return (D + ch - 1) / ch;
}

/* Two channels a lane when that still gives at least two blocks per SM (more independent work
 * per thread, fewer loads and sums), else one (twice the threads: a batch of 2, say). */
static int pick_kc(int N, int D, int B, int num_sms)
{
    return (long long)blocks_x(N, D, 2) * B >= 2LL * num_sms ? 2 : 1;
}

/* A grid of nbx x B blocks fits in 4 blocks per SM: the builds with more registers run it. */
static bool roomy_grid(int nbx, int B, int num_sms) { return (long long)nbx * B <= 4LL * num_sms; }

template <typename T> static void scan_fwd_t(CudaCtx *c, const ScanFwd *f)
{
    check_state(f->N);
    if (f->B == 0 || f->L == 0 || f->D == 0) return;
    ScanFwdArgs<T> a;
    a.y = static_cast<T *>(f->y);
    a.u = static_cast<const T *>(f->u);
    a.delta_pre = static_cast<const T *>(f->delta_pre);
    a.z = static_cast<const T *>(f->z);
    a.dt_bias = f->dt_bias;
    a.A_log = f->A_log;
    a.Bm = f->Bm;
    a.Cm = f->Cm;
    a.Dskip = f->Dskip;
    a.ssm_state = f->ssm_state;
    a.saved = static_cast<float *>(f->saved);
    a.z_stride = f->z_stride;
    a.bc_stride = f->bc_stride;
    a.B = f->B;
    a.L = f->L;
    a.D = f->D;
    a.nchunk = (f->L + SCAN_SC - 1) / SCAN_SC;
    const int D = f->D;
    a.vec_act = vec_rows<T>(D, D, f->u) && vec_rows<T>(D, D, f->delta_pre) &&
                (!f->z || vec_rows<T>(D, f->z_stride, f->z));
    a.vec_bc = f->bc_stride % 4 == 0 && aligned16(f->Bm) && aligned16(f->Cm);
    a.pair_out = !f->y || pair_rows<T>(D, D, f->y);
    const int kc = pick_kc(f->N, D, f->B, c->num_sms);
    scan_fwd_dispatch(a, f->N, kc, roomy_grid(blocks_x(f->N, D, kc), f->B, c->num_sms), c->stream);
}

void cuda_scan_fwd(CudaCtx *c, const ScanFwd *f)
{
    if (f->bf16)
        scan_fwd_t<__nv_bfloat16>(c, f);
    else
        scan_fwd_t<float>(c, f);
}

/* dBm[r, n] = sum_p part[p][r][n], dCm[r, n] = sum_p part[p][r][N + n], in p order */
__global__ void scan_bc_reduce_kernel(float *dBm, float *dCm, int dbc_stride, const float *part,
                                      int nparts, size_t rows, int N)
{
    const size_t n2 = (size_t)2 * N, total = rows * n2, pstride = rows * n2;
    for (size_t i = bl_gtid(); i < total; i += bl_gstride()) {
        float acc = 0.0f;
        for (int p = 0; p < nparts; p++) acc += part[(size_t)p * pstride + i];
        size_t r = i / n2;
        int k = (int)(i % n2);
        if (k < N)
            dBm[r * dbc_stride + k] = acc;
        else
            dCm[r * dbc_stride + (k - N)] = acc;
    }
}

/* dA_log[d, n] += sum_b partA[b][d][n]; dDskip[d], ddt_bias[d] += sums over b, in b order */
__global__ void scan_param_reduce_kernel(float *dA_log, float *dDskip, float *ddt_bias,
                                         const float *partA, const float *partD,
                                         const float *partBias, int B, int D, int N)
{
    const size_t DN = (size_t)D * N;
    for (size_t i = bl_gtid(); i < DN + D; i += bl_gstride()) {
        if (i < DN) {
            double s = 0.0;
            for (int b = 0; b < B; b++) s += partA[(size_t)b * DN + i];
            dA_log[i] = (float)((double)dA_log[i] + s);
        } else {
            size_t d = i - DN;
            double sd = 0.0, sb = 0.0;
            for (int b = 0; b < B; b++) {
                sd += partD[(size_t)b * D + d];
                sb += partBias[(size_t)b * D + d];
            }
            dDskip[d] = (float)((double)dDskip[d] + sd);
            ddt_bias[d] = (float)((double)ddt_bias[d] + sb);
        }
    }
}

template <typename T> static void scan_bwd_t(CudaCtx *c, const ScanBwd *g)
{
    check_state(g->N);
    const int B = g->B, L = g->L, D = g->D, N = g->N;
    if (B == 0 || L == 0 || D == 0) return;
    const int nchunk = (L + SCAN_SC - 1) / SCAN_SC;
    const int kc = pick_kc(N, D, B, c->num_sms);
    const int nbx = blocks_x(N, D, kc); /* also the partial rows per output */
    const bool roomy = roomy_grid(nbx, B, c->num_sms);
    const size_t rows = (size_t)B * L;

    /* one scratch request, carved: partials, per-sequence sums, and the saved states when the
     * caller has none (then they are recomputed here, from a zero initial state) */
    size_t need = scratch_round((size_t)nbx * rows * 2 * N * sizeof(float)) +
                  scratch_round((size_t)B * D * N * sizeof(float)) +
                  2 * scratch_round((size_t)B * D * sizeof(float)) + 256;
    const size_t saved_bytes = cuda_scan_saved_bytes(B, L, D, N);
    if (!g->saved) need += scratch_round(saved_bytes);
    ScratchCarver sc = {(char *)cuda_scratch(c, need), 0};
    ScanBwdArgs<T> a;
    a.part_bc = sc.take<float>((size_t)nbx * rows * 2 * N);
    a.part_A = sc.take<float>((size_t)B * D * N);
    a.part_D = sc.take<float>((size_t)B * D);
    a.part_bias = sc.take<float>((size_t)B * D);
    const void *sv = g->saved;
    if (!sv) {
        float *fresh = sc.take<float>(saved_bytes / sizeof(float));
        ScanFwd f = {};
        f.bf16 = g->bf16;
        f.u = g->u, f.delta_pre = g->delta_pre, f.z = g->z, f.z_stride = g->z_stride;
        f.dt_bias = g->dt_bias, f.A_log = g->A_log, f.Bm = g->Bm, f.Cm = g->Cm;
        f.bc_stride = g->bc_stride, f.Dskip = g->Dskip, f.saved = fresh;
        f.B = B, f.L = L, f.D = D, f.N = N;
        scan_fwd_t<T>(c, &f);
        sv = fresh;
    }
    a.du = static_cast<T *>(g->du);
    a.ddelta_pre = static_cast<T *>(g->ddelta_pre);
    a.dz = static_cast<T *>(g->dz);
    a.dy = static_cast<const T *>(g->dy);
    a.u = static_cast<const T *>(g->u);
    a.delta_pre = static_cast<const T *>(g->delta_pre);
    a.z = static_cast<const T *>(g->z);
    a.dt_bias = g->dt_bias;
    a.A_log = g->A_log;
    a.Bm = g->Bm;
    a.Cm = g->Cm;
    a.Dskip = g->Dskip;
    a.saved = static_cast<const float *>(sv);
    a.z_stride = g->z_stride;
    a.dz_stride = g->dz_stride;
    a.bc_stride = g->bc_stride;
    a.B = B;
    a.L = L;
    a.D = D;
    a.nchunk = nchunk;
    a.vec_act = vec_rows<T>(D, D, g->u) && vec_rows<T>(D, D, g->delta_pre) &&
                vec_rows<T>(D, D, g->dy) && (!g->z || vec_rows<T>(D, g->z_stride, g->z));
    a.vec_bc = g->bc_stride % 4 == 0 && aligned16(g->Bm) && aligned16(g->Cm);
    a.pair_out = pair_rows<T>(D, D, g->du) && pair_rows<T>(D, D, g->ddelta_pre) &&
                 (!g->dz || pair_rows<T>(D, g->dz_stride, g->dz));
    scan_bwd_dispatch(a, N, nbx, kc, roomy, c->stream);

    size_t total = rows * 2 * N, cap = (size_t)c->num_sms * 32;
    size_t blocks = (total + 255) / 256;
    scan_bc_reduce_kernel<<<(int)(blocks < cap ? blocks : cap), 256, 0, c->stream>>>(
        g->dBm, g->dCm, g->dbc_stride, a.part_bc, nbx, rows, N);
    CUDA_LAUNCH_CHECK();
    size_t np = (size_t)D * N + D;
    scan_param_reduce_kernel<<<(int)((np + 255) / 256), 256, 0, c->stream>>>(
        g->dA_log, g->dDskip, g->ddt_bias, a.part_A, a.part_D, a.part_bias, B, D, N);
    CUDA_LAUNCH_CHECK();
}

void cuda_scan_bwd(CudaCtx *c, const ScanBwd *g)
{
    if (g->bf16)
        scan_bwd_t<__nv_bfloat16>(c, g);
    else
        scan_bwd_t<float>(c, g);
}
