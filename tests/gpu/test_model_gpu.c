/* The whole model on the CUDA backend against the CPU oracle: one fp32 training step (loss, every
 * gradient, and the weights after AdamW), the recurrent forward, and greedy generation. */
#include <math.h>

#include "byte_lm/generate/generate.h"
#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "tests/gpu/gpu_model.h"
#include "tests/test_util.h"

START_TEST(test_training_step_matches_cpu)
{
    const StepTol tol = {1e-5, 1e-4, 1e-4, 1e-6};
    gm_check_step(PREC_FP32, &tol, 99, 0);
}
END_TEST

START_TEST(test_recurrent_and_greedy_match_cpu)
{
    Backend *cpu = backend_cpu_create(0), *gpu = backend_cuda_create(0);
    Model *mc = gm_make(cpu, 64, 2, 3, PREC_FP32), *mg = gm_make(gpu, 64, 2, 3, PREC_FP32);
    gm_perturb(mc, mg, 8);
    const char *prompt = "The byte-level model reads: ";
    GenOptions o;
    gen_options_default(&o);
    o.sampler.temperature = 0; /* greedy */
    o.batch = 2;
    o.ahead = 1; /* the logits of every step are compared */
    Generator *gc = generator_create(mc, &o), *gg = generator_create(mg, &o);
    generator_prefill(gc, (const uint8_t *)prompt, strlen(prompt));
    generator_prefill(gg, (const uint8_t *)prompt, strlen(prompt));
    int n = 200, same = 0;
    uint8_t *oc = malloc((size_t)n * 2), *og = malloc((size_t)n * 2);
    double worst = 0;
    for (int t = 0; t < n; t++) {
        generator_step(gc, oc + t * 2);
        generator_step(gg, og + t * 2);
        double rel = tu_rel_err(generator_logits(gg), generator_logits(gc), 2 * 256);
        if (rel > worst) worst = rel;
    }
    for (int i = 0; i < 2 * n; i++) same += oc[i] == og[i];
    printf("greedy generation: %d/%d bytes equal, worst step-logit rel error %.2e\n", same, 2 * n, worst);
    ck_assert(worst < 1e-4);
    ck_assert_int_eq(same, 2 * n);
    generator_free(gc), generator_free(gg);
    free(oc), free(og);
    model_free(mc), model_free(mg);
    cpu->destroy(cpu), gpu->destroy(gpu);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model-gpu");
    TCase *tc = tcase_create("gpu-vs-cpu");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_training_step_matches_cpu);
    tcase_add_test(tc, test_recurrent_and_greedy_match_cpu);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
