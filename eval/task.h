/* Prompt/answer tasks scored by greedy decoding: the character tasks (char_tasks.h) and the
 * synthetic memory tasks (memory_tasks.h) share this shape.
 *
 * An example is one line of text: prompt, answer, '\n'. A model is asked the prompt (after
 * `shots` solved examples of the same task, one per line) and must produce the answer and stop
 * at the newline. The same lines, written one after another, are the task's training text. */
#ifndef BYTELM_EVAL_TASK_H
#define BYTELM_EVAL_TASK_H

#include <stdint.h>

#include "byte_lm/base/rng.h"

#define TASK_TEXT_MAX 512

typedef struct {
    char prompt[TASK_TEXT_MAX];
    char answer[TASK_TEXT_MAX];
} TaskExample;

/* Which inputs an example may use. Character tasks split their words by a hash of the word
 * (words.h); memory tasks draw fresh random sequences and ignore the pool. */
typedef enum { POOL_TRAIN, POOL_HELD_OUT, POOL_ALL } TaskPool;

typedef struct TaskGen TaskGen;
struct TaskGen {
    char name[32];
    /* Fills ex. index >= 0 asks for the index-th input of the pool in a fixed order (so an
     * evaluation walks distinct words); index < 0 draws one at random. Returns -1 when the drawn
     * input does not admit the task (e.g. swap needs two distinct letters): draw again. */
    int (*make)(const TaskGen *g, Rng *r, TaskPool pool, long index, TaskExample *ex);
    const void *ctx;  /* the word list or the memory task's parameters */
    int kind;         /* which task of the family */
};

/* Calls g->make until it succeeds; index advances past inputs that do not admit the task.
 * Returns -1 when none of `tries` attempts succeeded. */
int task_make(const TaskGen *g, Rng *r, TaskPool pool, long *index, TaskExample *ex, int tries);

/* Writes "prompt answer\n" into buf (cap bytes); returns its length, or -1 when it does not fit. */
int task_line(const TaskExample *ex, char *buf, int cap);

#endif
