/* bf16 mixed precision on the CPU backend (the oracle the GPU's bf16 path is held to): the
 * rounding itself, the bf16 ops' rounding points, and the whole model in bf16 against the same
 * model in fp32 — one step's loss and gradients, a training run, the recurrent forward. */
#include <math.h>

#include "byte_lm/model/backend_cpu_internal.h"
#include "byte_lm/base/bf16.h"
#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "tests/test_train_util.h"
#include "tests/test_util.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest, ties to even, at the 8-bit mantissa; NaN stays NaN; overflow goes to inf. */
START_TEST(test_rounding)
{
    ck_assert_uint_eq(bf16_from_f32(1.0f), 0x3f80);
    ck_assert_uint_eq(bf16_from_f32(from_bits(0x3f808000)), 0x3f80); /* tie, even below */
    ck_assert_uint_eq(bf16_from_f32(from_bits(0x3f818000)), 0x3f82); /* tie, even above */
    ck_assert_uint_eq(bf16_from_f32(from_bits(0x3f808001)), 0x3f81); /* past the tie */
    ck_assert_uint_eq(bf16_from_f32(from_bits(0x3f807fff)), 0x3f80);
    ck_assert_uint_eq(bf16_from_f32(-1.5f), 0xbfc0);
    ck_assert_uint_eq(bf16_from_f32(INFINITY), 0x7f80);
    ck_assert_uint_eq(bf16_from_f32(-INFINITY), 0xff80);
    ck_assert_uint_eq(bf16_from_f32(from_bits(0x7f7fffff)), 0x7f80); /* FLT_MAX rounds to inf */
    ck_assert(isnan(bf16_to_f32(bf16_from_f32(NAN))));
    ck_assert(isnan(bf16_to_f32(bf16_from_f32(from_bits(0x7f800001))))); /* not rounded to inf */
    ck_assert_uint_eq(bf16_from_f32(from_bits(0x00000001)), 0x0000);   /* denormals round too */
    uint64_t s = 5;
    for (int i = 0; i < 100000; i++) {
        float x = tu_uniform(&s, -1e3f, 1e3f);
        float r = bf16_to_f32(bf16_from_f32(x));
        ck_assert(fabsf(r - x) <= fabsf(x) * (1.0f / 256.0f)); /* half an ulp of 8 bits */
        ck_assert_uint_eq(bf16_from_f32(r), bf16_from_f32(x));   /* idempotent */
    }
}
END_TEST

/* The matmul with a bf16 output and a strided slice: the result equals the fp32 product of the
 * widened operands rounded once, only the slice is written, and accumulation into a bf16
 * output adds in fp32 before its one rounding. */
START_TEST(test_matmul_rounding_points)
{
    Backend *be = backend_cpu_create(2);
    int M = 37, K = 29, N = 19, ldo = 24;
    uint64_t s = 9;
    bf16 *x = malloc((size_t)M * K * sizeof(bf16)), *w = malloc((size_t)N * K * sizeof(bf16));
    float *xf = malloc((size_t)M * K * sizeof(float)), *wf = malloc((size_t)N * K * sizeof(float));
    for (int i = 0; i < M * K; i++) x[i] = bf16_from_f32(tu_uniform(&s, -1, 1)), xf[i] = bf16_to_f32(x[i]);
    for (int i = 0; i < N * K; i++) w[i] = bf16_from_f32(tu_uniform(&s, -1, 1)), wf[i] = bf16_to_f32(w[i]);
    bf16 *o = malloc((size_t)M * ldo * sizeof(bf16));
    for (int i = 0; i < M * ldo; i++) o[i] = 0x7fc1; /* poison */
    be->matmul_fwd_bf16(be, o, 1, ldo, NULL, x, K, w, M, K, N);
    for (int r = 0; r < M; r++)
        for (int c = 0; c < ldo; c++) {
            if (c >= N) {
                ck_assert_uint_eq(o[r * ldo + c], 0x7fc1);
                continue;
            }
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)xf[r * K + k] * wf[c * K + k];
            float got = bf16_to_f32(o[r * ldo + c]);
            /* one rounding of a sum within fp32 error of the exact one */
            ck_assert_msg(fabs(got - acc) <= fabs(acc) / 256.0 + 1e-5, "(%d,%d) %g vs %g", r, c,
                          got, acc);
        }
    /* fp32 output with an addend held apart from the output */
    float *add = malloc((size_t)M * ldo * sizeof(float)), *of = malloc((size_t)M * ldo * sizeof(float));
    for (int i = 0; i < M * ldo; i++) add[i] = tu_uniform(&s, -1, 1), of[i] = NAN;
    be->matmul_fwd_bf16(be, of, 0, ldo, add, x, K, w, M, K, N);
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++) {
            double acc = add[r * ldo + c];
            for (int k = 0; k < K; k++) acc += (double)xf[r * K + k] * wf[c * K + k];
            ck_assert(fabs(of[r * ldo + c] - acc) < 1e-5);
        }
    free(x), free(w), free(xf), free(wf), free(o), free(add), free(of);
    be->destroy(be);
}
END_TEST

static Model *tiny_model(Backend *be, int d, int layers, uint64_t seed, Precision p)
{
    ModelConfig c;
    config_default(&c, d, layers);
    BlErr e;
    Model *m;
    ck_assert_msg(model_create(&m, &c, be, &e) == 0, "%s", e.msg);
    model_set_precision(m, p);
    model_init_params(m, seed);
    return m;
}

/* One training step in bf16 against the same step in fp32: the loss within 1e-2 and every
 * tensor's gradient within 5e-2 (bf16 keeps 8 bits: activations rounded at about 0.2% each,
 * through a few layers). The bf16 gradient must differ from the fp32 one somewhere, or the
 * bf16 plan did not run. */
START_TEST(test_step_near_fp32)
{
    Backend *be = backend_cpu_create(2);
    Model *mf = tiny_model(be, 64, 2, 21, PREC_FP32), *mh = tiny_model(be, 64, 2, 21, PREC_BF16);
    ck_assert_int_eq(model_precision(mh), PREC_BF16);
    int B = 3, L = 80;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    const char *text = "byte-level models read text as it is, one byte at a time. ";
    for (int i = 0; i < B * (L + 1); i++) batch[i] = (uint8_t)text[(i * 7) % strlen(text)];
    model_zero_grads(mf);
    model_zero_grads(mh);
    float lf = model_forward_backward(mf, batch, B, L, 1.0f);
    float lh = model_forward_backward(mh, batch, B, L, 1.0f);
    printf("loss fp32 %.6f bf16 %.6f rel %.2e\n", lf, lh, fabs(lh - lf) / lf);
    ck_assert(fabs(lh - lf) / lf < 1e-2);
    double worst = 0, any = 0;
    const char *worst_name = "";
    for (int i = 0; i < model_num_tensors(mf); i++) {
        const ParamInfo *p = model_tensor(mf, i);
        double rel = tu_rel_err(model_grads(mh) + p->offset, model_grads(mf) + p->offset, p->numel);
        ck_assert_msg(isfinite(rel), "%s", p->name);
        if (rel > worst) worst = rel, worst_name = p->name;
        any += rel;
    }
    printf("gradients bf16 vs fp32: worst rel %.2e (%s)\n", worst, worst_name);
    ck_assert_msg(worst < 5e-2, "%s: %.3e", worst_name, worst);
    ck_assert(any > 0);
    free(batch);
    model_free(mf);
    model_free(mh);
    be->destroy(be);
}
END_TEST

/* The two memory plans of bf16 training compute the same function in the same order: keeping
 * the scan's tensors and recomputing them give the same loss and gradients, bit for bit. */
START_TEST(test_recompute_same_bits)
{
    Backend *be = backend_cpu_create(2);
    Model *mk = tiny_model(be, 64, 2, 23, PREC_BF16), *mr = tiny_model(be, 64, 2, 23, PREC_BF16);
    model_set_recompute(mk, 0);
    model_set_recompute(mr, 1);
    int B = 2, L = 70;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    uint64_t s = 17;
    for (int i = 0; i < B * (L + 1); i++) batch[i] = (uint8_t)tu_next(&s);
    model_zero_grads(mk);
    model_zero_grads(mr);
    float lk = model_forward_backward(mk, batch, B, L, 1.0f);
    float lr = model_forward_backward(mr, batch, B, L, 1.0f);
    ck_assert_int_eq(model_recomputes(mk), 0);
    ck_assert_int_eq(model_recomputes(mr), 1);
    ck_assert(lk == lr);
    ck_assert_int_eq(memcmp(model_grads(mk), model_grads(mr), model_num_params(mk) * sizeof(float)), 0);
    printf("keep vs recompute: loss %.6f both, gradients identical\n", lk);
    free(batch);
    model_free(mk);
    model_free(mr);
    be->destroy(be);
}
END_TEST

/* Training in bf16 learns as fp32 does: the same 60 steps end within 0.1 bits/byte. */
START_TEST(test_training_near_fp32)
{
    Backend *be = backend_cpu_create(2);
    double first = 0, last[2] = {0, 0};
    for (int pi = 0; pi < 2; pi++) {
        Model *m = tiny_model(be, 32, 2, 13, pi ? PREC_BF16 : PREC_FP32);
        tu_train_sentence(m, 60, &first, &last[pi]);
        model_free(m);
    }
    printf("after 60 steps: fp32 %.3f bf16 %.3f bits/byte\n", last[0], last[1]);
    ck_assert(last[1] < 3.0);
    ck_assert(fabs(last[1] - last[0]) < 0.1);
    be->destroy(be);
}
END_TEST

/* The recurrent path in bf16: scoring a text in chunks (states carried) gives the losses of one
 * parallel pass over it, to bf16 rounding of the activations. */
START_TEST(test_stateful_bf16)
{
    Backend *be = backend_cpu_create(2);
    Model *m = tiny_model(be, 32, 2, 4, PREC_BF16);
    int L = 48;
    uint8_t in[48], tg[48];
    uint64_t s = 8;
    for (int i = 0; i < L; i++) in[i] = (uint8_t)tu_next(&s), tg[i] = (uint8_t)tu_next(&s);
    float whole[48], parts[48];
    model_forward(m, in, tg, 1, L, whole, NULL);
    ModelState *st = model_state_create(m, 1);
    model_forward_stateful(m, st, in, tg, 1, 20, parts, NULL);
    for (int t = 20; t < L; t++) model_forward_stateful(m, st, in + t, tg + t, 1, 1, parts + t, NULL);
    double rel = tu_rel_err(parts, whole, (size_t)L);
    printf("bf16 chunked vs parallel losses: rel %.2e\n", rel);
    ck_assert(rel < 1e-2);
    model_state_free(m, st);
    model_free(m);
    be->destroy(be);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_rounding);
    tcase_add_test(tc, test_matmul_rounding_points);
    tcase_add_test(tc, test_step_near_fp32);
    tcase_add_test(tc, test_recompute_same_bits);
    tcase_add_test(tc, test_training_near_fp32);
    tcase_add_test(tc, test_stateful_bf16);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
