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
    /* shapes: odd L, several scan chunks, batch > 1 */
    int shapes[][4] = {{64, 2, 3, 301}, {128, 3, 2, 1037}};
    for (int k = 0; k < 2; k++) {
        int d = shapes[k][0], layers = shapes[k][1], B = shapes[k][2], L = shapes[k][3];
        Backend *cpu = backend_cpu_create(0), *gpu = backend_cuda_create(0);
        Model *mc = gm_make(cpu, d, layers, 11 + k, PREC_FP32), *mg = gm_make(gpu, d, layers, 11 + k, PREC_FP32);
        gm_perturb(mc, mg, 5 + k);
        uint64_t s = 99 + k;
        uint8_t *batch = malloc((size_t)B * (L + 1));
        for (size_t i = 0; i < (size_t)B * (L + 1); i++) batch[i] = (uint8_t)tu_next(&s);
        model_zero_grads(mc);
        model_zero_grads(mg);
        float lc = model_forward_backward(mc, batch, B, L, 1.0f);
        float lg = model_forward_backward(mg, batch, B, L, 1.0f);
        double lrel = fabs((double)lc - lg) / fabs((double)lc);
        printf("d=%d layers=%d B=%d L=%d: loss cpu %.7f gpu %.7f rel %.2e\n", d, layers, B, L, lc, lg, lrel);
        ck_assert(lrel < 1e-5);
        float *gc = gm_host_copy(mc, model_grads(mc)), *gg = gm_host_copy(mg, model_grads(mg));
        double worst = 0;
        for (int t = 0; t < model_num_tensors(mc); t++) {
            const ParamInfo *p = model_tensor(mc, t);
            double rel = tu_rel_err(gg + p->offset, gc + p->offset, p->numel);
            if (rel > worst) worst = rel;
            ck_assert_msg(rel < 1e-4, "%s: gradient rel error %.3e", p->name, rel);
        }
        printf("  every gradient: worst rel error %.2e over %d tensors\n", worst, model_num_tensors(mc));

        OptimConfig oc;
        optim_config_default(&oc);
        oc.warmup_steps = 0;
        Optimizer oc_c, oc_g;
        optimizer_init(&oc_c, mc, &oc);
        optimizer_init(&oc_g, mg, &oc);
        double nc = optimizer_step(&oc_c, mc, NULL), ng = optimizer_step(&oc_g, mg, NULL);
        float *pc = gm_host_copy(mc, model_params(mc)), *pg = gm_host_copy(mg, model_params(mg));
        double prel = tu_rel_err(pg, pc, model_num_params(mc));
        printf("  grad norm cpu %.6f gpu %.6f; weights after AdamW rel %.2e\n", nc, ng, prel);
        ck_assert(fabs(nc - ng) / nc < 1e-4);
        ck_assert(prel < 1e-6);
        optimizer_free(&oc_c, mc), optimizer_free(&oc_g, mg);
        free(gc), free(gg), free(pc), free(pg), free(batch);
        model_free(mc), model_free(mg);
        cpu->destroy(cpu), gpu->destroy(gpu);
    }
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
