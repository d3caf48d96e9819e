/* bytelm against transformers: the tiny random model in tests/fixtures/tiny-ref, made by
 * tests/ref/make_fixtures.py with transformers' MambaForCausalLM (float64, stored as float32),
 * loaded through bytelm's own checkpoint reader, must reproduce transformers' logits, loss and
 * every parameter gradient on the CPU backend, in the parallel and in the recurrent form.
 * Run from the repository root (make test does). */
#include <math.h>

#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/format/config.h"
#include "byte_lm/model/model.h"
#include "byte_lm/format/safetensors.h"
#include "tests/test_util.h"

#define FIXTURE "tests/fixtures/tiny-ref"
#define REL_TOL 1e-4 /* fp32 against a float64 golden value: seen about 1e-6 */

/* The fixture loaded into a CPU model, with the golden batch and results on the host. */
typedef struct {
    Backend *be;
    Model *m;
    SafeTensors *golden;
    int B, L;
    uint8_t *batch;  /* B rows of L+1 bytes, bytelm's batch format */
    uint8_t *inputs; /* B x L: the first L bytes of each row */
    uint8_t *targets;
    float *logits; /* golden, B x L x 256 */
    float loss;
} Ref;

/* The backend under test; tests/gpu/test_reference_gpu.c runs this same file on CUDA. */
#ifndef REF_BACKEND
#define REF_BACKEND() backend_cpu_create(2)
#endif

static void ref_open(Ref *r)
{
    BlErr e;
    ModelConfig c;
    memset(r, 0, sizeof *r);
    ck_assert_msg(config_load(&c, FIXTURE "/config.json", &e) == 0,
                  "%s (the tests run from the repository root)", e.msg);
    /* the config transformers wrote must come out as the model the fixture was made with */
    ck_assert_int_eq(c.vocab_size, 256);
    ck_assert_int_eq(c.hidden_size, 32);
    ck_assert_int_eq(c.num_hidden_layers, 2);
    ck_assert_int_eq(c.state_size, 16);
    ck_assert_int_eq(c.intermediate_size, 64);
    ck_assert_int_eq(c.conv_kernel, 4);
    ck_assert_int_eq(c.time_step_rank, 2);
    ck_assert(fabsf(c.layer_norm_epsilon - 1e-5f) < 1e-12f);

    r->be = REF_BACKEND();
    ck_assert_msg(model_create(&r->m, &c, r->be, &e) == 0, "%s", e.msg);
    ck_assert_msg(checkpoint_load_weights(FIXTURE, r->m, &e) == 0, "%s", e.msg);
    ck_assert_msg(st_read(&r->golden, FIXTURE "/golden.safetensors", &e) == 0, "%s", e.msg);

    const StTensor *ib = st_find(r->golden, "input_bytes");
    ck_assert_ptr_nonnull(ib);
    ck_assert_int_eq(ib->dtype, ST_U8);
    ck_assert_int_eq(ib->ndim, 2);
    r->B = (int)ib->shape[0];
    r->L = (int)ib->shape[1] - 1;
    ck_assert_int_eq(r->B, 2);
    ck_assert_int_eq(r->L, 37);
    int B = r->B, L = r->L;
    r->batch = malloc((size_t)B * (L + 1));
    memcpy(r->batch, ib->data, (size_t)B * (L + 1));
    r->inputs = malloc((size_t)B * L);
    r->targets = malloc((size_t)B * L);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            r->inputs[b * L + t] = r->batch[b * (L + 1) + t];
            r->targets[b * L + t] = r->batch[b * (L + 1) + t + 1];
        }
    r->logits = malloc((size_t)B * L * 256 * sizeof(float));
    int64_t lshape[3] = {B, L, 256}, one[1] = {1};
    ck_assert_msg(st_read_f32(r->golden, "logits", 3, lshape, r->logits, &e) == 0, "%s", e.msg);
    ck_assert_msg(st_read_f32(r->golden, "loss", 1, one, &r->loss, &e) == 0, "%s", e.msg);
}

static void ref_close(Ref *r)
{
    free(r->batch);
    free(r->inputs);
    free(r->targets);
    free(r->logits);
    st_free(r->golden);
    model_free(r->m);
    r->be->destroy(r->be);
}

/* Prints one comparison and returns 1 when it is out of tolerance, so a test reports every
 * tensor before failing rather than stopping at the first. */
static int report(const char *what, const float *got, const float *want, size_t n)
{
    double rel = tu_rel_err(got, want, n);
    int bad = !(rel < REL_TOL); /* NaN fails too */
    printf("  %-46s rel err %.3e%s\n", what, rel, bad ? "  FAIL" : "");
    return bad;
}

START_TEST(test_forward_matches_transformers)
{
    Ref r;
    ref_open(&r);
    size_t rows = (size_t)r.B * r.L;
    float *logits = malloc(rows * 256 * sizeof(float));
    float *losses = malloc(rows * sizeof(float));
    float loss = model_forward(r.m, r.inputs, r.targets, r.B, r.L, losses, logits);
    double sum = 0;
    for (size_t i = 0; i < rows; i++) sum += losses[i];
    float mean = (float)(sum / (double)rows);
    printf("model_forward: loss %.6f, transformers %.6f\n", loss, r.loss);
    int bad = report("logits", logits, r.logits, rows * 256);
    bad += report("loss", &loss, &r.loss, 1);
    bad += report("mean of per-byte losses", &mean, &r.loss, 1);
    ck_assert_msg(bad == 0, "%d of 3 comparisons out of tolerance %g", bad, REL_TOL);
    free(logits);
    free(losses);
    ref_close(&r);
}
END_TEST

START_TEST(test_gradients_match_transformers)
{
    Ref r;
    ref_open(&r);
    BlErr e;
    Model *m = r.m;
    model_zero_grads(m);
    float loss = model_forward_backward(m, r.batch, r.B, r.L, 1.0f);
    size_t np = model_num_params(m);
    float *grads = malloc(np * sizeof(float));
    r.be->download(r.be, grads, model_grads(m), np * sizeof(float));
    printf("model_forward_backward: loss %.6f, transformers %.6f\n", loss, r.loss);
    int bad = report("loss", &loss, &r.loss, 1);

    /* every parameter has a golden gradient, compared where the model keeps it */
    int nt = model_num_tensors(m);
    for (int i = 0; i < nt; i++) {
        const ParamInfo *p = model_tensor(m, i);
        char name[128];
        snprintf(name, sizeof name, "grad.%s", p->name);
        float *want = malloc(p->numel * sizeof(float));
        ck_assert_msg(st_read_f32(r.golden, name, p->ndim, p->shape, want, &e) == 0, "%s", e.msg);
        double norm = 0;
        for (size_t j = 0; j < p->numel; j++) norm += (double)want[j] * want[j];
        ck_assert_msg(norm > 0, "%s is zero: the fixture would not test this parameter", name);
        bad += report(name, grads + p->offset, want, p->numel);
        free(want);
    }
    /* and every golden gradient belongs to a parameter of the model */
    int ngrad = 0;
    for (int i = 0; i < st_count(r.golden); i++) {
        const char *n = st_tensor(r.golden, i)->name;
        if (strncmp(n, "grad.", 5)) continue;
        ngrad++;
        ck_assert_msg(model_find_tensor(m, n + 5) != NULL, "golden %s: no such parameter", n);
    }
    ck_assert_int_eq(ngrad, nt);
    ck_assert_msg(bad == 0, "%d of %d comparisons out of tolerance %g", bad, nt + 1, REL_TOL);
    free(grads);
    ref_close(&r);
}
END_TEST

/* Runs the golden inputs through the recurrent path in chunks of `chunk` bytes (1: one byte per
 * step, as generation does), carrying the state, and gathers the logits in [B, L, 256] order. */
static void stateful_logits(Ref *r, ModelState *s, int chunk, float *out)
{
    int B = r->B, L = r->L;
    uint8_t *in = malloc((size_t)B * chunk);
    float *lg = malloc((size_t)B * chunk * 256 * sizeof(float));
    model_state_reset(r->m, s);
    for (int t0 = 0; t0 < L; t0 += chunk) {
        int n = L - t0 < chunk ? L - t0 : chunk;
        for (int b = 0; b < B; b++) memcpy(in + b * n, r->inputs + b * L + t0, (size_t)n);
        model_forward_stateful(r->m, s, in, NULL, B, n, NULL, lg);
        for (int b = 0; b < B; b++)
            memcpy(out + ((size_t)b * L + t0) * 256, lg + (size_t)b * n * 256,
                   (size_t)n * 256 * sizeof(float));
    }
    free(in);
    free(lg);
}

START_TEST(test_recurrent_forms_match_transformers)
{
    Ref r;
    ref_open(&r);
    ModelState *s = model_state_create(r.m, r.B);
    size_t n = (size_t)r.B * r.L * 256;
    float *logits = malloc(n * sizeof(float));
    int bad = 0;
    const int chunks[] = {20, 1}; /* 20 + 17: a chunk boundary inside the conv window and scan */
    for (int i = 0; i < 2; i++) {
        char what[64];
        snprintf(what, sizeof what, "logits, chunks of %d byte%s", chunks[i], chunks[i] > 1 ? "s" : "");
        for (size_t j = 0; j < n; j++) logits[j] = NAN; /* every position must be written */
        stateful_logits(&r, s, chunks[i], logits);
        bad += report(what, logits, r.logits, n);
    }
    ck_assert_msg(bad == 0, "%d of 2 comparisons out of tolerance %g", bad, REL_TOL);
    free(logits);
    model_state_free(r.m, s);
    ref_close(&r);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* a failing check ends the forked test: keep its lines */
    Suite *s = suite_create("reference");
    TCase *tc = tcase_create("transformers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forward_matches_transformers);
    tcase_add_test(tc, test_gradients_match_transformers);
    tcase_add_test(tc, test_recurrent_forms_match_transformers);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
