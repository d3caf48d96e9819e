/* The whole model on the CPU backend: parameter layout, initial loss, gradients of the full
 * network against finite differences, recurrent (chunked / one-byte) forward against the
 * parallel forward, and a short training run whose loss must fall. */
#include <math.h>

#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "tests/test_train_util.h"
#include "tests/test_util.h"

static Model *tiny_model(Backend *be, int d, int layers, int n, uint64_t seed)
{
    ModelConfig c;
    config_default(&c, d, layers);
    c.state_size = n;
    BlErr e;
    Model *m;
    ck_assert_msg(model_create(&m, &c, be, &e) == 0, "%s", e.msg);
    model_init_params(m, seed);
    return m;
}

static void random_batch(uint8_t *batch, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) batch[i] = (uint8_t)(tu_next(s) & 0xFF);
}

START_TEST(test_layout_matches_config)
{
    Backend *be = backend_cpu_create(2);
    Model *m = tiny_model(be, 48, 3, 16, 1);
    long long sum = 0;
    for (int i = 0; i < model_num_tensors(m); i++) sum += (long long)model_tensor(m, i)->numel;
    ck_assert_int_eq(sum, config_num_params(model_config(m)));
    const ParamInfo *p = model_find_tensor(m, "backbone.layers.2.mixer.x_proj.weight");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->shape[0], 3 + 2 * 16); /* dt_rank = ceil(48/16) = 3 */
    ck_assert_int_eq(p->shape[1], 96);
    ck_assert_ptr_nonnull(model_find_tensor(m, "backbone.norm_f.weight"));
    ck_assert_ptr_null(model_find_tensor(m, "lm_head.weight"));
    model_free(m);
    be->destroy(be);
}
END_TEST

/* An untrained model predicts nearly uniform bytes: about 8 bits per byte. */
START_TEST(test_initial_loss_is_8_bits)
{
    Backend *be = backend_cpu_create(2);
    Model *m = tiny_model(be, 64, 2, 16, 7);
    uint64_t s = 11;
    int B = 2, L = 64;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    random_batch(batch, (size_t)B * (L + 1), &s);
    float loss = model_forward_backward(m, batch, B, L, 1.0f);
    double bpb = loss / log(2.0);
    printf("initial loss %.4f nats = %.4f bits/byte\n", loss, bpb);
    ck_assert(fabs(bpb - 8.0) < 0.05);
    free(batch);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* Directional finite differences through the whole network: for a direction v restricted to
 * one tensor, (L(p + h v) - L(p - h v)) / 2h must equal g . v. v is the tensor's own gradient
 * plus a random part: along the gradient the signal is largest, so fp32 rounding of the loss stays
 * far below it, and the random part catches a gradient that is wrong in direction. */
START_TEST(test_whole_model_gradients)
{
    Backend *be = backend_cpu_create(2);
    Model *m = tiny_model(be, 24, 2, 4, 3);
    size_t np = model_num_params(m);
    float *p = model_params(m), *g = model_grads(m);
    /* move off the init so A_log, D, norms are not at special values, and raise the step sizes
     * (init has softplus(dt_bias) ~ 0.001..0.1) so the scan's own parameters matter */
    uint64_t s = 99;
    for (size_t i = 0; i < np; i++) p[i] += tu_uniform(&s, -0.05f, 0.05f);
    for (int l = 0; l < 2; l++) {
        char name[64];
        snprintf(name, sizeof name, "backbone.layers.%d.mixer.dt_proj.bias", l);
        const ParamInfo *dtb = model_find_tensor(m, name);
        for (size_t i = 0; i < dtb->numel; i++) p[dtb->offset + i] += tu_uniform(&s, 2.0f, 6.0f);
    }
    int B = 2, L = 13;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    random_batch(batch, (size_t)B * (L + 1), &s);
    model_zero_grads(m);
    model_forward_backward(m, batch, B, L, 1.0f);
    float *g0 = malloc(np * sizeof(float)), *p0 = malloc(np * sizeof(float));
    memcpy(g0, g, np * sizeof(float));
    memcpy(p0, p, np * sizeof(float));
    uint8_t *in = malloc((size_t)B * L), *tg = malloc((size_t)B * L);
    for (int b = 0; b < B; b++) {
        memcpy(in + b * L, batch + b * (L + 1), L);
        memcpy(tg + b * L, batch + b * (L + 1) + 1, L);
    }
    float *losses = malloc((size_t)B * L * sizeof(float));
    double worst = 0;
    for (int t = 0; t < model_num_tensors(m); t++) {
        const ParamInfo *pi = model_tensor(m, t);
        float *v = malloc(pi->numel * sizeof(float));
        double gn = 0;
        for (size_t i = 0; i < pi->numel; i++) gn += (double)g0[pi->offset + i] * g0[pi->offset + i];
        gn = sqrt(gn / pi->numel);
        for (size_t i = 0; i < pi->numel; i++)
            v[i] = g0[pi->offset + i] + (float)(0.3 * gn) * tu_uniform(&s, -1.0f, 1.0f);
        double gv = 0, vn = 0;
        for (size_t i = 0; i < pi->numel; i++) {
            gv += (double)g0[pi->offset + i] * v[i];
            vn += (double)v[i] * v[i];
        }
        /* the step moves the loss by about 2e-3 nats (far above its fp32 rounding) whatever the
         * gradient's size; Richardson extrapolation over h and h/2 cancels the O(h^2) term */
        double h = fmin(0.5, 2e-3 / sqrt(fabs(gv) + 1e-30)) / sqrt(vn), fd[2];
        for (int k = 0; k < 2; k++) {
            double hk = h / (1 << k), lp = 0, lm = 0;
            for (size_t i = 0; i < pi->numel; i++) p[pi->offset + i] = (float)(p0[pi->offset + i] + hk * v[i]);
            model_forward(m, in, tg, B, L, losses, NULL);
            for (int i = 0; i < B * L; i++) lp += losses[i];
            for (size_t i = 0; i < pi->numel; i++) p[pi->offset + i] = (float)(p0[pi->offset + i] - hk * v[i]);
            model_forward(m, in, tg, B, L, losses, NULL);
            for (int i = 0; i < B * L; i++) lm += losses[i];
            memcpy(p + pi->offset, p0 + pi->offset, pi->numel * sizeof(float));
            fd[k] = (lp - lm) / (2 * hk) / (B * L);
        }
        double fd_r = (4 * fd[1] - fd[0]) / 3;
        double rel = fabs(fd_r - gv) / fabs(gv);
        printf("grad check %-45s g.v % .6e  fd % .6e  rel %.2e\n", pi->name, gv, fd_r, rel);
        if (rel > worst) worst = rel;
        ck_assert_msg(rel < 2e-3, "%s: rel error %.3e", pi->name, rel);
        free(v);
    }
    printf("whole-model gradient check: worst relative error %.2e over %d tensors\n", worst,
           model_num_tensors(m));
    free(g0), free(p0), free(in), free(tg), free(losses), free(batch);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* The recurrent form must give the same logits as the parallel forward: in chunks (state carried
 * between calls) and one byte at a time. */
START_TEST(test_stateful_matches_parallel)
{
    Backend *be = backend_cpu_create(2);
    Model *m = tiny_model(be, 32, 2, 16, 5);
    uint64_t s = 5;
    int B = 2, L = 23;
    uint8_t *in = malloc((size_t)B * L);
    random_batch(in, (size_t)B * L, &s);
    float *ref = malloc((size_t)B * L * 256 * sizeof(float));
    float *got = malloc((size_t)B * L * 256 * sizeof(float));
    model_forward(m, in, NULL, B, L, NULL, ref);

    /* chunks of 10, 1 and 12 bytes */
    ModelState *st = model_state_create(m, B);
    int cuts[] = {0, 10, 11, L};
    for (int c = 0; c < 3; c++) {
        int l0 = cuts[c], n = cuts[c + 1] - cuts[c];
        uint8_t *ci = malloc((size_t)B * n);
        float *cl = malloc((size_t)B * n * 256 * sizeof(float));
        for (int b = 0; b < B; b++) memcpy(ci + b * n, in + b * L + l0, n);
        model_forward_stateful(m, st, ci, NULL, B, n, NULL, cl);
        for (int b = 0; b < B; b++)
            memcpy(got + ((size_t)b * L + l0) * 256, cl + (size_t)b * n * 256, (size_t)n * 256 * sizeof(float));
        free(ci), free(cl);
    }
    double rel = tu_rel_err(got, ref, (size_t)B * L * 256);
    printf("chunked recurrent vs parallel logits: rel %.2e\n", rel);
    ck_assert(rel < 1e-5);

    /* one byte at a time */
    model_state_reset(m, st);
    for (int t = 0; t < L; t++) {
        uint8_t ci[2] = {in[t], in[L + t]};
        float cl[2 * 256];
        model_forward_stateful(m, st, ci, NULL, B, 1, NULL, cl);
        for (int b = 0; b < B; b++) memcpy(got + ((size_t)b * L + t) * 256, cl + b * 256, 256 * sizeof(float));
    }
    rel = tu_rel_err(got, ref, (size_t)B * L * 256);
    printf("byte-by-byte recurrent vs parallel logits: rel %.2e\n", rel);
    ck_assert(rel < 1e-5);
    model_state_free(m, st);
    free(in), free(ref), free(got);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* Gradient accumulation: two half-batches with grad_scale 1/2 equal one full batch. */
START_TEST(test_accumulation_equals_full_batch)
{
    Backend *be = backend_cpu_create(2);
    Model *m = tiny_model(be, 32, 2, 16, 9);
    uint64_t s = 77;
    int B = 4, L = 16;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    random_batch(batch, (size_t)B * (L + 1), &s);
    size_t np = model_num_params(m);
    model_zero_grads(m);
    model_forward_backward(m, batch, B, L, 1.0f);
    float *full = malloc(np * sizeof(float));
    memcpy(full, model_grads(m), np * sizeof(float));
    model_zero_grads(m);
    model_forward_backward(m, batch, B / 2, L, 0.5f);
    model_forward_backward(m, batch + (size_t)(B / 2) * (L + 1), B / 2, L, 0.5f);
    double rel = tu_rel_err(model_grads(m), full, np);
    printf("accumulated vs full-batch gradients: rel %.2e\n", rel);
    ck_assert(rel < 1e-5);
    free(full), free(batch);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* A short training run on a repetitive text: the loss must fall well below 8 bits. */
START_TEST(test_training_reduces_loss)
{
    Backend *be = backend_cpu_create(2);
    Model *m = tiny_model(be, 32, 2, 16, 13);
    double first = 0, last = 0;
    tu_train_sentence(m, 60, &first, &last);
    printf("training: loss %.3f -> %.3f bits/byte\n", first, last);
    ck_assert(last < 3.0);
    model_free(m);
    be->destroy(be);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_layout_matches_config);
    tcase_add_test(tc, test_initial_loss_is_8_bits);
    tcase_add_test(tc, test_whole_model_gradients);
    tcase_add_test(tc, test_stateful_matches_parallel);
    tcase_add_test(tc, test_accumulation_equals_full_batch);
    tcase_add_test(tc, test_training_reduces_loss);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
