/* Model configuration, stored as transformers' MambaConfig JSON (config.json), so a checkpoint's
 * config loads in PyTorch unchanged. Only the fields bytelm uses are kept; derived sizes are
 * computed by config_finalize. */
#ifndef BYTELM_CONFIG_H
#define BYTELM_CONFIG_H

#include "byte_lm/base/error.h"

typedef struct {
    int vocab_size;        /* always 256 */
    int hidden_size;       /* d_model */
    int num_hidden_layers; /* n_layer */
    int state_size;        /* d_state, N */
    int expand;
    int intermediate_size; /* d_inner = expand * hidden_size */
    int conv_kernel;       /* d_conv */
    int time_step_rank;    /* dt_rank = ceil(hidden_size / 16) ("auto") */
    float layer_norm_epsilon;
    float initializer_range;
    float time_step_min, time_step_max, time_step_floor, time_step_scale;
    int use_bias;      /* must be 0 */
    int use_conv_bias; /* must be 1 */
    int rescale_prenorm_residual; /* read and kept, but saved as false: init always rescales
                                   * out_proj (model_init_params); see config_save */
    int tie_word_embeddings; /* must be 1 */
} ModelConfig;

/* mamba_ssm / transformers defaults for the given width and depth. */
void config_default(ModelConfig *c, int hidden_size, int num_hidden_layers);
/* Fills derived fields and checks every value is in range and supported. */
int config_finalize(ModelConfig *c, const char *file, BlErr *e);
/* Reads a MambaConfig JSON file; unknown fields are ignored, missing ones take defaults. */
int config_load(ModelConfig *c, const char *path, BlErr *e);
int config_parse(ModelConfig *c, const char *json, size_t len, const char *file, BlErr *e);
/* Writes a complete MambaConfig JSON (with model_type/architectures) to path. */
int config_save(const ModelConfig *c, const char *path, BlErr *e);
/* Number of parameters (embedding counted once: the head is tied). */
long long config_num_params(const ModelConfig *c);
/* Activation bytes per row (one position of one window) of a training step, as model.c's arena
 * lays them out (the scan's saved state, which depends on the backend, not included). */
double config_activation_bytes_per_row(const ModelConfig *c);
/* What a training step of B x L holds in memory, at least: weights, gradients, the two AdamW
 * moments and the activations. */
double config_train_bytes(const ModelConfig *c, int B, int L);

#endif
