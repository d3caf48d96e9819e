/* Selective scan (forward, backward, recurrent state) of the CPU backend against a double
 * reference written here, with finite-difference gradients. Tensors are laid out as the model
 * lays them out: Bm and Cm are column slices of x_proj's output [rows, R + 2N] (dt first), z is
 * the second half of in_proj's output [rows, 2D]. */
#include "tests/test_ops_util.h"

/* The reference's inputs, all in double, in the same layouts as the op's. */
typedef struct {
    int B, L, D, N, R;
    double *u, *dp, *dtb, *Alog, *xdbl, *Dsk, *xz; /* xdbl [rows, R+2N], xz [rows, 2D] */
    double *state;                                 /* [B, D, N] initial state, or NULL */
    double *y;                                     /* out [rows, D] */
    double *state_out;                             /* out [B, D, N] */
    const float *Rw;                               /* loss weights [rows, D] */
} ScanRef;

static double softplus_d(double x)
{
    return x > 20.0 ? x : log1p(exp(x));
}

static void ref_scan(ScanRef *c)
{
    int B = c->B, L = c->L, D = c->D, N = c->N, ld = c->R + 2 * N;
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            double s[64];
            for (int n = 0; n < N; n++) s[n] = c->state ? c->state[((size_t)b * D + d) * N + n] : 0;
            for (int t = 0; t < L; t++) {
                size_t r = (size_t)b * L + t;
                double dl = softplus_d(c->dp[r * D + d] + c->dtb[d]);
                double uu = c->u[r * D + d], acc = 0;
                const double *Bt = c->xdbl + r * ld + c->R, *Ct = Bt + N;
                for (int n = 0; n < N; n++) {
                    double A = -exp(c->Alog[(size_t)d * N + n]);
                    s[n] = exp(dl * A) * s[n] + dl * Bt[n] * uu;
                    acc += Ct[n] * s[n];
                }
                double zz = c->xz[r * 2 * D + D + d];
                c->y[r * D + d] = (acc + c->Dsk[d] * uu) * zz / (1 + exp(-zz));
            }
            for (int n = 0; n < N; n++) c->state_out[((size_t)b * D + d) * N + n] = s[n];
        }
}

static double scan_loss(void *p)
{
    ScanRef *c = p;
    ref_scan(c);
    return ops_dot_2d(c->y, c->D, c->Rw, c->B * c->L, c->D);
}

/* Float inputs of one test case. */
typedef struct {
    int B, L, D, N, R, rows, ldx;
    float *u, *dp, *dtb, *Alog, *xdbl, *Dsk, *xz, *state;
} ScanIn;

static void scan_in_make(ScanIn *in, int B, int L, int D, int N, uint64_t *rng)
{
    in->B = B, in->L = L, in->D = D, in->N = N, in->R = 3, in->rows = B * L;
    in->ldx = in->R + 2 * N;
    int rows = in->rows;
    in->u = ops_frand((size_t)rows * D, rng, -1, 1);
    in->dp = ops_frand((size_t)rows * D, rng, -3, 1);
    in->dp[rows * D / 2] = 22.0f; /* one step through softplus's linear branch (x > 20) */
    in->dtb = ops_frand(D, rng, -1, 0.5f);
    in->Alog = ops_falloc((size_t)D * N);
    for (int d = 0; d < D; d++)
        for (int n = 0; n < N; n++)
            in->Alog[d * N + n] = logf((float)(n + 1)) + tu_uniform(rng, -0.3f, 0.3f);
    in->xdbl = ops_frand((size_t)rows * in->ldx, rng, -1, 1);
    in->Dsk = ops_frand(D, rng, 0.5f, 1.5f);
    in->xz = ops_frand((size_t)rows * 2 * D, rng, -2, 2);
    in->state = ops_frand((size_t)B * D * N, rng, -1, 1);
}

static void scan_in_free(ScanIn *in)
{
    free(in->u), free(in->dp), free(in->dtb), free(in->Alog), free(in->xdbl), free(in->Dsk);
    free(in->xz), free(in->state);
}

/* The op's forward arguments on in: Bm, Cm from x_dbl after its dt columns, z the second half
 * of xz. */
static ScanFwd scan_fwd_args(const ScanIn *in, float *y, float *state, void *saved)
{
    return (ScanFwd){.y = y, .u = in->u, .delta_pre = in->dp, .z = in->xz + in->D,
                     .z_stride = 2 * in->D, .dt_bias = in->dtb, .A_log = in->Alog,
                     .Bm = in->xdbl + in->R, .Cm = in->xdbl + in->R + in->N, .bc_stride = in->ldx,
                     .Dskip = in->Dsk, .ssm_state = state, .saved = saved, .B = in->B,
                     .L = in->L, .D = in->D, .N = in->N};
}

/* The backward's arguments on in with upstream gradient dy; dx (laid out as x_dbl) and dxz (as
 * xz) take dBm, dCm and dz; the caller sets ddt_bias, dA_log and dDskip. */
static ScanBwd scan_bwd_args(const ScanIn *in, float *du, float *ddp, float *dx, float *dxz,
                             const float *dy, const void *saved)
{
    ScanFwd f = scan_fwd_args(in, NULL, NULL, NULL);
    return (ScanBwd){.du = du, .ddelta_pre = ddp, .dz = dxz + in->D, .dz_stride = 2 * in->D,
                     .dBm = dx + in->R, .dCm = dx + in->R + in->N, .dbc_stride = in->ldx,
                     .dy = dy, .u = f.u, .delta_pre = f.delta_pre, .z = f.z,
                     .z_stride = f.z_stride, .dt_bias = f.dt_bias, .A_log = f.A_log, .Bm = f.Bm,
                     .Cm = f.Cm, .bc_stride = f.bc_stride, .Dskip = f.Dskip, .saved = saved,
                     .B = f.B, .L = f.L, .D = f.D, .N = f.N};
}

static void scan_ref_make(ScanRef *c, const ScanIn *in, int with_state, const float *Rw)
{
    size_t rows = in->rows;
    int D = in->D, N = in->N;
    c->B = in->B, c->L = in->L, c->D = D, c->N = N, c->R = in->R;
    c->u = ops_to_double(in->u, rows * D);
    c->dp = ops_to_double(in->dp, rows * D);
    c->dtb = ops_to_double(in->dtb, D);
    c->Alog = ops_to_double(in->Alog, (size_t)D * N);
    c->xdbl = ops_to_double(in->xdbl, rows * in->ldx);
    c->Dsk = ops_to_double(in->Dsk, D);
    c->xz = ops_to_double(in->xz, rows * 2 * D);
    c->state = with_state ? ops_to_double(in->state, (size_t)in->B * D * N) : NULL;
    c->y = ops_dalloc(rows * D);
    c->state_out = ops_dalloc((size_t)in->B * D * N);
    c->Rw = Rw;
}

static void scan_ref_free(ScanRef *c)
{
    free(c->u), free(c->dp), free(c->dtb), free(c->Alog), free(c->xdbl), free(c->Dsk);
    free(c->xz), free(c->state), free(c->y), free(c->state_out);
}

/* Runs the op's forward on in (state: NULL or a [B, D, N] buffer updated in place). */
static void op_scan_fwd(Backend *be, float *y, const ScanIn *in, float *state)
{
    void *saved = NULL;
    size_t sb = be->scan_saved_bytes(be, in->B, in->L, in->D, in->N);
    if (sb) saved = be->alloc(be, sb);
    ScanFwd a = scan_fwd_args(in, y, state, saved);
    be->scan_fwd(be, &a);
    if (saved) be->free(be, saved);
}

/* Forward against the reference, with and without an initial state. */
static void check_scan_fwd(int B, int L, int D, int N, uint64_t seed)
{
    uint64_t rng = seed;
    ScanIn in;
    scan_in_make(&in, B, L, D, N, &rng);
    Backend *be = backend_cpu_create(2);
    size_t ny = (size_t)in.rows * D, ns = (size_t)B * D * N;
    float *y = ops_falloc(ny), *st = ops_falloc(ns);
    char what[128];
    for (int with_state = 0; with_state < 2; with_state++) {
        ScanRef c;
        scan_ref_make(&c, &in, with_state, NULL);
        ref_scan(&c);
        ops_poison(y, ny);
        memcpy(st, in.state, ns * sizeof(float));
        op_scan_fwd(be, y, &in, with_state ? st : NULL);
        snprintf(what, sizeof what, "scan fwd y B=%d L=%d D=%d N=%d%s", B, L, D, N,
                 with_state ? " state" : "");
        ops_expect(what, ops_rel_err(y, c.y, ny), OPS_FWD_TOL);
        if (with_state) {
            snprintf(what, sizeof what, "scan fwd final state B=%d L=%d D=%d N=%d", B, L, D, N);
            ops_expect(what, ops_rel_err(st, c.state_out, ns), OPS_FWD_TOL);
        }
        scan_ref_free(&c);
    }
    free(y), free(st);
    be->destroy(be);
    scan_in_free(&in);
}

/* Gradient of sum(y * R) for every input, against central differences of the reference. */
static void check_scan_bwd(int B, int L, int D, int N, uint64_t seed)
{
    uint64_t rng = seed;
    ScanIn in;
    scan_in_make(&in, B, L, D, N, &rng);
    int rows = in.rows, ldx = in.ldx, R = in.R;
    float *Rw = ops_frand((size_t)rows * D, &rng, -1, 1);
    ScanRef c;
    scan_ref_make(&c, &in, 0, Rw);

    /* analytic: overwritten outputs poisoned, accumulated ones start from random values, and
     * the columns the op must not touch (dt of dx_dbl, u half of dxz) hold a sentinel */
    Backend *be = backend_cpu_create(2);
    float *du = ops_falloc((size_t)rows * D), *ddp = ops_falloc((size_t)rows * D);
    float *dxdbl = ops_falloc((size_t)rows * ldx), *dxz = ops_falloc((size_t)rows * 2 * D);
    ops_poison(du, (size_t)rows * D), ops_poison(ddp, (size_t)rows * D);
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < ldx; j++) dxdbl[r * ldx + j] = j < R ? 7.0f : NAN;
        for (int j = 0; j < 2 * D; j++) dxz[r * 2 * D + j] = j < D ? 7.0f : NAN;
    }
    float *dtb0 = ops_frand(D, &rng, -1, 1), *dAl0 = ops_frand((size_t)D * N, &rng, -1, 1);
    float *dDs0 = ops_frand(D, &rng, -1, 1);
    float *ddtb = ops_falloc(D), *dAl = ops_falloc((size_t)D * N), *dDs = ops_falloc(D);
    memcpy(ddtb, dtb0, D * sizeof(float)), memcpy(dDs, dDs0, D * sizeof(float));
    memcpy(dAl, dAl0, (size_t)D * N * sizeof(float));
    void *saved = NULL;
    size_t sb = be->scan_saved_bytes(be, B, L, D, N);
    if (sb) saved = be->alloc(be, sb);
    float *y = ops_falloc((size_t)rows * D);
    ScanFwd fa = scan_fwd_args(&in, y, NULL, saved);
    be->scan_fwd(be, &fa);
    ScanBwd ba = scan_bwd_args(&in, du, ddp, dxdbl, dxz, Rw, saved);
    ba.ddt_bias = ddtb, ba.dA_log = dAl, ba.dDskip = dDs;
    be->scan_bwd(be, &ba);
    for (int i = 0; i < D; i++) ddtb[i] -= dtb0[i], dDs[i] -= dDs0[i];
    for (int i = 0; i < D * N; i++) dAl[i] -= dAl0[i];
    ops_expect_untouched("scan bwd leaves dt columns of dx_dbl", dxdbl, ldx, rows, R, 7.0f);
    ops_expect_untouched("scan bwd leaves u half of dxz", dxz, 2 * D, rows, D, 7.0f);

    /* finite differences */
    double *g_u = ops_dalloc((size_t)rows * D), *g_dp = ops_dalloc((size_t)rows * D);
    double *g_x = ops_dalloc((size_t)rows * ldx), *g_xz = ops_dalloc((size_t)rows * 2 * D);
    double *g_dtb = ops_dalloc(D), *g_Al = ops_dalloc((size_t)D * N), *g_D = ops_dalloc(D);
    ops_fd(scan_loss, &c, c.u, (size_t)rows * D, g_u);
    ops_fd(scan_loss, &c, c.dp, (size_t)rows * D, g_dp);
    ops_fd_2d(scan_loss, &c, c.xdbl + R, ldx, rows, 2 * N, g_x + R);
    ops_fd_2d(scan_loss, &c, c.xz + D, 2 * D, rows, D, g_xz + D);
    ops_fd(scan_loss, &c, c.dtb, D, g_dtb);
    ops_fd(scan_loss, &c, c.Alog, (size_t)D * N, g_Al);
    ops_fd(scan_loss, &c, c.Dsk, D, g_D);

    char what[128], dims[64];
    snprintf(dims, sizeof dims, "B=%d L=%d D=%d N=%d", B, L, D, N);
#define EXPECT_GRAD(name, err)                                            \
    do {                                                                  \
        snprintf(what, sizeof what, "scan grad %-10s %s", name, dims);    \
        ops_expect(what, err, OPS_GRAD_TOL);                              \
    } while (0)
    EXPECT_GRAD("u", ops_rel_err(du, g_u, (size_t)rows * D));
    EXPECT_GRAD("delta_pre", ops_rel_err(ddp, g_dp, (size_t)rows * D));
    EXPECT_GRAD("Bm", ops_rel_err_2d(dxdbl + R, ldx, g_x + R, ldx, rows, N));
    EXPECT_GRAD("Cm", ops_rel_err_2d(dxdbl + R + N, ldx, g_x + R + N, ldx, rows, N));
    EXPECT_GRAD("z", ops_rel_err_2d(dxz + D, 2 * D, g_xz + D, 2 * D, rows, D));
    EXPECT_GRAD("dt_bias +=", ops_rel_err(ddtb, g_dtb, D));
    EXPECT_GRAD("A_log +=", ops_rel_err(dAl, g_Al, (size_t)D * N));
    EXPECT_GRAD("Dskip +=", ops_rel_err(dDs, g_D, D));
#undef EXPECT_GRAD

    free(g_u), free(g_dp), free(g_x), free(g_xz), free(g_dtb), free(g_Al), free(g_D);
    free(du), free(ddp), free(dxdbl), free(dxz), free(dtb0), free(dAl0), free(dDs0);
    free(ddtb), free(dAl), free(dDs), free(y), free(Rw);
    if (saved) be->free(be, saved);
    be->destroy(be);
    scan_ref_free(&c);
    scan_in_free(&in);
}

START_TEST(scan_fwd_sizes)
{
    check_scan_fwd(1, 37, 5, 16, 11);
    check_scan_fwd(3, 8, 6, 4, 12);
    check_scan_fwd(2, 300, 33, 16, 13);
}
END_TEST

START_TEST(scan_bwd_odd)
{
    check_scan_bwd(1, 13, 5, 16, 21);
}
END_TEST

START_TEST(scan_bwd_batch)
{
    check_scan_bwd(3, 9, 7, 4, 22);
}
END_TEST

START_TEST(scan_bwd_many_channels)
{
    /* more channels than the backward's channel blocks, so blocks hold several channels */
    check_scan_bwd(2, 6, 37, 4, 23);
}
END_TEST

/* Running L = 5 then L = 3 from the carried state equals L = 8 at once, and L = 1 steps one by
 * one (the generation path, which groups channels) equal the parallel form. The CPU performs the
 * same float operations either way, so the comparison is exact. */
static void check_state_chaining(int B, int D, int N, uint64_t rng)
{
    int L = 8;
    ScanIn in;
    scan_in_make(&in, B, L, D, N, &rng);
    Backend *be = backend_cpu_create(2);
    size_t ny = (size_t)B * L * D, ns = (size_t)B * D * N;
    float *y_all = ops_falloc(ny), *st_all = ops_falloc(ns);
    memcpy(st_all, in.state, ns * sizeof(float));
    op_scan_fwd(be, y_all, &in, st_all);

    const int splits[2][9] = {{5, 3}, {1, 1, 1, 1, 1, 1, 1, 1}};
    const int nsplit[2] = {2, 8};
    for (int sp = 0; sp < 2; sp++) {
        float *y = ops_falloc(ny), *st = ops_falloc(ns);
        memcpy(st, in.state, ns * sizeof(float));
        ops_poison(y, ny);
        int t0 = 0;
        for (int k = 0; k < nsplit[sp]; k++) {
            int L1 = splits[sp][k];
            ScanIn ch = in;
            ch.L = L1, ch.rows = B * L1;
            ch.u = ops_slice_seq(in.u, B, L, t0, L1, D);
            ch.dp = ops_slice_seq(in.dp, B, L, t0, L1, D);
            ch.xdbl = ops_slice_seq(in.xdbl, B, L, t0, L1, in.ldx);
            ch.xz = ops_slice_seq(in.xz, B, L, t0, L1, 2 * D);
            float *yc = ops_falloc((size_t)B * L1 * D);
            op_scan_fwd(be, yc, &ch, st);
            ops_unslice_seq(y, yc, B, L, t0, L1, D);
            free(yc), free(ch.u), free(ch.dp), free(ch.xdbl), free(ch.xz);
            t0 += L1;
        }
        printf("  scan chunks %s B=%d D=%d N=%d: y and state %s\n", sp ? "1x8" : "5+3", B, D, N,
               memcmp(y, y_all, ny * sizeof(float)) ? "DIFFER" : "identical");
        ck_assert_mem_eq(y, y_all, ny * sizeof(float));
        ck_assert_mem_eq(st, st_all, ns * sizeof(float));
        free(y), free(st);
    }
    free(y_all), free(st_all);
    be->destroy(be);
    scan_in_free(&in);
}

START_TEST(scan_state_chaining)
{
    check_state_chaining(3, 7, 16, 31);  /* fewer channels than one step group */
    check_state_chaining(2, 19, 16, 32); /* whole groups and a remainder */
    check_state_chaining(2, 19, 4, 33);  /* a state size other than 16 */
}
END_TEST

/* Gradient accumulators really accumulate: two backward calls give twice one call's increment. */
START_TEST(scan_bwd_accumulates)
{
    uint64_t rng = 41;
    int B = 2, L = 5, D = 3, N = 4;
    ScanIn in;
    scan_in_make(&in, B, L, D, N, &rng);
    Backend *be = backend_cpu_create(2);
    int rows = B * L, ldx = in.ldx;
    float *dy = ops_frand((size_t)rows * D, &rng, -1, 1);
    float *du = ops_falloc((size_t)rows * D), *ddp = ops_falloc((size_t)rows * D);
    float *dx = ops_falloc((size_t)rows * ldx), *dxz = ops_falloc((size_t)rows * 2 * D);
    float acc[3][2][64]; /* [param][call][elem] */
    float *p[3] = {ops_falloc(D), ops_falloc(D * N), ops_falloc(D)};
    int np[3] = {D, D * N, D};
    for (int i = 0; i < 3; i++) memset(p[i], 0, np[i] * sizeof(float));
    for (int call = 0; call < 2; call++) {
        ScanBwd ba = scan_bwd_args(&in, du, ddp, dx, dxz, dy, NULL);
        ba.ddt_bias = p[0], ba.dA_log = p[1], ba.dDskip = p[2];
        be->scan_bwd(be, &ba);
        for (int i = 0; i < 3; i++) memcpy(acc[i][call], p[i], np[i] * sizeof(float));
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < np[i]; j++) {
            ck_assert_float_ne(acc[i][0][j], 0.0f);
            ck_assert_float_eq_tol(acc[i][1][j], 2 * acc[i][0][j], 1e-6 * fabsf(acc[i][0][j]));
        }
    for (int i = 0; i < 3; i++) free(p[i]);
    free(dy), free(du), free(ddp), free(dx), free(dxz);
    be->destroy(be);
    scan_in_free(&in);
}
END_TEST

/* The CPU saves nothing for the backward (scan_saved_bytes is 0), but a caller may still pass
 * a saved pointer (e.g. be->alloc(be, 0)): results are the same as with NULL. */
START_TEST(scan_ignores_saved)
{
    uint64_t rng = 51;
    int B = 2, L = 7, D = 5, N = 4;
    ScanIn in;
    scan_in_make(&in, B, L, D, N, &rng);
    Backend *be = backend_cpu_create(2);
    ck_assert_uint_eq(be->scan_saved_bytes(be, B, L, D, N), 0);
    int rows = B * L, ldx = in.ldx;
    size_t ny = (size_t)rows * D;
    float *dy = ops_frand(ny, &rng, -1, 1);
    float *out[2][5];
    void *saved = be->alloc(be, 0);
    for (int k = 0; k < 2; k++) {
        void *sv = k ? saved : NULL;
        float *y = ops_falloc(ny), *du = ops_falloc(ny), *ddp = ops_falloc(ny);
        float *dx = ops_falloc((size_t)rows * ldx), *dxz = ops_falloc((size_t)rows * 2 * D);
        memset(dx, 0, (size_t)rows * ldx * sizeof(float));
        memset(dxz, 0, (size_t)rows * 2 * D * sizeof(float));
        float *pd = calloc((size_t)D * (N + 2), sizeof(float));
        ScanFwd fa = scan_fwd_args(&in, y, NULL, sv);
        be->scan_fwd(be, &fa);
        ScanBwd ba = scan_bwd_args(&in, du, ddp, dx, dxz, dy, sv);
        ba.ddt_bias = pd, ba.dA_log = pd + D, ba.dDskip = pd + D + D * N;
        be->scan_bwd(be, &ba);
        out[k][0] = y, out[k][1] = du, out[k][2] = ddp, out[k][3] = dx, out[k][4] = pd;
        free(dxz);
    }
    size_t n[5] = {ny, ny, ny, (size_t)rows * ldx, (size_t)D * (N + 2)};
    for (int i = 0; i < 5; i++) {
        ck_assert_mem_eq(out[0][i], out[1][i], n[i] * sizeof(float));
        free(out[0][i]), free(out[1][i]);
    }
    be->free(be, saved);
    free(dy);
    be->destroy(be);
    scan_in_free(&in);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_scan");
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, scan_fwd_sizes);
    tcase_add_test(tc, scan_bwd_odd);
    tcase_add_test(tc, scan_bwd_batch);
    tcase_add_test(tc, scan_bwd_many_channels);
    tcase_add_test(tc, scan_state_chaining);
    tcase_add_test(tc, scan_bwd_accumulates);
    tcase_add_test(tc, scan_ignores_saved);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
