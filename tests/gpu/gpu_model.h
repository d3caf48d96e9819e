/* Models for the whole-model GPU tests (tests/gpu/test_model_gpu.c, test_bf16_gpu.c): one config
 * built on a backend in a precision, host copies of its flat buffers, and identical weights on
 * two models moved off their init. */
#ifndef BYTELM_GPU_MODEL_H
#define BYTELM_GPU_MODEL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "tests/test_util.h"

static inline Model *gm_make(Backend *be, int d, int layers, uint64_t seed, Precision prec)
{
    ModelConfig c;
    config_default(&c, d, layers);
    BlErr e;
    Model *m;
    ck_assert_msg(model_create(&m, &c, be, &e) == 0, "%s", e.msg);
    model_set_precision(m, prec);
    model_init_params(m, seed);
    return m;
}

/* model_create refuses c on be, leaving no model, with a message holding want. */
static inline void gm_expect_refused(Backend *be, const ModelConfig *c, const char *want)
{
    Model *m = NULL;
    BlErr e = {0};
    ck_assert_int_ne(model_create(&m, c, be, &e), 0);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(e.msg, want) != NULL, "%s", e.msg);
}

/* model_num_params floats of backend memory p (params or grads of m), on the host */
static inline float *gm_host_copy(Model *m, const float *p)
{
    size_t n = model_num_params(m);
    float *h = malloc(n * sizeof(float));
    model_backend(m)->download(model_backend(m), h, p, n * sizeof(float));
    return h;
}

/* Moves the weights off their init (dt bias up so the scan's parameters matter) on both models
 * identically. */
static inline void gm_perturb(Model *a, Model *b, uint64_t seed)
{
    size_t n = model_num_params(a);
    float *h = gm_host_copy(a, model_params(a));
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) h[i] += tu_uniform(&s, -0.05f, 0.05f);
    for (int t = 0; t < model_num_tensors(a); t++) {
        const ParamInfo *p = model_tensor(a, t);
        if (strstr(p->name, "dt_proj.bias"))
            for (size_t i = 0; i < p->numel; i++) h[p->offset + i] += tu_uniform(&s, 2.0f, 5.0f);
    }
    model_backend(a)->upload(model_backend(a), model_params(a), h, n * sizeof(float));
    model_backend(b)->upload(model_backend(b), model_params(b), h, n * sizeof(float));
    free(h);
}

/* Bounds of gm_check_step: relative errors of the loss, of each gradient tensor, of the gradient
 * norm and of the weights after one AdamW step. */
typedef struct {
    double loss, grad, norm, weights;
} StepTol;

/* One training step of the same model on the CPU and the GPU in precision prec, at the suites'
 * two shapes (odd L, several scan chunks, batch > 1): loss and every gradient within tol, then
 * both optimizers stepped from the GPU's gradients: the gradient norm and the weights after AdamW
 * within tol; with `again`, a second forward and backward from those
 * weights (in bf16 it reads the copy AdamW wrote) whose loss is within tol->loss too. The batches
 * are drawn from batch_seed + k. */
static inline void gm_check_step(Precision prec, const StepTol *tol, uint64_t batch_seed, int again)
{
    int shapes[][4] = {{64, 2, 3, 301}, {128, 3, 2, 1037}};
    for (int k = 0; k < 2; k++) {
        int d = shapes[k][0], layers = shapes[k][1], B = shapes[k][2], L = shapes[k][3];
        Backend *cpu = backend_cpu_create(0), *gpu = backend_cuda_create(0);
        Model *mc = gm_make(cpu, d, layers, 11 + k, prec), *mg = gm_make(gpu, d, layers, 11 + k, prec);
        gm_perturb(mc, mg, 5 + k);
        size_t np = model_num_params(mc);
        uint64_t s = batch_seed + k;
        uint8_t *batch = malloc((size_t)B * (L + 1));
        for (size_t i = 0; i < (size_t)B * (L + 1); i++) batch[i] = (uint8_t)tu_next(&s);
        model_zero_grads(mc);
        model_zero_grads(mg);
        float lc = model_forward_backward(mc, batch, B, L, 1.0f);
        float lg = model_forward_backward(mg, batch, B, L, 1.0f);
        double lrel = fabs((double)lc - lg) / fabs((double)lc);
        printf("%s d=%d layers=%d B=%d L=%d: loss cpu %.7f gpu %.7f rel %.2e\n", precision_name(prec), d,
               layers, B, L, lc, lg, lrel);
        ck_assert(lrel < tol->loss);
        float *gc = gm_host_copy(mc, model_grads(mc)), *gg = gm_host_copy(mg, model_grads(mg));
        double worst = 0;
        const char *wn = "";
        for (int t = 0; t < model_num_tensors(mc); t++) {
            const ParamInfo *p = model_tensor(mc, t);
            double rel = tu_rel_err(gg + p->offset, gc + p->offset, p->numel);
            if (rel > worst) worst = rel, wn = p->name;
            ck_assert_msg(rel < tol->grad, "%s: gradient rel error %.3e", p->name, rel);
        }
        printf("  every gradient: worst rel error %.2e (%s) over %d tensors\n", worst, wn,
               model_num_tensors(mc));
        /* AdamW's first step divides each gradient by its own magnitude, so the weights after it
         * magnify a gradient's rounding where the gradient is near zero; the gradients were held
         * to tol->grad above. The CPU's optimizer takes the GPU's gradients, so that the weights
         * compare the two optimizers (norm, clipping, moments, update) and nothing before them. */
        model_backend(mc)->upload(model_backend(mc), model_grads(mc), gg, np * sizeof(float));
        OptimConfig oc;
        optim_config_default(&oc);
        oc.warmup_steps = 0;
        Optimizer oc_c, oc_g;
        optimizer_init(&oc_c, mc, &oc);
        optimizer_init(&oc_g, mg, &oc);
        double nc = optimizer_step(&oc_c, mc, NULL), ng = optimizer_step(&oc_g, mg, NULL);
        float *pc = gm_host_copy(mc, model_params(mc)), *pg = gm_host_copy(mg, model_params(mg));
        double prel = tu_rel_err(pg, pc, np);
        printf("  from the GPU's gradients: norm cpu %.6f gpu %.6f; weights after AdamW rel %.2e\n", nc, ng, prel);
        ck_assert(fabs(nc - ng) / nc < tol->norm);
        ck_assert(prel < tol->weights);
        if (again) {
            model_zero_grads(mc);
            model_zero_grads(mg);
            lc = model_forward_backward(mc, batch, B, L, 1.0f);
            lg = model_forward_backward(mg, batch, B, L, 1.0f);
            printf("  second step: loss cpu %.7f gpu %.7f\n", lc, lg);
            ck_assert(fabs((double)lc - lg) / fabs((double)lc) < tol->loss);
        }
        optimizer_free(&oc_c, mc), optimizer_free(&oc_g, mg);
        free(gc), free(gg), free(pc), free(pg), free(batch);
        model_free(mc), model_free(mg);
        cpu->destroy(cpu), gpu->destroy(gpu);
    }
}

#endif
