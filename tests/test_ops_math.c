/* The CPU backend's branch-free elementwise functions (exp, softplus, sigmoid) against libm in
 * double over their whole input range: every op that vectorizes builds on them. */
#include <float.h>

#include "tests/test_ops_util.h"

#include "byte_lm/model/backend_cpu_internal.h"

/* relative error in units of float epsilon (2^-23) */
static double ulps(float got, double want)
{
    return fabs((double)got - want) / (fabs(want) * FLT_EPSILON);
}

START_TEST(exp_neg_abs)
{
    double worst = 0;
    int asymmetric = 0;
    for (int i = 0; i < 2000000; i++) { /* (-87, 0] */
        float x = -87.0f * (float)i / 2000000.0f;
        float e = cpu_exp_neg_abs(x);
        worst = fmax(worst, ulps(e, exp((double)x)));
        asymmetric += cpu_exp_neg_abs(-x) != e; /* exp(-|x|) */
    }
    printf("  exp(-|x|) on (-87, 0]: worst %.2f ulp\n", worst);
    ck_assert_double_lt(worst, 4.0);
    ck_assert_int_eq(asymmetric, 0);
    ck_assert(cpu_exp_neg_abs(0.0f) == 1.0f);
    ck_assert(cpu_exp_neg_abs(-87.5f) == 0.0f);
    ck_assert(cpu_exp_neg_abs(-1e30f) == 0.0f);
    ck_assert(cpu_exp_neg_abs(-INFINITY) == 0.0f);
    ck_assert(isnan(cpu_exp_neg_abs(NAN)));
}
END_TEST

/* softplus against PyTorch's definition (log1p(exp(x)), x above 20) and its derivative. */
START_TEST(softplus)
{
    double worst = 0, worst_g = 0;
    int off_linear = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -60.0f + 160.0f * (float)i / 2000000.0f;
        float g, v = cpu_softplus(x, &g);
        double want = x > 20.0f ? (double)x : log1p(exp((double)x));
        double want_g = 1.0 / (1.0 + exp(-(double)x));
        worst = fmax(worst, ulps(v, want));
        worst_g = fmax(worst_g, ulps(g, want_g));
        off_linear += x > 20.0f && v != x; /* PyTorch's linear branch, exactly */
    }
    ck_assert_int_eq(off_linear, 0);
    printf("  softplus on [-60, 100]: worst %.2f ulp, derivative worst %.2f ulp\n", worst,
           worst_g);
    ck_assert_double_lt(worst, 4.0);
    ck_assert_double_lt(worst_g, 4.0);
    float g;
    ck_assert(isnan(cpu_softplus(NAN, &g)));
    ck_assert(cpu_softplus(-200.0f, &g) == 0.0f && g == 0.0f);
    ck_assert(cpu_softplus(INFINITY, &g) == INFINITY && g == 1.0f);
    ck_assert(cpu_softplus(-INFINITY, &g) == 0.0f && g == 0.0f);
}
END_TEST

START_TEST(sigmoid)
{
    double worst = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -80.0f + 160.0f * (float)i / 2000000.0f;
        worst = fmax(worst, ulps(cpu_sigmoid(x), 1.0 / (1.0 + exp(-(double)x))));
    }
    printf("  sigmoid on [-80, 80]: worst %.2f ulp\n", worst);
    ck_assert_double_lt(worst, 4.0);
    ck_assert(cpu_sigmoid(100.0f) == 1.0f);
    ck_assert(cpu_sigmoid(INFINITY) == 1.0f && cpu_sigmoid(-INFINITY) == 0.0f);
    ck_assert(isnan(cpu_sigmoid(NAN)));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_math");
    TCase *tc = tcase_create("math");
    tcase_add_test(tc, exp_neg_abs);
    tcase_add_test(tc, softplus);
    tcase_add_test(tc, sigmoid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
