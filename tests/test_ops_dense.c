/* Embedding, RMSNorm, matmul and cross-entropy of the CPU backend against double references,
 * with finite-difference gradients, leading dimensions wider than the data and the
 * overwrite/accumulate contract of every output. */
#include "tests/test_ops_util.h"

/* ---------------------------------------------------------------- embedding */

typedef struct {
    int rows, C;
    const uint8_t *ids;
    double *table, *out;
    const float *Rw;
} EmbRef;

static double emb_loss(void *p)
{
    EmbRef *c = p;
    for (int r = 0; r < c->rows; r++)
        for (int j = 0; j < c->C; j++)
            c->out[(size_t)r * c->C + j] = c->table[(size_t)c->ids[r] * c->C + j];
    return ops_dot_2d(c->out, c->C, c->Rw, c->rows, c->C);
}

static void check_embedding(int rows, int C, uint64_t seed)
{
    uint64_t rng = seed;
    uint8_t *ids = malloc(rows);
    for (int r = 0; r < rows; r++) ids[r] = (uint8_t)(r % 3 ? tu_next(&rng) : 65); /* repeats */
    float *table = ops_frand((size_t)256 * C, &rng, -1, 1);
    float *Rw = ops_frand((size_t)rows * C, &rng, -1, 1);
    EmbRef c = {rows, C, ids, ops_to_double(table, (size_t)256 * C), ops_dalloc((size_t)rows * C),
                Rw};
    Backend *be = backend_cpu_create(2);

    float *out = ops_falloc((size_t)rows * C);
    ops_poison(out, (size_t)rows * C);
    be->embedding_fwd(be, out, ids, table, rows, C);
    emb_loss(&c);
    char what[128];
    snprintf(what, sizeof what, "embedding fwd rows=%d C=%d", rows, C);
    ops_expect(what, ops_rel_err(out, c.out, (size_t)rows * C), 1e-30);

    float *d0 = ops_frand((size_t)256 * C, &rng, -1, 1), *dt = ops_falloc((size_t)256 * C);
    memcpy(dt, d0, (size_t)256 * C * sizeof(float));
    be->embedding_bwd(be, dt, Rw, ids, rows, C);
    for (int i = 0; i < 256 * C; i++) dt[i] -= d0[i];
    double *g = ops_dalloc((size_t)256 * C);
    ops_fd(emb_loss, &c, c.table, (size_t)256 * C, g);
    snprintf(what, sizeof what, "embedding grad table += rows=%d C=%d", rows, C);
    ops_expect(what, ops_rel_err(dt, g, (size_t)256 * C), OPS_GRAD_TOL);

    free(g), free(d0), free(dt), free(out), free(c.table), free(c.out), free(Rw), free(table);
    free(ids);
    be->destroy(be);
}

START_TEST(embedding)
{
    check_embedding(37, 5, 1);
    check_embedding(100, 40, 2);
}
END_TEST

/* ---------------------------------------------------------------- rmsnorm */

#define EPS 1e-5f

typedef struct {
    int rows, C;
    double *x, *w, *out, *rstd;
    const float *Rw;
} NormRef;

static double norm_loss(void *p)
{
    NormRef *c = p;
    for (int r = 0; r < c->rows; r++) {
        const double *x = c->x + (size_t)r * c->C;
        double ss = 0;
        for (int j = 0; j < c->C; j++) ss += x[j] * x[j];
        c->rstd[r] = 1 / sqrt(ss / c->C + EPS);
        for (int j = 0; j < c->C; j++) c->out[(size_t)r * c->C + j] = x[j] * c->rstd[r] * c->w[j];
    }
    return ops_dot_2d(c->out, c->C, c->Rw, c->rows, c->C);
}

static void check_rmsnorm(int rows, int C, uint64_t seed)
{
    uint64_t rng = seed;
    size_t n = (size_t)rows * C;
    float *x = ops_frand(n, &rng, -2, 2), *w = ops_frand(C, &rng, 0.5f, 1.5f);
    float *Rw = ops_frand(n, &rng, -1, 1);
    NormRef c = {rows, C, ops_to_double(x, n), ops_to_double(w, C), ops_dalloc(n),
                 ops_dalloc(rows), Rw};
    norm_loss(&c);
    Backend *be = backend_cpu_create(2);
    float *out = ops_falloc(n), *rstd = ops_falloc(rows);
    ops_poison(out, n), ops_poison(rstd, rows);
    be->rmsnorm_fwd(be, out, rstd, x, w, rows, C, EPS);
    char what[128];
    snprintf(what, sizeof what, "rmsnorm fwd out rows=%d C=%d", rows, C);
    ops_expect(what, ops_rel_err(out, c.out, n), OPS_FWD_TOL);
    snprintf(what, sizeof what, "rmsnorm fwd rstd rows=%d C=%d", rows, C);
    ops_expect(what, ops_rel_err(rstd, c.rstd, rows), OPS_FWD_TOL);

    float *dx0 = ops_frand(n, &rng, -1, 1), *dw0 = ops_frand(C, &rng, -1, 1);
    float *dx = ops_falloc(n), *dw = ops_falloc(C);
    memcpy(dx, dx0, n * sizeof(float)), memcpy(dw, dw0, C * sizeof(float));
    be->rmsnorm_bwd(be, dx, dw, Rw, x, w, rstd, rows, C);
    for (size_t i = 0; i < n; i++) dx[i] -= dx0[i];
    for (int i = 0; i < C; i++) dw[i] -= dw0[i];
    double *gx = ops_dalloc(n), *gw = ops_dalloc(C);
    ops_fd(norm_loss, &c, c.x, n, gx);
    ops_fd(norm_loss, &c, c.w, C, gw);
    snprintf(what, sizeof what, "rmsnorm grad inp += rows=%d C=%d", rows, C);
    ops_expect(what, ops_rel_err(dx, gx, n), OPS_GRAD_TOL);
    snprintf(what, sizeof what, "rmsnorm grad w += rows=%d C=%d", rows, C);
    ops_expect(what, ops_rel_err(dw, gw, C), OPS_GRAD_TOL);

    free(gx), free(gw), free(dx0), free(dw0), free(dx), free(dw), free(out), free(rstd);
    free(c.x), free(c.w), free(c.out), free(c.rstd), free(x), free(w), free(Rw);
    be->destroy(be);
}

START_TEST(rmsnorm)
{
    check_rmsnorm(7, 37, 3);
    check_rmsnorm(33, 70, 4);
}
END_TEST

/* ---------------------------------------------------------------- matmul */

typedef struct {
    int M, K, N, ldi;
    double *inp, *w, *out; /* inp [M, ldi], w [N, K], out [M, N] */
    const float *Rw;
} MmRef;

static double mm_loss(void *p)
{
    MmRef *c = p;
    for (int i = 0; i < c->M; i++)
        for (int j = 0; j < c->N; j++) {
            double s = 0;
            for (int k = 0; k < c->K; k++) s += c->inp[(size_t)i * c->ldi + k] * c->w[(size_t)j * c->K + k];
            c->out[(size_t)i * c->N + j] = s;
        }
    return ops_dot_2d(c->out, c->N, c->Rw, c->M, c->N);
}

/* out, dout, inp and dinp are slices of wider matrices, as the model's projections are. */
static void check_matmul(int M, int K, int N, uint64_t seed)
{
    uint64_t rng = seed;
    int ldi = K + 3, ldo = N + 2, lddi = K + 5;
    float *inp = ops_frand((size_t)M * ldi, &rng, -1, 1), *w = ops_frand((size_t)N * K, &rng, -1, 1);
    float *Rw = ops_frand((size_t)M * N, &rng, -1, 1);
    MmRef c = {M, K, N, ldi, ops_to_double(inp, (size_t)M * ldi), ops_to_double(w, (size_t)N * K),
               ops_dalloc((size_t)M * N), Rw};
    mm_loss(&c);
    Backend *be = backend_cpu_create(2);
    char what[128];

    /* forward, overwrite: the slice is poisoned, the padding holds a sentinel */
    float *out = ops_falloc((size_t)M * ldo), *prior = ops_frand((size_t)M * ldo, &rng, -1, 1);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldo; j++) out[i * ldo + j] = j < N ? NAN : 7.0f;
    be->matmul_fwd(be, out, ldo, inp, ldi, w, M, K, N, 0);
    snprintf(what, sizeof what, "matmul fwd = M=%d K=%d N=%d", M, K, N);
    ops_expect(what, ops_rel_err_2d(out, ldo, c.out, N, M, N), OPS_FWD_TOL);
    ops_expect_untouched("matmul fwd leaves columns past N", out + N, ldo, M, ldo - N, 7.0f);
    /* forward, accumulate */
    memcpy(out, prior, (size_t)M * ldo * sizeof(float));
    be->matmul_fwd(be, out, ldo, inp, ldi, w, M, K, N, 1);
    for (size_t i = 0; i < (size_t)M * ldo; i++) out[i] -= prior[i];
    snprintf(what, sizeof what, "matmul fwd += M=%d K=%d N=%d", M, K, N);
    ops_expect(what, ops_rel_err_2d(out, ldo, c.out, N, M, N), OPS_FWD_TOL);

    /* backward: dout is a slice of a wider matrix too */
    float *dout = ops_falloc((size_t)M * ldo);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldo; j++) dout[i * ldo + j] = j < N ? Rw[i * N + j] : NAN;
    /* reference gradients: central differences while that is cheap; beyond, the exact
     * products in double (which the differences of a linear map reproduce anyway) */
    double *gi = ops_dalloc((size_t)M * ldi), *gw = ops_dalloc((size_t)N * K);
    int fd = (double)M * K * N * (M + N) < 2e7;
    if (fd) {
        ops_fd_2d(mm_loss, &c, c.inp, ldi, M, K, gi);
        ops_fd(mm_loss, &c, c.w, (size_t)N * K, gw);
    } else {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                for (int k = 0; k < K; k++) {
                    double g = Rw[(size_t)i * N + j];
                    gi[(size_t)i * ldi + k] += g * c.w[(size_t)j * K + k];
                    gw[(size_t)j * K + k] += g * c.inp[(size_t)i * ldi + k];
                }
    }
    float *dinp = ops_falloc((size_t)M * lddi), *dinp0 = ops_frand((size_t)M * lddi, &rng, -1, 1);
    float *dw0 = ops_frand((size_t)N * K, &rng, -1, 1), *dw = ops_falloc((size_t)N * K);
    for (int acc = 0; acc < 3; acc++) { /* 0: dinp =, 1: dinp +=, 2: dinp NULL */
        if (acc == 0)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < lddi; j++) dinp[i * lddi + j] = j < K ? NAN : 7.0f;
        else
            memcpy(dinp, dinp0, (size_t)M * lddi * sizeof(float));
        memcpy(dw, dw0, (size_t)N * K * sizeof(float));
        be->matmul_bwd(be, acc == 2 ? NULL : dinp, lddi, dw, dout, ldo, inp, ldi, w, M, K, N,
                       acc == 1);
        for (int i = 0; i < N * K; i++) dw[i] -= dw0[i];
        if (acc == 1)
            for (size_t i = 0; i < (size_t)M * lddi; i++) dinp[i] -= dinp0[i];
        const char *mode = acc == 0 ? "=" : acc == 1 ? "+=" : "NULL";
        if (acc < 2) {
            snprintf(what, sizeof what, "matmul grad inp %-4s M=%d K=%d N=%d%s", mode, M, K, N,
                     fd ? "" : " (exact)");
            ops_expect(what, ops_rel_err_2d(dinp, lddi, gi, ldi, M, K), OPS_GRAD_TOL);
        } else {
            ck_assert_mem_eq(dinp, dinp0, (size_t)M * lddi * sizeof(float)); /* not written */
        }
        if (acc == 0)
            ops_expect_untouched("matmul bwd leaves dinp columns past K", dinp + K, lddi, M,
                                 lddi - K, 7.0f);
        snprintf(what, sizeof what, "matmul grad w += (dinp %s) M=%d K=%d N=%d%s", mode, M, K,
                 N, fd ? "" : " (exact)");
        ops_expect(what, ops_rel_err(dw, gw, (size_t)N * K), OPS_GRAD_TOL);
    }

    free(gi), free(gw), free(dinp), free(dinp0), free(dw0), free(dw), free(dout), free(out);
    free(prior), free(c.inp), free(c.w), free(c.out), free(inp), free(w), free(Rw);
    be->destroy(be);
}

START_TEST(matmul)
{
    check_matmul(13, 7, 9, 5);
    check_matmul(1, 33, 17, 6);
    check_matmul(40, 19, 35, 7);
    check_matmul(150, 70, 41, 10); /* several row tiles, dw tiles in both directions */
    check_matmul(1, 40, 300, 14);  /* one row (a generation step) over several column tiles */
    check_matmul(70, 20, 260, 15); /* few row tiles, so cut along columns too */
}
END_TEST

/* ---------------------------------------------------------------- cross-entropy */

typedef struct {
    int rows, V;
    const uint8_t *tg;
    double *logits, *losses;
    double dscale;
} CeRef;

static double ce_loss(void *p)
{
    CeRef *c = p;
    double total = 0;
    for (int r = 0; r < c->rows; r++) {
        const double *x = c->logits + (size_t)r * c->V;
        double mx = x[0], s = 0;
        for (int v = 1; v < c->V; v++) mx = fmax(mx, x[v]);
        for (int v = 0; v < c->V; v++) s += exp(x[v] - mx);
        c->losses[r] = log(s) + mx - x[c->tg[r]];
        total += c->losses[r];
    }
    return total * c->dscale;
}

static void check_cross_entropy(int rows, int V, uint64_t seed)
{
    uint64_t rng = seed;
    size_t n = (size_t)rows * V;
    float *logits = ops_frand(n, &rng, -5, 5);
    for (int v = 0; v < V; v++) logits[v] += 1000.0f; /* a row that overflows a naive exp */
    uint8_t *tg = malloc(rows);
    for (int r = 0; r < rows; r++) tg[r] = (uint8_t)(tu_next(&rng) % V);
    CeRef c = {rows, V, tg, ops_to_double(logits, n), ops_dalloc(rows), 0.37};
    ce_loss(&c);
    Backend *be = backend_cpu_create(2);
    char what[128];

    float *losses = ops_falloc(rows), *dl = ops_falloc(n);
    ops_poison(losses, rows), ops_poison(dl, n);
    be->cross_entropy(be, losses, dl, logits, tg, rows, V, 0.37f);
    snprintf(what, sizeof what, "cross_entropy losses rows=%d V=%d", rows, V);
    ops_expect(what, ops_rel_err(losses, c.losses, rows), OPS_FWD_TOL);
    double *g = ops_dalloc(n);
    ops_fd(ce_loss, &c, c.logits, n, g);
    snprintf(what, sizeof what, "cross_entropy grad logits rows=%d V=%d", rows, V);
    ops_expect(what, ops_rel_err(dl, g, n), OPS_GRAD_TOL);

    /* dlogits aliasing logits gives the same numbers; NULL dlogits gives the same losses */
    float *buf = ops_falloc(n), *l2 = ops_falloc(rows);
    memcpy(buf, logits, n * sizeof(float));
    ops_poison(l2, rows);
    be->cross_entropy(be, l2, buf, buf, tg, rows, V, 0.37f);
    ck_assert_mem_eq(buf, dl, n * sizeof(float));
    ck_assert_mem_eq(l2, losses, rows * sizeof(float));
    ops_poison(l2, rows);
    be->cross_entropy(be, l2, NULL, logits, tg, rows, V, 0.37f);
    ck_assert_mem_eq(l2, losses, rows * sizeof(float));
    printf("  cross_entropy rows=%d V=%d: aliased and NULL dlogits identical\n", rows, V);

    free(buf), free(l2), free(g), free(losses), free(dl), free(c.logits), free(c.losses);
    free(tg), free(logits);
    be->destroy(be);
}

START_TEST(cross_entropy)
{
    check_cross_entropy(9, 256, 8);
    check_cross_entropy(5, 7, 9);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_dense");
    TCase *tc = tcase_create("dense");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, embedding);
    tcase_add_test(tc, rmsnorm);
    tcase_add_test(tc, matmul);
    tcase_add_test(tc, cross_entropy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
