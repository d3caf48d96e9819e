/* Scoring a model on prompt/answer tasks: few-shot prompts, greedy decoding until a newline,
 * exact-match accuracy (and the fraction of answer bytes right in place, for partial credit). */
#ifndef BYTELM_EVAL_TASK_EVAL_H
#define BYTELM_EVAL_TASK_EVAL_H

#include <stdio.h>

#include "byte_lm/generate/generate.h"
#include "byte_lm/model/model.h"
#include "eval/task.h"

typedef struct {
    int n;          /* questions */
    int shots;      /* solved examples (train pool) before each question */
    int max_new;    /* decoding stops after this many bytes without a newline */
    uint64_t seed;  /* which questions and shots */
    TaskPool pool;  /* where questions come from */
    int show;       /* print this many questions with the model's answers on `log` */
    FILE *log;
} TaskEvalOptions;

typedef struct {
    int n;                /* questions asked */
    int exact;            /* answers reproduced exactly (and terminated by a newline) */
    double char_correct;  /* sum over questions of the fraction of answer bytes right in place */
} TaskScore;

void task_eval_options_default(TaskEvalOptions *o);

/* The model's greedy answer to prompt[0..len) from a fresh state, decoded by gen (a batch-1
 * greedy generator on the model, made by task_generator): bytes until a newline (not stored) or
 * max_new bytes; returns the number produced. out has max_new+1 bytes and is NUL-terminated.
 * *stopped says whether the newline came. */
int task_complete(Generator *gen, const uint8_t *prompt, int len, int max_new, char *out,
                  int *stopped);

/* The decoder task_complete expects: batch 1, greedy (sampler temperature 0), raw bytes. */
Generator *task_generator(Model *m, int max_new);

/* Asks o->n questions of task g. Fails (message in e) only when the task yields no example,
 * e.g. an empty word pool. */
int task_evaluate(Model *m, const TaskGen *g, const TaskEvalOptions *o, TaskScore *score,
                  BlErr *e);

#endif
