#include "byte_lm/model/optimizer.h"

#include <math.h>

void optim_config_default(OptimConfig *c)
{
    c->lr = 2e-3f;
    c->min_lr_ratio = 0.1f;
    c->warmup_steps = 100;
    c->total_steps = 1000;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->eps = 1e-8f;
    c->weight_decay = 0.1f;
    c->clip = 1.0f;
}

int optim_config_check(const OptimConfig *c, const char *file, BlErr *e)
{
    const struct {
        const char *name;
        double v, lo, hi;
        int lo_open, hi_open;
    } f[] = {{"lr", c->lr, 0, OPTIM_MAX_LR, 1, 0},
             {"min_lr_ratio", c->min_lr_ratio, 0, 1, 0, 0},
             {"beta1", c->beta1, 0, 1, 0, 1},
             {"beta2", c->beta2, 0, 1, 0, 1},
             {"eps", c->eps, 0, 1, 1, 0},
             {"weight_decay", c->weight_decay, 0, OPTIM_MAX_WEIGHT_DECAY, 0, 0},
             {"clip", c->clip, 0, OPTIM_MAX_CLIP, 0, 0}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        double v = f[i].v;
        int ok = isfinite(v) && (f[i].lo_open ? v > f[i].lo : v >= f[i].lo) &&
                 (f[i].hi_open ? v < f[i].hi : v <= f[i].hi);
        if (!ok)
            return bl_fail(e, file, "optimizer %s is %g, outside %s%g, %g%s", f[i].name, v,
                           f[i].lo_open ? "(" : "[", f[i].lo, f[i].hi, f[i].hi_open ? ")" : "]");
    }
    if (c->total_steps < 1 || c->warmup_steps < 0)
        return bl_fail(e, file, "optimizer total_steps %d / warmup_steps %d out of range", c->total_steps,
                       c->warmup_steps);
    return 0;
}

void optimizer_init(Optimizer *o, Model *model, const OptimConfig *cfg)
{
    Backend *be = model_backend(model);
    size_t bytes = model_num_params(model) * sizeof(float);
    o->cfg = *cfg;
    o->m = be->alloc(be, bytes);
    o->v = be->alloc(be, bytes);
    be->zero(be, o->m, bytes);
    be->zero(be, o->v, bytes);
    o->step = 0;
}

void optimizer_free(Optimizer *o, Model *model)
{
    Backend *be = model_backend(model);
    be->free(be, o->m);
    be->free(be, o->v);
    o->m = o->v = NULL;
}

float optimizer_lr(const OptimConfig *c, int t)
{
    if (c->warmup_steps > 0 && t <= c->warmup_steps) return c->lr * (float)t / (float)c->warmup_steps;
    int decay_steps = c->total_steps - c->warmup_steps;
    if (decay_steps <= 0) return c->lr;
    double p = (double)(t - c->warmup_steps) / decay_steps;
    if (p > 1) p = 1;
    double cosine = 0.5 * (1.0 + cos(M_PI * p));
    return (float)(c->lr * (c->min_lr_ratio + (1.0 - c->min_lr_ratio) * cosine));
}

double optimizer_step(Optimizer *o, Model *model, float *lr_out)
{
    Backend *be = model_backend(model);
    float *P = model_params(model), *G = model_grads(model);
    double norm = sqrt(be->sumsq(be, G, model_num_params(model)));
    if (!isfinite(norm)) return norm;
    float scale = 1.0f;
    if (o->cfg.clip > 0 && norm > o->cfg.clip) scale = (float)(o->cfg.clip / norm);
    o->step++;
    float lr = optimizer_lr(&o->cfg, o->step);
    if (lr_out) *lr_out = lr;
    bf16 *S = model_params_bf16(model); /* bf16 plan: the weights' copy, rewritten in the pass */
    for (int i = 0; i < model_num_tensors(model); i++) {
        const ParamInfo *p = model_tensor(model, i);
        float wd = p->decay ? o->cfg.weight_decay : 0.0f;
        if (S)
            be->adamw_bf16(be, P + p->offset, S + p->offset, G + p->offset, o->m + p->offset,
                           o->v + p->offset, p->numel, lr, o->cfg.beta1, o->cfg.beta2, o->cfg.eps,
                           wd, scale, o->step);
        else
            be->adamw(be, P + p->offset, G + p->offset, o->m + p->offset, o->v + p->offset,
                      p->numel, lr, o->cfg.beta1, o->cfg.beta2, o->cfg.eps, wd, scale, o->step);
    }
    if (S) model_shadow_written(model);
    return norm;
}
