/* Training text for CUTE's tasks on words and sentences CUTE does not contain.
 *
 * The sources (cute_source.c): a word list (one word a line; lowercase a-z, 3 to 12 letters
 * kept), an optional running text cut into sentences and optional word meanings, each with
 * everything that occurs in CUTE's 14 files taken out: every word (a run of letters,
 * lower-cased) of every field, and every field itself as a sentence. The generators
 * (cute_gen.c) follow the benchmark's task definitions: ins_char inserts after every instance
 * of a letter, del_char and sub_char act on every instance, swap_char and swap_word swap two
 * letters (words) that occur once each; word tasks work on the sentence's words with
 * punctuation split off and put back as it was, on a sentence of the text or, for a share
 * CUTE_MADE_UP_SHARE, a made-up one of listed words. A share CUTE_MOJIBAKE_SHARE of
 * contains_word's sentences are quoted speech whose quotes and apostrophes read as UTF-8
 * decoded as Windows-1252 (mojibake), as some of CUTE's own do: its answer does not depend on
 * how those bytes split into words, and a model that never saw them loses its way on them. orth
 * and sem ask which of two candidates is closer to a word, in form (Levenshtein distance) or in
 * meaning; as in CUTE's rows, where both tasks share each triple, one candidate is a look-alike
 * (a listed word, else the word edited, as many edits away as CUTE's look-alikes of words of
 * the same length are) and the other a word related in meaning (WordNet, eval/wordnet.h)
 * further away in form. orth's answer is the look-alike, sem's the related word. Without
 * WordNet, orth's other candidate is a random listed word further away and sem is not written.
 * The writer (cute_write.c) puts each example in the evaluation's own prompt, followed by its
 * label and the closing quote. */
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
#define CUTE_MADE_UP_SHARE (1.0 / 3) /* of the word tasks' examples, on made-up sentences */
#define CUTE_MOJIBAKE_SHARE (1.0 / 8) /* of contains_word's examples, quoted in mojibake */
#define CUTE_LOOKALIKE_EDITS_MAX 6     /* the furthest of CUTE's orth look-alikes */

/* CUTE's orth rows by word length and look-alike distance (cute_gen.c): the look-alikes' edits
 * are drawn from it, and the sem and orth words' lengths from its row sums. */
extern const int cute_orth_counts[CUTE_WORD_MAX + 1][CUTE_LOOKALIKE_EDITS_MAX + 1];

typedef struct {
    const char **words;     /* usable words not in CUTE, in a fixed shuffled order */
    size_t nwords;
    const char **sorted;    /* the same words sorted, for lookups */
    const char **by_length; /* the same words by length: those of n letters from length_first[n] */
    size_t length_first[CUTE_WORD_MAX + 2];
    char **sentences;       /* usable sentences not in CUTE, sorted, NUL-terminated */
    size_t nsentences;
    const char **common;    /* every word of the sentences that is listed (lower-cased), once per
                               occurrence: listed words drawn as often as the text uses them */
    size_t ncommon;
    double made_up_share;   /* of word-task examples on made-up sentences (CUTE_MADE_UP_SHARE) */
    double mojibake_share;  /* of contains_word's examples with mis-decoded quotes (CUTE_MOJIBAKE_SHARE) */
    size_t words_usable, words_excluded;         /* of the word list: usable, and in CUTE */
    size_t sentences_usable, sentences_excluded; /* of the text: usable, and in CUTE */
    const char **meaning_words;  /* words (of `words`) with related words (of `words`) in WordNet */
    size_t nmeaning_words;
    size_t *meaning_first;       /* meaning_words[i]'s related words: meaning_related[first[i] .. first[i + 1]) */
    const char **meaning_related;
    double meaning_accept[CUTE_WORD_MAX + 1]; /* drawn words of each length kept with this
                                                 chance, so lengths come as in CUTE's orth rows */
    void *mem;              /* what the arrays point into */
} CuteTrainSource;

/* Reads CUTE's 14 files from cute_dir (to know what to exclude), the word list, when
 * sentences_path is not NULL the text to cut into sentences, and when meanings_dir is not NULL
 * WordNet's data files (eval/wordnet.h), of which the relations between two usable words are
 * kept. Fails in one line when a file cannot be read, or when no word (or, with a text, no
 * sentence; with WordNet, no related pair) is left. */
int cute_train_source_load(CuteTrainSource *s, const char *cute_dir, const char *words_path,
                           const char *sentences_path, const char *meanings_dir, BlErr *e);
void cute_train_source_free(CuteTrainSource *s);

/* The listed word equal to w (a pointer into s), or NULL. */
const char *cute_train_listed(const CuteTrainSource *s, const char *w);

/* 1 when the task has a generator and its source is there: the five word-level ones and
 * contains_word only with sentences, sem only with word meanings, the others always. */
int cute_train_has(const CuteTrainSource *s, int task);

/* One example of the task into row (its strings in buf[CUTE_EXAMPLE_MAX]); 0, or -1 when no
 * example could be made in 1000 draws (a source without words of two letters that occur once,
 * say). */
int cute_train_example(const CuteTrainSource *s, int task, Rng *r, CuteRow *row, char *buf);

/* 1 when w is a word of CUTE's files (lower-cased runs of letters). */
int cute_train_in_cute(const CuteTrainSource *s, const char *w);

/* Levenshtein distance (unit insert, delete and substitute) between two byte strings of at
 * most 64 bytes; longer inputs are compared on their first 64 bytes. */
int cute_levenshtein(const char *a, const char *b);

/* Writes n examples to path, each task drawn in turn at random from `tasks` (ntasks indices,
 * each of which cute_train_has; with chances in proportion to weight[task] > 0 when weight is
 * not NULL), as prompt (template tmpl[task]) + label + '"' + '\n', the
 * prompt with the template's four solved examples for a share four_shot_share of them (drawn
 * at random, 0 to 1), zero-shot for the rest.
 * The file is written beside path and renamed over it at the end, so a failed write leaves an
 * existing file as it was. counts (may be NULL) gets the examples of each task. */
int cute_write_train(const char *path, const CuteTrainSource *s, const CutePrompts *p,
                     const int *tasks, int ntasks, const double *weight, double four_shot_share,
                     long n, uint64_t seed, long counts[CUTE_TASKS], BlErr *e);

#endif
