/* The training loop: batches from the loader (or a batch source), forward/backward with
 * gradient accumulation, AdamW, periodic validation, metrics, checkpoints, exact resume. */
#ifndef BYTELM_TRAIN_H
#define BYTELM_TRAIN_H

#include "byte_lm/checkpoint/checkpoint.h"

/* Where batches come from instead of the corpus loader of ts.data, e.g. text generated on the
 * fly. next fills batch with B rows of L+1 bytes, global batch batch_index (the loader's
 * next_batch: micro-batch k of rank r in a step is first + k*world + r), and gives the same bytes
 * for the same index, so a run is as deterministic, resumable and rank-splittable as a
 * loader-fed one. 0, or -1 with e filled. name is recorded as the run's data. */
typedef struct {
    const char *name;
    int (*next)(void *ctx, uint8_t *batch, int B, int L, uint64_t batch_index, BlErr *e);
    void *ctx;
} TrainSource;

/* Called by rank 0 where validation happens (every ts.eval_every steps, and at the last step
 * with last = 1), with the model being trained, e.g. to score it on a task. */
typedef struct {
    void (*fn)(void *ctx, Model *m, int step, int last);
    void *ctx;
} TrainHook;

typedef struct {
    const char *config; /* model config (new runs) */
    const char *out;    /* run directory: checkpoint/, metrics.jsonl, loss.svg */
    const char *resume; /* checkpoint or run directory to continue from, or NULL */
    const char *device; /* "cpu" or "cuda" */
    const char *precision; /* "fp32", "bf16", or NULL: the backend's default (a resumed run: its own) */
    int threads;
    double time_budget; /* seconds; stop (and save) after this much training time, 0 = none */
    int json;           /* print a JSON summary on stdout at the end */
    int quiet;          /* no start line, progress or summary on stderr (warnings and errors stay) */
    int log_every;      /* steps between metrics lines */
    unsigned given;     /* TRAIN_GIVEN_* bits: the options on the command line (what a resume takes) */
    int stop_after;     /* stop (and save) after this many steps of this invocation, 0 = none */
    int force;          /* a new run may replace an existing run in `out` (after its first save) */
    /* data parallel: this process is rank `rank` of `world` (1 = alone); the ranks meet at
     * `rendezvous` (a shared-memory name on the CPU, a file for the NCCL id on CUDA). ts.accum
     * is per rank: a step covers world * accum micro-batches. */
    int rank, world;
    const char *rendezvous;
    TrainerState ts;    /* options for a new run (ignored on resume, except --steps) */
    const TrainSource *source; /* batches from here instead of a loader on ts.data; NULL: the loader */
    TrainHook on_eval;  /* fn NULL: none */
    Backend *backend;   /* train on this backend (the caller's, left open) instead of opening `device` */
    Model **model_out;  /* hands the trained model over (the caller frees it; after a stop by a
                         * signal too) instead of freeing it. With it `out` may be NULL: a run in
                         * memory, nothing written */
} TrainOptions;

/* Which options were given: on --resume the first group is applied to the run (and recorded in
 * its trainer_state.json by the next save), the second refused when it differs from the run's
 * (byte_lm/train/train_resume.c). */
enum {
    TRAIN_GIVEN_STEPS = 1 << 0, TRAIN_GIVEN_LR = 1 << 1, TRAIN_GIVEN_MIN_LR = 1 << 2, TRAIN_GIVEN_WARMUP = 1 << 3,
    TRAIN_GIVEN_WD = 1 << 4, TRAIN_GIVEN_CLIP = 1 << 5, TRAIN_GIVEN_EVAL_EVERY = 1 << 6,
    TRAIN_GIVEN_EVAL_BATCHES = 1 << 7, TRAIN_GIVEN_CKPT_EVERY = 1 << 8,
    TRAIN_GIVEN_B = 1 << 9, TRAIN_GIVEN_L = 1 << 10, TRAIN_GIVEN_ACCUM = 1 << 11, TRAIN_GIVEN_SEED = 1 << 12,
    TRAIN_GIVEN_DATA = 1 << 13, TRAIN_GIVEN_VAL = 1 << 14, TRAIN_GIVEN_CONFIG = 1 << 15,
};

void train_options_default(TrainOptions *o);
/* Before a resume: 0 when every option given agrees with the run in checkpoint directory dir
 * (or may change), 1 when one that fixes the run differs (msg says which), -1 on a bad
 * checkpoint (e). */
int train_resume_check(const TrainOptions *o, const char *dir, char *msg, size_t cap, BlErr *e);
/* Applies the options a resume may change to the run's state ts, saying on stderr (when loud)
 * each one that changes. */
void train_resume_apply(const TrainOptions *o, TrainerState *ts, int loud);
/* 0 when done, 130 when stopped by SIGINT/SIGTERM (after saving), -1 on error (e set). */
int train_run(const TrainOptions *o, BlErr *e);

#endif
