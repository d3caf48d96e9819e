/* Depthwise causal conv1d + bias + SiLU of the CPU backend against a double reference, with
 * finite-difference gradients and recurrent-state chaining. The input is read as the model
 * reads it: the first half of in_proj's output [rows, 2D] (row stride 2D). */
#include "tests/test_ops_util.h"

typedef struct {
    int B, L, D, K;
    double *xz, *w, *bias, *state; /* xz [rows, 2D] (u = first D columns), state [B, D, K-1] */
    double *out, *state_out;       /* [rows, D], [B, D, K-1] */
    const float *Rw;
} ConvRef;

static void ref_conv(ConvRef *c)
{
    int B = c->B, L = c->L, D = c->D, K = c->K;
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            /* x(p) for p in [-(K-1), L): the state, then the sequence */
#define X(p) ((p) >= 0 ? c->xz[((size_t)b * L + (p)) * 2 * D + d]                 \
                       : (c->state ? c->state[((size_t)b * D + d) * (K - 1) + (K - 1) + (p)] : 0))
            for (int t = 0; t < L; t++) {
                double pre = c->bias[d];
                for (int k = 0; k < K; k++) pre += c->w[d * K + k] * X(t - (K - 1) + k);
                c->out[((size_t)b * L + t) * D + d] = pre / (1 + exp(-pre));
            }
            for (int j = 0; j < K - 1; j++)
                c->state_out[((size_t)b * D + d) * (K - 1) + j] = X(L - (K - 1) + j);
#undef X
        }
}

static double conv_loss(void *p)
{
    ConvRef *c = p;
    ref_conv(c);
    return ops_dot_2d(c->out, c->D, c->Rw, c->B * c->L, c->D);
}

typedef struct {
    int B, L, D, K;
    float *xz, *w, *bias, *state;
} ConvIn;

static void conv_in_make(ConvIn *in, int B, int L, int D, int K, uint64_t *rng)
{
    in->B = B, in->L = L, in->D = D, in->K = K;
    in->xz = ops_frand((size_t)B * L * 2 * D, rng, -2, 2);
    in->w = ops_frand((size_t)D * K, rng, -1, 1);
    in->bias = ops_frand(D, rng, -0.5f, 0.5f);
    in->state = ops_frand((size_t)B * D * (K - 1) + 1, rng, -2, 2);
}

static void conv_in_free(ConvIn *in)
{
    free(in->xz), free(in->w), free(in->bias), free(in->state);
}

static void conv_ref_make(ConvRef *c, const ConvIn *in, int with_state, const float *Rw)
{
    size_t rows = (size_t)in->B * in->L;
    c->B = in->B, c->L = in->L, c->D = in->D, c->K = in->K;
    c->xz = ops_to_double(in->xz, rows * 2 * in->D);
    c->w = ops_to_double(in->w, (size_t)in->D * in->K);
    c->bias = ops_to_double(in->bias, in->D);
    c->state = with_state ? ops_to_double(in->state, (size_t)in->B * in->D * (in->K - 1)) : NULL;
    c->out = ops_dalloc(rows * in->D);
    c->state_out = ops_dalloc((size_t)in->B * in->D * (in->K - 1) + 1);
    c->Rw = Rw;
}

static void conv_ref_free(ConvRef *c)
{
    free(c->xz), free(c->w), free(c->bias), free(c->state), free(c->out), free(c->state_out);
}

static void check_conv_fwd(int B, int L, int D, int K, uint64_t seed)
{
    uint64_t rng = seed;
    ConvIn in;
    conv_in_make(&in, B, L, D, K, &rng);
    Backend *be = backend_cpu_create(2);
    size_t no = (size_t)B * L * D, ns = (size_t)B * D * (K - 1);
    float *out = ops_falloc(no), *st = ops_falloc(ns + 1);
    char what[128];
    for (int with_state = 0; with_state < 2; with_state++) {
        ConvRef c;
        conv_ref_make(&c, &in, with_state, NULL);
        ref_conv(&c);
        ops_poison(out, no);
        memcpy(st, in.state, (ns + 1) * sizeof(float));
        be->conv1d_fwd(be, out, in.xz, 2 * D, in.w, in.bias, with_state ? st : NULL, B, L, D, K);
        snprintf(what, sizeof what, "conv1d fwd B=%d L=%d D=%d K=%d%s", B, L, D, K,
                 with_state ? " state" : "");
        ops_expect(what, ops_rel_err(out, c.out, no), OPS_FWD_TOL);
        if (with_state) {
            snprintf(what, sizeof what, "conv1d fwd final state B=%d L=%d D=%d K=%d", B, L, D, K);
            ops_expect(what, ops_rel_err(st, c.state_out, ns), OPS_FWD_TOL);
        }
        conv_ref_free(&c);
    }
    free(out), free(st);
    be->destroy(be);
    conv_in_free(&in);
}

static void check_conv_bwd(int B, int L, int D, int K, uint64_t seed)
{
    uint64_t rng = seed;
    ConvIn in;
    conv_in_make(&in, B, L, D, K, &rng);
    int rows = B * L;
    float *Rw = ops_frand((size_t)rows * D, &rng, -1, 1);
    ConvRef c;
    conv_ref_make(&c, &in, 0, Rw);

    Backend *be = backend_cpu_create(2);
    /* din goes to the u half of dxz (poisoned: overwritten); the z half must stay as it is */
    float *dxz = ops_falloc((size_t)rows * 2 * D);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < 2 * D; j++) dxz[r * 2 * D + j] = j < D ? NAN : 7.0f;
    float *dw0 = ops_frand((size_t)D * K, &rng, -1, 1), *db0 = ops_frand(D, &rng, -1, 1);
    float *dw = ops_falloc((size_t)D * K), *db = ops_falloc(D);
    memcpy(dw, dw0, (size_t)D * K * sizeof(float)), memcpy(db, db0, D * sizeof(float));
    be->conv1d_bwd(be, dxz, 2 * D, dw, db, Rw, in.xz, 2 * D, in.w, in.bias, B, L, D, K);
    for (int i = 0; i < D * K; i++) dw[i] -= dw0[i];
    for (int i = 0; i < D; i++) db[i] -= db0[i];
    ops_expect_untouched("conv1d bwd leaves z half of dxz", dxz + D, 2 * D, rows, D, 7.0f);

    double *g_x = ops_dalloc((size_t)rows * 2 * D), *g_w = ops_dalloc((size_t)D * K);
    double *g_b = ops_dalloc(D);
    ops_fd_2d(conv_loss, &c, c.xz, 2 * D, rows, D, g_x);
    ops_fd(conv_loss, &c, c.w, (size_t)D * K, g_w);
    ops_fd(conv_loss, &c, c.bias, D, g_b);
    char what[128];
    snprintf(what, sizeof what, "conv1d grad in        B=%d L=%d D=%d K=%d", B, L, D, K);
    ops_expect(what, ops_rel_err_2d(dxz, 2 * D, g_x, 2 * D, rows, D), OPS_GRAD_TOL);
    snprintf(what, sizeof what, "conv1d grad w +=      B=%d L=%d D=%d K=%d", B, L, D, K);
    ops_expect(what, ops_rel_err(dw, g_w, (size_t)D * K), OPS_GRAD_TOL);
    snprintf(what, sizeof what, "conv1d grad bias +=   B=%d L=%d D=%d K=%d", B, L, D, K);
    ops_expect(what, ops_rel_err(db, g_b, D), OPS_GRAD_TOL);

    free(g_x), free(g_w), free(g_b), free(dxz), free(dw0), free(db0), free(dw), free(db), free(Rw);
    be->destroy(be);
    conv_ref_free(&c);
    conv_in_free(&in);
}

START_TEST(conv_fwd_sizes)
{
    check_conv_fwd(1, 37, 5, 4, 1);
    check_conv_fwd(3, 11, 7, 2, 2);
    check_conv_fwd(3, 2, 6, 4, 3); /* L < K-1: the new state mixes old state and input */
    check_conv_fwd(2, 300, 70, 4, 4);
}
END_TEST

START_TEST(conv_bwd_k4)
{
    check_conv_bwd(1, 13, 5, 4, 5);
    check_conv_bwd(3, 7, 37, 4, 6); /* more channels than one column block */
}
END_TEST

START_TEST(conv_bwd_k2)
{
    check_conv_bwd(3, 9, 5, 2, 7);
}
END_TEST

/* Chunked runs carrying conv_state equal one run over the whole sequence, exactly (the CPU does
 * the same float operations either way): 5+3, eight single steps, and chunks shorter than K-1. */
START_TEST(conv_state_chaining)
{
    for (int K = 2; K <= 4; K += 2) {
        uint64_t rng = 50 + K;
        int B = 3, L = 8, D = 7;
        ConvIn in;
        conv_in_make(&in, B, L, D, K, &rng);
        Backend *be = backend_cpu_create(2);
        size_t no = (size_t)B * L * D, ns = (size_t)B * D * (K - 1);
        float *o_all = ops_falloc(no), *st_all = ops_falloc(ns + 1);
        memcpy(st_all, in.state, (ns + 1) * sizeof(float));
        be->conv1d_fwd(be, o_all, in.xz, 2 * D, in.w, in.bias, st_all, B, L, D, K);

        const int splits[3][8] = {{5, 3}, {1, 1, 1, 1, 1, 1, 1, 1}, {2, 1, 3, 2}};
        const int nsplit[3] = {2, 8, 4};
        for (int sp = 0; sp < 3; sp++) {
            float *o = ops_falloc(no), *st = ops_falloc(ns + 1);
            memcpy(st, in.state, (ns + 1) * sizeof(float));
            ops_poison(o, no);
            int t0 = 0;
            for (int k = 0; k < nsplit[sp]; k++) {
                int L1 = splits[sp][k];
                float *x = ops_slice_seq(in.xz, B, L, t0, L1, 2 * D);
                float *oc = ops_falloc((size_t)B * L1 * D);
                be->conv1d_fwd(be, oc, x, 2 * D, in.w, in.bias, st, B, L1, D, K);
                ops_unslice_seq(o, oc, B, L, t0, L1, D);
                free(x), free(oc);
                t0 += L1;
            }
            printf("  conv1d K=%d chunks #%d: out and state %s\n", K, sp,
                   memcmp(o, o_all, no * sizeof(float)) ? "DIFFER" : "identical");
            ck_assert_mem_eq(o, o_all, no * sizeof(float));
            ck_assert_mem_eq(st, st_all, ns * sizeof(float));
            free(o), free(st);
        }
        free(o_all), free(st_all);
        be->destroy(be);
        conv_in_free(&in);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_conv");
    TCase *tc = tcase_create("conv1d");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, conv_fwd_sizes);
    tcase_add_test(tc, conv_bwd_k4);
    tcase_add_test(tc, conv_bwd_k2);
    tcase_add_test(tc, conv_state_chaining);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
