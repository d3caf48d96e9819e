#include "eval/char_tasks.h"

#include <stdio.h>
#include <string.h>

static const char *const NAMES[CT_COUNT] = {"spell",  "spell-inverse", "reverse", "contains",
                                            "insert", "delete",        "swap"};

const char *char_task_name(CharTask t)
{
    return t >= 0 && t < CT_COUNT ? NAMES[t] : "?";
}

int char_task_by_name(const char *name)
{
    for (int i = 0; i < CT_COUNT; i++)
        if (!strcmp(name, NAMES[i])) return i;
    return -1;
}

static int count_of(const char *w, char c)
{
    int k = 0;
    for (; *w; w++) k += *w == c;
    return k;
}

/* A letter a-z that does not occur in w (the word is shorter than the alphabet in practice;
 * with all 26 present any letter is returned). */
static char letter_not_in(const char *w, Rng *r)
{
    char free_letters[26];
    int n = 0;
    for (char c = 'a'; c <= 'z'; c++)
        if (!strchr(w, c)) free_letters[n++] = c;
    if (n == 0) return (char)('a' + rng_u64(r) % 26);
    return free_letters[rng_u64(r) % (uint64_t)n];
}

int char_task_example(CharTask t, const char *word, Rng *r, TaskExample *ex)
{
    size_t n = strlen(word);
    /* answers are at most twice the word plus spaces: keep both well inside TASK_TEXT_MAX */
    if (n == 0 || n > TASK_TEXT_MAX / 4) return -1;
    char *a = ex->answer;
    switch (t) {
    case CT_SPELL:
    case CT_SPELL_INVERSE: {
        char spaced[TASK_TEXT_MAX / 2];
        for (size_t i = 0; i < n; i++) {
            spaced[2 * i] = word[i];
            spaced[2 * i + 1] = ' ';
        }
        spaced[2 * n - 1] = 0;
        if (t == CT_SPELL) {
            snprintf(ex->prompt, TASK_TEXT_MAX, "spell %s = ", word);
            snprintf(a, TASK_TEXT_MAX, "%s", spaced);
        } else {
            snprintf(ex->prompt, TASK_TEXT_MAX, "join %s = ", spaced);
            snprintf(a, TASK_TEXT_MAX, "%s", word);
        }
        return 0;
    }
    case CT_REVERSE:
        for (size_t i = 0; i < n; i++) a[i] = word[n - 1 - i];
        a[n] = 0;
        snprintf(ex->prompt, TASK_TEXT_MAX, "reverse %s = ", word);
        return 0;
    case CT_CONTAINS: {
        /* half the questions ask for a letter of the word, so "yes" and "no" are equally likely */
        int yes = (int)(rng_u64(r) & 1);
        char c = yes ? word[rng_u64(r) % n] : letter_not_in(word, r);
        snprintf(ex->prompt, TASK_TEXT_MAX, "contains %c %s = ", c, word);
        snprintf(a, TASK_TEXT_MAX, "%s", strchr(word, c) ? "yes" : "no");
        return 0;
    }
    case CT_INSERT: {
        char after = word[rng_u64(r) % n], x = letter_not_in(word, r);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            a[k++] = word[i];
            if (word[i] == after) a[k++] = x;
        }
        a[k] = 0;
        snprintf(ex->prompt, TASK_TEXT_MAX, "insert %c after %c %s = ", x, after, word);
        return 0;
    }
    case CT_DELETE: {
        char c = word[rng_u64(r) % n];
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (word[i] != c) a[k++] = word[i];
        a[k] = 0;
        if (k == 0) return -1;
        snprintf(ex->prompt, TASK_TEXT_MAX, "delete %c %s = ", c, word);
        return 0;
    }
    case CT_SWAP: {
        /* only letters that occur once, so "swap w d" names two positions unambiguously */
        size_t once[TASK_TEXT_MAX];
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (count_of(word, word[i]) == 1) once[m++] = i;
        if (m < 2) return -1;
        size_t i = once[rng_u64(r) % m], j;
        do j = once[rng_u64(r) % m]; while (j == i);
        if (j < i) {
            size_t tmp = i;
            i = j;
            j = tmp;
        }
        memcpy(a, word, n + 1);
        a[i] = word[j];
        a[j] = word[i];
        snprintf(ex->prompt, TASK_TEXT_MAX, "swap %c %c %s = ", word[i], word[j], word);
        return 0;
    }
    default: return -1;
    }
}

static int make(const TaskGen *g, Rng *r, TaskPool pool, long index, TaskExample *ex)
{
    const WordList *w = g->ctx;
    const char *word = index >= 0 ? words_nth(w, pool, (size_t)index) : words_random(w, pool, r);
    if (!word) return -1;
    return char_task_example((CharTask)g->kind, word, r, ex);
}

void char_task_gen(TaskGen *g, CharTask t, const WordList *w)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", char_task_name(t));
    g->make = make;
    g->ctx = w;
    g->kind = (int)t;
}
