/* Checkpoint directories (docs/ARCHITECTURE.md, "File formats"):
 *   config.json           MambaConfig
 *   model.safetensors     weights, transformers' MambaForCausalLM names, F32
 *   optimizer.safetensors AdamW moments: "exp_avg.<name>", "exp_avg_sq.<name>"
 *   trainer_state.json    step, bytes seen, loader position, options to resume with
 * Written to DIR.tmp, fsynced, then renamed over DIR (byte_lm/base/atomic_dir.h). */
#ifndef BYTELM_CHECKPOINT_H
#define BYTELM_CHECKPOINT_H

#include "corpus/loader.h"
#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"

/* Bounds of a run's options, one place for trainer_state.json's checks and the command lines
 * that set them. TS_MAX_ACCUM bounds one rank's micro-batches per step; the file records the
 * whole step over all ranks (accum x world), which may reach TS_MAX_ACCUM x TS_MAX_WORLD. */
#define TS_MAX_BATCH (1 << 16)
#define TS_MAX_SEQ_LEN (1 << 24)
#define TS_MAX_ACCUM (1 << 16)
#define TS_MAX_WORLD 256
#define TS_MAX_PERIOD (1 << 30) /* steps between validations, checkpoints or log lines */
#define TS_MAX_EVAL_BATCHES (1 << 20)

/* Everything needed to continue a run exactly where it stopped. */
typedef struct {
    int step;
    uint64_t bytes_seen;
    LoaderPos loader;
    double elapsed_seconds;
    /* options the run was started with, reused on resume */
    int B, L, accum;
    OptimConfig optim;
    uint64_t seed;
    int eval_every, eval_batches, ckpt_every;
    char data[1024], val[1024];
    Precision precision; /* "precision" in options; a file without it was trained in fp32 */
} TrainerState;

/* Resolves a user-given path to a checkpoint directory: DIR itself, DIR/checkpoint (a run
 * directory), or DIR.old when a crash interrupted a save between its two renames. */
int checkpoint_resolve(const char *path, char *out, size_t cap, BlErr *e);

int checkpoint_save(const char *dir, Model *m, const Optimizer *opt, const TrainerState *ts,
                    BlErr *e);
int checkpoint_load_config(const char *dir, ModelConfig *c, BlErr *e);
/* Loads model.safetensors into m, checking every tensor's presence, dtype and shape. */
int checkpoint_load_weights(const char *dir, Model *m, BlErr *e);
/* Reads and checks trainer_state.json alone (every field range-checked); opt_step gets the
 * optimizer's step count. */
int checkpoint_read_state(const char *dir, TrainerState *ts, int *opt_step, BlErr *e);
int checkpoint_load_trainer(const char *dir, Model *m, Optimizer *opt, TrainerState *ts, BlErr *e);

#endif
