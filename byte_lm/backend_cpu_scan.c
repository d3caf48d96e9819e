/* CPU selective scan (Mamba-1) forward and backward.
 *
 * Each (sequence b, channel d) pair is an independent recurrence over t with a state of N
 * floats; the state loop (n) is innermost and contiguous. The backward recomputes the states
 * of one channel into a per-thread buffer, then walks t backwards carrying ds. The gradients
 * that sum over channels (dBm, dCm) or sequences (dA_log, dDskip, ddt_bias) go through partial
 * buffers reduced in a fixed order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu_internal.h"

/* Channels are split into this many blocks (fewer when D is smaller) for the dBm/dCm partial
 * sums; a constant, so the summation order does not depend on the thread count. */
#define SCAN_CH_BLOCKS 16

/* softplus as PyTorch computes it (threshold 20) */
static inline float softplus_f(float x)
{
    return x > 20.0f ? x : log1pf(expf(x));
}

/* d softplus / dx, consistent with the threshold above */
static inline float softplus_grad_f(float x)
{
    return x > 20.0f ? 1.0f : cpu_sigmoidf(x);
}

size_t cpu_scan_saved_bytes(Backend *be, int B, int L, int D, int N)
{
    (void)be, (void)B, (void)L, (void)D, (void)N;
    return 0; /* the backward recomputes everything it needs */
}

/* Runs the recurrence of one (b, d) channel from state s (updated in place) and writes its
 * output y. When s_hist and dA_hist are not NULL they receive the state after each step and
 * exp(delta*A) of each step ([L, N] each), for the backward. A holds -exp(A_log[d, :]). */
static void scan_channel(float *y, float *s, float *s_hist, float *dA_hist, const float *A,
                         const float *u, const float *delta_pre, float dt_bias, const float *Bm,
                         const float *Cm, int bc_stride, float Dd, const float *z, int z_stride,
                         int b, int d, int L, int D, int N)
{
    for (int t = 0; t < L; t++) {
        size_t r = (size_t)b * L + t;
        float dl = softplus_f(delta_pre[r * D + d] + dt_bias);
        float uu = u[r * D + d];
        float du = dl * uu;
        const float *Bt = Bm + r * bc_stride;
        const float *Ct = Cm + r * bc_stride;
        float acc = 0.0f;
        if (s_hist) {
            float *sh = s_hist + (size_t)t * N, *ah = dA_hist + (size_t)t * N;
            for (int n = 0; n < N; n++) {
                float dA = expf(dl * A[n]);
                s[n] = dA * s[n] + du * Bt[n];
                sh[n] = s[n];
                ah[n] = dA;
                acc += Ct[n] * s[n];
            }
        } else {
            for (int n = 0; n < N; n++) {
                s[n] = expf(dl * A[n]) * s[n] + du * Bt[n];
                acc += Ct[n] * s[n];
            }
        }
        if (y) {
            float yv = acc + Dd * uu;
            if (z) {
                float zz = z[r * z_stride + d];
                yv *= zz * cpu_sigmoidf(zz);
            }
            y[r * D + d] = yv;
        }
    }
}

void cpu_scan_fwd(Backend *be, float *y, const float *u, const float *delta_pre,
                  const float *dt_bias, const float *A_log, const float *Bm, const float *Cm,
                  int bc_stride, const float *Dskip, const float *z, int z_stride,
                  float *ssm_state, void *saved, int B, int L, int D, int N)
{
    (void)saved;
#pragma omp parallel num_threads(cpu_threads(be))
    {
        float *A = cpu_scratch((size_t)N * sizeof(float));
        float *s = cpu_scratch((size_t)N * sizeof(float));
#pragma omp for schedule(static)
        for (int bd = 0; bd < B * D; bd++) {
            int b = bd / D, d = bd % D;
            for (int n = 0; n < N; n++) A[n] = -expf(A_log[(size_t)d * N + n]);
            float *st = ssm_state ? ssm_state + (size_t)bd * N : s;
            if (!ssm_state) memset(s, 0, (size_t)N * sizeof(float));
            scan_channel(y, st, NULL, NULL, A, u, delta_pre, dt_bias[d], Bm, Cm, bc_stride,
                         Dskip[d], z, z_stride, b, d, L, D, N);
        }
        free(s);
        free(A);
    }
}

/* Per-channel sums of one (b, d) pair, reduced over b afterwards in order. */
typedef struct {
    double dDskip, ddt_bias;
} ChanSums;

/* Backward of one (b, d) channel. dB_part/dC_part: this channel block's [B*L, N] partials
 * (+=). dA_acc: [N] (+=, gradient w.r.t. A, not A_log). ds, s: [N] and s_hist, dA_hist:
 * [L, N] scratch. */
static void scan_channel_bwd(float *du, float *ddelta_pre, float *dz, int dz_stride,
                             float *dB_part, float *dC_part, double *dA_acc, ChanSums *cs,
                             float *ds, float *s, float *s_hist, float *dA_hist, const float *A,
                             const float *dy, const float *u, const float *delta_pre, float dt_bias,
                             const float *Bm, const float *Cm, int bc_stride, float Dd,
                             const float *z, int z_stride, int b, int d, int L, int D, int N)
{
    memset(ds, 0, (size_t)N * sizeof(float));
    memset(s, 0, (size_t)N * sizeof(float));
    scan_channel(NULL, s, s_hist, dA_hist, A, u, delta_pre, dt_bias, Bm, Cm, bc_stride, Dd,
                 z, z_stride, b, d, L, D, N);
    double dD = 0, dtb = 0;
    for (int t = L - 1; t >= 0; t--) {
        size_t r = (size_t)b * L + t;
        float x = delta_pre[r * D + d] + dt_bias;
        float dl = softplus_f(x);
        float uu = u[r * D + d];
        const float *Bt = Bm + r * bc_stride;
        const float *Ct = Cm + r * bc_stride;
        const float *st = s_hist + (size_t)t * N;
        const float *sp = t > 0 ? s_hist + (size_t)(t - 1) * N : NULL;
        const float *at = dA_hist + (size_t)t * N;
        float *dBt = dB_part + r * N;
        float *dCt = dC_part + r * N;

        float gyp = dy[r * D + d]; /* gradient w.r.t. the pre-gate output */
        if (z) {
            float acc = 0.0f;
            for (int n = 0; n < N; n++) acc += Ct[n] * st[n];
            float yp = acc + Dd * uu;
            float zz = z[r * z_stride + d], sg = cpu_sigmoidf(zz);
            dz[r * dz_stride + d] = gyp * yp * sg * (1.0f + zz * (1.0f - sg));
            gyp *= zz * sg;
        }
        dD += (double)gyp * uu;
        float du_v = gyp * Dd;
        float ddl = 0.0f;
        float dlu = dl * uu;
        for (int n = 0; n < N; n++) {
            dCt[n] += gyp * st[n];
            float g = ds[n] + gyp * Ct[n]; /* dL/ds_t */
            float prev = sp ? sp[n] : 0.0f;
            float gdA = g * prev * at[n]; /* dL/d(delta*A) */
            ddl += gdA * A[n] + g * Bt[n] * uu;
            dA_acc[n] += (double)(gdA * dl);
            dBt[n] += g * dlu;
            du_v += g * dl * Bt[n];
            ds[n] = g * at[n];
        }
        float dx = ddl * softplus_grad_f(x);
        ddelta_pre[r * D + d] = dx;
        dtb += dx;
        du[r * D + d] = du_v;
    }
    cs->dDskip = dD;
    cs->ddt_bias = dtb;
}

void cpu_scan_bwd(Backend *be, float *du, float *ddelta_pre, float *ddt_bias, float *dA_log,
                  float *dBm, float *dCm, int dbc_stride, float *dDskip, float *dz, int dz_stride,
                  const float *dy, const float *u, const float *delta_pre, const float *dt_bias,
                  const float *A_log, const float *Bm, const float *Cm, int bc_stride,
                  const float *Dskip, const float *z, int z_stride, const void *saved, int B,
                  int L, int D, int N)
{
    (void)saved;
    int nblk = D < SCAN_CH_BLOCKS ? D : SCAN_CH_BLOCKS;
    int bw = (D + nblk - 1) / nblk; /* channels per block */
    nblk = (D + bw - 1) / bw;
    size_t rows = (size_t)B * L;
    size_t part = rows * N; /* floats in one block's dB (or dC) partial */
    float *dB_part = cpu_scratch((size_t)nblk * part * sizeof(float));
    float *dC_part = cpu_scratch((size_t)nblk * part * sizeof(float));
    double *dA_bd = cpu_scratch((size_t)B * D * N * sizeof(double));
    ChanSums *cs_bd = cpu_scratch((size_t)B * D * sizeof(ChanSums));

#pragma omp parallel num_threads(cpu_threads(be))
    {
        float *A = cpu_scratch((size_t)N * sizeof(float));
        float *ds = cpu_scratch((size_t)N * sizeof(float));
        float *s = cpu_scratch((size_t)N * sizeof(float));
        float *s_hist = cpu_scratch((size_t)L * N * sizeof(float));
        float *dA_hist = cpu_scratch((size_t)L * N * sizeof(float));
#pragma omp for schedule(static)
        for (int item = 0; item < B * nblk; item++) {
            int b = item / nblk, blk = item % nblk;
            float *dBp = dB_part + (size_t)blk * part;
            float *dCp = dC_part + (size_t)blk * part;
            /* zero this sequence's rows of the block's partials */
            memset(dBp + (size_t)b * L * N, 0, (size_t)L * N * sizeof(float));
            memset(dCp + (size_t)b * L * N, 0, (size_t)L * N * sizeof(float));
            int d1 = (blk + 1) * bw < D ? (blk + 1) * bw : D;
            for (int d = blk * bw; d < d1; d++) {
                for (int n = 0; n < N; n++) A[n] = -expf(A_log[(size_t)d * N + n]);
                double *dA = dA_bd + ((size_t)b * D + d) * N;
                memset(dA, 0, (size_t)N * sizeof(double));
                scan_channel_bwd(du, ddelta_pre, dz, dz_stride, dBp, dCp, dA,
                                 &cs_bd[(size_t)b * D + d], ds, s, s_hist, dA_hist, A, dy, u,
                                 delta_pre, dt_bias[d], Bm, Cm, bc_stride, Dskip[d], z, z_stride,
                                 b, d, L, D, N);
            }
        }
        free(dA_hist);
        free(s_hist);
        free(s);
        free(ds);
        free(A);

        /* dBm, dCm: sum the block partials in block order */
#pragma omp for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            for (int n = 0; n < N; n++) {
                double sb = 0, sc = 0;
                for (int blk = 0; blk < nblk; blk++) {
                    sb += dB_part[(size_t)blk * part + r * N + n];
                    sc += dC_part[(size_t)blk * part + r * N + n];
                }
                dBm[r * dbc_stride + n] = (float)sb;
                dCm[r * dbc_stride + n] = (float)sc;
            }
        }
        /* per-channel parameters: sum over sequences in order. dA_log = dA * A. */
#pragma omp for schedule(static)
        for (int d = 0; d < D; d++) {
            double dD = 0, dtb = 0;
            for (int b = 0; b < B; b++) {
                dD += cs_bd[(size_t)b * D + d].dDskip;
                dtb += cs_bd[(size_t)b * D + d].ddt_bias;
            }
            dDskip[d] = (float)((double)dDskip[d] + dD);
            ddt_bias[d] = (float)((double)ddt_bias[d] + dtb);
            for (int n = 0; n < N; n++) {
                double g = 0;
                for (int b = 0; b < B; b++) g += dA_bd[((size_t)b * D + d) * N + n];
                double Ad = -exp((double)A_log[(size_t)d * N + n]);
                dA_log[(size_t)d * N + n] = (float)((double)dA_log[(size_t)d * N + n] + g * Ad);
            }
        }
    }
    free(cs_bd);
    free(dA_bd);
    free(dC_part);
    free(dB_part);
}
