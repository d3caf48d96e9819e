/* Parameter layout and initialisation of the MambaByte model.
 *
 * All parameters live in one flat float buffer (and gradients / Adam moments in buffers of the
 * same layout), so the optimizer and checkpoint code treat them uniformly; the table below maps
 * transformers' state-dict names to offsets in it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "byte_lm/model/model_internal.h"
#include "byte_lm/base/rng.h"

static void add_tensor(Model *m, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
                       int decay)
{
    BL_CHECK(m->n_tensors < m->cap_tensors);
    ParamInfo *p = &m->tensors[m->n_tensors++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->shape[2] = d2;
    p->numel = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1) * (size_t)(ndim > 2 ? d2 : 1);
    p->offset = m->n_params;
    p->decay = decay;
    /* keep every tensor 16-float aligned so vector loads on either backend stay aligned */
    m->n_params += (p->numel + 15) & ~(size_t)15;
}

void model_build_layout(Model *m)
{
    const ModelConfig *c = &m->cfg;
    int d = c->hidden_size, di = c->intermediate_size, n = c->state_size;
    int r = c->time_step_rank, k = c->conv_kernel;
    m->cap_tensors = 2 + 10 * c->num_hidden_layers;
    m->tensors = bl_calloc((size_t)m->cap_tensors, sizeof(ParamInfo));
    m->layer_tensors = bl_calloc((size_t)c->num_hidden_layers, sizeof(LayerTensors));
    char name[64];

    add_tensor(m, "backbone.embeddings.weight", 2, 256, d, 0, 1);
    m->t_embed = m->n_tensors - 1;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        LayerTensors *lt = &m->layer_tensors[l];
#define T(field, suffix, nd, a, b, cc, dec)                                      \
    snprintf(name, sizeof name, "backbone.layers.%d.%s", l, suffix);             \
    add_tensor(m, name, nd, a, b, cc, dec);                                      \
    lt->field = m->n_tensors - 1;
        T(norm, "norm.weight", 1, d, 0, 0, 0);
        T(in_proj, "mixer.in_proj.weight", 2, 2 * di, d, 0, 1);
        T(conv_w, "mixer.conv1d.weight", 3, di, 1, k, 0);
        T(conv_b, "mixer.conv1d.bias", 1, di, 0, 0, 0);
        T(x_proj, "mixer.x_proj.weight", 2, r + 2 * n, di, 0, 1);
        T(dt_w, "mixer.dt_proj.weight", 2, di, r, 0, 1);
        T(dt_b, "mixer.dt_proj.bias", 1, di, 0, 0, 0);
        T(A_log, "mixer.A_log", 2, di, n, 0, 0);
        T(D, "mixer.D", 1, di, 0, 0, 0);
        T(out_proj, "mixer.out_proj.weight", 2, d, di, 0, 1);
#undef T
    }
    add_tensor(m, "backbone.norm_f.weight", 1, d, 0, 0, 0);
    m->t_norm_f = m->n_tensors - 1;
}

/* nn.Linear / nn.Conv1d default init (kaiming_uniform with a = sqrt(5)) reduces to
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)); mamba_ssm keeps it for in_proj, x_proj, conv. */
static void fill_uniform(float *x, size_t n, double bound, Rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
}

void model_init_params(Model *m, uint64_t seed)
{
    const ModelConfig *c = &m->cfg;
    int d = c->hidden_size, di = c->intermediate_size, n = c->state_size;
    int r = c->time_step_rank, k = c->conv_kernel;
    float *h = bl_calloc(m->n_params, sizeof(float));
    Rng rng = rng_stream(seed, 0x1417);

    float *emb = h + m->tensors[m->t_embed].offset;
    for (size_t i = 0; i < (size_t)256 * d; i++) emb[i] = (float)(rng_normal(&rng) * c->initializer_range);

    for (int l = 0; l < c->num_hidden_layers; l++) {
        const LayerTensors *lt = &m->layer_tensors[l];
#define P(field) (h + m->tensors[lt->field].offset)
        for (int i = 0; i < d; i++) P(norm)[i] = 1.0f;
        fill_uniform(P(in_proj), (size_t)2 * di * d, 1.0 / sqrt((double)d), &rng);
        fill_uniform(P(conv_w), (size_t)di * k, 1.0 / sqrt((double)k), &rng);
        fill_uniform(P(conv_b), (size_t)di, 1.0 / sqrt((double)k), &rng);
        fill_uniform(P(x_proj), (size_t)(r + 2 * n) * di, 1.0 / sqrt((double)di), &rng);
        fill_uniform(P(dt_w), (size_t)di * r, pow((double)r, -0.5) * c->time_step_scale, &rng);
        /* dt_bias = softplus^-1(dt) with dt log-uniform in [dt_min, dt_max], floored, so the
         * initial step sizes cover several time scales */
        double lo = log(c->time_step_min), hi = log(c->time_step_max);
        for (int i = 0; i < di; i++) {
            double dt = exp(rng_uniform(&rng) * (hi - lo) + lo);
            if (dt < c->time_step_floor) dt = c->time_step_floor;
            P(dt_b)[i] = (float)(dt + log(-expm1(-dt)));
        }
        for (int i = 0; i < di; i++)
            for (int j = 0; j < n; j++) P(A_log)[(size_t)i * n + j] = (float)log((double)(j + 1));
        for (int i = 0; i < di; i++) P(D)[i] = 1.0f;
        /* out_proj feeds the residual stream: scale by 1/sqrt(n_layer) so the stream's variance
         * does not grow with depth (mamba_ssm's rescale_prenorm_residual) */
        fill_uniform(P(out_proj), (size_t)d * di,
                     1.0 / sqrt((double)di) / sqrt((double)c->num_hidden_layers), &rng);
#undef P
    }
    float *nf = h + m->tensors[m->t_norm_f].offset;
    for (int i = 0; i < d; i++) nf[i] = 1.0f;

    m->be->upload(m->be, m->params, h, m->n_params * sizeof(float));
    free(h);
}
