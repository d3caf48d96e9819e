/* Training a fresh model on a task's generated text, directly through the library (no corpus
 * files): train_run with a batch source whose rows each start at the beginning of an example
 * and are filled with further examples of the same task until they hold L+1 bytes, so the model
 * learns the task from a fresh state, as it is asked at evaluation. Only training inputs
 * (POOL_TRAIN) are used. */
#ifndef BYTELM_EVAL_TASK_TRAIN_H
#define BYTELM_EVAL_TASK_TRAIN_H

#include "byte_lm/model/model.h"
#include "eval/task_eval.h"

typedef struct {
    const char *config; /* model config JSON */
    const char *out;    /* run directory (checkpoint/, metrics.jsonl, loss.svg); NULL = not saved */
    int B, L, steps, warmup;
    float lr, weight_decay;
    uint64_t seed;
    double time_budget; /* seconds, 0 = none */
    int eval_every;     /* steps between held-out evaluations printed on stderr, 0 = none */
    int quiet;          /* no progress on stderr */
    TaskEvalOptions eval;
} TaskTrainOptions;

void task_train_options_default(TaskTrainOptions *o);

/* Trains a model created on backend be on the tasks in gens (one task per row, chosen at
 * random) through train_run. 0: *out is the trained model; 130: stopped by SIGINT/SIGTERM
 * (saved when o->out is set), no model; -1: error (e). */
int task_train(const TaskTrainOptions *o, const TaskGen *gens, int ngens, Backend *be,
               Model **out, BlErr *e);

/* Fills one row of len bytes with whole example lines of g from the train pool, the last one cut
 * off where the row ends. */
void task_fill_row(const TaskGen *g, Rng *r, uint8_t *row, int len);

/* Writes n example lines of training text (train pool only) to path, blocks of `block` lines of
 * one task at a time so few-shot prompts look like the text. The file appears whole or not at
 * all: a failure leaves what path held before. */
int task_write_text(const char *path, const TaskGen *gens, int ngens, long n, int block,
                    uint64_t seed, BlErr *e);

#endif
