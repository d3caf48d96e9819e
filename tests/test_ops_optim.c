/* AdamW and sum of squares of the CPU backend against double references. */
#include "tests/test_ops_util.h"

/* Several steps with fresh gradients each step; the reference keeps its state in double. */
START_TEST(adamw_steps)
{
    uint64_t rng = 71;
    size_t n = 1001;
    const float lr = 3e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, scale = 0.5f;
    float *p = ops_frand(n, &rng, -1, 1), *m = ops_falloc(n), *v = ops_falloc(n);
    memset(m, 0, n * sizeof(float)), memset(v, 0, n * sizeof(float));
    double *rp = ops_to_double(p, n), *rm = ops_dalloc(n), *rv = ops_dalloc(n);
    float *g = ops_falloc(n);
    Backend *be = backend_cpu_create(2);
    for (int t = 1; t <= 6; t++) {
        tu_fill(g, n, &rng, -2, 2);
        g[t] = 0.0f; /* a zero gradient: the step is then weight decay alone */
        be->adamw(be, p, g, m, v, n, lr, b1, b2, eps, wd, scale, t);
        for (size_t i = 0; i < n; i++) {
            double gi = (double)g[i] * scale;
            rm[i] = b1 * rm[i] + (1 - (double)b1) * gi;
            rv[i] = b2 * rv[i] + (1 - (double)b2) * gi * gi;
            double mh = rm[i] / (1 - pow(b1, t)), vh = rv[i] / (1 - pow(b2, t));
            rp[i] -= lr * (mh / (sqrt(vh) + eps) + wd * rp[i]);
        }
    }
    ops_expect("adamw 6 steps: param", ops_rel_err(p, rp, n), 1e-6);
    ops_expect("adamw 6 steps: m", ops_rel_err(m, rm, n), 1e-6);
    ops_expect("adamw 6 steps: v", ops_rel_err(v, rv, n), 1e-6);
    free(p), free(m), free(v), free(rp), free(rm), free(rv), free(g);
    be->destroy(be);
}
END_TEST

START_TEST(sumsq)
{
    uint64_t rng = 72;
    const size_t sizes[] = {0, 1, 17, 65536, 200003};
    Backend *be = backend_cpu_create(2);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *x = ops_frand(n, &rng, -3, 3);
        double ref = 0;
        for (size_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
        double got = be->sumsq(be, x, n);
        char what[96];
        snprintf(what, sizeof what, "sumsq n=%zu", n);
        ops_expect(what, ref == 0 ? fabs(got) : fabs(got - ref) / ref, 1e-12);
        free(x);
    }
    be->destroy(be);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, adamw_steps);
    tcase_add_test(tc, sumsq);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
