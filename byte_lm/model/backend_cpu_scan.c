/* CPU selective scan (Mamba-1) forward and backward.
 *
 * Two phases. An elementwise prologue computes, for every (row, channel), delta =
 * softplus(delta_pre + dt_bias) and the z gate, vectorized over channels. Then the recurrence
 * over t: the forward runs groups of 8 channels of one sequence side by side, one per vector
 * lane; the backward takes one (sequence b, channel d) pair at a time with its state loop (n)
 * innermost, recomputes that channel's history into per-thread buffers, then walks t backwards
 * carrying ds. The gradients that sum over channels (dBm, dCm) or sequences (dA_log, dDskip,
 * ddt_bias) go through partial buffers reduced in a fixed order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/model/backend_cpu_internal.h"

/* The backward's work items are (sequence, block of channels); each item sums its channels'
 * dBm/dCm terms into a partial buffer of its own. Channels are split into enough blocks for at
 * least SCAN_MIN_ITEMS items (at most SCAN_MAX_BLOCKS): a function of the sizes only, so the
 * summation order does not depend on the thread count. */
#define SCAN_MIN_ITEMS 64
#define SCAN_MAX_BLOCKS 16
/* Mamba's d_state: the per-channel loops are inlined twice, once with this constant state size
 * (fully unrolled, no remainder loop) and once for any other N. */
#define SCAN_N_FAST 16
/* Work units (as cpu_team counts them) per state element and step: an exp and a few
 * multiply-adds, several times the elementwise ops the team threshold is set for, so that a
 * generation step's scan is threaded too. */
#define SCAN_WORK_PER_STATE 4

size_t cpu_scan_saved_bytes(Backend *be, int B, int L, int D, int N)
{
    return 0; /* the backward recomputes everything it needs */
}

/* The prologue of one row of D channels: delta = softplus(delta_pre + dt_bias), ddelta =
 * d delta / d delta_pre (when not NULL), and sg = sigmoid(z) (when z is not NULL). */
CPU_HOT static void scan_prologue_row(float *delta, float *ddelta, float *sg, const float *xp,
                                      const float *dt_bias, const float *z, int D)
{
    if (ddelta) {
#pragma omp simd
        for (int d = 0; d < D; d++) delta[d] = cpu_softplus(xp[d] + dt_bias[d], &ddelta[d]);
    } else {
#pragma omp simd
        for (int d = 0; d < D; d++) {
            float g;
            delta[d] = cpu_softplus(xp[d] + dt_bias[d], &g);
        }
    }
    if (z) {
#pragma omp simd
        for (int d = 0; d < D; d++) sg[d] = cpu_sigmoid(z[d]);
    }
}

/* The prologue over all rows [B*L, D], inside the caller's parallel region. */
static void scan_prologue(float *delta, float *ddelta, float *sg, const float *delta_pre,
                          const float *dt_bias, const float *z, int z_stride, int rows, int D)
{
#pragma omp for schedule(static)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * D;
        scan_prologue_row(delta + o, ddelta ? ddelta + o : NULL, z ? sg + o : NULL,
                          delta_pre + o, dt_bias, z ? z + (size_t)r * z_stride : NULL, D);
    }
}

/* A = -exp(A_log) for all [D, N], inside the caller's parallel region. Once per call rather than
 * once per (sequence, channel): a generation step (L = 1) would otherwise spend as many exps on
 * A as on the recurrence itself. */
CPU_HOT static void scan_A_row(float *A, const float *A_log, int N)
{
#pragma omp simd
    for (int n = 0; n < N; n++) A[n] = -cpu_exp(A_log[n]);
}

static void scan_A_table(float *A, const float *A_log, int D, int N)
{
#pragma omp for schedule(static)
    for (int d = 0; d < D; d++) scan_A_row(A + (size_t)d * N, A_log + (size_t)d * N, N);
}

/* The inputs of one (b, d) channel, at (b, t = 0); element t is at t * stride. */
typedef struct {
    const float *u, *delta, *ddelta, *sg, *z; /* stride D, except z (z_stride); sg, z may be NULL */
    const float *Bm, *Cm;                     /* stride bc_stride */
    int D, bc_stride, z_stride, L;
    float Dd;
    const float *A; /* [N], -exp(A_log[d, :]): this channel's row of the A table */
} ScanChan;

static ScanChan scan_chan(const float *u, const float *delta, const float *ddelta,
                          const float *sg, const float *z, int z_stride, const float *Bm,
                          const float *Cm, int bc_stride, const float *Dskip, const float *A,
                          int b, int d, int L, int D)
{
    size_t o = (size_t)b * L * D + d;
    ScanChan c = {
        .u = u + o, .delta = delta + o, .ddelta = ddelta ? ddelta + o : NULL,
        .sg = z ? sg + o : NULL, .z = z ? z + (size_t)b * L * z_stride + d : NULL,
        .Bm = Bm + (size_t)b * L * bc_stride, .Cm = Cm + (size_t)b * L * bc_stride, .D = D,
        .bc_stride = bc_stride, .z_stride = z_stride, .L = L, .Dd = Dskip[d], .A = A,
    };
    return c;
}

/* a[i][n] = exp(delta_t A[n]) for t = t0 + i, i < nt. Kept apart from the recurrence: these
 * exps do not depend on the state, so in their own loop they pipeline across t instead of
 * waiting on the state update of each step. delta_t A[n] <= 0. */
CPU_INLINE void scan_decay(float *a, const ScanChan *c, int t0, int nt, const int N)
{
    const float *A = c->A;
    for (int i = 0; i < nt; i++) {
        float dl = c->delta[(size_t)(t0 + i) * c->D];
        float *ai = a + (size_t)i * N;
#pragma omp simd
        for (int n = 0; n < N; n++) ai[n] = cpu_exp_neg_abs(dl * A[n]);
    }
}

/* st[i][n] = a[i][n] * st[i-1][n] + delta_t u_t B_t[n] for t = t0 + i, i < nt, from
 * st[-1] = s_prev. Only the state update, which vectorizes over n with nothing horizontal,
 * is on the path carried from one step to the next. */
CPU_INLINE void scan_states(float *st, const float *s_prev, const float *a, const ScanChan *c,
                            int t0, int nt, const int N)
{
    for (int i = 0; i < nt; i++) {
        int t = t0 + i;
        float dlu = c->delta[(size_t)t * c->D] * c->u[(size_t)t * c->D];
        const float *Bt = c->Bm + (size_t)t * c->bc_stride;
        const float *ai = a + (size_t)i * N, *sp = i ? st + (size_t)(i - 1) * N : s_prev;
        float *si = st + (size_t)i * N;
#pragma omp simd
        for (int n = 0; n < N; n++) si[n] = ai[n] * sp[n] + dlu * Bt[n];
    }
}

/* ypre[i] = C_t . st[i] + D u_t (the output before the gate) for t = t0 + i. A plain loop in a
 * fixed order: the sums are independent across t, so they pipeline without vectorizing, and
 * they come out the same whatever the vector width. */
CPU_INLINE void scan_outputs(float *ypre, const float *st, const ScanChan *c, int t0, int nt,
                             const int N)
{
    for (int i = 0; i < nt; i++) {
        int t = t0 + i;
        const float *Ct = c->Cm + (size_t)t * c->bc_stride, *si = st + (size_t)i * N;
        float acc = 0.0f;
        for (int n = 0; n < N; n++) acc += Ct[n] * si[n];
        ypre[i] = acc + c->Dd * c->u[(size_t)t * c->D];
    }
}

/* The forward runs SCAN_GROUP neighbouring channels of one sequence together, one channel per
 * vector lane (8 floats: one AVX2 register), with the group's state stored [N][SCAN_GROUP].
 * Then every operation is vertical: the decay exps, the state update and the output sums over
 * n all run across channels, where one channel at a time would sum its output through a chain
 * of N dependent adds. Per channel the arithmetic and its order are those of the backward's
 * recompute (scan_decay, scan_states, scan_outputs), so the two agree exactly. */
#define SCAN_GROUP 8

/* The A table in the forward's layout, [groups][N][SCAN_GROUP] from the rows [D][N], inside
 * the caller's parallel region; lanes past the last channel hold 0. */
static void scan_A_groups(float *Ag, const float *A, int D, int N)
{
    int groups = (D + SCAN_GROUP - 1) / SCAN_GROUP;
#pragma omp for schedule(static)
    for (int g = 0; g < groups; g++)
        for (int n = 0; n < N; n++)
            for (int j = 0; j < SCAN_GROUP; j++) {
                int d = g * SCAN_GROUP + j;
                Ag[((size_t)g * N + n) * SCAN_GROUP + j] = d < D ? A[(size_t)d * N + n] : 0.0f;
            }
}

/* dst[j] = src[j] for the nd lanes in use, 0 in the others. A whole group takes the plain
 * loop, which vectorizes; only a last, partial group pays for the test per lane. */
CPU_INLINE void lanes_load(float *dst, const float *src, int nd)
{
    if (nd == SCAN_GROUP) {
#pragma omp simd
        for (int j = 0; j < SCAN_GROUP; j++) dst[j] = src[j];
    } else {
        for (int j = 0; j < SCAN_GROUP; j++) dst[j] = j < nd ? src[j] : 0.0f;
    }
}

CPU_INLINE void lanes_store(float *dst, const float *src, int nd)
{
    if (nd == SCAN_GROUP) {
#pragma omp simd
        for (int j = 0; j < SCAN_GROUP; j++) dst[j] = src[j];
    } else {
        for (int j = 0; j < nd; j++) dst[j] = src[j];
    }
}

/* Forward of nd <= SCAN_GROUP channels from the group's first channel (every pointer is at
 * (b, t = 0, d0) in its own layout; At is the group's [N][SCAN_GROUP] block of the A table,
 * state at row d0) over L steps, from state (its [nd, N] rows, updated) or from zero, through
 * st, [N][SCAN_GROUP] scratch. Unused lanes run on zeros and are never stored. */
CPU_INLINE void scan_group_fwd(float *y, float *state, float *st, const float *u,
                               const float *delta, const float *sg, const float *z, int z_stride,
                               const float *Bm, const float *Cm, int bc_stride,
                               const float *Dskip, const float *At, int nd, int L, int D,
                               const int N)
{
    enum { G = SCAN_GROUP };
    /* A generation step (L = 1) pays this transpose every call: the whole-group case reads the
     * state rows in order and without a test per element. */
    if (state && nd == G) {
        for (int j = 0; j < G; j++)
            for (int n = 0; n < N; n++) st[n * G + j] = state[(size_t)j * N + n];
    } else {
        for (int n = 0; n < N; n++)
            for (int j = 0; j < G; j++)
                st[n * G + j] = j < nd && state ? state[(size_t)j * N + n] : 0.0f;
    }
    float Dd[G];
    lanes_load(Dd, Dskip, nd);
    for (int t = 0; t < L; t++) {
        const float *ut = u + (size_t)t * D;
        const float *Bt = Bm + (size_t)t * bc_stride, *Ct = Cm + (size_t)t * bc_stride;
        float dl[G], uu[G], dlu[G], acc[G];
        lanes_load(dl, delta + (size_t)t * D, nd);
        lanes_load(uu, ut, nd);
#pragma omp simd
        for (int j = 0; j < G; j++) {
            dlu[j] = dl[j] * uu[j];
            acc[j] = 0.0f;
        }
        for (int n = 0; n < N; n++) {
            float *sn = st + n * G;
            const float *An = At + n * G;
#pragma omp simd
            for (int j = 0; j < G; j++) {
                sn[j] = cpu_exp_neg_abs(dl[j] * An[j]) * sn[j] + dlu[j] * Bt[n];
                acc[j] += Ct[n] * sn[j];
            }
        }
#pragma omp simd
        for (int j = 0; j < G; j++) acc[j] += Dd[j] * uu[j];
        if (z) {
            float zz[G], sgt[G];
            lanes_load(zz, z + (size_t)t * z_stride, nd);
            lanes_load(sgt, sg + (size_t)t * D, nd);
#pragma omp simd
            for (int j = 0; j < G; j++) acc[j] *= zz[j] * sgt[j];
        }
        lanes_store(y + (size_t)t * D, acc, nd);
    }
    if (state)
        for (int j = 0; j < nd; j++)
            for (int n = 0; n < N; n++) state[(size_t)j * N + n] = st[n * G + j];
}

CPU_HOT static void scan_group_fwd_any(float *y, float *state, float *st, const float *u,
                                       const float *delta, const float *sg, const float *z,
                                       int z_stride, const float *Bm, const float *Cm,
                                       int bc_stride, const float *Dskip, const float *At, int nd,
                                       int L, int D, int N)
{
    if (N == SCAN_N_FAST)
        scan_group_fwd(y, state, st, u, delta, sg, z, z_stride, Bm, Cm, bc_stride, Dskip, At,
                       nd, L, D, SCAN_N_FAST);
    else
        scan_group_fwd(y, state, st, u, delta, sg, z, z_stride, Bm, Cm, bc_stride, Dskip, At,
                       nd, L, D, N);
}

/* Every (sequence, channel group) through its whole length, inside the caller's parallel
 * region; from ssm_state (updated) when given, else from zero. */
static void scan_groups(float *y, float *ssm_state, const float *u, const float *delta,
                        const float *sg, const float *z, int z_stride, const float *Bm,
                        const float *Cm, int bc_stride, const float *Dskip, const float *Ag,
                        int B, int L, int D, int N)
{
    int groups = (D + SCAN_GROUP - 1) / SCAN_GROUP;
    float *st = cpu_scratch((size_t)N * SCAN_GROUP * sizeof(float));
#pragma omp for schedule(static)
    for (int i = 0; i < B * groups; i++) {
        int g = i % groups, b = i / groups, d = g * SCAN_GROUP;
        int nd = D - d < SCAN_GROUP ? D - d : SCAN_GROUP;
        size_t o = (size_t)b * L * D + d; /* (b, t = 0, d) */
        scan_group_fwd_any(y + o, ssm_state ? ssm_state + ((size_t)b * D + d) * N : NULL, st,
                           u + o, delta + o, z ? sg + o : NULL,
                           z ? z + (size_t)b * L * z_stride + d : NULL, z_stride,
                           Bm + (size_t)b * L * bc_stride, Cm + (size_t)b * L * bc_stride,
                           bc_stride, Dskip + d, Ag + (size_t)g * N * SCAN_GROUP, nd, L, D, N);
    }
    free(st);
}

/* The bf16 flag picks the storage of the activations: the bf16 op widens them and calls the
 * fp32 one (backend_cpu_bf16.c). */
void cpu_scan_fwd(Backend *be, const ScanFwd *a)
{
    if (a->bf16)
        cpu_scan_fwd_bf16(be, a);
    else
        cpu_scan_fwd_f32(be, a);
}

void cpu_scan_fwd_f32(Backend *be, const ScanFwd *a)
{
    float *y = a->y, *ssm_state = a->ssm_state;
    const float *u = a->u, *delta_pre = a->delta_pre, *z = a->z;
    const float *dt_bias = a->dt_bias, *A_log = a->A_log, *Bm = a->Bm, *Cm = a->Cm;
    const float *Dskip = a->Dskip;
    int bc_stride = a->bc_stride, z_stride = a->z_stride;
    int B = a->B, L = a->L, D = a->D, N = a->N;
    size_t n_el = (size_t)B * L * D;
    float *delta = cpu_scratch(n_el * sizeof(float));
    float *sg = z ? cpu_scratch(n_el * sizeof(float)) : NULL;
    size_t groups = (size_t)(D + SCAN_GROUP - 1) / SCAN_GROUP;
    float *A = cpu_scratch((size_t)D * N * sizeof(float));
    float *Ag = cpu_scratch(groups * N * SCAN_GROUP * sizeof(float));
#pragma omp parallel num_threads(cpu_team(be, n_el * (size_t)N * SCAN_WORK_PER_STATE))
    {
        scan_prologue(delta, NULL, sg, delta_pre, dt_bias, z, z_stride, B * L, D);
        scan_A_table(A, A_log, D, N);
        scan_A_groups(Ag, A, D, N);
        scan_groups(y, ssm_state, u, delta, sg, z, z_stride, Bm, Cm, bc_stride, Dskip, Ag, B, L,
                    D, N);
    }
    free(Ag);
    free(A);
    free(sg);
    free(delta);
}

/* Per-thread history of one channel's forward, kept for its backward. The backward's first
 * pass overwrites rows it no longer needs with per-step terms for its second pass. */
typedef struct {
    float *s;       /* [L + 1, N]: row t + 1 = state after step t, row 0 = the zero initial state;
                     * then row t + 1 = g_t B_t (g = dLoss/ds_t) */
    float *dA;      /* [L, N]: a_t = exp(delta_t A); then dLoss/d(delta_t A) */
    float *ypre;    /* [L]: output before the z gate; then dLoss/d(ypre) */
    double *dA_acc; /* [N]: dLoss/dA */
    float *ds;      /* [N] */
} ScanHist;

static void scan_hist_alloc(ScanHist *h, int L, int N)
{
    h->s = cpu_scratch((size_t)(L + 1) * N * sizeof(float));
    h->dA = cpu_scratch((size_t)L * N * sizeof(float));
    h->ypre = cpu_scratch((size_t)L * sizeof(float));
    h->dA_acc = cpu_scratch((size_t)N * sizeof(double));
    h->ds = cpu_scratch((size_t)N * sizeof(float));
}

static void scan_hist_free(ScanHist *h)
{
    free(h->s), free(h->dA), free(h->ypre), free(h->dA_acc), free(h->ds);
}

/* The forward of one channel from a zero state, keeping everything the backward needs. */
CPU_INLINE void scan_channel_recompute(ScanHist *h, const ScanChan *c, const int N)
{
    memset(h->s, 0, (size_t)N * sizeof(float));
    scan_decay(h->dA, c, 0, c->L, N);
    scan_states(h->s + N, h->s, h->dA, c, 0, c->L, N);
    scan_outputs(h->ypre, h->s + N, c, 0, c->L, N);
}

/* Per-channel sums of one (b, d) pair, reduced over b afterwards in order. */
typedef struct {
    double dDskip, ddt_bias;
} ChanSums;

/* Backward of one channel. du, ddelta_pre, dz point at (b, t = 0, d); dB_part and dC_part at
 * (b, t = 0) of this channel block's [B*L, N] partials (+=); h->dA_acc receives dLoss/dA.
 *
 * With s_t = a_t s_{t-1} + delta_t u_t B_t, a_t = exp(delta_t A) and g_t = dLoss/ds_t:
 *   g_t = g_{t+1} a_{t+1} + gy_t C_t    (gy: gradient of the output before the gate)
 *   dC_t = gy_t s_t,  dB_t = g_t delta_t u_t,  dLoss/d(delta_t A) = g_t s_{t-1} a_t,
 *   ddelta_t = sum_n g_t s_{t-1} a_t A + u_t sum_n g_t B_t,  du_t = gy_t D + delta_t sum_n g_t B_t.
 * Pass 1 walks t down carrying g, with only work that is vertical in n; pass 2 does the sums
 * over n, which are independent across t, in a fixed order. */
CPU_INLINE void scan_channel_bwd(float *du, float *ddelta_pre, float *dz, int dz_stride,
                                 float *dB_part, float *dC_part, ChanSums *cs, ScanHist *h,
                                 const float *dy, const ScanChan *c, const int N)
{
    const int D = c->D;
    const float *A = c->A;
    scan_channel_recompute(h, c, N);
    float *ds = h->ds;
    memset(ds, 0, (size_t)N * sizeof(float));
    double dD = 0;
    for (int t = c->L - 1; t >= 0; t--) {
        float uu = c->u[(size_t)t * D], dlu = c->delta[(size_t)t * D] * uu;
        const float *Bt = c->Bm + (size_t)t * c->bc_stride;
        const float *Ct = c->Cm + (size_t)t * c->bc_stride;
        const float *sp = h->s + (size_t)t * N;
        float *st = h->s + (size_t)(t + 1) * N, *at = h->dA + (size_t)t * N;
        float *dBt = dB_part + (size_t)t * N, *dCt = dC_part + (size_t)t * N;

        float gy = dy[(size_t)t * D];
        if (c->z) {
            float zz = c->z[(size_t)t * c->z_stride], sg = c->sg[(size_t)t * D];
            dz[(size_t)t * dz_stride] = gy * h->ypre[t] * sg * (1.0f + zz * (1.0f - sg));
            gy *= zz * sg;
        }
        h->ypre[t] = gy;
        dD += (double)gy * uu;
#pragma omp simd
        for (int n = 0; n < N; n++) {
            float g = ds[n] + gy * Ct[n];
            float a = at[n];
            dCt[n] += gy * st[n];
            dBt[n] += g * dlu;
            at[n] = g * sp[n] * a;
            st[n] = g * Bt[n];
            ds[n] = g * a;
        }
    }
    memset(h->dA_acc, 0, (size_t)N * sizeof(double));
    double dtb = 0;
    for (int t = 0; t < c->L; t++) {
        float dl = c->delta[(size_t)t * D];
        const float *gda = h->dA + (size_t)t * N, *gb = h->s + (size_t)(t + 1) * N;
        float gdA_A = 0.0f, gB = 0.0f;
        for (int n = 0; n < N; n++) {
            gdA_A += gda[n] * A[n];
            gB += gb[n];
        }
#pragma omp simd
        for (int n = 0; n < N; n++) h->dA_acc[n] += (double)(gda[n] * dl);
        float dx = (gdA_A + c->u[(size_t)t * D] * gB) * c->ddelta[(size_t)t * D];
        ddelta_pre[(size_t)t * D] = dx;
        dtb += dx;
        du[(size_t)t * D] = h->ypre[t] * c->Dd + dl * gB;
    }
    cs->dDskip = dD;
    cs->ddt_bias = dtb;
}

CPU_HOT static void scan_channel_bwd_any(float *du, float *ddelta_pre, float *dz, int dz_stride,
                                         float *dB_part, float *dC_part, ChanSums *cs,
                                         ScanHist *h, const float *dy, const ScanChan *c, int N)
{
    if (N == SCAN_N_FAST)
        scan_channel_bwd(du, ddelta_pre, dz, dz_stride, dB_part, dC_part, cs, h, dy, c,
                         SCAN_N_FAST);
    else
        scan_channel_bwd(du, ddelta_pre, dz, dz_stride, dB_part, dC_part, cs, h, dy, c, N);
}

/* As cpu_scan_fwd: bf16 activations go through the widening twin. */
void cpu_scan_bwd(Backend *be, const ScanBwd *a)
{
    if (a->bf16)
        cpu_scan_bwd_bf16(be, a);
    else
        cpu_scan_bwd_f32(be, a);
}

void cpu_scan_bwd_f32(Backend *be, const ScanBwd *a)
{
    float *du = a->du, *ddelta_pre = a->ddelta_pre, *dz = a->dz;
    float *ddt_bias = a->ddt_bias, *dA_log = a->dA_log, *dBm = a->dBm, *dCm = a->dCm;
    float *dDskip = a->dDskip;
    const float *dy = a->dy, *u = a->u, *delta_pre = a->delta_pre, *z = a->z;
    const float *dt_bias = a->dt_bias, *A_log = a->A_log, *Bm = a->Bm, *Cm = a->Cm;
    const float *Dskip = a->Dskip;
    int dbc_stride = a->dbc_stride, dz_stride = a->dz_stride;
    int bc_stride = a->bc_stride, z_stride = a->z_stride;
    int B = a->B, L = a->L, D = a->D, N = a->N;
    int nblk = (SCAN_MIN_ITEMS + B - 1) / B;
    nblk = nblk < SCAN_MAX_BLOCKS ? nblk : SCAN_MAX_BLOCKS;
    nblk = nblk < D ? nblk : D;
    int bw = (D + nblk - 1) / nblk; /* channels per block */
    nblk = (D + bw - 1) / bw;
    size_t rows = (size_t)B * L, n_el = rows * D;
    size_t part = rows * N; /* floats in one block's dB (or dC) partial */
    float *dB_part = cpu_scratch((size_t)nblk * part * sizeof(float));
    float *dC_part = cpu_scratch((size_t)nblk * part * sizeof(float));
    double *dA_bd = cpu_scratch((size_t)B * D * N * sizeof(double));
    ChanSums *cs_bd = cpu_scratch((size_t)B * D * sizeof(ChanSums));
    float *delta = cpu_scratch(n_el * sizeof(float));
    float *ddelta = cpu_scratch(n_el * sizeof(float));
    float *sg = z ? cpu_scratch(n_el * sizeof(float)) : NULL;
    float *A = cpu_scratch((size_t)D * N * sizeof(float));

#pragma omp parallel num_threads(cpu_team(be, n_el * (size_t)N))
    {
        scan_prologue(delta, ddelta, sg, delta_pre, dt_bias, z, z_stride, (int)rows, D);
        scan_A_table(A, A_log, D, N);
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
                ScanChan c = scan_chan(u, delta, ddelta, sg, z, z_stride, Bm, Cm, bc_stride,
                                       Dskip, A + (size_t)d * N, b, d, L, D);
                size_t o = (size_t)b * L * D + d;
                float *dzc = dz ? dz + (size_t)b * L * dz_stride + d : NULL;
                ChanSums *cs = &cs_bd[(size_t)b * D + d];
                scan_channel_bwd_any(du + o, ddelta_pre + o, dzc, dz_stride, dBp, dCp, cs, &h,
                                     dy + o, &c, N);
                memcpy(dA_bd + ((size_t)b * D + d) * N, h.dA_acc, (size_t)N * sizeof(double));
            }
        }
        scan_hist_free(&h);

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
    free(A);
    free(sg);
    free(ddelta);
    free(delta);
    free(cs_bd);
    free(dA_bd);
    free(dC_part);
    free(dB_part);
}
