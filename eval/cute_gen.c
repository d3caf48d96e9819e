/* One training example of a CUTE task from the training words and sentences, by the task's
 * definition (eval/cute_train.h). */
#include <ctype.h>
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
    if (!strcmp(name, "sem")) return s->nmeaning_words > 0;
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

/* s appended at out + n (out has room for it); the new length */
static size_t append(char *out, size_t n, const char *s)
{
    size_t len = strlen(s);
    memcpy(out + n, s, len);
    return n + len;
}

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

/* ---- orth and sem: a look-alike, and a word further away ---- */

/* CUTE's orth rows counted by the word's length (3 to 12 letters) and its look-alike's edit
 * distance (0 to 6): 4 letters 154 at one edit, 59 at two, 7 at three; 8 letters mostly 2 to 4. */
const int cute_orth_counts[CUTE_WORD_MAX + 1][CUTE_LOOKALIKE_EDITS_MAX + 1] = {
    [3] = {2, 24, 36},           [4] = {0, 154, 59, 7},      [5] = {0, 71, 126, 15, 4},
    [6] = {0, 17, 109, 30, 8},   [7] = {0, 4, 48, 72, 11},   [8] = {0, 4, 23, 42, 25, 2},
    [9] = {0, 0, 2, 11, 22, 4},  [10] = {0, 0, 1, 7, 11, 1}, [11] = {0, 0, 0, 1, 6, 5, 1},
    [12] = {0, 0, 0, 1, 2, 1},
};

/* How many edits (at least 1) from a word of n letters its look-alike is, drawn as often as in
 * CUTE's orth rows for words of that length. */
static int lookalike_edits(size_t n, Rng *r)
{
    BL_CHECK(n >= 3 && n <= CUTE_WORD_MAX);
    const int *count = cute_orth_counts[n];
    int total = 0;
    for (int d = 1; d <= CUTE_LOOKALIKE_EDITS_MAX; d++) total += count[d];
    int x = (int)below(r, (size_t)total);
    for (int d = 1; d <= CUTE_LOOKALIKE_EDITS_MAX; d++) {
        if (x < count[d]) return d;
        x -= count[d];
    }
    return 1;
}

/* A listed word one edit (delete, substitute, insert a letter) from w, chosen at random among
 * those there are, other than avoid; 0, or -1 when there is none. */
static int listed_one_edit(const CuteTrainSource *s, const char *w, const char *avoid, Rng *r, char *out)
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
                if (hit && (!avoid || strcmp(hit, avoid))) found[nf++] = hit;
            }
        }
    }
    if (!nf) return -1;
    strcpy(out, found[below(r, (size_t)nf)]);
    return 0;
}

/* w with d random edits (substitute, insert or delete a letter), into out; its distance from w
 * may come out below d (edits can undo each other), which the caller checks. */
static void edit_randomly(const char *w, int d, Rng *r, char *out)
{
    strcpy(out, w);
    for (int k = 0; k < d; k++) {
        size_t n = strlen(out), i = below(r, n + 1);
        int op = (int)below(r, 3);
        if (op == 0 && n > 1 && i < n) memmove(out + i, out + i + 1, n - i); /* delete */
        else if (op == 1 && n < CUTE_WORD_MAX + CUTE_LOOKALIKE_EDITS_MAX) memmove(out + i + 1, out + i, n - i + 1), out[i] = random_letter(r);
        else {
            if (i == n) i = n - 1;
            char l;
            do l = random_letter(r);
            while (l == out[i]);
            out[i] = l;
        }
    }
}

/* A look-alike of w exactly d edits away, not avoid and not a word of CUTE's: a listed word
 * when one is found (all of them at one edit; among a sample of the list at more), else w
 * edited; 0, or -1 when none was made. */
static int lookalike(const CuteTrainSource *s, const char *w, int d, const char *avoid, Rng *r, char *out)
{
    if (d == 1 && !listed_one_edit(s, w, avoid, r, out)) return 0;
    int n = (int)strlen(w), lo = n - d > 0 ? n - d : 0, hi = n + d < CUTE_WORD_MAX ? n + d : CUTE_WORD_MAX;
    for (int tries = 0; d > 1 && tries < 400; tries++) { /* a listed word of a length within d */
        int len = lo + (int)below(r, (size_t)(hi - lo + 1));
        size_t first = s->length_first[len], count = s->length_first[len + 1] - first;
        if (!count) continue;
        const char *x = s->by_length[first + below(r, count)];
        if (avoid && !strcmp(x, avoid)) continue;
        if (cute_levenshtein(w, x) == d) {
            strcpy(out, x);
            return 0;
        }
    }
    for (int tries = 0; tries < 50; tries++) {
        edit_randomly(w, d, r, out);
        if (cute_levenshtein(w, out) == d && (!avoid || strcmp(out, avoid)) && !cute_train_in_cute(s, out))
            return 0;
    }
    return -1;
}

/* orth and sem on one triple, as CUTE's rows are: w, a look-alike, and a word further away in
 * form that is related in meaning (with WordNet) or a random listed one (without). orth's
 * label is the look-alike; sem's the related word. */
static int gen_closer(const CuteTrainSource *s, int sem, Rng *r, CuteRow *row, Arena *a)
{
    const char *w, *other = NULL;
    if (s->nmeaning_words) {
        size_t i;
        do i = below(r, s->nmeaning_words); /* lengths as often as in CUTE's rows */
        while (rng_uniform(r) >= s->meaning_accept[strlen(s->meaning_words[i])]);
        size_t lo = s->meaning_first[i], hi = s->meaning_first[i + 1];
        w = s->meaning_words[i];
        other = s->meaning_related[lo + below(r, hi - lo)];
    } else {
        BL_CHECK(!sem);
        w = random_word(s, r);
    }
    int d = lookalike_edits(strlen(w), r);
    if (other) {
        int far = cute_levenshtein(w, other);
        if (far <= d) d = far - 1; /* the related word must be the further one */
        if (d < 1) return -1;
    }
    char look[CUTE_WORD_MAX + CUTE_LOOKALIKE_EDITS_MAX + 2]; /* at most that many insertions */
    if (lookalike(s, w, d, other, r, look)) return -1;
    if (!other) { /* a random listed word further away than the look-alike */
        for (int tries = 0; tries < 100 && !other; tries++) {
            const char *f = random_word(s, r);
            if (cute_levenshtein(w, f) > d && strcmp(f, look)) other = f;
        }
        if (!other) return -1;
    }
    int swap = (int)below(r, 2);
    row->input[0] = put_str(a, w);
    const char *pl = put_str(a, look), *po = put_str(a, other);
    row->input[1] = swap ? po : pl;
    row->input[2] = swap ? pl : po;
    row->label = sem ? po : pl;
    return 0;
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
    } else {
        BL_CHECK(!"not a character task");
    }
    return 0;
}

/* A listed word, half the time drawn as often as the sentences use it (CUTE's inserted and
 * absent words are common ones), else uniformly from the list. */
static const char *text_word(const CuteTrainSource *s, Rng *r)
{
    if (s->ncommon && below(r, 2)) return s->common[below(r, s->ncommon)];
    return random_word(s, r);
}

/* A made-up sentence of 3 to 10 listed words, for copying that the text's word order cannot
 * guess: a capital first, now and then a comma, a contraction or possessive ending (which
 * CUTE's sentences have and the Bible text lacks), and . ! or ? at the end. */
static const char *made_up_sentence(const CuteTrainSource *s, Rng *r, Arena *a)
{
    static const char *const endings[] = {"'s", "n't", "'ll", "'re", "'ve", "'d"};
    char out[CUTE_EXAMPLE_MAX];
    size_t n = 0;
    int words = CUTE_SENT_WORDS_MIN + (int)below(r, CUTE_SENT_WORDS_MAX - CUTE_SENT_WORDS_MIN + 1);
    for (int i = 0; i < words; i++) {
        if (i) out[n++] = ' ';
        const size_t start = n;
        n = append(out, n, text_word(s, r));
        if (!i) out[start] = (char)(out[start] - 'a' + 'A');
        if (below(r, 100) < 8) n = append(out, n, endings[below(r, sizeof endings / sizeof *endings)]);
        if (i < words - 1 && below(r, 100) < 12) out[n++] = ',';
    }
    unsigned end = (unsigned)below(r, 20);
    out[n++] = end < 14 ? '.' : end < 17 ? '!' : '?';
    return put(a, out, n);
}

/* 1 when the tokens hold the word w, in any case. */
static int holds(const Tok *t, int k, const char *w)
{
    size_t n = strlen(w);
    for (int i = 0; i < k; i++)
        if (!t[i].punct && (size_t)t[i].n == n && !strncasecmp(t[i].p, w, n)) return 1;
    return 0;
}

/* contains_word's absent word for a sentence of the text: a word of another sentence (the
 * first one's capital taken off), so that the words asked about are of one kind whether the
 * answer is Yes or No and their commonness tells nothing; into out, or -1. */
static int other_sentence_word(const CuteTrainSource *s, Rng *r, char *out)
{
    Tok t[MAX_TOKENS];
    int k = tokenize(s->sentences[below(r, s->nsentences)], t), idx[MAX_TOKENS];
    int nw = word_tokens(t, k, 0, idx);
    if (nw < 1) return -1;
    int i = idx[below(r, (size_t)nw)];
    const Tok *w = &t[i];
    if (w->n > CUTE_WORD_MAX) return -1;
    for (int j = 0; j < w->n; j++)
        if (!isalpha((unsigned char)w->p[j])) return -1;
    memcpy(out, w->p, (size_t)w->n);
    out[w->n] = 0;
    if (i == 0) out[0] = (char)tolower((unsigned char)out[0]);
    return 0;
}

/* Curly quotes and apostrophes as they read after UTF-8 text was decoded as Windows-1252 and
 * encoded again (mojibake): U+201C, U+2019 and U+201D become these, the last with its 0x9d byte lost.
 * CUTE's own sentences carry them (7 rows of each word task). */
#define MOJIBAKE_OPEN "\xc3\xa2\xe2\x82\xac\xc5\x93"
#define MOJIBAKE_APOSTROPHE "\xc3\xa2\xe2\x82\xac\xe2\x84\xa2"
#define MOJIBAKE_CLOSE "\xc3\xa2\xe2\x82\xac"

/* The sentence as quoted speech in mojibake, its words unchanged: every apostrophe mis-decoded,
 * and an opening quote at the start, or after its first comma, or one at the start with the
 * closing one after that comma (drawn at random; without a comma, at the start). */
static const char *mojibake_quoted(const char *sent, Rng *r, Arena *a)
{
    char out[CUTE_EXAMPLE_MAX];
    size_t n = 0;
    const char *comma = strstr(sent, ", ");
    unsigned form = comma ? (unsigned)below(r, 3) : 0;
    if (form != 1) n = append(out, n, MOJIBAKE_OPEN);
    for (const char *p = sent; *p; p++) {
        BL_CHECK(n + 16 < sizeof out); /* the most one byte of the sentence becomes */
        if (*p == '\'') n = append(out, n, MOJIBAKE_APOSTROPHE);
        else out[n++] = *p;
        if (p == comma && form == 1) out[n++] = ' ', n = append(out, n, MOJIBAKE_OPEN), p++;
        else if (p == comma && form == 2) n = append(out, n, MOJIBAKE_CLOSE);
    }
    return put(a, out, n);
}

static int gen_words(const CuteTrainSource *s, const char *name, Rng *r, CuteRow *row, Arena *a)
{
    int made_up = rng_uniform(r) < s->made_up_share;
    const char *sent = made_up ? made_up_sentence(s, r, a) : s->sentences[below(r, s->nsentences)];
    Tok t[MAX_TOKENS], o[2 * MAX_TOKENS];
    int k = tokenize(sent, t), idx[MAX_TOKENS];
    int once = !strcmp(name, "swap_word");
    int nw = word_tokens(t, k, once, idx);
    if (nw < 1 + once) return -1;
    const Tok *pick = &t[idx[below(r, (size_t)nw)]];
    const char *anchor = put(a, pick->p, (size_t)pick->n);
    const char *fresh = text_word(s, r);
    size_t an = (size_t)pick->n;
    int m = 0;
    if (!strcmp(name, "contains_word")) {
        int yes = (int)below(r, 2);
        char other[CUTE_WORD_MAX + 1];
        /* a made-up sentence's words are listed ones, as fresh is; for the text's, a word of
         * another sentence when the draw gives one this sentence lacks */
        if (!yes && !made_up && !other_sentence_word(s, r, other) && !holds(t, k, other)) fresh = other;
        if (!yes && holds(t, k, fresh)) return -1;
        row->input[0] = yes ? anchor : put_str(a, fresh);
        /* the asked word is a plain one; with an apostrophe it would read differently */
        int mojibake = rng_uniform(r) < s->mojibake_share && !strchr(row->input[0], '\'');
        row->input[1] = mojibake ? mojibake_quoted(sent, r, a) : put_str(a, sent);
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
        int closer = !strcmp(name, "orth") || !strcmp(name, "sem");
        int rc = words    ? gen_words(s, name, r, row, &a)
                 : closer ? gen_closer(s, name[0] == 's', r, row, &a)
                          : gen_chars(s, name, r, row, &a);
        if (rc == 0) return 0;
    }
    return -1;
}
