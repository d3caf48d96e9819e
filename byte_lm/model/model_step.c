/* The per-byte recurrent step with every tensor at a fixed place (see model.h, ModelStep).
 *
 * A layer is five ops: in_proj with the norm before it (norm_matmul), the conv step, x_proj,
 * the scan step (dt_proj inside) and out_proj adding into the residual in place. A backend with
 * graphs records the whole step, the sampler included, on its second run (the first sizes
 * whatever the ops allocate for themselves) and replays the recording from then on; the
 * `ahead` steps of model_step_run_ahead are one recording of their own. */
#include "byte_lm/model/model_internal.h"

/* A fixed sequence of steps and its recording on the backend, once made. */
typedef struct {
    long runs;
    void *graph;
    int unrecordable; /* the backend could not record it: the ops run directly */
} Recording;

struct ModelStep {
    Model *m;
    ModelState *s;
    uint8_t *ids;  /* `ahead` slots of `slot` bytes */
    int ahead;
    size_t slot;
    SampleArgs tail;
    int has_tail;
    void *arena;
    float *res, *xz_f, *u_f, *xdbl, *y_f, *logits;
    bf16 *xz_h, *u_h, *y_h;
    Recording one;   /* a step */
    Recording many;  /* `ahead` steps */
};

ModelStep *model_step_create(Model *m, ModelState *s, uint8_t *ids, int ahead,
                             const SampleArgs *tail)
{
    BL_CHECK(ahead >= 1 && (tail || ahead == 1));
    const ModelConfig *c = &m->cfg;
    size_t B = (size_t)s->B, d = (size_t)c->hidden_size, di = (size_t)c->intermediate_size;
    size_t nx = (size_t)c->time_step_rank + 2 * (size_t)c->state_size, F = sizeof(float),
           H = sizeof(bf16);
    ModelStep *st = bl_calloc(1, sizeof *st);
    st->m = m;
    st->s = s;
    st->ids = ids;
    st->ahead = ahead;
    st->slot = 2 * (size_t)s->B; /* the sample op's out: bytes, then flags */
    if (tail) {
        st->tail = *tail; /* its logits are set to the step's below */
        st->has_tail = 1;
    }
    int h = m->prec == PREC_BF16;
    for (int pass = 0; pass < 2; pass++) { /* measure, then carve */
        Carver cv = {pass ? st->arena : NULL, 0};
        st->res = carve(&cv, B * d * F);
        st->xdbl = carve(&cv, B * nx * F);
        st->logits = carve(&cv, B * 256 * F);
        if (h) {
            st->xz_h = carve(&cv, B * 2 * di * H);
            st->u_h = carve(&cv, B * di * H);
            st->y_h = carve(&cv, B * di * H);
        } else {
            st->xz_f = carve(&cv, B * 2 * di * F);
            st->u_f = carve(&cv, B * di * F);
            st->y_f = carve(&cv, B * di * F);
        }
        if (!pass) st->arena = m->be->alloc(m->be, cv.off);
    }
    st->tail.logits = st->logits;
    return st;
}

void model_step_free(ModelStep *st)
{
    if (!st) return;
    Backend *be = st->m->be;
    if (st->one.graph) be->graph_free(be, st->one.graph);
    if (st->many.graph) be->graph_free(be, st->many.graph);
    be->free(be, st->arena);
    free(st);
}

const float *model_step_logits(const ModelStep *st) { return st->logits; }

int model_step_recorded(const ModelStep *st) { return st->one.graph || st->many.graph; }

/* The ops of one step, queued on the backend: it reads its bytes at ids and its sampler writes
 * the next ones at out. */
static void step_ops(ModelStep *st, const uint8_t *ids, uint8_t *out)
{
    Model *m = st->m;
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int B = st->s->B, d = c->hidden_size, di = c->intermediate_size, N = c->state_size;
    int R = c->time_step_rank, nx = R + 2 * N, K = c->conv_kernel;
    float eps = c->layer_norm_epsilon, *P = m->params;
    int h = m->prec == PREC_BF16;
    const bf16 *W = m->shadow;
#define WB(ti) (W + m->tensors[ti].offset)

    be->embedding_fwd(be, st->res, ids, model_ptr(m, P, m->t_embed), B, d);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const LayerTensors *t = &m->layer_tensors[l];
        ScanStep ss = {.bf16 = h, .z_stride = 2 * di, .xdbl = st->xdbl, .xdbl_stride = nx,
                       .dt_bias = model_ptr(m, P, t->dt_b), .A_log = model_ptr(m, P, t->A_log),
                       .Dskip = model_ptr(m, P, t->D), .ssm_state = st->s->ssm[l], .B = B,
                       .D = di, .N = N, .R = R};
        if (h) {
            be->norm_matmul(be, st->xz_h, 1, 2 * di, st->res, model_ptr(m, P, t->norm), eps,
                            WB(t->in_proj), 1, B, d, 2 * di);
            be->conv1d_fwd_bf16(be, st->u_h, st->xz_h, 2 * di, model_ptr(m, P, t->conv_w),
                                model_ptr(m, P, t->conv_b), st->s->conv[l], B, 1, di, K);
            be->matmul_fwd_bf16(be, st->xdbl, 0, nx, NULL, st->u_h, di, WB(t->x_proj), B, di, nx);
            ss.y = st->y_h, ss.u = st->u_h, ss.z = st->xz_h + di, ss.dt_w = WB(t->dt_w);
            /* the products after it: out_proj, then the next in_proj or the tied head */
            const LayerTensors *nt = l + 1 < c->num_hidden_layers ? t + 1 : NULL;
            ss.ahead[0].w = WB(t->out_proj), ss.ahead[0].K = di, ss.ahead[0].N = d;
            ss.ahead[1].w = nt ? WB(nt->in_proj) : WB(m->t_embed);
            ss.ahead[1].K = d, ss.ahead[1].N = nt ? 2 * di : 256;
            be->ssm_step(be, &ss);
            be->matmul_fwd_bf16(be, st->res, 0, d, st->res, st->y_h, di, WB(t->out_proj), B, di,
                                d);
        } else {
            be->norm_matmul(be, st->xz_f, 0, 2 * di, st->res, model_ptr(m, P, t->norm), eps,
                            model_ptr(m, P, t->in_proj), 0, B, d, 2 * di);
            be->conv1d_fwd(be, st->u_f, st->xz_f, 2 * di, model_ptr(m, P, t->conv_w),
                           model_ptr(m, P, t->conv_b), st->s->conv[l], B, 1, di, K);
            be->matmul_fwd(be, st->xdbl, nx, st->u_f, di, model_ptr(m, P, t->x_proj), B, di, nx,
                           0);
            ss.y = st->y_f, ss.u = st->u_f, ss.z = st->xz_f + di;
            ss.dt_w = model_ptr(m, P, t->dt_w);
            be->ssm_step(be, &ss);
            /* the residual add is the matmul's accumulate, in place */
            be->matmul_fwd(be, st->res, d, st->y_f, di, model_ptr(m, P, t->out_proj), B, di, d, 1);
        }
    }
    be->norm_matmul(be, st->logits, 0, 256, st->res, model_ptr(m, P, m->t_norm_f), eps,
                    h ? (const void *)WB(m->t_embed) : model_ptr(m, P, m->t_embed), h, B, d, 256);
    if (st->has_tail) {
        SampleArgs a = st->tail;
        a.out = out;
        be->sample(be, &a);
    }
#undef WB
}

/* n = 1: one step on the last slot, read and written there. n = ahead: step i reads slot i - 1
 * (the first, the last slot) and writes slot i, so the last slot again holds the newest bytes. */
static void steps_ops(ModelStep *st, int n)
{
    uint8_t *last = st->ids + (size_t)(st->ahead - 1) * st->slot;
    if (n == 1) {
        step_ops(st, last, last);
        return;
    }
    for (int i = 0; i < n; i++)
        step_ops(st, i ? st->ids + (size_t)(i - 1) * st->slot : last, st->ids + (size_t)i * st->slot);
}

/* Direct on the first run (it sizes what the ops allocate for themselves), recorded on the
 * second, replayed after; recorded again when the backend says the recording went stale. */
static void run_recorded(ModelStep *st, Recording *r, int n)
{
    Backend *be = st->m->be;
    if (st->m->prec == PREC_BF16) model_refresh_shadow(st->m);
    if (r->graph) {
        if (be->graph_run(be, r->graph) == 0) return;
        be->graph_free(be, r->graph);
        r->graph = NULL;
    }
    if (!be->graph_begin || r->unrecordable || r->runs++ == 0) {
        steps_ops(st, n);
        return;
    }
    be->graph_begin(be);
    steps_ops(st, n);
    r->graph = be->graph_end(be);
    if (!r->graph) {
        r->unrecordable = 1;
        steps_ops(st, n);
        return;
    }
    BL_CHECK(be->graph_run(be, r->graph) == 0); /* nothing moved since the recording */
}

void model_step_run(ModelStep *st) { run_recorded(st, &st->one, 1); }

void model_step_run_ahead(ModelStep *st) { run_recorded(st, &st->many, st->ahead); }
