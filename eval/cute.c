/* CUTE's tasks, prompts, scoring rule and published accuracies. */
#include <string.h>
#include <utf8proc.h>

#include "eval/cute.h"

/* The benchmark's task list in its own order. fold_case follows the data's README ("exact match,
 * lower-cased for the word-level tasks and contains_*"): the five word-level tasks and both
 * contains tasks. (The reference script's list of lower-cased tasks is the five word-level ones;
 * contains_char's labels are Yes/No, so the difference is only whether "yes" counts.) */
static const CuteTaskInfo tasks[CUTE_TASKS] = {
    {"spell", 1, 0},     {"spell_inverse", 1, 0}, {"contains_char", 2, 1}, {"contains_word", 2, 1},
    {"orth", 3, 0},      {"sem", 3, 0},           {"ins_char", 3, 0},      {"ins_word", 3, 1},
    {"del_char", 2, 0},  {"del_word", 2, 1},      {"sub_char", 3, 0},      {"sub_word", 3, 1},
    {"swap_char", 3, 0}, {"swap_word", 3, 1},
};

const CuteTaskInfo *cute_task(int t)
{
    BL_CHECK(t >= 0 && t < CUTE_TASKS);
    return &tasks[t];
}

int cute_task_by_name(const char *name)
{
    for (int t = 0; t < CUTE_TASKS; t++)
        if (!strcmp(tasks[t].name, name)) return t;
    return -1;
}

/* Published exact-match accuracies, from the README of the CUTE data (/work/shared/cute, taken
 * from the repository Leukas/CUTE's model_outputs/score files): four models on the nine
 * character-level tasks, and Llama-3-70B-Instruct alone on the five word-level ones. -1: none
 * published. Columns in the order of `tasks` above. */
#define NA -1.0
const CutePublished cute_published[CUTE_PUBLISHED] = {
    /*                                          spell  sp_inv c_char c_word orth   sem    i_char i_word d_char d_word s_char s_word w_char w_word */
    {"Llama-3-70B-Instruct", "Llama-3-70B", {1.000, 0.998, 0.731, 0.993, 0.914, 0.885, 0.089, 0.778, 0.740, 0.933, 0.537, 0.969, 0.131, 0.830}},
    {"Llama-3-8B-Instruct",  "Llama-3-8B",  {0.994, 0.982, 0.657, NA,    0.775, 0.817, 0.072, NA,    0.572, NA,    0.328, NA,    0.046, NA}},
    {"Llama-2-7B-chat",      "Llama-2-7B",  {0.955, 0.846, 0.670, NA,    0.417, 0.760, 0.080, NA,    0.129, NA,    0.112, NA,    0.035, NA}},
    {"Mistral-7B-v0.2",      "Mistral-7B",  {0.870, 0.911, 0.615, NA,    0.553, 0.847, 0.048, NA,    0.342, NA,    0.210, NA,    0.028, NA}},
};
#undef NA

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = 2 * (*len + n + 1);
        *buf = bl_realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* Zero-shot: the benchmark defines no zero-shot prompt (its README and reference script have the
 * four-example prompt only). Every template is three paragraphs separated by blank lines: the
 * instruction, the four numbered examples, and "Question: ..." holding the slots
 * (cute_prompts_load checks this). With shots 0 the prompt is the instruction paragraph, a
 * blank line and the question paragraph: the examples are left out and nothing is reworded (the
 * instruction still ends "based on the following examples:"). */
char *cute_prompt(const char *tmpl, const CuteRow *row, int shots, size_t *len)
{
    BL_CHECK(shots == 0 || shots == 4);
    size_t cap = 256;
    char *out = bl_malloc(cap);
    *len = 0;
    out[0] = 0;
    const char *q = tmpl;
    if (shots == 0) {
        const char *first = strstr(tmpl, "\n\n"), *last = first;
        BL_CHECK(first);
        for (const char *p = first; (p = strstr(p + 1, "\n\n"));) last = p;
        append(&out, len, &cap, tmpl, (size_t)(first - tmpl) + 2);
        q = last + 2;
    }
    int slot = 0;
    for (const char *p; (p = strstr(q, "{}")); q = p + 2) {
        append(&out, len, &cap, q, (size_t)(p - q));
        BL_CHECK(slot < CUTE_MAX_INPUTS && row->input[slot]);
        append(&out, len, &cap, row->input[slot], strlen(row->input[slot]));
        slot++;
    }
    append(&out, len, &cap, q, strlen(q));
    append(&out, len, &cap, " Answer: \"", 10);
    return out;
}

size_t cute_answer_len(const char *text, size_t n)
{
    size_t k = 0;
    while (k < n && k < CUTE_ANSWER_MAX && text[k] != '"' && text[k] != '\n') k++;
    return k;
}

/* s[0..n) lower-cased code point by code point (utf8proc_tolower, as Python's str.lower() for
 * all but a few multi-character mappings); bytes that are not valid UTF-8 are kept. malloc'd,
 * its length in *m. */
static char *lower(const char *s, size_t n, size_t *m)
{
    char *out = bl_malloc(4 * n + 1);
    size_t i = 0, k = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (len <= 0) {
            out[k++] = s[i++];
            continue;
        }
        k += (size_t)utf8proc_encode_char(utf8proc_tolower(c), (utf8proc_uint8_t *)out + k);
        i += (size_t)len;
    }
    out[k] = 0;
    *m = k;
    return out;
}

int cute_correct(int task, const char *answer, size_t n, const char *label)
{
    size_t ln = strlen(label);
    if (!cute_task(task)->fold_case) return n == ln && !memcmp(answer, label, n);
    size_t a, b;
    char *la = lower(answer, n, &a), *lb = lower(label, ln, &b);
    int ok = a == b && !memcmp(la, lb, a);
    free(la);
    free(lb);
    return ok;
}
