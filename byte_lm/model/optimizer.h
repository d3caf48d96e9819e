/* AdamW with warmup + cosine learning-rate schedule and global grad-norm clipping. */
#ifndef BYTELM_OPTIMIZER_H
#define BYTELM_OPTIMIZER_H

#include "byte_lm/model/model.h"

typedef struct {
    float lr;           /* peak learning rate */
    float min_lr_ratio; /* the cosine decays to lr * min_lr_ratio */
    int warmup_steps;
    int total_steps;
    float beta1, beta2, eps;
    float weight_decay; /* applied to tensors whose ParamInfo.decay is set */
    float clip;         /* max global grad norm; <= 0 disables clipping */
} OptimConfig;

/* Bounds of the settings, one place for optim_config_check, trainer_state.json's checks and
 * the command line: lr in (0, OPTIM_MAX_LR], weight_decay in [0, OPTIM_MAX_WEIGHT_DECAY], clip in
 * [0, OPTIM_MAX_CLIP], warmup_steps and total_steps at most OPTIM_MAX_STEPS. */
#define OPTIM_MAX_LR 1e3
#define OPTIM_MAX_WEIGHT_DECAY 1e3
#define OPTIM_MAX_CLIP 1e9
#define OPTIM_MAX_STEPS (1 << 30)

typedef struct {
    OptimConfig cfg;
    float *m, *v; /* backend memory, model_num_params floats each */
    int step;     /* steps taken so far */
} Optimizer;

void optim_config_default(OptimConfig *c);
/* Every setting a step can use without producing NaN: lr > 0, betas in [0, 1), eps > 0, all
 * finite. file names the source of the settings in the message. 0 ok, -1 with e filled. */
int optim_config_check(const OptimConfig *c, const char *file, BlErr *e);
void optimizer_init(Optimizer *o, Model *model, const OptimConfig *cfg);
void optimizer_free(Optimizer *o, Model *model);
/* Learning rate for 1-based step t: linear warmup, then cosine to min_lr_ratio * lr. */
float optimizer_lr(const OptimConfig *c, int t);
/* Clips the accumulated gradients to cfg.clip and applies one AdamW step.
 * Returns the gradient norm before clipping; a non-finite norm skips the update (returns it). */
double optimizer_step(Optimizer *o, Model *model, float *lr_out);

#endif
