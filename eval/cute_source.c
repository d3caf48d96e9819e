/* The words and sentences CUTE's training text is made from, with CUTE's own taken out
 * (eval/cute_train.h). */
#include <ctype.h>
#include <string.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/base/str_order.h"
#include "eval/cute_train.h"
#include "eval/wordnet.h"
#include "eval/words.h"

#define SENTENCE_MAX 400 /* bytes; longer runs without an end are dropped */

/* A list of malloc'd strings, sorted and deduplicated by sl_finish, then searched. */
typedef struct {
    char **v;
    size_t n, cap;
} StrList;

static void sl_add(StrList *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = bl_realloc(l->v, l->cap * sizeof *l->v);
    }
    char *c = bl_malloc(n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    l->v[l->n++] = c;
}

static void sl_finish(StrList *l)
{
    if (!l->n) return;
    qsort(l->v, l->n, sizeof *l->v, str_ptr_cmp);
    size_t k = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i], l->v[k - 1])) l->v[k++] = l->v[i];
        else free(l->v[i]);
    }
    l->n = k;
}

static int sl_has(const StrList *l, const char *s)
{
    return l->n && bsearch(&s, l->v, l->n, sizeof *l->v, str_ptr_cmp) != NULL;
}

static void sl_free(StrList *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

typedef struct {
    WordList list;   /* the word list's text; words point into it */
    StrList sentences;
    StrList cute_words; /* every word of CUTE's files, for cute_train_in_cute */
} SourceMem;

/* Every field of every CUTE file into fields, and every word in them (a run of ASCII letters,
 * lower-cased) into words. */
static int collect_cute(const char *dir, StrList *fields, StrList *words, BlErr *e)
{
    for (int t = 0; t < CUTE_TASKS; t++) {
        CuteSet set;
        if (cute_set_load(&set, dir, t, 0, e)) return -1;
        for (long i = 0; i < set.n; i++) {
            const CuteRow *r = &set.rows[i];
            const char *f[CUTE_MAX_INPUTS + 1];
            int nf = 0;
            for (int k = 0; k < CUTE_MAX_INPUTS && r->input[k]; k++) f[nf++] = r->input[k];
            f[nf++] = r->label;
            for (int k = 0; k < nf; k++) {
                sl_add(fields, f[k], strlen(f[k]));
                for (const char *p = f[k]; *p;) {
                    if (!isalpha((unsigned char)*p)) {
                        p++;
                        continue;
                    }
                    char w[256];
                    size_t n = 0;
                    for (; isalpha((unsigned char)*p); p++)
                        if (n < sizeof w) w[n++] = (char)tolower((unsigned char)*p);
                    sl_add(words, w, n);
                }
            }
        }
        cute_set_free(&set);
    }
    sl_finish(fields);
    sl_finish(words);
    return 0;
}

static int is_end(char c) { return c == '.' || c == '!' || c == '?'; }
static int is_inner_punct(char c) { return c == ',' || c == ';' || c == ':'; }
static int is_word_char(char c) { return isalpha((unsigned char)c) || c == '\'' || c == '-'; }

/* A sentence the word tasks can use, as the benchmark's are: a capital first, 3 to 10 words of
 * letters (apostrophes and hyphens inside), each followed by at most one , ; or :, the last by
 * one . ! or ?; nothing else (no quotes, digits or other bytes). Its words then split from its
 * punctuation and join back into the same bytes. */
static int sentence_usable(const char *s, size_t n)
{
    if (n < 2 || !isupper((unsigned char)s[0]) || !is_end(s[n - 1])) return 0;
    int words = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        int letters = 0;
        while (j < n && is_word_char(s[j])) letters += isalpha((unsigned char)s[j++]) != 0;
        if (j == i || !letters || !isalpha((unsigned char)s[i])) return 0;
        words++;
        if (j < n && (is_inner_punct(s[j]) || is_end(s[j]))) {
            if (is_end(s[j]) && j != n - 1) return 0;
            j++;
        }
        if (j == n) break;
        if (s[j] != ' ') return 0;
        i = j + 1;
    }
    return words >= CUTE_SENT_WORDS_MIN && words <= CUTE_SENT_WORDS_MAX;
}

/* The text cut into sentences (whitespace runs become one space; a run with a blank line in it
 * ends a paragraph, and whatever was not closed by . ! or ? before it is dropped); the usable
 * ones not among CUTE's fields go into out. */
static void cut_sentences(const char *text, size_t len, const StrList *fields, StrList *out,
                          size_t *usable, size_t *excluded)
{
    char cur[SENTENCE_MAX + 1];
    size_t n = 0;
    int overflow = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c)) {
            int newlines = 0;
            while (i < len && isspace((unsigned char)text[i])) newlines += text[i++] == '\n';
            if (newlines >= 2) n = 0, overflow = 0;
            else if (n && n < SENTENCE_MAX) cur[n++] = ' ';
            continue;
        }
        if (n < SENTENCE_MAX) cur[n++] = (char)c;
        else overflow = 1;
        i++;
        int at_end = is_end((char)c) && (i == len || isspace((unsigned char)text[i]));
        if (!at_end) continue;
        if (!overflow && sentence_usable(cur, n)) {
            cur[n] = 0;
            ++*usable;
            if (sl_has(fields, cur)) ++*excluded;
            else sl_add(out, cur, n);
        }
        n = 0, overflow = 0;
    }
    sl_finish(out);
}

/* Every word of the sentences that is a listed word once lower-cased, once per occurrence,
 * into s->common. */
static void collect_common(CuteTrainSource *s)
{
    size_t cap = 1024;
    s->common = bl_malloc(cap * sizeof *s->common);
    for (size_t i = 0; i < s->nsentences; i++) {
        for (const char *p = s->sentences[i]; *p;) {
            if (!isalpha((unsigned char)*p)) {
                p++;
                continue;
            }
            char w[CUTE_WORD_MAX + 2];
            size_t n = 0;
            int apostrophe = 0;
            for (; is_word_char(*p); p++) {
                apostrophe |= !isalpha((unsigned char)*p);
                if (n <= CUTE_WORD_MAX) w[n++] = (char)tolower((unsigned char)*p);
            }
            if (apostrophe || n > CUTE_WORD_MAX) continue;
            w[n] = 0;
            const char *hit = cute_train_listed(s, w);
            if (!hit) continue;
            if (s->ncommon == cap) s->common = bl_realloc(s->common, (cap *= 2) * sizeof *s->common);
            s->common[s->ncommon++] = hit;
        }
    }
}

/* WordNet's relations between two listed words (which are not CUTE's) into s->meaning_*. */
static int load_meanings(CuteTrainSource *s, const char *dir, BlErr *e)
{
    WordRelations wr;
    if (wordnet_load(&wr, dir, e)) return -1;
    const char **listed = bl_malloc((wr.nwords ? wr.nwords : 1) * sizeof *listed);
    for (size_t i = 0; i < wr.nwords; i++) listed[i] = cute_train_listed(s, wr.words[i]);
    s->meaning_words = bl_malloc((wr.nwords ? wr.nwords : 1) * sizeof *s->meaning_words);
    s->meaning_first = bl_malloc((wr.nwords + 1) * sizeof *s->meaning_first);
    s->meaning_related = bl_malloc((wr.nrelated ? wr.nrelated : 1) * sizeof *s->meaning_related);
    size_t nr = 0;
    s->meaning_first[0] = 0;
    for (size_t i = 0; i < wr.nwords; i++) {
        if (!listed[i]) continue;
        size_t before = nr;
        for (size_t j = wr.first[i]; j < wr.first[i + 1]; j++)
            if (listed[wr.related[j]]) s->meaning_related[nr++] = listed[wr.related[j]];
        if (nr == before) continue;
        s->meaning_words[s->nmeaning_words++] = listed[i];
        s->meaning_first[s->nmeaning_words] = nr;
    }
    free(listed);
    wordnet_free(&wr);
    if (!s->nmeaning_words)
        return bl_fail(e, dir, "WordNet relates no two words of the word list that are not in CUTE's files");
    /* CUTE's orth words: how many of each length */
    double cute_lengths[CUTE_WORD_MAX + 1] = {0};
    for (int n = 0; n <= CUTE_WORD_MAX; n++)
        for (int d = 0; d <= CUTE_LOOKALIKE_EDITS_MAX; d++) cute_lengths[n] += cute_orth_counts[n][d];
    size_t have[CUTE_WORD_MAX + 1] = {0};
    for (size_t i = 0; i < s->nmeaning_words; i++) have[strlen(s->meaning_words[i])]++;
    double top = 0;
    for (int n = 0; n <= CUTE_WORD_MAX; n++)
        if (have[n] && cute_lengths[n] / (double)have[n] > top) top = cute_lengths[n] / (double)have[n];
    for (int n = 0; n <= CUTE_WORD_MAX; n++)
        s->meaning_accept[n] = have[n] && top > 0 ? cute_lengths[n] / (double)have[n] / top : 0;
    return 0;
}

/* s->words grouped by length into s->by_length. */
static void group_by_length(CuteTrainSource *s)
{
    size_t count[CUTE_WORD_MAX + 2] = {0};
    for (size_t i = 0; i < s->nwords; i++) count[strlen(s->words[i])]++;
    s->length_first[0] = 0;
    for (int n = 0; n <= CUTE_WORD_MAX; n++) s->length_first[n + 1] = s->length_first[n] + count[n];
    size_t at[CUTE_WORD_MAX + 1];
    memcpy(at, s->length_first, sizeof at);
    s->by_length = bl_malloc(s->nwords * sizeof *s->by_length);
    for (size_t i = 0; i < s->nwords; i++) s->by_length[at[strlen(s->words[i])]++] = s->words[i];
}

int cute_train_source_load(CuteTrainSource *s, const char *cute_dir, const char *words_path,
                           const char *sentences_path, const char *meanings_dir, BlErr *e)
{
    memset(s, 0, sizeof *s);
    StrList fields = {0};
    SourceMem *mem = bl_calloc(1, sizeof *mem);
    s->mem = mem;
    StrList *cute_words = &mem->cute_words;
    int rc = collect_cute(cute_dir, &fields, cute_words, e);
    if (!rc) rc = words_load(&mem->list, words_path, CUTE_WORD_MIN, CUTE_WORD_MAX, 0, e);
    if (!rc) {
        s->words = mem->list.train;
        s->words_usable = mem->list.ntrain;
        for (size_t i = 0; i < mem->list.ntrain; i++) {
            if (sl_has(cute_words, mem->list.train[i])) s->words_excluded++;
            else mem->list.train[s->nwords++] = mem->list.train[i];
        }
        if (!s->nwords)
            rc = bl_fail(e, words_path, "every usable word (a-z, %d to %d letters) occurs in CUTE's files",
                         CUTE_WORD_MIN, CUTE_WORD_MAX);
    }
    if (!rc) {
        s->sorted = bl_malloc(s->nwords * sizeof *s->sorted);
        memcpy(s->sorted, s->words, s->nwords * sizeof *s->sorted);
        qsort(s->sorted, s->nwords, sizeof *s->sorted, str_ptr_cmp);
        group_by_length(s);
    }
    if (!rc && sentences_path) {
        char *text;
        size_t len;
        rc = file_read_all(sentences_path, (size_t)1 << 30, 0, &text, &len, e);
        if (!rc) {
            cut_sentences(text, len, &fields, &mem->sentences, &s->sentences_usable,
                          &s->sentences_excluded);
            free(text);
            s->sentences = mem->sentences.v;
            s->nsentences = mem->sentences.n;
            s->made_up_share = CUTE_MADE_UP_SHARE;
            s->mojibake_share = CUTE_MOJIBAKE_SHARE;
            collect_common(s);
            if (!s->nsentences)
                rc = bl_fail(e, sentences_path,
                             "no usable sentence (%d to %d words of letters, a capital first, "
                             "ending in . ! or ?, not in CUTE's files)",
                             CUTE_SENT_WORDS_MIN, CUTE_SENT_WORDS_MAX);
        }
    }
    if (!rc && meanings_dir) rc = load_meanings(s, meanings_dir, e);
    sl_free(&fields);
    if (rc) cute_train_source_free(s);
    return rc;
}

int cute_train_in_cute(const CuteTrainSource *s, const char *w)
{
    const SourceMem *mem = s->mem;
    return sl_has(&mem->cute_words, w);
}

const char *cute_train_listed(const CuteTrainSource *s, const char *w)
{
    const char **hit = s->nwords ? bsearch(&w, s->sorted, s->nwords, sizeof *s->sorted, str_ptr_cmp) : NULL;
    return hit ? *hit : NULL;
}

void cute_train_source_free(CuteTrainSource *s)
{
    SourceMem *mem = s->mem;
    if (mem) {
        words_free(&mem->list);
        sl_free(&mem->sentences);
        sl_free(&mem->cute_words);
        free(mem);
    }
    free(s->sorted);
    free(s->by_length);
    free(s->common);
    free(s->meaning_words);
    free(s->meaning_first);
    free(s->meaning_related);
    memset(s, 0, sizeof *s);
}
