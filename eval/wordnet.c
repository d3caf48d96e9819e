/* WordNet's data files read into a relation among plain words (eval/wordnet.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/base/str_order.h"
#include "eval/wordnet.h"

#define FILES 4
#define FILE_MAX ((size_t)1 << 28) /* data.noun is 15 MB */
#define SYNSET_WORDS 256           /* w_cnt is two hex digits */
#define SYNSET_PTRS 1000           /* p_cnt is three decimal digits */

static const char *const file_names[FILES] = {"data.noun", "data.verb", "data.adj", "data.adv"};

typedef struct {
    char path[4200];
    char *text;
    size_t len;
} DataFile;

typedef struct {
    const char *p;
    size_t n;
} Span;

typedef struct {
    char sym[3];
    int file;          /* which data file the target is in */
    size_t offset;
    int source, target; /* word numbers (1-based) of a lexical pointer; 0 for a semantic one */
} Pointer;

typedef struct {
    int nwords, nptrs;
    Span word[SYNSET_WORDS];
    Pointer ptr[SYNSET_PTRS];
} Synset;

/* The next space-separated field of line[*at .. end) into f; 0, or -1 when there is none. */
static int field(const char *line, size_t end, size_t *at, Span *f)
{
    size_t i = *at;
    if (i >= end || line[i] == ' ') return -1;
    size_t j = i;
    while (j < end && line[j] != ' ') j++;
    *f = (Span){line + i, j - i};
    *at = j < end ? j + 1 : j;
    return 0;
}

/* A field of exactly `digits` characters in base 10 or 16 into *v; 0 or -1. */
static int number(Span f, int digits, int base, size_t *v)
{
    if ((int)f.n != digits) return -1;
    size_t x = 0;
    for (size_t i = 0; i < f.n; i++) {
        char c = f.p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        x = x * (size_t)base + (size_t)d;
    }
    *v = x;
    return 0;
}

static int file_of_pos(char c) { return c == 'n' ? 0 : c == 'v' ? 1 : c == 'a' || c == 's' ? 2 : c == 'r' ? 3 : -1; }

/* The synset line at offset `at` of file df into s (its words and pointers); fails naming the
 * file and the offset of the line. */
static int parse_synset(const DataFile *df, size_t at, Synset *s, BlErr *e)
{
    const char *t = df->text;
    if (at >= df->len || (at > 0 && t[at - 1] != '\n'))
        return bl_fail_at(e, df->path, at, "no synset line starts here");
    const char *nl = memchr(t + at, '\n', df->len - at);
    size_t end = nl ? (size_t)(nl - t) : df->len, i = at, v;
    Span f;
#define BAD(what) return bl_fail_at(e, df->path, at, "not a synset line: %s", what)
    if (field(t, end, &i, &f) || number(f, 8, 10, &v)) BAD("no 8-digit offset first");
    if (v != at) return bl_fail_at(e, df->path, at, "the line's offset field says %zu", v);
    if (field(t, end, &i, &f) || number(f, 2, 10, &v)) BAD("no lexicographer file number");
    if (field(t, end, &i, &f) || f.n != 1 || file_of_pos(f.p[0]) < 0) BAD("no synset type");
    if (field(t, end, &i, &f) || number(f, 2, 16, &v) || v == 0) BAD("no word count");
    s->nwords = (int)v;
    for (int k = 0; k < s->nwords; k++) {
        if (field(t, end, &i, &s->word[k])) BAD("fewer words than its count");
        if (field(t, end, &i, &f) || number(f, 1, 16, &v)) BAD("a word without its lex_id");
    }
    if (field(t, end, &i, &f) || number(f, 3, 10, &v)) BAD("no pointer count");
    s->nptrs = (int)v;
    for (int k = 0; k < s->nptrs; k++) {
        Pointer *p = &s->ptr[k];
        Span sym, off, pos, st;
        if (field(t, end, &i, &sym) || field(t, end, &i, &off) || field(t, end, &i, &pos) ||
            field(t, end, &i, &st))
            BAD("fewer pointers than its count");
        if (sym.n < 1 || sym.n > 2 || number(off, 8, 10, &p->offset) || pos.n != 1 ||
            (p->file = file_of_pos(pos.p[0])) < 0 || number(st, 4, 16, &v))
            BAD("a malformed pointer");
        memcpy(p->sym, sym.p, sym.n);
        p->sym[sym.n] = 0;
        p->source = (int)(v >> 8), p->target = (int)(v & 0xff);
        if (p->source > s->nwords) BAD("a pointer from a word it does not have");
    }
    return 0;
#undef BAD
}

/* The lemma as a plain word into out (NUL-terminated): lowercase a-z only, the adjective
 * marker taken off; 0, or -1 when it is not one (a phrase, a name, a hyphenated word). */
static int plain_word(Span w, char *out)
{
    size_t n = w.n;
    if (n > 2 && w.p[n - 1] == ')') { /* word(a), word(p), word(ip) */
        const char *open = memchr(w.p, '(', n);
        if (!open) return -1;
        n = (size_t)(open - w.p);
    }
    if (n < 1 || n > WORDNET_WORD_MAX) return -1;
    for (size_t i = 0; i < n; i++)
        if (w.p[i] < 'a' || w.p[i] > 'z') return -1;
    memcpy(out, w.p, n);
    out[n] = 0;
    return 0;
}

static int related_symbol(const char *sym)
{
    return !strcmp(sym, "!") || !strcmp(sym, "@") || !strcmp(sym, "@i") || !strcmp(sym, "&") ||
           !strcmp(sym, "^") || !strcmp(sym, "$");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

long wordnet_find(const WordRelations *r, const char *w)
{
    char **hit = r->nwords ? bsearch(&w, r->words, r->nwords, sizeof *r->words, str_ptr_cmp) : NULL;
    return hit ? (long)(hit - r->words) : -1;
}

typedef struct {
    DataFile f[FILES];
    char *names;   /* the words, NUL-separated */
    uint64_t *edges;
    size_t nedges, cap;
} Loader;

static void add_edge(Loader *L, long a, long b)
{
    if (a < 0 || b < 0 || a == b) return;
    if (L->nedges + 2 > L->cap) {
        L->cap = L->cap ? 2 * L->cap : 1 << 16;
        L->edges = bl_realloc(L->edges, L->cap * sizeof *L->edges);
    }
    L->edges[L->nedges++] = (uint64_t)a << 32 | (uint64_t)b;
    L->edges[L->nedges++] = (uint64_t)b << 32 | (uint64_t)a;
}

/* The index of the synset's k-th word (0-based), or -1 when it is not a plain word. */
static long word_id(const WordRelations *r, const Synset *s, int k)
{
    char w[WORDNET_WORD_MAX + 1];
    return plain_word(s->word[k], w) ? -1 : wordnet_find(r, w);
}

/* Each data line of file k in turn: its offset into *at; 1 while there is one, 0 at the end.
 * The licence header's lines start with two spaces and are passed over. */
static int next_line(const DataFile *df, size_t *pos, size_t *at)
{
    while (*pos < df->len) {
        size_t start = *pos;
        const char *nl = memchr(df->text + start, '\n', df->len - start);
        *pos = nl ? (size_t)(nl - df->text) + 1 : df->len;
        if (df->len - start >= 2 && df->text[start] == ' ' && df->text[start + 1] == ' ') continue;
        if (*pos - start <= 1) continue; /* an empty line */
        *at = start;
        return 1;
    }
    return 0;
}

/* Pass 1: every plain lemma, sorted and deduplicated, into r->words. */
static int collect_words(Loader *L, WordRelations *r, Synset *s, BlErr *e)
{
    size_t cap = 1 << 16, n = 0, bytes = 0;
    char **list = bl_malloc(cap * sizeof *list);
    int rc = 0;
    for (int k = 0; k < FILES && !rc; k++) {
        size_t pos = 0, at;
        while (!rc && next_line(&L->f[k], &pos, &at)) {
            if ((rc = parse_synset(&L->f[k], at, s, e))) break;
            for (int j = 0; j < s->nwords; j++) {
                char w[WORDNET_WORD_MAX + 1];
                if (plain_word(s->word[j], w)) continue;
                if (n == cap) list = bl_realloc(list, (cap *= 2) * sizeof *list);
                size_t len = strlen(w) + 1;
                list[n] = bl_malloc(len);
                memcpy(list[n++], w, len);
                bytes += len;
            }
        }
    }
    if (!rc) {
        qsort(list, n, sizeof *list, str_ptr_cmp);
        L->names = bl_malloc(bytes ? bytes : 1);
        r->words = bl_malloc((n ? n : 1) * sizeof *r->words);
        char *p = L->names;
        for (size_t i = 0; i < n; i++) {
            if (r->nwords && !strcmp(list[i], r->words[r->nwords - 1])) continue;
            size_t len = strlen(list[i]) + 1;
            memcpy(p, list[i], len);
            r->words[r->nwords++] = p;
            p += len;
        }
    }
    for (size_t i = 0; i < n; i++) free(list[i]);
    free(list);
    return rc;
}

/* Pass 2: the edges of every synset: among its words, and along its related pointers. */
static int collect_edges(Loader *L, const WordRelations *r, Synset *s, Synset *target, BlErr *e)
{
    for (int k = 0; k < FILES; k++) {
        size_t pos = 0, at;
        while (next_line(&L->f[k], &pos, &at)) {
            if (parse_synset(&L->f[k], at, s, e)) return -1;
            long ids[SYNSET_WORDS];
            for (int j = 0; j < s->nwords; j++) ids[j] = word_id(r, s, j);
            for (int a = 0; a < s->nwords; a++)
                for (int b = a + 1; b < s->nwords; b++) add_edge(L, ids[a], ids[b]);
            for (int q = 0; q < s->nptrs; q++) {
                const Pointer *p = &s->ptr[q];
                if (!related_symbol(p->sym)) continue;
                if (parse_synset(&L->f[p->file], p->offset, target, e)) return -1;
                if (p->target > target->nwords)
                    return bl_fail_at(e, L->f[k].path, at, "a pointer to a word its target does not have");
                for (int a = 0; a < s->nwords; a++) {
                    if (p->source && a != p->source - 1) continue;
                    for (int b = 0; b < target->nwords; b++)
                        if (!p->target || b == p->target - 1) add_edge(L, ids[a], word_id(r, target, b));
                }
            }
        }
    }
    return 0;
}

int wordnet_load(WordRelations *r, const char *dir, BlErr *e)
{
    memset(r, 0, sizeof *r);
    Loader *L = bl_calloc(1, sizeof *L);
    r->mem = L;
    int rc = 0;
    for (int k = 0; k < FILES && !rc; k++) {
        snprintf(L->f[k].path, sizeof L->f[k].path, "%s/%s", dir, file_names[k]);
        rc = file_read_all(L->f[k].path, FILE_MAX, 0, &L->f[k].text, &L->f[k].len, e);
    }
    Synset *s = bl_malloc(2 * sizeof *s);
    if (!rc) rc = collect_words(L, r, s, e);
    if (!rc) rc = collect_edges(L, r, s, s + 1, e);
    free(s);
    if (!rc) {
        qsort(L->edges, L->nedges, sizeof *L->edges, cmp_u64);
        r->first = bl_calloc(r->nwords + 1, sizeof *r->first);
        r->related = bl_malloc((L->nedges ? L->nedges : 1) * sizeof *r->related);
        for (size_t i = 0; i < L->nedges; i++) {
            if (i && L->edges[i] == L->edges[i - 1]) continue;
            r->related[r->nrelated++] = (uint32_t)L->edges[i];
            r->first[(L->edges[i] >> 32) + 1]++;
        }
        for (size_t i = 0; i < r->nwords; i++) r->first[i + 1] += r->first[i];
    }
    free(L->edges);
    L->edges = NULL;
    for (int k = 0; k < FILES; k++) free(L->f[k].text), L->f[k].text = NULL;
    if (rc) wordnet_free(r);
    return rc;
}

void wordnet_free(WordRelations *r)
{
    Loader *L = r->mem;
    if (L) {
        for (int k = 0; k < FILES; k++) free(L->f[k].text);
        free(L->edges);
        free(L->names);
        free(L);
    }
    free(r->words);
    free(r->first);
    free(r->related);
    memset(r, 0, sizeof *r);
}
