/* The bf16 mixed-precision plan: its activation arena, forward and backward (the fp32 plan is in
 * model.c; both compute the same model).
 *
 * Kept fp32: master weights, gradients, AdamW moments, the residual stream, RMSNorm statistics,
 * x_proj's output (dt | B | C: the scan reads B and C in fp32, and they are 2N of the 2*di + R +
 * 2N values a layer makes per position), logits and the loss. Stored bf16: the weights' copy the
 * matmuls read (rewritten by AdamW in its own pass), and every activation that feeds a matmul or
 * the scan. Matmuls take bf16 operands and accumulate in fp32.
 *
 * Memory. A layer always keeps for its backward what is expensive to recompute, per position:
 *   res     fp32 [d]        4d bytes   the residual stream entering the layer
 *   rstd    fp32            4          its RMSNorm statistic
 *   xz      bf16 [2 di]     4 di       in_proj's output (conv input u | gate z)
 *   xdbl    fp32 [R + 2N]   4 (R + 2N) x_proj's output
 * The rest is cheap to make again: normed = rmsnorm(res) is always recomputed, and the scan's
 * tensors (u = silu(conv(x) + b), the dt slice in bf16, delta = dt_proj(dt), the scan output y
 * and its chunk states) are kept by the layer when they fit, else recomputed in the backward
 * one layer at a time into buffers shared by all layers (model_set_recompute; by default they
 * are kept when the whole plan takes at most half of the backend's memory). Keeping them costs
 * per position 6 di + 2R bytes plus the scan's states (4 di at N = 16), and saves a conv and a
 * scan forward per layer per step. Results are the same bits either way.
 *
 * Per position and layer, recomputing: 12,676 bytes for mambabyte-353m (d 1024, di 2048, R 64,
 * N 16), 6,404 for small, 916 for tiny; keeping: 33,284, 16,708 and 2,204 (the CUDA scan's states, 4 di at N = 16); the fp32 plan keeps
 * 57,732 for 353m. The shared buffers add about 18 d + 10 di + 6 (R + 2N) + 1.5 K bytes per
 * position (plus 6 di + 2R + the states when recomputing: 61.6 KB in all for 353m).
 * mambabyte-353m at 8 x 8192 (65,536 positions, 53 layers), recomputing: 44.0 GB kept + 4.0 GB
 * shared = 48.1 GB of arena, plus 6.4 GB of weights, bf16 copy, gradients and moments (the
 * backend's counter read 55.2 GB peak); keeping would need 119 GB. small at 16 x 2048 keeps:
 * 6.6 GB + 0.7 GB. */
#include "byte_lm/model/model_internal.h"

void plan_acts_bf16(Model *m, Carver *c, size_t R, size_t saved)
{
    const ModelConfig *cf = &m->cfg;
    size_t d = (size_t)cf->hidden_size, di = (size_t)cf->intermediate_size, F = sizeof(float);
    size_t r = (size_t)cf->time_step_rank, nx = r + 2 * (size_t)cf->state_size, H = sizeof(bf16);
    Acts *a = &m->acts;
    ActsBf16 *h = &a->h;
    int keep = a->keep_scan;
    for (int l = 0; l < cf->num_hidden_layers; l++) {
        LayerActs *la = &a->layer[l];
        memset(la, 0, sizeof *la);
        la->res = carve(c, R * d * F);
        la->rstd = carve(c, R * F);
        la->xz_h = carve(c, R * 2 * di * H);
        la->xdbl = carve(c, R * nx * F);
        if (keep) {
            la->u_h = carve(c, R * di * H);
            la->xdt_h = carve(c, R * r * H);
            la->delta_h = carve(c, R * di * H);
            la->y_h = carve(c, R * di * H);
            la->saved = carve(c, saved);
        }
    }
    a->res_final = carve(c, R * d * F);
    a->rstdf = carve(c, R * F);
    a->logits = carve(c, R * 256 * F);
    a->losses = carve(c, R * F);
    a->dres = carve(c, R * d * F);
    a->dnormed = carve(c, R * d * F);
    a->dxdbl = carve(c, R * nx * F);
    h->normed = carve(c, R * d * H);
    if (!keep) {
        h->u = carve(c, R * di * H);
        h->xdt = carve(c, R * r * H);
        h->delta = carve(c, R * di * H);
        h->y = carve(c, R * di * H);
        h->saved = saved ? carve(c, saved) : NULL;
    }
    h->dres = carve(c, R * d * H);
    h->dy = carve(c, R * di * H);
    h->du = carve(c, R * di * H);
    h->ddelta = carve(c, R * di * H);
    h->dxdbl = carve(c, R * nx * H);
    h->dxz = carve(c, R * 2 * di * H);
    h->normf = carve(c, R * d * H);
    h->dlogits = carve(c, R * 256 * H);
    a->ids = carve(c, R);
    a->targets = carve(c, R);
}

/* Where layer l's conv output, dt slice, delta, scan output and scan states live: its own
 * buffers when the plan keeps them, else the shared ones (valid for one layer at a time). */
typedef struct {
    bf16 *u, *xdt, *delta, *y;
    void *saved;
} ScanTensors;

static ScanTensors scan_tensors(Model *m, int l)
{
    LayerActs *la = &m->acts.layer[l];
    ActsBf16 *h = &m->acts.h;
    if (m->acts.keep_scan) return (ScanTensors){la->u_h, la->xdt_h, la->delta_h, la->y_h, la->saved};
    return (ScanTensors){h->u, h->xdt, h->delta, h->y, h->saved};
}

/* Layer l from in_proj's output to the scan's: conv + SiLU, x_proj (when `make_xdbl`: the
 * backward has it kept), dt_proj, the scan. `saved` receives the scan's chunk states (NULL: not
 * wanted); conv_state and ssm_state carry a stream's state across calls (NULL: a fresh start). */
static void layer_inner(Model *m, int l, const ScanTensors *st, int make_xdbl, float *conv_state,
                        float *ssm_state, void *saved, int B, int L)
{
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    const LayerTensors *t = &m->layer_tensors[l];
    LayerActs *la = &m->acts.layer[l];
    int rows = B * L, di = c->intermediate_size, N = c->state_size, R = c->time_step_rank;
    int nx = R + 2 * N;
    float *P = m->params;
    be->conv1d_fwd_bf16(be, st->u, la->xz_h, 2 * di, model_ptr(m, P, t->conv_w),
                        model_ptr(m, P, t->conv_b), conv_state, B, L, di, c->conv_kernel);
    if (make_xdbl)
        be->matmul_fwd_bf16(be, la->xdbl, 0, nx, NULL, st->u, di,
                            m->shadow + m->tensors[t->x_proj].offset, rows, di, nx);
    be->cast_bf16(be, st->xdt, R, la->xdbl, nx, rows, R);
    be->matmul_fwd_bf16(be, st->delta, 1, di, NULL, st->xdt, R,
                        m->shadow + m->tensors[t->dt_w].offset, rows, R, di);
    ScanFwd sf = {.bf16 = 1, .y = st->y, .u = st->u, .delta_pre = st->delta,
                  .z = la->xz_h + di, .z_stride = 2 * di, .dt_bias = model_ptr(m, P, t->dt_b),
                  .A_log = model_ptr(m, P, t->A_log), .Bm = la->xdbl + R,
                  .Cm = la->xdbl + R + N, .bc_stride = nx, .Dskip = model_ptr(m, P, t->D),
                  .ssm_state = ssm_state, .saved = saved, .B = B, .L = L, .D = di, .N = N};
    be->scan_fwd(be, &sf);
}

void forward_pass_bf16(Model *m, ModelState *s, int B, int L)
{
    model_refresh_shadow(m);
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    ActsBf16 *h = &a->h;
    int rows = B * L, d = c->hidden_size, di = c->intermediate_size;
    float eps = c->layer_norm_epsilon;
    float *P = m->params;
    const bf16 *W = m->shadow;

    be->embedding_fwd(be, a->layer[0].res, a->ids, model_ptr(m, P, m->t_embed), rows, d);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const LayerTensors *t = &m->layer_tensors[l];
        LayerActs *la = &a->layer[l];
        float *res_next = l + 1 < c->num_hidden_layers ? a->layer[l + 1].res : a->res_final;
        be->rmsnorm_fwd_bf16(be, h->normed, la->rstd, la->res, model_ptr(m, P, t->norm), rows, d,
                             eps);
        be->matmul_fwd_bf16(be, la->xz_h, 1, 2 * di, NULL, h->normed, d,
                            W + m->tensors[t->in_proj].offset, rows, d, 2 * di);
        ScanTensors st = scan_tensors(m, l);
        /* a kept plan saves the chunk states now; a recomputing one in the backward */
        layer_inner(m, l, &st, 1, s ? s->conv[l] : NULL, s ? s->ssm[l] : NULL,
                    a->keep_scan ? st.saved : NULL, B, L);
        /* residual: res_next = res + out_proj(y), the add in the matmul's epilogue */
        be->matmul_fwd_bf16(be, res_next, 0, d, la->res, st.y, di,
                            W + m->tensors[t->out_proj].offset, rows, di, d);
    }
    be->rmsnorm_fwd_bf16(be, h->normf, a->rstdf, a->res_final, model_ptr(m, P, m->t_norm_f), rows,
                         d, eps);
    be->matmul_fwd_bf16(be, a->logits, 0, 256, NULL, h->normf, d, W + m->tensors[m->t_embed].offset,
                        rows, d, 256);
}

/* Gradients of the loss whose dlogits (fp32) are in a->logits, added into m->grads. */
void backward_pass_bf16(Model *m, int B, int L)
{
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    ActsBf16 *h = &a->h;
    int rows = B * L, d = c->hidden_size, di = c->intermediate_size, N = c->state_size;
    int R = c->time_step_rank, nx = R + 2 * N, K = c->conv_kernel;
    float eps = c->layer_norm_epsilon;
    float *P = m->params, *G = m->grads;
    const bf16 *W = m->shadow;
#define WB(ti) (W + m->tensors[ti].offset)

    /* head (tied to the embedding) and final norm */
    be->cast_bf16(be, h->dlogits, 256, a->logits, 256, rows, 256);
    be->matmul_bwd_bf16(be, a->dnormed, 0, d, model_ptr(m, G, m->t_embed), h->dlogits, 256,
                        h->normf, d, WB(m->t_embed), rows, d, 256, 0);
    be->zero(be, a->dres, (size_t)rows * d * sizeof(float));
    be->rmsnorm_bwd(be, a->dres, model_ptr(m, G, m->t_norm_f), a->dnormed, a->res_final,
                    model_ptr(m, P, m->t_norm_f), a->rstdf, rows, d);

    for (int l = c->num_hidden_layers - 1; l >= 0; l--) {
        const LayerTensors *t = &m->layer_tensors[l];
        LayerActs *la = &a->layer[l];
        /* recompute what the layer did not keep (rstd is rewritten with the same value) */
        be->rmsnorm_fwd_bf16(be, h->normed, la->rstd, la->res, model_ptr(m, P, t->norm), rows, d,
                             eps);
        ScanTensors st = scan_tensors(m, l);
        if (!a->keep_scan) layer_inner(m, l, &st, 0, NULL, NULL, st.saved, B, L);

        /* dres is dLoss/d(res_next), and so d(out_proj output) through the residual add */
        be->cast_bf16(be, h->dres, d, a->dres, d, rows, d);
        be->matmul_bwd_bf16(be, h->dy, 1, di, model_ptr(m, G, t->out_proj), h->dres, d, st.y, di,
                            WB(t->out_proj), rows, di, d, 0);
        ScanBwd sb = {.bf16 = 1, .du = h->du, .ddelta_pre = h->ddelta, .dz = h->dxz + di,
                      .dz_stride = 2 * di, .ddt_bias = model_ptr(m, G, t->dt_b),
                      .dA_log = model_ptr(m, G, t->A_log), .dBm = a->dxdbl + R,
                      .dCm = a->dxdbl + R + N, .dbc_stride = nx, .dDskip = model_ptr(m, G, t->D),
                      .dy = h->dy, .u = st.u, .delta_pre = st.delta, .z = la->xz_h + di,
                      .z_stride = 2 * di, .dt_bias = model_ptr(m, P, t->dt_b),
                      .A_log = model_ptr(m, P, t->A_log), .Bm = la->xdbl + R,
                      .Cm = la->xdbl + R + N, .bc_stride = nx, .Dskip = model_ptr(m, P, t->D),
                      .saved = st.saved, .B = B, .L = L, .D = di, .N = N};
        be->scan_bwd(be, &sb);
        be->matmul_bwd_bf16(be, a->dxdbl, 0, nx, model_ptr(m, G, t->dt_w), h->ddelta, di, st.xdt,
                            R, WB(t->dt_w), rows, R, di, 0);
        be->cast_bf16(be, h->dxdbl, nx, a->dxdbl, nx, rows, nx);
        be->matmul_bwd_bf16(be, h->du, 1, di, model_ptr(m, G, t->x_proj), h->dxdbl, nx, st.u, di,
                            WB(t->x_proj), rows, di, nx, 1);
        be->conv1d_bwd_bf16(be, h->dxz, 2 * di, model_ptr(m, G, t->conv_w),
                            model_ptr(m, G, t->conv_b), h->du, la->xz_h, 2 * di,
                            model_ptr(m, P, t->conv_w), model_ptr(m, P, t->conv_b), B, L, di, K);
        be->matmul_bwd_bf16(be, a->dnormed, 0, d, model_ptr(m, G, t->in_proj), h->dxz, 2 * di,
                            h->normed, d, WB(t->in_proj), rows, d, 2 * di, 0);
        be->rmsnorm_bwd(be, a->dres, model_ptr(m, G, t->norm), a->dnormed, la->res,
                        model_ptr(m, P, t->norm), la->rstd, rows, d);
    }
    be->embedding_bwd(be, model_ptr(m, G, m->t_embed), a->dres, a->ids, rows, d);
#undef WB
}
