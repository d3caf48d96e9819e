/* Selective scan entry points: chunk length, the `saved` layout, the backward's workspace and
 * the deterministic second pass that sums the backward's partials. Kernels: scan_fwd.cu,
 * scan_bwd.cu. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/scan_args.h"

/* Blocks per cluster in the backward (dB/dC are summed over a cluster's channels on chip). */
#define SCAN_CLUSTER 8

/* The backward keeps a chunk's forward states in registers (chunk x 4 floats per thread), so
 * chunks are short: the saved states cost N floats per chunk per channel (4 bytes per element at
 * N = 16, chunk 16). */
int scan_chunk_len(int B, int L, int D, int N)
{
    (void)B, (void)L, (void)D;
    return N == 8 ? 8 : 16;
}

static int pick_chunk(int B, int L, int D, int N, int chunk)
{
    if (chunk <= 0) chunk = scan_chunk_len(B, L, D, N);
    if (!scan_supported(N, chunk)) {
        fprintf(stderr, "bytelm: CUDA scan: d_state %d (chunk %d) is not supported; built: 8, 16, 32\n",
                N, chunk);
        abort();
    }
    return chunk;
}

size_t cuda_scan_saved_bytes(int B, int L, int D, int N, int chunk)
{
    chunk = pick_chunk(B, L, D, N, chunk);
    size_t nchunk = ((size_t)L + chunk - 1) / chunk;
    return (size_t)B * nchunk * D * N * sizeof(float);
}

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* 16-byte staging of activation rows: E elements per copy */
template <typename T> static bool vec_rows(int D, int stride, const void *p)
{
    const int E = 16 / (int)sizeof(T);
    return D % E == 0 && stride % E == 0 && aligned16(p);
}

template <typename T>
static void scan_fwd(CudaCtx *c, T *y, const T *u, const T *delta_pre, const float *dt_bias,
                     const float *A_log, const float *Bm, const float *Cm, int bc_stride,
                     const float *Dskip, const T *z, int z_stride, float *ssm_state, void *saved,
                     int B, int L, int D, int N, int chunk)
{
    chunk = pick_chunk(B, L, D, N, chunk);
    if (B == 0 || L == 0 || D == 0) return;
    ScanFwdArgs<T> a;
    a.y = y;
    a.u = u;
    a.delta_pre = delta_pre;
    a.z = z;
    a.dt_bias = dt_bias;
    a.A_log = A_log;
    a.Bm = Bm;
    a.Cm = Cm;
    a.Dskip = Dskip;
    a.ssm_state = ssm_state;
    a.saved = (float *)saved;
    a.z_stride = z_stride;
    a.bc_stride = bc_stride;
    a.B = B;
    a.L = L;
    a.D = D;
    a.nchunk = (L + chunk - 1) / chunk;
    a.vec_act = vec_rows<T>(D, D, u) && vec_rows<T>(D, D, delta_pre) &&
                (!z || vec_rows<T>(D, z_stride, z));
    a.vec_bc = bc_stride % 4 == 0 && aligned16(Bm) && aligned16(Cm);
    scan_fwd_dispatch(a, N, chunk, c->stream);
}

void cuda_scan_fwd(CudaCtx *c, float *y, const float *u, const float *delta_pre,
                   const float *dt_bias, const float *A_log, const float *Bm, const float *Cm,
                   int bc_stride, const float *Dskip, const float *z, int z_stride,
                   float *ssm_state, void *saved, int B, int L, int D, int N, int chunk)
{
    scan_fwd(c, y, u, delta_pre, dt_bias, A_log, Bm, Cm, bc_stride, Dskip, z, z_stride, ssm_state,
             saved, B, L, D, N, chunk);
}

void cuda_scan_fwd_bf16(CudaCtx *c, __nv_bfloat16 *y, const __nv_bfloat16 *u,
                        const __nv_bfloat16 *delta_pre, const float *dt_bias, const float *A_log,
                        const float *Bm, const float *Cm, int bc_stride, const float *Dskip,
                        const __nv_bfloat16 *z, int z_stride, float *ssm_state, void *saved,
                        int B, int L, int D, int N, int chunk)
{
    scan_fwd(c, y, u, delta_pre, dt_bias, A_log, Bm, Cm, bc_stride, Dskip, z, z_stride, ssm_state,
             saved, B, L, D, N, chunk);
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

template <typename T>
static void scan_bwd(CudaCtx *c, T *du, T *ddelta_pre, float *ddt_bias, float *dA_log,
                     float *dBm, float *dCm, int dbc_stride, float *dDskip, T *dz, int dz_stride,
                     const T *dy, const T *u, const T *delta_pre, const float *dt_bias,
                     const float *A_log, const float *Bm, const float *Cm, int bc_stride,
                     const float *Dskip, const T *z, int z_stride, const void *saved, int B,
                     int L, int D, int N, int chunk)
{
    chunk = pick_chunk(B, L, D, N, chunk);
    if (B == 0 || L == 0 || D == 0) return;
    const int nchunk = (L + chunk - 1) / chunk;
    const int CH = scan_channels_per_block(N);
    const int nbx = (D + CH - 1) / CH;
    int cluster = 1;
    while (cluster < SCAN_CLUSTER && cluster < nbx) cluster *= 2;
    const int grid_x = (nbx + cluster - 1) / cluster * cluster;
    const int nparts = grid_x / cluster;
    const size_t rows = (size_t)B * L;

    /* one scratch request, carved: partials, per-sequence sums, and the saved states when the
     * caller has none (then they are recomputed here, from a zero initial state) */
    size_t need = scratch_round((size_t)nparts * rows * 2 * N * sizeof(float)) +
                  scratch_round((size_t)B * D * N * sizeof(float)) +
                  2 * scratch_round((size_t)B * D * sizeof(float)) + 256;
    size_t saved_bytes = cuda_scan_saved_bytes(B, L, D, N, chunk);
    if (!saved) need += scratch_round(saved_bytes);
    ScratchCarver sc = {(char *)cuda_scratch(c, need), 0};
    ScanBwdArgs<T> a;
    a.part_bc = sc.take<float>((size_t)nparts * rows * 2 * N);
    a.part_A = sc.take<float>((size_t)B * D * N);
    a.part_D = sc.take<float>((size_t)B * D);
    a.part_bias = sc.take<float>((size_t)B * D);
    float *sv = (float *)saved;
    if (!sv) {
        sv = sc.take<float>(saved_bytes / sizeof(float));
        scan_fwd<T>(c, NULL, u, delta_pre, dt_bias, A_log, Bm, Cm, bc_stride, Dskip, z, z_stride,
                    NULL, sv, B, L, D, N, chunk);
    }
    a.du = du;
    a.ddelta_pre = ddelta_pre;
    a.dz = dz;
    a.dy = dy;
    a.u = u;
    a.delta_pre = delta_pre;
    a.z = z;
    a.dt_bias = dt_bias;
    a.A_log = A_log;
    a.Bm = Bm;
    a.Cm = Cm;
    a.Dskip = Dskip;
    a.saved = sv;
    a.z_stride = z_stride;
    a.dz_stride = dz_stride;
    a.bc_stride = bc_stride;
    a.B = B;
    a.L = L;
    a.D = D;
    a.nchunk = nchunk;
    a.vec_act = vec_rows<T>(D, D, u) && vec_rows<T>(D, D, delta_pre) && vec_rows<T>(D, D, dy) &&
                (!z || vec_rows<T>(D, z_stride, z));
    a.vec_bc = bc_stride % 4 == 0 && aligned16(Bm) && aligned16(Cm);
    scan_bwd_dispatch(a, N, chunk, grid_x, cluster, c->stream);

    size_t total = rows * 2 * N, cap = (size_t)c->num_sms * 32;
    size_t blocks = (total + 255) / 256;
    scan_bc_reduce_kernel<<<(int)(blocks < cap ? blocks : cap), 256, 0, c->stream>>>(
        dBm, dCm, dbc_stride, a.part_bc, nparts, rows, N);
    CUDA_LAUNCH_CHECK();
    size_t np = (size_t)D * N + D;
    scan_param_reduce_kernel<<<(int)((np + 255) / 256), 256, 0, c->stream>>>(
        dA_log, dDskip, ddt_bias, a.part_A, a.part_D, a.part_bias, B, D, N);
    CUDA_LAUNCH_CHECK();
}

void cuda_scan_bwd(CudaCtx *c, float *du, float *ddelta_pre, float *ddt_bias, float *dA_log,
                   float *dBm, float *dCm, int dbc_stride, float *dDskip, float *dz, int dz_stride,
                   const float *dy, const float *u, const float *delta_pre, const float *dt_bias,
                   const float *A_log, const float *Bm, const float *Cm, int bc_stride,
                   const float *Dskip, const float *z, int z_stride, const void *saved, int B,
                   int L, int D, int N, int chunk)
{
    scan_bwd(c, du, ddelta_pre, ddt_bias, dA_log, dBm, dCm, dbc_stride, dDskip, dz, dz_stride, dy,
             u, delta_pre, dt_bias, A_log, Bm, Cm, bc_stride, Dskip, z, z_stride, saved, B, L, D,
             N, chunk);
}

void cuda_scan_bwd_bf16(CudaCtx *c, __nv_bfloat16 *du, __nv_bfloat16 *ddelta_pre, float *ddt_bias,
                        float *dA_log, float *dBm, float *dCm, int dbc_stride, float *dDskip,
                        __nv_bfloat16 *dz, int dz_stride, const __nv_bfloat16 *dy,
                        const __nv_bfloat16 *u, const __nv_bfloat16 *delta_pre,
                        const float *dt_bias, const float *A_log, const float *Bm,
                        const float *Cm, int bc_stride, const float *Dskip,
                        const __nv_bfloat16 *z, int z_stride, const void *saved, int B, int L,
                        int D, int N, int chunk)
{
    scan_bwd(c, du, ddelta_pre, ddt_bias, dA_log, dBm, dCm, dbc_stride, dDskip, dz, dz_stride, dy,
             u, delta_pre, dt_bias, A_log, Bm, Cm, bc_stride, Dskip, z, z_stride, saved, B, L, D,
             N, chunk);
}
