/* Private parts of the model shared by its source files (layout, activations, passes). */
#ifndef BYTELM_MODEL_INTERNAL_H
#define BYTELM_MODEL_INTERNAL_H

#include "byte_lm/model/model.h"

/* Indices into Model.tensors of one layer's parameters. */
typedef struct {
    int norm, in_proj, conv_w, conv_b, x_proj, dt_w, dt_b, A_log, D, out_proj;
} LayerTensors;

/* What one layer's forward keeps for its backward (backend memory, `rows` = B*L rows). */
typedef struct {
    float *res;    /* [rows, d]    residual stream entering the layer */
    float *normed; /* [rows, d]    rmsnorm(res) */
    float *rstd;   /* [rows] */
    float *xz;     /* [rows, 2*di] in_proj output: u | z */
    float *u;      /* [rows, di]   silu(conv(u) + b) */
    float *xdbl;   /* [rows, R + 2N] x_proj output: dt | B | C */
    float *delta;  /* [rows, di]   dt_proj output (softplus and bias are inside the scan) */
    float *y;      /* [rows, di]   gated scan output */
    void *saved;   /* scan's saved state for the backward */
    bf16 *xz_h;    /* bf16 plan: [rows, 2*di] in_proj output (the fp32 fields above unused but
                    * res, rstd, xdbl and saved) */
    /* bf16 plan keeping the scan's inputs and outputs (Acts.keep_scan): conv output, dt slice,
     * delta, scan output, and `saved` above; otherwise NULL and recomputed */
    bf16 *u_h, *xdt_h, *delta_h, *y_h;
} LayerActs;

/* The bf16 plan's buffers shared by all layers: what the forward makes on its way and the
 * backward recomputes (normed, conv output, delta, scan output and states), and the gradient
 * scratch. One copy each, whatever the depth. */
typedef struct {
    bf16 *normed, *u, *xdt, *delta, *y; /* [rows, d], [rows, di], [rows, R], [rows, di] x 2 */
    void *saved;                        /* scan states for the backward */
    bf16 *dres;                         /* [rows, d]   dres rounded for the matmuls */
    bf16 *dy, *du, *ddelta;             /* [rows, di] */
    bf16 *dxdbl;                        /* [rows, R + 2N] dxdbl rounded */
    bf16 *dxz;                          /* [rows, 2*di] */
    bf16 *normf, *dlogits;              /* [rows, d], [rows, 256] */
} ActsBf16;

typedef struct {
    void *arena;        /* one backend allocation holding everything below */
    size_t arena_bytes;
    int rows_cap;       /* activations hold this many rows */
    size_t saved_bytes; /* bytes per layer of scan-saved state allocated */
    LayerActs *layer;   /* n_layer entries */
    float *res_final;   /* [rows, d] residual after the last layer */
    float *normf, *rstdf;
    float *logits;      /* [rows, 256], also holds dlogits in the backward */
    float *losses;      /* [rows] */
    uint8_t *ids, *targets;
    /* gradient scratch, shared by all layers */
    float *dres, *dnormed, *dxz, *du, *dxdbl, *ddelta, *dy;
    ActsBf16 h;    /* bf16 plan only */
    int keep_scan; /* bf16 plan: 1 when the layers keep their scan's inputs and outputs */
    int for_training; /* the plan was made for training (so keep_scan is chosen) */
} Acts;

struct Model {
    ModelConfig cfg;
    Backend *be;
    ParamInfo *tensors;
    int n_tensors, cap_tensors;
    LayerTensors *layer_tensors;
    int t_embed, t_norm_f;
    size_t n_params;
    float *params, *grads;
    Precision prec;
    bf16 *shadow;     /* bf16 plan: params rounded, what the matmuls read */
    int shadow_stale; /* params may have changed since the shadow was written */
    int recompute;    /* bf16 plan: -1 decide by memory, 0 keep the scan's tensors, 1 recompute */
    Acts acts;
    float *host_losses; /* rows_cap floats */
    uint8_t *host_ids;  /* 2 * rows_cap bytes: inputs then targets */
};

struct ModelState {
    int B;
    float **conv; /* per layer [B, di, K-1] */
    float **ssm;  /* per layer [B, di, N] */
};

void model_build_layout(Model *m);

/* Carves 256-byte-aligned pieces out of one allocation; with base NULL it only measures, so one
 * plan function both sizes the arena and fills in its pointers. */
typedef struct {
    uint8_t *base;
    size_t off;
} Carver;
void *carve(Carver *c, size_t bytes);

/* model_bf16.c: the bf16 plan's arena and passes (the fp32 ones are in model.c) */
void plan_acts_bf16(Model *m, Carver *c, size_t rows, size_t saved);
void forward_pass_bf16(Model *m, ModelState *s, int B, int L);
void backward_pass_bf16(Model *m, int B, int L);
/* Rewrites the shadow from params when they may have changed. */
void model_refresh_shadow(Model *m);
/* Parameter pointer of tensor index t in the flat buffer p (params or grads). */
static inline float *model_ptr(const Model *m, float *p, int t)
{
    return p + m->tensors[t].offset;
}

#endif
