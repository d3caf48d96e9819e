/* A word list for the character tasks, split deterministically into training and held-out words
 * by a hash of each word, so a model trained on a task's training text (train words only) can be
 * tested on words it never saw, whatever order or subset of the list is used. */
#ifndef BYTELM_EVAL_WORDS_H
#define BYTELM_EVAL_WORDS_H

#include <stddef.h>

#include "byte_lm/base/error.h"
#include "eval/task.h"

typedef struct {
    char *text;           /* the file's bytes, words NUL-terminated in place */
    const char **train;   /* in a fixed shuffled order */
    const char **held;
    size_t ntrain, nheld;
    size_t skipped;       /* lines that were not usable words */
} WordList;

/* Reads one word per line, keeping words of lowercase ASCII letters a-z with min_len..max_len
 * letters (duplicates dropped); held_pct percent of them are held out. Fails when the file cannot
 * be read or holds no usable word. */
int words_load(WordList *w, const char *path, int min_len, int max_len, int held_pct, BlErr *e);
void words_free(WordList *w);

/* 1 when the word belongs to the held-out part for this percentage. */
int word_is_held_out(const char *word, int held_pct);

/* Words available in a pool; the index-th word (mod the count) of a pool; a random word. */
size_t words_count(const WordList *w, TaskPool pool);
const char *words_nth(const WordList *w, TaskPool pool, size_t i);
const char *words_random(const WordList *w, TaskPool pool, Rng *r);

#endif
