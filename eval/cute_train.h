/* Training text for CUTE's tasks on words and sentences CUTE does not contain.
 *
 * The sources (cute_source.c): a word list (one word a line; lowercase a-z, 3 to 12 letters
 * kept) and an optional running text cut into sentences, each with everything that occurs in
 * CUTE's 14 files taken out: every word (a run of letters, lower-cased) of every field, and
 * every field itself as a sentence. The generators (cute_gen.c) follow the benchmark's task
 * definitions: ins_char inserts after every instance of a letter, del_char and sub_char act on
 * every instance, swap_char and swap_word swap two letters (words) that occur once each; word
 * tasks work on the sentence's words with punctuation split off and put back as it was. orth's
 * near candidate is a listed word one edit away when there is one, else the word with one
 * letter changed; its far one is a listed word at least two edits further. sem needs word
 * meanings, which no word list gives: it has no generator and stays untrained. The writer
 * (cute_write.c) puts each example in the evaluation's own prompt, followed by its label and
 * the closing quote. */
#ifndef BYTELM_EVAL_CUTE_TRAIN_H
#define BYTELM_EVAL_CUTE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/error.h"
#include "byte_lm/base/rng.h"
#include "eval/cute.h"

#define CUTE_WORD_MIN 3  /* the benchmark's words have at least 3 letters */
#define CUTE_WORD_MAX 12
#define CUTE_SENT_WORDS_MIN 3 /* sentences of 3 to 10 space-separated words, as the benchmark's */
#define CUTE_SENT_WORDS_MAX 10
#define CUTE_EXAMPLE_MAX 1024 /* bytes of one example's inputs and label, all fields */

typedef struct {
    const char **words;     /* usable words not in CUTE, in a fixed shuffled order */
    size_t nwords;
    const char **sorted;    /* the same words sorted, for lookups */
    char **sentences;       /* usable sentences not in CUTE, sorted, NUL-terminated */
    size_t nsentences;
    size_t words_usable, words_excluded;         /* of the word list: usable, and in CUTE */
    size_t sentences_usable, sentences_excluded; /* of the text: usable, and in CUTE */
    void *mem;              /* what the arrays point into */
} CuteTrainSource;

/* Reads CUTE's 14 files from cute_dir (to know what to exclude), the word list and, when
 * sentences_path is not NULL, the text to cut into sentences. Fails in one line when a file
 * cannot be read, or when no word (or, with a text, no sentence) is left. */
int cute_train_source_load(CuteTrainSource *s, const char *cute_dir, const char *words_path,
                           const char *sentences_path, BlErr *e);
void cute_train_source_free(CuteTrainSource *s);

/* The listed word equal to w (a pointer into s), or NULL. */
const char *cute_train_listed(const CuteTrainSource *s, const char *w);

/* 1 when the task has a generator and its source is there: every task but sem; the five
 * word-level ones and contains_word only with sentences. */
int cute_train_has(const CuteTrainSource *s, int task);

/* One example of the task into row (its strings in buf[CUTE_EXAMPLE_MAX]); 0, or -1 when no
 * example could be made in 1000 draws (a source without words of two letters that occur once,
 * say). */
int cute_train_example(const CuteTrainSource *s, int task, Rng *r, CuteRow *row, char *buf);

/* Levenshtein distance (unit insert, delete and substitute) between two byte strings of at
 * most 64 bytes; longer inputs are compared on their first 64 bytes. */
int cute_levenshtein(const char *a, const char *b);

/* Writes n examples to path, each task drawn in turn at random from `tasks` (ntasks indices,
 * each of which cute_train_has), as prompt (template tmpl[task], shots) + label + '"' + '\n'.
 * The file is written beside path and renamed over it at the end, so a failed write leaves an
 * existing file as it was. counts (may be NULL) gets the examples of each task. */
int cute_write_train(const char *path, const CuteTrainSource *s, const CutePrompts *p,
                     const int *tasks, int ntasks, int shots, long n, uint64_t seed,
                     long counts[CUTE_TASKS], BlErr *e);

#endif
