/* One training example of a CUTE task from the training words and sentences, by the task's
 * definition (eval/cute_train.h). */
#include <string.h>
#include <strings.h>

#include "eval/cute_train.h"

#define MAX_TOKENS (2 * CUTE_SENT_WORDS_MAX + 2)

int cute_levenshtein(const char *a, const char *b)
{
    int n = (int)strnlen(a, 64), m = (int)strnlen(b, 64);
    int prev[65], cur[65];
    for (int j = 0; j <= m; j++) prev[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (size_t)(m + 1) * sizeof *prev);
    }
    return prev[m];
}

/* The five tasks on sentences are the ones named *_word. */
static int on_sentences(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && !strcmp(name + n - 5, "_word");
}

int cute_train_has(const CuteTrainSource *s, int task)
{
    const char *name = cute_task(task)->name;
    if (!strcmp(name, "sem")) return 0;
    return !on_sentences(name) || s->nsentences > 0;
}

/* The example's strings, one after another in buf. */
typedef struct {
    char *buf;
    size_t used;
} Arena;

static const char *put(Arena *a, const char *s, size_t n)
{
    BL_CHECK(a->used + n + 1 <= CUTE_EXAMPLE_MAX);
    char *p = a->buf + a->used;
    memcpy(p, s, n);
    p[n] = 0;
    a->used += n + 1;
    return p;
}

static const char *put_str(Arena *a, const char *s) { return put(a, s, strlen(s)); }

static const char *put_char(Arena *a, char c) { return put(a, &c, 1); }

static size_t below(Rng *r, size_t n) { return (size_t)(rng_u64(r) % n); }

static char random_letter(Rng *r) { return (char)('a' + below(r, 26)); }

static const char *random_word(const CuteTrainSource *s, Rng *r) { return s->words[below(r, s->nwords)]; }

/* The distinct letters of w in order of first appearance; with once, only those occurring once. */
static int letters_of(const char *w, int once, char *out)
{
    int count[256] = {0}, k = 0;
    for (const char *p = w; *p; p++) count[(unsigned char)*p]++;
    for (const char *p = w; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (count[c] > 0 && (!once || count[c] == 1)) out[k++] = (char)c;
        count[c] = -1; /* listed or passed over: not again */
    }
    return k;
}

/* ---- sentences: words, with punctuation split off ---- */

typedef struct {
    const char *p;
    int n, punct;
} Tok;

/* A usable sentence (cute_source.c's rule) into tokens: each word, and each mark after one. */
static int tokenize(const char *s, Tok *t)
{
    int k = 0;
    for (const char *p = s; *p;) {
        const char *q = p;
        while (*q && *q != ' ' && !strchr(",;:.!?", *q)) q++;
        t[k++] = (Tok){p, (int)(q - p), 0};
        if (*q && *q != ' ') t[k++] = (Tok){q++, 1, 1};
        if (*q == ' ') q++;
        p = q;
    }
    return k;
}

/* The tokens joined back: a space before every word but the first, none before a mark. */
static const char *detokenize(Arena *a, const Tok *t, int k)
{
    char out[CUTE_EXAMPLE_MAX];
    size_t n = 0;
    for (int i = 0; i < k; i++) {
        if (n && !t[i].punct) out[n++] = ' ';
        memcpy(out + n, t[i].p, (size_t)t[i].n);
        n += (size_t)t[i].n;
    }
    return put(a, out, n);
}

static int tok_eq(const Tok *t, const char *w, size_t n) { return !t->punct && (size_t)t->n == n && !memcmp(t->p, w, n); }

/* The indices of the sentence's words (with once: those occurring exactly once). */
static int word_tokens(const Tok *t, int k, int once, int *out)
{
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (t[i].punct) continue;
        int same = 0;
        for (int j = 0; j < k; j++) same += tok_eq(&t[j], t[i].p, (size_t)t[i].n);
        if (!once || same == 1) out[m++] = i;
    }
    return m;
}

/* ---- orth: a near candidate one edit away, a far one ---- */

/* A listed word one edit (delete, substitute, insert a letter) from w, chosen at random among
 * those there are; else w with one letter substituted. */
static void near_word(const CuteTrainSource *s, const char *w, Rng *r, char *out)
{
    size_t n = strlen(w);
    const char *found[64];
    int nf = 0;
    char c[CUTE_WORD_MAX + 2];
    for (size_t i = 0; i <= n && nf < 64; i++) {
        for (int op = 0; op < 3 && nf < 64; op++) {
            for (char l = 'a'; l <= 'z' && nf < 64; l++) {
                size_t m = 0;
                if (op == 0) { /* delete w[i] */
                    if (i == n || l != 'a') continue;
                    memcpy(c, w, i), memcpy(c + i, w + i + 1, n - i - 1), m = n - 1;
                } else if (op == 1) { /* substitute w[i] by l */
                    if (i == n || l == w[i]) continue;
                    memcpy(c, w, n), c[i] = l, m = n;
                } else { /* insert l before w[i] */
                    if (n + 1 > CUTE_WORD_MAX) continue;
                    memcpy(c, w, i), c[i] = l, memcpy(c + i + 1, w + i, n - i), m = n + 1;
                }
                c[m] = 0;
                const char *hit = cute_train_listed(s, c);
                if (hit) found[nf++] = hit;
            }
        }
    }
    if (nf) {
        strcpy(out, found[below(r, (size_t)nf)]);
        return;
    }
    strcpy(out, w);
    size_t i = below(r, n);
    char l;
    do l = random_letter(r);
    while (l == w[i]);
    out[i] = l;
}

/* ---- the generators ---- */

static int gen_chars(const CuteTrainSource *s, const char *name, Rng *r, CuteRow *row, Arena *a)
{
    const char *w = random_word(s, r);
    size_t n = strlen(w);
    char letters[CUTE_WORD_MAX + 1], out[2 * CUTE_WORD_MAX + 2];
    int nl = letters_of(w, 0, letters);
    char c = letters[below(r, (size_t)nl)], l = random_letter(r);
    size_t m = 0;
    if (!strcmp(name, "spell") || !strcmp(name, "spell_inverse")) {
        for (size_t i = 0; i < n; i++) {
            if (i) out[m++] = ' ';
            out[m++] = w[i];
        }
        const char *spaced = put(a, out, m), *word = put_str(a, w);
        int inv = name[5] == '_';
        row->input[0] = inv ? spaced : word;
        row->label = inv ? word : spaced;
    } else if (!strcmp(name, "contains_char")) {
        int yes = (int)below(r, 2);
        if (!yes)
            while (memchr(w, l, n)) l = random_letter(r);
        row->input[0] = put_char(a, yes ? c : l);
        row->input[1] = put_str(a, w);
        row->label = put_str(a, yes ? "Yes" : "No");
    } else if (!strcmp(name, "ins_char")) { /* l after every c */
        for (size_t i = 0; i < n; i++) {
            out[m++] = w[i];
            if (w[i] == c) out[m++] = l;
        }
        row->input[0] = put_char(a, l), row->input[1] = put_char(a, c), row->input[2] = put_str(a, w);
        row->label = put(a, out, m);
    } else if (!strcmp(name, "del_char")) { /* every c */
        for (size_t i = 0; i < n; i++)
            if (w[i] != c) out[m++] = w[i];
        row->input[0] = put_char(a, c), row->input[1] = put_str(a, w);
        row->label = put(a, out, m);
    } else if (!strcmp(name, "sub_char")) { /* every c by l */
        for (size_t i = 0; i < n; i++) out[m++] = w[i] == c ? l : w[i];
        row->input[0] = put_char(a, c), row->input[1] = put_char(a, l), row->input[2] = put_str(a, w);
        row->label = put(a, out, m);
    } else if (!strcmp(name, "swap_char")) { /* two letters that occur once each */
        char once[CUTE_WORD_MAX + 1];
        int k = letters_of(w, 1, once);
        if (k < 2) return -1;
        size_t i = below(r, (size_t)k), j = below(r, (size_t)k - 1);
        if (j >= i) j++;
        char c1 = once[i], c2 = once[j];
        for (size_t t = 0; t < n; t++) out[m++] = w[t] == c1 ? c2 : w[t] == c2 ? c1 : w[t];
        row->input[0] = put_char(a, c1), row->input[1] = put_char(a, c2), row->input[2] = put_str(a, w);
        row->label = put(a, out, m);
    } else if (!strcmp(name, "orth")) {
        char near[CUTE_WORD_MAX + 2];
        near_word(s, w, r, near);
        int dn = cute_levenshtein(w, near), best = -1;
        const char *far = NULL;
        for (int tries = 0; tries < 100; tries++) {
            const char *f = random_word(s, r);
            int d = cute_levenshtein(w, f);
            if (d > best && strcmp(f, near)) best = d, far = f;
            if (best >= dn + 2) break;
        }
        if (!far || best <= dn) return -1;
        int swap = (int)below(r, 2);
        row->input[0] = put_str(a, w);
        const char *pn = put_str(a, near), *pf = put_str(a, far);
        row->input[1] = swap ? pf : pn;
        row->input[2] = swap ? pn : pf;
        row->label = pn;
    } else {
        BL_CHECK(!"not a character task");
    }
    return 0;
}

static int gen_words(const CuteTrainSource *s, const char *name, Rng *r, CuteRow *row, Arena *a)
{
    const char *sent = s->sentences[below(r, s->nsentences)];
    Tok t[MAX_TOKENS], o[2 * MAX_TOKENS];
    int k = tokenize(sent, t), idx[MAX_TOKENS];
    int once = !strcmp(name, "swap_word");
    int nw = word_tokens(t, k, once, idx);
    if (nw < 1 + once) return -1;
    const Tok *pick = &t[idx[below(r, (size_t)nw)]];
    const char *anchor = put(a, pick->p, (size_t)pick->n);
    const char *fresh = random_word(s, r);
    size_t an = (size_t)pick->n;
    int m = 0;
    if (!strcmp(name, "contains_word")) {
        int yes = (int)below(r, 2);
        if (!yes) { /* a word the sentence does not hold, in any case */
            size_t fn = strlen(fresh);
            for (int i = 0; i < k; i++)
                if (!t[i].punct && (size_t)t[i].n == fn && !strncasecmp(t[i].p, fresh, fn)) return -1;
        }
        row->input[0] = yes ? anchor : put_str(a, fresh);
        row->input[1] = put_str(a, sent);
        row->label = put_str(a, yes ? "Yes" : "No");
        return 0;
    }
    Tok f = {fresh, (int)strlen(fresh), 0};
    if (!strcmp(name, "ins_word")) { /* fresh after every anchor */
        for (int i = 0; i < k; i++) {
            o[m++] = t[i];
            if (tok_eq(&t[i], anchor, an)) o[m++] = f;
        }
        row->input[0] = put_str(a, fresh), row->input[1] = anchor, row->input[2] = put_str(a, sent);
    } else if (!strcmp(name, "del_word")) { /* every anchor */
        for (int i = 0; i < k; i++)
            if (!tok_eq(&t[i], anchor, an)) o[m++] = t[i];
        row->input[0] = anchor, row->input[1] = put_str(a, sent);
    } else if (!strcmp(name, "sub_word")) { /* every anchor by fresh */
        for (int i = 0; i < k; i++) o[m++] = tok_eq(&t[i], anchor, an) ? f : t[i];
        row->input[0] = anchor, row->input[1] = put_str(a, fresh), row->input[2] = put_str(a, sent);
    } else if (!strcmp(name, "swap_word")) { /* two words that occur once each */
        int i1 = (int)(pick - t), i2 = -1;
        size_t j = below(r, (size_t)nw - 1); /* which of the others */
        for (int q = 0, seen = 0; q < nw && i2 < 0; q++)
            if (idx[q] != i1 && seen++ == (int)j) i2 = idx[q];
        BL_CHECK(i2 >= 0);
        for (int i = 0; i < k; i++) o[m++] = i == i1 ? t[i2] : i == i2 ? t[i1] : t[i];
        row->input[0] = anchor, row->input[1] = put(a, t[i2].p, (size_t)t[i2].n);
        row->input[2] = put_str(a, sent);
    } else {
        BL_CHECK(!"not a word task");
    }
    row->label = detokenize(a, o, m);
    return 0;
}

int cute_train_example(const CuteTrainSource *s, int task, Rng *r, CuteRow *row, char *buf)
{
    BL_CHECK(cute_train_has(s, task));
    const char *name = cute_task(task)->name;
    int words = on_sentences(name);
    for (int tries = 0; tries < 1000; tries++) {
        Arena a = {buf, 0};
        memset(row, 0, sizeof *row);
        int rc = words ? gen_words(s, name, r, row, &a) : gen_chars(s, name, r, row, &a);
        if (rc == 0) return 0;
    }
    return -1;
}
