/* CPU selective scan (Mamba-1) forward and backward.
 *
 * Each (sequence b, channel d) pair is an independent recurrence over t with a state of N
 * floats; the state loop (n) is innermost and contiguous, and vectorized. The backward
 * recomputes the history of one channel into per-thread buffers, then walks t backwards
 * carrying ds. The gradients that sum over channels (dBm, dCm) or sequences (dA_log, dDskip,
 * ddt_bias) go through partial buffers reduced in a fixed order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu_internal.h"

/* Channels are split into this many blocks (fewer when D is smaller) for the dBm/dCm partial
 * sums; a constant, so the summation order does not depend on the thread count. */
#define SCAN_CH_BLOCKS 16
/* The backward sums dA over t in float for this many steps at a time, then adds to a double:
 * float keeps the n loop vectorized, the flush keeps long sequences accurate. */
#define SCAN_DA_FLUSH 32
/* Mamba's d_state: the per-channel loops are inlined twice, once with this constant state size
 * (fully unrolled, no remainder loop) and once for any other N. */
#define SCAN_N_FAST 16

/* exp(x) for x <= 0 (the scan's delta * A), as 2^k * p(r) with r = x - k ln2 in
 * [-ln2/2, ln2/2] and p the degree-7 Taylor polynomial (truncation < 1e-8): within a few ulp
 * of expf, and 0 below -87. NaN gives NaN. It is free of branches and of floating-point
 * comparisons (which -ftrapping-math will not if-convert), so the loops over n vectorize;
 * libm's expf does not without -ffast-math, and these exps are most of the scan's work. */
static inline float scan_exp_neg(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;       /* 9 significant bits: k * ln2_hi is exact */
    const float ln2_lo = -2.12194440054e-4f; /* ln2 - ln2_hi */
    const float round_magic = 12582912.0f;   /* 1.5 * 2^23: (v + m) - m rounds v to an integer */
    const int32_t bits_87 = 0x42ae0000;      /* 87.0f */
    int32_t ix;
    memcpy(&ix, &x, sizeof ix);
    ix &= 0x7fffffff; /* |x|, clamped to 87 in the integer domain */
    int32_t ic = ix < bits_87 ? ix : bits_87;
    float xc;
    memcpy(&xc, &ic, sizeof xc);
    xc = -xc;
    float kf = (xc * log2e + round_magic) - round_magic;
    float r = (xc - kf * ln2_hi) - kf * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)kf + 127) << 23; /* 2^k, k in [-126, 0] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    int32_t eb;
    memcpy(&eb, &e, sizeof eb);
    eb &= -(int32_t)(ix < bits_87); /* 0 below -87 */
    memcpy(&e, &eb, sizeof e);
    return e + (x - x); /* x - x: 0, or NaN for NaN */
}

/* softplus as PyTorch computes it (linear above 20), and its derivative with the same
 * threshold. */
static inline float softplus_f(float x, float *grad)
{
    if (x > 20.0f) {
        if (grad) *grad = 1.0f;
        return x;
    }
    float e = expf(x);
    if (grad) *grad = e / (1.0f + e);
    return log1pf(e);
}

size_t cpu_scan_saved_bytes(Backend *be, int B, int L, int D, int N)
{
    return 0; /* the backward recomputes everything it needs */
}

/* The inputs of one (b, d) channel: row pointers advance by t * stride. */
typedef struct {
    const float *u, *delta_pre, *Bm, *Cm, *z; /* at (b, t = 0); z may be NULL (no gate) */
    int D, bc_stride, z_stride, L;
    float dt_bias, Dd;
    const float *A; /* [N], -exp(A_log[d, :]) */
} ScanChan;

static ScanChan scan_chan(const float *u, const float *delta_pre, const float *dt_bias,
                          const float *Bm, const float *Cm, int bc_stride, const float *Dskip,
                          const float *z, int z_stride, const float *A, int b, int d, int L,
                          int D)
{
    size_t r0 = (size_t)b * L;
    ScanChan c = {
        .u = u + r0 * D + d, .delta_pre = delta_pre + r0 * D + d, .Bm = Bm + r0 * bc_stride,
        .Cm = Cm + r0 * bc_stride, .z = z ? z + r0 * z_stride + d : NULL, .D = D,
        .bc_stride = bc_stride, .z_stride = z_stride, .L = L, .dt_bias = dt_bias[d],
        .Dd = Dskip[d], .A = A,
    };
    return c;
}

static inline float silu_f(float x)
{
    return x * cpu_sigmoidf(x);
}

/* Forward of one channel from state s (updated in place); y at (b, t = 0, d), stride D. */
static inline void scan_channel_fwd(float *y, float *s, const ScanChan *c, const int N)
{
    const float *A = c->A;
    for (int t = 0; t < c->L; t++) {
        float dl = softplus_f(c->delta_pre[(size_t)t * c->D] + c->dt_bias, NULL);
        float uu = c->u[(size_t)t * c->D], dlu = dl * uu;
        const float *Bt = c->Bm + (size_t)t * c->bc_stride;
        const float *Ct = c->Cm + (size_t)t * c->bc_stride;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int n = 0; n < N; n++) {
            float sn = scan_exp_neg(dl * A[n]) * s[n] + dlu * Bt[n];
            s[n] = sn;
            acc += Ct[n] * sn;
        }
        float yv = acc + c->Dd * uu;
        if (c->z) yv *= silu_f(c->z[(size_t)t * c->z_stride]);
        y[(size_t)t * c->D] = yv;
    }
}

void cpu_scan_fwd(Backend *be, float *y, const float *u, const float *delta_pre,
                  const float *dt_bias, const float *A_log, const float *Bm, const float *Cm,
                  int bc_stride, const float *Dskip, const float *z, int z_stride,
                  float *ssm_state, void *saved, int B, int L, int D, int N)
{
#pragma omp parallel num_threads(cpu_threads(be))
    {
        float *A = cpu_scratch((size_t)N * sizeof(float));
        float *s0 = cpu_scratch((size_t)N * sizeof(float));
#pragma omp for schedule(static)
        for (int bd = 0; bd < B * D; bd++) {
            int b = bd / D, d = bd % D;
            for (int n = 0; n < N; n++) A[n] = -expf(A_log[(size_t)d * N + n]);
            float *s = ssm_state ? ssm_state + (size_t)bd * N : s0;
            if (!ssm_state) memset(s, 0, (size_t)N * sizeof(float));
            ScanChan c = scan_chan(u, delta_pre, dt_bias, Bm, Cm, bc_stride, Dskip, z, z_stride,
                                   A, b, d, L, D);
            float *yc = y + (size_t)b * L * D + d;
            if (N == SCAN_N_FAST)
                scan_channel_fwd(yc, s, &c, SCAN_N_FAST);
            else
                scan_channel_fwd(yc, s, &c, N);
        }
        free(s0);
        free(A);
    }
}

/* Per-thread history of one channel's forward, kept for its backward. */
typedef struct {
    float *s;    /* [L + 1, N]: row t + 1 = state after step t, row 0 = the zero initial state */
    float *dA;   /* [L, N]: exp(delta_t * A) */
    float *dl;   /* [L]: delta_t */
    float *dlg;  /* [L]: d delta / d delta_pre */
    float *ypre; /* [L]: output before the z gate */
    double *dA_acc; /* [N] */
    float *dA_f;    /* [N] */
    float *ds;      /* [N] */
} ScanHist;

static void scan_hist_alloc(ScanHist *h, int L, int N)
{
    h->s = cpu_scratch((size_t)(L + 1) * N * sizeof(float));
    h->dA = cpu_scratch((size_t)L * N * sizeof(float));
    h->dl = cpu_scratch((size_t)L * sizeof(float));
    h->dlg = cpu_scratch((size_t)L * sizeof(float));
    h->ypre = cpu_scratch((size_t)L * sizeof(float));
    h->dA_acc = cpu_scratch((size_t)N * sizeof(double));
    h->dA_f = cpu_scratch((size_t)N * sizeof(float));
    h->ds = cpu_scratch((size_t)N * sizeof(float));
}

static void scan_hist_free(ScanHist *h)
{
    free(h->s), free(h->dA), free(h->dl), free(h->dlg), free(h->ypre), free(h->dA_acc);
    free(h->dA_f), free(h->ds);
}

/* The forward of one channel from a zero state, keeping everything the backward needs. */
static inline void scan_channel_recompute(ScanHist *h, const ScanChan *c, const int N)
{
    const float *A = c->A;
    memset(h->s, 0, (size_t)N * sizeof(float));
    for (int t = 0; t < c->L; t++) {
        float dl = softplus_f(c->delta_pre[(size_t)t * c->D] + c->dt_bias, &h->dlg[t]);
        float uu = c->u[(size_t)t * c->D], dlu = dl * uu;
        const float *Bt = c->Bm + (size_t)t * c->bc_stride;
        const float *Ct = c->Cm + (size_t)t * c->bc_stride;
        const float *sp = h->s + (size_t)t * N;
        float *st = h->s + (size_t)(t + 1) * N, *at = h->dA + (size_t)t * N;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int n = 0; n < N; n++) {
            float a = scan_exp_neg(dl * A[n]);
            float sn = a * sp[n] + dlu * Bt[n];
            at[n] = a;
            st[n] = sn;
            acc += Ct[n] * sn;
        }
        h->dl[t] = dl;
        h->ypre[t] = acc + c->Dd * uu;
    }
}

/* Per-channel sums of one (b, d) pair, reduced over b afterwards in order. */
typedef struct {
    double dDskip, ddt_bias;
} ChanSums;

/* Backward of one channel, walking t down from L-1 with ds = dLoss/ds_t carried back through
 * s_t = a_t s_{t-1} + delta_t B_t u_t. du, ddelta_pre, dz point at (b, t = 0, d); dB_part and
 * dC_part at (b, t = 0) of this channel block's [B*L, N] partials (+=). dA_acc (in h) receives
 * the gradient w.r.t. A (not A_log). */
static inline void scan_channel_bwd(float *du, float *ddelta_pre, float *dz, int dz_stride,
                                    float *dB_part, float *dC_part, ChanSums *cs, ScanHist *h,
                                    const float *dy, const ScanChan *c, const int N)
{
    const int D = c->D;
    const float *A = c->A;
    scan_channel_recompute(h, c, N);
    memset(h->ds, 0, (size_t)N * sizeof(float));
    memset(h->dA_f, 0, (size_t)N * sizeof(float));
    memset(h->dA_acc, 0, (size_t)N * sizeof(double));
    float *ds = h->ds, *dA_f = h->dA_f;
    double dD = 0, dtb = 0;
    for (int t = c->L - 1; t >= 0; t--) {
        float dl = h->dl[t], uu = c->u[(size_t)t * D], dlu = dl * uu;
        const float *Bt = c->Bm + (size_t)t * c->bc_stride;
        const float *Ct = c->Cm + (size_t)t * c->bc_stride;
        const float *st = h->s + (size_t)(t + 1) * N, *sp = h->s + (size_t)t * N;
        const float *at = h->dA + (size_t)t * N;
        float *dBt = dB_part + (size_t)t * N, *dCt = dC_part + (size_t)t * N;

        float gyp = dy[(size_t)t * D]; /* gradient w.r.t. the output before the gate */
        if (c->z) {
            float zz = c->z[(size_t)t * c->z_stride], sg = cpu_sigmoidf(zz);
            dz[(size_t)t * dz_stride] = gyp * h->ypre[t] * sg * (1.0f + zz * (1.0f - sg));
            gyp *= zz * sg;
        }
        dD += (double)gyp * uu;
        /* per n: g = dLoss/ds_t[n]; d(a_t)/d(delta) = a_t A[n]; ddelta also gets g B u, which
         * shares sum(g B) with du */
        float gdA_A = 0.0f, gB = 0.0f;
#pragma omp simd reduction(+ : gdA_A, gB)
        for (int n = 0; n < N; n++) {
            float g = ds[n] + gyp * Ct[n];
            float gda = g * sp[n] * at[n]; /* dLoss / d(delta A[n]) */
            dCt[n] += gyp * st[n];
            dBt[n] += g * dlu;
            dA_f[n] += gda * dl;
            gdA_A += gda * A[n];
            gB += g * Bt[n];
            ds[n] = g * at[n];
        }
        if (t % SCAN_DA_FLUSH == 0) {
            for (int n = 0; n < N; n++) h->dA_acc[n] += dA_f[n];
            memset(dA_f, 0, (size_t)N * sizeof(float));
        }
        float dx = (gdA_A + uu * gB) * h->dlg[t];
        ddelta_pre[(size_t)t * D] = dx;
        dtb += dx;
        du[(size_t)t * D] = gyp * c->Dd + dl * gB;
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
        ScanHist h;
        scan_hist_alloc(&h, L, N);
#pragma omp for schedule(static)
        for (int item = 0; item < B * nblk; item++) {
            int b = item / nblk, blk = item % nblk;
            /* this sequence's rows of the block's partials */
            float *dBp = dB_part + (size_t)blk * part + (size_t)b * L * N;
            float *dCp = dC_part + (size_t)blk * part + (size_t)b * L * N;
            memset(dBp, 0, (size_t)L * N * sizeof(float));
            memset(dCp, 0, (size_t)L * N * sizeof(float));
            int d1 = (blk + 1) * bw < D ? (blk + 1) * bw : D;
            for (int d = blk * bw; d < d1; d++) {
                for (int n = 0; n < N; n++) A[n] = -expf(A_log[(size_t)d * N + n]);
                ScanChan c = scan_chan(u, delta_pre, dt_bias, Bm, Cm, bc_stride, Dskip, z,
                                       z_stride, A, b, d, L, D);
                size_t o = (size_t)b * L * D + d;
                float *dzc = dz ? dz + (size_t)b * L * dz_stride + d : NULL;
                ChanSums *cs = &cs_bd[(size_t)b * D + d];
                if (N == SCAN_N_FAST)
                    scan_channel_bwd(du + o, ddelta_pre + o, dzc, dz_stride, dBp, dCp, cs, &h,
                                     dy + o, &c, SCAN_N_FAST);
                else
                    scan_channel_bwd(du + o, ddelta_pre + o, dzc, dz_stride, dBp, dCp, cs, &h,
                                     dy + o, &c, N);
                memcpy(dA_bd + ((size_t)b * D + d) * N, h.dA_acc, (size_t)N * sizeof(double));
            }
        }
        scan_hist_free(&h);
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
        /* per-channel parameters: sum over sequences in order; dA_log = dA * A */
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
