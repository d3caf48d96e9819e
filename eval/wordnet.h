/* Words related in meaning, read from WordNet's database files (the format of wndb(5WN), as
 * Debian's wordnet-base installs them in /usr/share/wordnet): DIR/data.noun, data.verb,
 * data.adj and data.adv, one synset a line at the byte offset its first field gives.
 *
 * Two words are related when they are lemmas of one synset (synonyms), or when a pointer joins
 * their synsets: antonym (!), hypernym (@, and so hyponym), similar to (&), also see (^) or
 * verb group ($); a lexical pointer joins just the two words it names. Only single lemmas of
 * lowercase a-z letters are kept (the adjective markers "(a)", "(p)", "(ip)" taken off), so the
 * relation is among plain words. CUTE's sem task asks which of two words is closer in meaning;
 * its training text (cute_gen.c) takes the closer one from here. */
#ifndef BYTELM_EVAL_WORDNET_H
#define BYTELM_EVAL_WORDNET_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/error.h"

#define WORDNET_WORD_MAX 32 /* longer lemmas are left out */

typedef struct {
    char **words;     /* sorted, distinct lemmas */
    size_t nwords;
    size_t *first;    /* word i's related words: related[first[i] .. first[i + 1]) */
    uint32_t *related; /* word indices, sorted within each word, never the word itself */
    size_t nrelated;
    void *mem;
} WordRelations;

/* Reads the four data files under dir. A file that cannot be read, or a line that is not a
 * synset line (fields out of place, an offset field that is not the line's own offset, a
 * pointer to an offset where no synset line starts), fails in one line naming the file and
 * the byte offset. */
int wordnet_load(WordRelations *r, const char *dir, BlErr *e);
void wordnet_free(WordRelations *r);

/* The index of word w, or -1. */
long wordnet_find(const WordRelations *r, const char *w);

#endif
