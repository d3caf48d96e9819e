/* Models for the whole-model GPU tests (tests/gpu/test_model_gpu.c, test_bf16_gpu.c): one config
 * built on a backend in a precision, host copies of its flat buffers, and identical weights on
 * two models moved off their init. */
#ifndef BYTELM_GPU_MODEL_H
#define BYTELM_GPU_MODEL_H

#include <stdlib.h>
#include <string.h>

#include "byte_lm/model/model.h"
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

#endif
