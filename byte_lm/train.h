/* The training loop: batches from the loader, forward/backward with gradient accumulation,
 * AdamW, periodic validation, metrics, checkpoints, exact resume. */
#ifndef BYTELM_TRAIN_H
#define BYTELM_TRAIN_H

#include "checkpoint.h"

typedef struct {
    const char *config; /* model config (new runs) */
    const char *out;    /* run directory: checkpoint/, metrics.jsonl, loss.svg */
    const char *resume; /* checkpoint or run directory to continue from, or NULL */
    const char *device; /* "cpu" or "cuda" */
    int threads;
    double time_budget; /* seconds; stop (and save) after this much training time, 0 = none */
    int json;           /* print a JSON summary on stdout at the end */
    int quiet;          /* no start line, progress or summary on stderr (warnings and errors stay) */
    int log_every;      /* steps between metrics lines */
    int steps_given;    /* 1 when --steps was given (overrides a resumed run's total) */
    int stop_after;     /* stop (and save) after this many steps of this invocation, 0 = none */
    /* data parallel: this process is rank `rank` of `world` (1 = alone); the ranks meet at
     * `rendezvous` (a shared-memory name on the CPU, a file for the NCCL id on CUDA). ts.accum
     * is per rank: a step covers world * accum micro-batches. */
    int rank, world;
    const char *rendezvous;
    TrainerState ts;    /* options for a new run (ignored on resume, except --steps) */
} TrainOptions;

void train_options_default(TrainOptions *o);
/* 0 when done, 130 when stopped by SIGINT/SIGTERM (after saving), -1 on error (e set). */
int train_run(const TrainOptions *o, BlErr *e);

#endif
