/* MambaByte forward and backward, expressed as backend ops (docs/ARCHITECTURE.md, "The model"). */
#include <string.h>

#include "byte_lm/model/model_internal.h"

/* -1 with a one-line reason when the backend's kernels are not built for a size the config
 * asks (its scan's state size, its conv's kernel size), else 0. */
static int backend_refuses(Backend *be, const ModelConfig *c, BlErr *e)
{
    if (!be->d_state_ok(be, c->state_size))
        return bl_fail(e, NULL, "state_size %d is not supported by the %s backend (it runs %s)",
                       c->state_size, be->name, be->d_states);
    if (c->conv_kernel > be->conv_kernel_max)
        return bl_fail(e, NULL, "conv_kernel %d is not supported by the %s backend (it runs 1 to %d)",
                       c->conv_kernel, be->name, be->conv_kernel_max);
    return 0;
}

int model_create(Model **out, const ModelConfig *cfg, Backend *be, BlErr *e)
{
    Model *m = bl_calloc(1, sizeof *m);
    m->cfg = *cfg;
    if (config_finalize(&m->cfg, NULL, e)) {
        free(m);
        return -1;
    }
    m->be = be;
    m->recompute = -1;
    if (backend_refuses(be, &m->cfg, e)) {
        free(m);
        return -1;
    }
    /* a config can be valid yet far too large for the machine: say so instead of dying in the
     * allocator (the GPU backend's allocator reports its own failures) */
    if (be->kind == BACKEND_CPU) { /* backend memory is this machine's RAM */
        double need = (double)config_num_params(&m->cfg) * 2 * sizeof(float);
        double have = (double)be->mem_total_bytes(be);
        if (have > 0 && need > have) {
            bl_fail(e, NULL, "a model of %lld parameters needs %.1f GiB for weights and gradients, "
                             "more than this machine's %.1f GiB",
                    config_num_params(&m->cfg), need / (1 << 30), have / (1 << 30));
            free(m);
            return -1;
        }
    }
    model_build_layout(m);
    m->params = be->alloc(be, m->n_params * sizeof(float));
    m->grads = be->alloc(be, m->n_params * sizeof(float));
    be->zero(be, m->params, m->n_params * sizeof(float));
    be->zero(be, m->grads, m->n_params * sizeof(float));
    *out = m;
    return 0;
}

static void free_acts(Model *m)
{
    Acts *a = &m->acts;
    if (a->arena) m->be->free(m->be, a->arena);
    free(a->layer);
    free(m->host_losses);
    free(m->host_ids);
    memset(a, 0, sizeof *a);
}

void model_free(Model *m)
{
    if (!m) return;
    free_acts(m);
    if (m->shadow) m->be->free(m->be, m->shadow);
    m->be->free(m->be, m->params);
    m->be->free(m->be, m->grads);
    free(m->tensors);
    free(m->layer_tensors);
    free(m);
}

void *carve(Carver *c, size_t bytes)
{
    size_t at = (c->off + 255) & ~(size_t)255;
    c->off = at + bytes;
    return c->base ? c->base + at : NULL;
}

static void plan_acts(Model *m, Carver *c, size_t R, size_t saved)
{
    const ModelConfig *cf = &m->cfg;
    size_t d = (size_t)cf->hidden_size, di = (size_t)cf->intermediate_size, F = sizeof(float);
    size_t nx = (size_t)cf->time_step_rank + 2 * (size_t)cf->state_size;
    Acts *a = &m->acts;
    for (int l = 0; l < cf->num_hidden_layers; l++) {
        LayerActs *la = &a->layer[l];
        la->res = carve(c, R * d * F);
        la->normed = carve(c, R * d * F);
        la->rstd = carve(c, R * F);
        la->xz = carve(c, R * 2 * di * F);
        la->u = carve(c, R * di * F);
        la->xdbl = carve(c, R * nx * F);
        la->delta = carve(c, R * di * F);
        la->y = carve(c, R * di * F);
        la->saved = saved ? carve(c, saved) : NULL;
    }
    a->res_final = carve(c, R * d * F);
    a->normf = carve(c, R * d * F);
    a->rstdf = carve(c, R * F);
    a->logits = carve(c, R * 256 * F);
    a->losses = carve(c, R * F);
    a->dres = carve(c, R * d * F);
    a->dnormed = carve(c, R * d * F);
    a->dxz = carve(c, R * 2 * di * F);
    a->du = carve(c, R * di * F);
    a->dxdbl = carve(c, R * nx * F);
    a->ddelta = carve(c, R * di * F);
    a->dy = carve(c, R * di * F);
    a->ids = carve(c, R);
    a->targets = carve(c, R);
}

/* All activations live in one arena planned for the largest B*L (and scan-saved size) seen so
 * far: training calls the model with one shape over and over, so this allocates once, and the
 * arena's size is the model's whole activation memory. */
static void ensure_acts(Model *m, int B, int L, int need_saved)
{
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    int rows = B * L;
    size_t saved = need_saved ? m->be->scan_saved_bytes(m->be, B, L, c->intermediate_size, c->state_size) : 0;
    /* a training pass after forward-only ones may need the bf16 plan that keeps scan tensors */
    int replan = need_saved && m->prec == PREC_BF16 && !a->for_training;
    if (rows <= a->rows_cap && saved <= a->saved_bytes && a->arena && !replan) return;
    if (rows < a->rows_cap) rows = a->rows_cap;
    if (saved < a->saved_bytes) saved = a->saved_bytes;
    free_acts(m);
    a->layer = bl_calloc((size_t)c->num_hidden_layers, sizeof(LayerActs));
    void (*plan)(Model *, Carver *, size_t, size_t) = m->prec == PREC_BF16 ? plan_acts_bf16 : plan_acts;
    Carver measure = {NULL, 0};
    /* bf16 training keeps the scan's tensors unless told not to or they would not fit in half
     * of the backend's memory next to weights, gradients, bf16 copy and moments (18 bytes a
     * parameter) */
    a->keep_scan = m->prec == PREC_BF16 && need_saved && m->recompute != 1;
    a->for_training = need_saved;
    plan(m, &measure, (size_t)rows, saved);
    if (a->keep_scan && m->recompute == -1) {
        double need = (double)measure.off + 18.0 * (double)m->n_params;
        if (need > 0.5 * (double)m->be->mem_total_bytes(m->be)) {
            a->keep_scan = 0;
            measure.off = 0;
            plan(m, &measure, (size_t)rows, saved);
        }
    }
    a->arena_bytes = measure.off;
    a->arena = m->be->alloc(m->be, measure.off);
    Carver fill = {a->arena, 0};
    plan(m, &fill, (size_t)rows, saved);
    a->rows_cap = rows;
    a->saved_bytes = saved;
    m->host_losses = bl_malloc((size_t)rows * sizeof(float));
    m->host_ids = bl_malloc(2 * (size_t)rows);
}

size_t model_activation_bytes(const Model *m) { return m->acts.arena_bytes; }

/* Forward through every layer up to the logits. State s (may be NULL) carries conv and ssm
 * states across calls; keep_saved asks the scan to save what its backward needs. */
static void forward_pass(Model *m, ModelState *s, int B, int L, int keep_saved)
{
    if (m->prec == PREC_BF16) {
        forward_pass_bf16(m, s, B, L);
        return;
    }
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    int rows = B * L, d = c->hidden_size, di = c->intermediate_size, N = c->state_size;
    int R = c->time_step_rank, nx = R + 2 * N, K = c->conv_kernel;
    float eps = c->layer_norm_epsilon;
    float *P = m->params;

    be->embedding_fwd(be, a->layer[0].res, a->ids, model_ptr(m, P, m->t_embed), rows, d);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const LayerTensors *t = &m->layer_tensors[l];
        LayerActs *la = &a->layer[l];
        float *res_next = l + 1 < c->num_hidden_layers ? a->layer[l + 1].res : a->res_final;
        be->rmsnorm_fwd(be, la->normed, la->rstd, la->res, model_ptr(m, P, t->norm), rows, d, eps);
        be->matmul_fwd(be, la->xz, 2 * di, la->normed, d, model_ptr(m, P, t->in_proj), rows, d,
                       2 * di, 0);
        be->conv1d_fwd(be, la->u, la->xz, 2 * di, model_ptr(m, P, t->conv_w),
                       model_ptr(m, P, t->conv_b), s ? s->conv[l] : NULL, B, L, di, K);
        be->matmul_fwd(be, la->xdbl, nx, la->u, di, model_ptr(m, P, t->x_proj), rows, di, nx, 0);
        be->matmul_fwd(be, la->delta, di, la->xdbl, nx, model_ptr(m, P, t->dt_w), rows, R, di, 0);
        ScanFwd sf = {.y = la->y, .u = la->u, .delta_pre = la->delta,
                      .z = la->xz + di, .z_stride = 2 * di,
                      .dt_bias = model_ptr(m, P, t->dt_b), .A_log = model_ptr(m, P, t->A_log),
                      .Bm = la->xdbl + R, .Cm = la->xdbl + R + N, .bc_stride = nx,
                      .Dskip = model_ptr(m, P, t->D), .ssm_state = s ? s->ssm[l] : NULL,
                      .saved = keep_saved ? la->saved : NULL, .B = B, .L = L, .D = di, .N = N};
        be->scan_fwd(be, &sf);
        /* residual: res_next = res + out_proj(y), the add done by the matmul's accumulate */
        be->copy(be, res_next, la->res, (size_t)rows * d * sizeof(float));
        be->matmul_fwd(be, res_next, d, la->y, di, model_ptr(m, P, t->out_proj), rows, di, d, 1);
    }
    be->rmsnorm_fwd(be, a->normf, a->rstdf, a->res_final, model_ptr(m, P, m->t_norm_f), rows,
                    d, eps);
    be->matmul_fwd(be, a->logits, 256, a->normf, d, model_ptr(m, P, m->t_embed), rows, d, 256, 0);
}

/* Gradients of the loss whose dlogits are in a->logits, added into m->grads. */
static void backward_pass(Model *m, int B, int L)
{
    if (m->prec == PREC_BF16) {
        backward_pass_bf16(m, B, L);
        return;
    }
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    int rows = B * L, d = c->hidden_size, di = c->intermediate_size, N = c->state_size;
    int R = c->time_step_rank, nx = R + 2 * N, K = c->conv_kernel;
    float *P = m->params, *G = m->grads;

    /* head (tied to the embedding) and final norm */
    be->matmul_bwd(be, a->dnormed, d, model_ptr(m, G, m->t_embed), a->logits, 256, a->normf, d,
                   model_ptr(m, P, m->t_embed), rows, d, 256, 0);
    be->zero(be, a->dres, (size_t)rows * d * sizeof(float));
    be->rmsnorm_bwd(be, a->dres, model_ptr(m, G, m->t_norm_f), a->dnormed, a->res_final,
                    model_ptr(m, P, m->t_norm_f), a->rstdf, rows, d);

    for (int l = c->num_hidden_layers - 1; l >= 0; l--) {
        const LayerTensors *t = &m->layer_tensors[l];
        LayerActs *la = &a->layer[l];
        /* dres is dLoss/d(res_next); it is also d(out_proj output) through the residual add */
        be->matmul_bwd(be, a->dy, di, model_ptr(m, G, t->out_proj), a->dres, d, la->y, di,
                       model_ptr(m, P, t->out_proj), rows, di, d, 0);
        ScanBwd sb = {.du = a->du, .ddelta_pre = a->ddelta, .dz = a->dxz + di, .dz_stride = 2 * di,
                      .ddt_bias = model_ptr(m, G, t->dt_b), .dA_log = model_ptr(m, G, t->A_log),
                      .dBm = a->dxdbl + R, .dCm = a->dxdbl + R + N, .dbc_stride = nx,
                      .dDskip = model_ptr(m, G, t->D), .dy = a->dy, .u = la->u,
                      .delta_pre = la->delta, .z = la->xz + di, .z_stride = 2 * di,
                      .dt_bias = model_ptr(m, P, t->dt_b), .A_log = model_ptr(m, P, t->A_log),
                      .Bm = la->xdbl + R, .Cm = la->xdbl + R + N, .bc_stride = nx,
                      .Dskip = model_ptr(m, P, t->D), .saved = la->saved, .B = B, .L = L, .D = di,
                      .N = N};
        be->scan_bwd(be, &sb);
        be->matmul_bwd(be, a->dxdbl, nx, model_ptr(m, G, t->dt_w), a->ddelta, di, la->xdbl, nx,
                       model_ptr(m, P, t->dt_w), rows, R, di, 0);
        be->matmul_bwd(be, a->du, di, model_ptr(m, G, t->x_proj), a->dxdbl, nx, la->u, di,
                       model_ptr(m, P, t->x_proj), rows, di, nx, 1);
        be->conv1d_bwd(be, a->dxz, 2 * di, model_ptr(m, G, t->conv_w), model_ptr(m, G, t->conv_b),
                       a->du, la->xz, 2 * di, model_ptr(m, P, t->conv_w),
                       model_ptr(m, P, t->conv_b), B, L, di, K);
        be->matmul_bwd(be, a->dnormed, d, model_ptr(m, G, t->in_proj), a->dxz, 2 * di, la->normed,
                       d, model_ptr(m, P, t->in_proj), rows, d, 2 * di, 0);
        be->rmsnorm_bwd(be, a->dres, model_ptr(m, G, t->norm), a->dnormed, la->res,
                        model_ptr(m, P, t->norm), la->rstd, rows, d);
    }
    be->embedding_bwd(be, model_ptr(m, G, m->t_embed), a->dres, a->ids, rows, d);
}

/* Splits host rows of L+1 bytes into inputs and targets and uploads both. */
static void upload_batch(Model *m, const uint8_t *batch, int B, int L)
{
    size_t rows = (size_t)B * L;
    uint8_t *in = m->host_ids, *tg = m->host_ids + rows;
    for (int b = 0; b < B; b++) {
        memcpy(in + (size_t)b * L, batch + (size_t)b * (L + 1), (size_t)L);
        memcpy(tg + (size_t)b * L, batch + (size_t)b * (L + 1) + 1, (size_t)L);
    }
    m->be->upload(m->be, m->acts.ids, in, rows);
    m->be->upload(m->be, m->acts.targets, tg, rows);
}

static double sum_losses(Model *m, int rows, float *host_out)
{
    float *h = host_out ? host_out : m->host_losses;
    m->be->download(m->be, h, m->acts.losses, (size_t)rows * sizeof(float));
    double s = 0;
    for (int i = 0; i < rows; i++) s += h[i];
    return s;
}

float model_forward_backward(Model *m, const uint8_t *batch, int B, int L, float grad_scale)
{
    int rows = B * L;
    ensure_acts(m, B, L, 1);
    upload_batch(m, batch, B, L);
    forward_pass(m, NULL, B, L, 1);
    Acts *a = &m->acts;
    m->be->cross_entropy(m->be, a->losses, a->logits, a->logits, a->targets, rows, 256,
                         grad_scale / (float)rows);
    backward_pass(m, B, L);
    return (float)(sum_losses(m, rows, NULL) / rows);
}

float model_loss(Model *m, const uint8_t *batch, int B, int L)
{
    int rows = B * L;
    ensure_acts(m, B, L, 0);
    upload_batch(m, batch, B, L);
    forward_pass(m, NULL, B, L, 0);
    Acts *a = &m->acts;
    m->be->cross_entropy(m->be, a->losses, NULL, a->logits, a->targets, rows, 256, 0);
    return (float)(sum_losses(m, rows, NULL) / rows);
}

/* Forward only (state s may be NULL), scored against targets when given; returns the summed
 * loss in nats. The one body behind model_forward and model_forward_stateful. */
static double forward_scored(Model *m, ModelState *s, const uint8_t *inputs,
                             const uint8_t *targets, int B, int L, float *losses, float *logits)
{
    int rows = B * L;
    ensure_acts(m, B, L, 0);
    m->be->upload(m->be, m->acts.ids, inputs, (size_t)rows);
    if (targets) m->be->upload(m->be, m->acts.targets, targets, (size_t)rows);
    forward_pass(m, s, B, L, 0);
    if (logits) m->be->download(m->be, logits, m->acts.logits, (size_t)rows * 256 * sizeof(float));
    if (!targets) return 0.0;
    m->be->cross_entropy(m->be, m->acts.losses, NULL, m->acts.logits, m->acts.targets, rows, 256, 0);
    return sum_losses(m, rows, losses);
}

float model_forward(Model *m, const uint8_t *inputs, const uint8_t *targets, int B, int L,
                    float *losses, float *logits)
{
    return (float)(forward_scored(m, NULL, inputs, targets, B, L, losses, logits) / (B * L));
}

double model_forward_stateful(Model *m, ModelState *s, const uint8_t *inputs,
                              const uint8_t *targets, int B, int L, float *losses, float *logits)
{
    BL_CHECK(s->B == B);
    return forward_scored(m, s, inputs, targets, B, L, losses, logits);
}

/* at least one float so a kernel of width 1 (no history) still gets a valid pointer */
static size_t conv_state_bytes(const ModelConfig *c, int B)
{
    size_t n = (size_t)B * c->intermediate_size * (c->conv_kernel - 1);
    return (n ? n : 1) * sizeof(float);
}

ModelState *model_state_create(Model *m, int B)
{
    const ModelConfig *c = &m->cfg;
    int nl = c->num_hidden_layers, di = c->intermediate_size;
    ModelState *s = bl_calloc(1, sizeof *s);
    s->B = B;
    s->conv = bl_calloc((size_t)nl, sizeof(float *));
    s->ssm = bl_calloc((size_t)nl, sizeof(float *));
    for (int l = 0; l < nl; l++) {
        s->conv[l] = m->be->alloc(m->be, conv_state_bytes(c, B));
        s->ssm[l] = m->be->alloc(m->be, (size_t)B * di * c->state_size * sizeof(float));
    }
    model_state_reset(m, s);
    return s;
}

void model_state_reset(Model *m, ModelState *s)
{
    const ModelConfig *c = &m->cfg;
    int di = c->intermediate_size;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        m->be->zero(m->be, s->conv[l], conv_state_bytes(c, s->B));
        m->be->zero(m->be, s->ssm[l], (size_t)s->B * di * c->state_size * sizeof(float));
    }
}

void model_state_free(Model *m, ModelState *s)
{
    if (!s) return;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        m->be->free(m->be, s->conv[l]);
        m->be->free(m->be, s->ssm[l]);
    }
    free(s->conv);
    free(s->ssm);
    free(s);
}

void model_state_copy_row(Model *m, ModelState *dst, int dst_row, const ModelState *src,
                          int src_row)
{
    const ModelConfig *c = &m->cfg;
    BL_CHECK(dst_row >= 0 && dst_row < dst->B && src_row >= 0 && src_row < src->B);
    size_t conv = (size_t)c->intermediate_size * (c->conv_kernel - 1);
    size_t ssm = (size_t)c->intermediate_size * c->state_size;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (conv)
            m->be->copy(m->be, dst->conv[l] + dst_row * conv, src->conv[l] + src_row * conv,
                        conv * sizeof(float));
        m->be->copy(m->be, dst->ssm[l] + dst_row * ssm, src->ssm[l] + src_row * ssm,
                    ssm * sizeof(float));
    }
}

/* ---- accessors ---- */
const ModelConfig *model_config(const Model *m) { return &m->cfg; }
Backend *model_backend(const Model *m) { return m->be; }
int model_num_tensors(const Model *m) { return m->n_tensors; }
const ParamInfo *model_tensor(const Model *m, int i) { return &m->tensors[i]; }
size_t model_num_params(const Model *m) { return m->n_params; }
float *model_params(Model *m)
{
    m->shadow_stale = 1;
    return m->params;
}
float *model_grads(Model *m) { return m->grads; }
void model_zero_grads(Model *m) { m->be->zero(m->be, m->grads, m->n_params * sizeof(float)); }

void model_set_precision(Model *m, Precision p)
{
    if (p == m->prec) return;
    free_acts(m);
    m->prec = p;
    if (p == PREC_BF16) {
        BL_CHECK(m->be->cast_bf16 != NULL);
        m->shadow = m->be->alloc(m->be, m->n_params * sizeof(bf16));
        m->be->zero(m->be, m->shadow, m->n_params * sizeof(bf16));
        m->shadow_stale = 1;
    } else if (m->shadow) {
        m->be->free(m->be, m->shadow);
        m->shadow = NULL;
    }
}

Precision model_precision(const Model *m) { return m->prec; }

int precision_for(const Backend *be, const char *name, Precision *out)
{
    if (name) return precision_parse(name, out);
    *out = be->bf16_default ? PREC_BF16 : PREC_FP32;
    return 0;
}

void model_set_recompute(Model *m, int mode)
{
    if (mode == m->recompute) return;
    m->recompute = mode;
    free_acts(m); /* planned anew at the next pass */
}

int model_recomputes(const Model *m) { return m->prec == PREC_BF16 && !m->acts.keep_scan; }
bf16 *model_params_bf16(Model *m) { return m->shadow; }
void model_shadow_written(Model *m) { m->shadow_stale = 0; }

void model_refresh_shadow(Model *m)
{
    if (!m->shadow || !m->shadow_stale) return;
    /* the flat buffer is a whole number of 16-float tensors (model_build_layout pads each) */
    m->be->cast_bf16(m->be, m->shadow, 16, m->params, 16, (int)(m->n_params / 16), 16);
    m->shadow_stale = 0;
}

const ParamInfo *model_find_tensor(const Model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}
