/* Character-level tasks in the style of the CUTE benchmark: questions about the spelling of a
 * word that a model can only answer if it sees (or can reconstruct) the word's characters.
 * One line each, prompt then answer:
 *
 *   spell word = w o r d            spell-inverse:  join w o r d = word
 *   reverse word = drow             contains:       contains r word = yes
 *   insert x after o word = woxrd   (x after every o)
 *   delete o foot = ft              (every o)
 *   swap w d word = dorw            (two letters that occur once each trade places)
 */
#ifndef BYTELM_EVAL_CHAR_TASKS_H
#define BYTELM_EVAL_CHAR_TASKS_H

#include "eval/task.h"
#include "eval/words.h"

typedef enum {
    CT_SPELL, CT_SPELL_INVERSE, CT_REVERSE, CT_CONTAINS, CT_INSERT, CT_DELETE, CT_SWAP, CT_COUNT
} CharTask;

const char *char_task_name(CharTask t);
/* -1 when the name is unknown */
int char_task_by_name(const char *name);

/* The task applied to one word; -1 when the word does not admit it (swap without two letters
 * that occur once; delete that would leave nothing). */
int char_task_example(CharTask t, const char *word, Rng *r, TaskExample *ex);

/* A generator over a word list (kept by pointer: it must outlive g). */
void char_task_gen(TaskGen *g, CharTask t, const WordList *w);

#endif
