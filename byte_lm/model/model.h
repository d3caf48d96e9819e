/* The MambaByte model: byte embedding, a stack of Mamba-1 blocks, final RMSNorm, tied head.
 * All tensor work goes through a Backend; this file owns the parameter layout and the order of
 * operations (docs/ARCHITECTURE.md, "The model"). */
#ifndef BYTELM_MODEL_H
#define BYTELM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/model/backend.h"
#include "byte_lm/format/config.h"
#include "byte_lm/base/error.h"
#include "byte_lm/base/precision.h"

/* One parameter tensor inside the flat parameter buffer, named as in transformers'
 * MambaForCausalLM state dict. */
typedef struct {
    char name[64];
    int ndim;
    int64_t shape[3];
    size_t offset; /* in floats, into the flat buffers (params, grads, adam m and v) */
    size_t numel;
    int decay; /* 1: AdamW weight decay applies (matrices, embedding); 0: A_log, D, norms, biases */
} ParamInfo;

typedef struct Model Model;

int model_create(Model **out, const ModelConfig *cfg, Backend *be, BlErr *e);
void model_free(Model *m);

/* Initialisation as mamba_ssm (docs/ARCHITECTURE.md, "The model"), drawn on the host from `seed`, so every backend
 * starts from identical weights. */
void model_init_params(Model *m, uint64_t seed);

const ModelConfig *model_config(const Model *m);
Backend *model_backend(const Model *m);
int model_num_tensors(const Model *m);
const ParamInfo *model_tensor(const Model *m, int i);
const ParamInfo *model_find_tensor(const Model *m, const char *name);
size_t model_num_params(const Model *m); /* floats in the flat buffer */
/* backend memory, model_num_params floats. Writing through it is allowed at any time: in the
 * bf16 plan the next forward rewrites the bf16 copy of the weights. */
float *model_params(Model *m);
float *model_grads(Model *m);            /* backend memory, same layout */
void model_zero_grads(Model *m);

/* Selects fp32 or bf16 mixed precision (default fp32). bf16 allocates the bf16 copy of the
 * weights; the activation arena is planned anew at the next pass. */
void model_set_precision(Model *m, Precision p);
/* The precision named ("fp32", "bf16"), or be's default for NULL: 0, or -1 for another name. */
int precision_for(const Backend *be, const char *name, Precision *out);
Precision model_precision(const Model *m);
/* bf16 plan: the bf16 copy of the weights (same layout as the params), for the optimizer to
 * rewrite in its own pass; after it has, model_shadow_written says the copy is current.
 * NULL in fp32. */
bf16 *model_params_bf16(Model *m);
void model_shadow_written(Model *m);
/* bf16 training: whether the backward recomputes each layer's conv, delta and scan forward
 * (1) or the forward keeps them (0); -1 (the default) keeps them when the whole plan takes at
 * most half of the backend's memory. Results are the same bits either way. */
void model_set_recompute(Model *m, int mode);
/* 1 when the current plan recomputes the scan (known after the first training pass) */
int model_recomputes(const Model *m);
/* Bytes of the activation arena as planned so far (the largest B*L used). */
size_t model_activation_bytes(const Model *m);

/* Training step pieces. batch: host bytes, B rows of L+1 (inputs = first L, targets = last L).
 * Runs forward and backward; gradients of the mean loss (times grad_scale) are ADDED to
 * model_grads, so several calls accumulate. Returns the mean loss in nats. */
float model_forward_backward(Model *m, const uint8_t *batch, int B, int L, float grad_scale);

/* Mean loss in nats of a batch in the training format (B rows of L+1 bytes), forward only:
 * what validation measures. */
float model_loss(Model *m, const uint8_t *batch, int B, int L);

/* Forward only over B rows of L input bytes with their L targets (host memory).
 * losses (host, B*L, nats) and logits (host, B*L*256) are filled when not NULL.
 * Returns the mean loss in nats. */
float model_forward(Model *m, const uint8_t *inputs, const uint8_t *targets, int B, int L,
                    float *losses, float *logits);

/* Recurrent state for scoring long texts in chunks and for generation: per layer the conv state
 * (B, d_inner, d_conv-1) and the ssm state (B, d_inner, d_state), in backend memory. */
typedef struct ModelState ModelState;
ModelState *model_state_create(Model *m, int B);
void model_state_reset(Model *m, ModelState *s);
void model_state_free(Model *m, ModelState *s);
/* Copies stream src_row of src into stream dst_row of dst (e.g. one prefilled prompt to every
 * stream of a batch). */
void model_state_copy_row(Model *m, ModelState *dst, int dst_row, const ModelState *src,
                          int src_row);
/* Forward over the next L bytes of each of B streams, starting from and updating state s.
 * L may be 1 (one recurrent step). logits (host, B*L*256) filled when not NULL; when targets is
 * not NULL, losses (host, B*L) are filled and the summed loss in nats is returned. */
double model_forward_stateful(Model *m, ModelState *s, const uint8_t *inputs,
                              const uint8_t *targets, int B, int L, float *losses, float *logits);

/* One recurrent step (L = 1) of the s->B streams of state s, entirely in backend memory: it
 * reads the byte ids (backend memory, B bytes), updates s and writes the logits (backend memory,
 * B x 256), then, when `tail` is not NULL, runs the sample op on them (its `logits` and `out`
 * fields are ignored: the step's own logits are used, and the bytes go where the next step
 * reads them). Nothing moves to or from the host and every tensor stays where it is, so a
 * backend with graphs records the step once and replays it (model_step.c). It computes what
 * model_forward_stateful with L = 1 computes, in the model's precision; the model, s, ids and
 * the tail's buffers must stay unchanged in place while the step is used.
 *
 * `ids` holds `ahead` slots of 2B bytes, each laid out as the sample op's out (the bytes, then
 * the finite-logits flags); without a tail, ahead is 1 and only its first B bytes are read.
 * model_step_run is one step on the last slot: it reads the bytes there and its sampler
 * overwrites them. model_step_run_ahead runs `ahead` steps in one go (one recording): step i
 * reads slot i - 1, the first one the last slot, and writes slot i, so that the host fetches
 * `ahead` steps' bytes in one download and the last slot holds the newest bytes after either. */
typedef struct ModelStep ModelStep;
ModelStep *model_step_create(Model *m, ModelState *s, uint8_t *ids, int ahead,
                             const SampleArgs *tail);
void model_step_run(ModelStep *st);
void model_step_run_ahead(ModelStep *st);
/* the logits of the newest step (the last of model_step_run_ahead's) */
const float *model_step_logits(const ModelStep *st);
/* 1 when the step is replayed from a recording (the backend has graphs and recording worked) */
int model_step_recorded(const ModelStep *st);
void model_step_free(ModelStep *st);

#endif
