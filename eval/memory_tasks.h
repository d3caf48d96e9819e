/* Synthetic memory tasks from the Mamba paper (Gu & Dao 2023, §4.1), written as bytes, for
 * checking that the selection mechanism works on a tiny model:
 *
 * Selective copying: `length` positions of noise '.' with `tokens` data letters (from the first
 * `vocab` letters a, b, ...) scattered at random positions; after the separator '|' the model
 * must output the data letters in order.   e.g.  ..c...a.....f..b.|cafb
 *
 * Induction heads: `length` random letters (first `vocab` letters) in which the special token
 * '#' occurs once, followed by a key letter; at the end '#' appears again and the model must
 * output the key.   e.g.  dkam#fpkbkcq#f
 *
 * Inputs are random sequences, not words: examples for training and for evaluation come from
 * different random streams, so an evaluated sequence is (with overwhelming probability) new. */
#ifndef BYTELM_EVAL_MEMORY_TASKS_H
#define BYTELM_EVAL_MEMORY_TASKS_H

#include "byte_lm/base/error.h"
#include "eval/task.h"

typedef enum { MT_SELECTIVE_COPY, MT_INDUCTION, MT_COUNT } MemoryTaskKind;

typedef struct {
    MemoryTaskKind kind;
    int length; /* positions before the separator / final special token */
    int tokens; /* selective copying: data letters to copy */
    int vocab;  /* letters used: a .. a+vocab-1 */
} MemoryTask;

const char *memory_task_name(MemoryTaskKind k);
int memory_task_by_name(const char *name); /* -1 when unknown */
/* Defaults per kind, instances the tiny config learns on one CPU core in minutes with
 * `bytelm eval memory --train`: selective copying 32 positions, 4 letters of 8 (98.7% exact after
 * 8000 steps, scripts/eval-selective-copy.sh); induction 16 positions of 8 letters (100% after
 * 3000 steps). Longer ones are harder to learn here because training scores every byte: the
 * random filler's loss swamps the answer's (induction with 32 positions of 16 letters was still
 * at chance after 6000 steps). */
void memory_task_default(MemoryTask *t, MemoryTaskKind kind);
/* Checks the parameters fit (usage errors: the message names the option). */
int memory_task_check(const MemoryTask *t, BlErr *e);
/* Bytes in one example line, newline included. */
int memory_task_line_len(const MemoryTask *t);

int memory_task_example(const MemoryTask *t, Rng *r, TaskExample *ex);
void memory_task_gen(TaskGen *g, const MemoryTask *t); /* t must outlive g */

#endif
