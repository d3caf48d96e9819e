/* Private parts of the model shared by its source files (layout, activations, passes). */
#ifndef BYTELM_MODEL_INTERNAL_H
#define BYTELM_MODEL_INTERNAL_H

#include "model.h"

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
} LayerActs;

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
/* Parameter pointer of tensor index t in the flat buffer p (params or grads). */
static inline float *model_ptr(const Model *m, float *p, int t)
{
    return p + m->tensors[t].offset;
}

#endif
