/* CUTE (Edman, Schmid and Fraser, EMNLP 2024), the evaluation side: the 14 tasks' TSV files and
 * prompts.json read strictly, prompts built as the benchmark builds them, answers cut and scored
 * by its rule, greedy decoding through the generator, and the published accuracies.
 *
 * Files: cute_data.c (TSV and prompts.json), cute.c (tasks, prompts, scoring, published figures),
 * cute_eval.c (decoding and scoring a task on a model). */
#ifndef BYTELM_EVAL_CUTE_H
#define BYTELM_EVAL_CUTE_H

#include <stddef.h>

#include "byte_lm/base/error.h"
#include "byte_lm/generate/generate.h"
#include "byte_lm/model/model.h"

#define CUTE_TASKS 14
#define CUTE_MAX_INPUTS 3
#define CUTE_LINE_MAX 4096  /* a TSV line longer than this (newline excluded) is refused */
#define CUTE_ANSWER_MAX 100 /* bytes decoded at most for an answer */
#define CUTE_PUBLISHED 4    /* models in cute_published */

typedef struct {
    const char *name; /* the file's stem and the prompts.json key: "spell", "ins_word", ... */
    int inputs;       /* input columns before the label (1 to 3) */
    int fold_case;    /* answer and label compared lower-cased */
} CuteTaskInfo;

/* Task t (0 <= t < CUTE_TASKS), in the benchmark's order (spell, spell_inverse, contains_char,
 * contains_word, orth, sem, ins_char, ins_word, del_char, del_word, sub_char, sub_word,
 * swap_char, swap_word). */
const CuteTaskInfo *cute_task(int t);
/* The task's index, or -1 for an unknown name. */
int cute_task_by_name(const char *name);

typedef struct {
    const char *input[CUTE_MAX_INPUTS]; /* NUL-terminated, the field's bytes exactly; NULL past inputs */
    const char *label;
} CuteRow;

typedef struct {
    int task;
    long n;        /* rows read */
    CuteRow *rows;
    char *text;    /* the file's bytes, fields cut in place */
} CuteSet;

/* Reads DIR/TASK.tsv: the header "input1[\tinput2[\tinput3]]\tlabel" for the task's column
 * count, then one row a line, each with exactly that many tab-separated fields, none empty;
 * '\n' line ends (the last may lack one), no CR, no NUL, valid UTF-8, lines of at most
 * CUTE_LINE_MAX bytes, at least one row. limit > 0 keeps only the first `limit` rows (the rest
 * of the file is still checked). Errors are one line naming the file and the byte offset. */
int cute_set_load(CuteSet *s, const char *dir, int task, long limit, BlErr *e);
void cute_set_free(CuteSet *s);

typedef struct {
    char *tmpl[CUTE_TASKS]; /* the prompt of each task, with one "{}" per input */
} CutePrompts;

/* Reads a prompts.json: one string per task, each with exactly as many "{}" slots as the task
 * has inputs (and, for the zero-shot prompt, an instruction paragraph and a question paragraph;
 * see cute_prompt). Other keys are ignored. */
int cute_prompts_load(CutePrompts *p, const char *path, BlErr *e);
void cute_prompts_free(CutePrompts *p);

/* The prompt the model is given for a row, malloc'd and NUL-terminated, its length in *len:
 * shots 4: the benchmark's prompt, the template with each "{}" replaced by the inputs in order,
 * then ` Answer: "`. shots 0: the same with the four solved examples left out (see cute.c). */
char *cute_prompt(const char *tmpl, const CuteRow *row, int shots, size_t *len);

/* The answer in a decoded continuation text[0..n): the bytes before the first '"' or '\n', at
 * most CUTE_ANSWER_MAX; returns its length. */
size_t cute_answer_len(const char *text, size_t n);
/* 1 when answer[0..n) matches the label exactly (lower-cased on both sides for a fold_case
 * task). */
int cute_correct(int task, const char *answer, size_t n, const char *label);

/* The published exact-match accuracies, per model and task; negative where none was published. */
typedef struct {
    const char *model, *short_name; /* "Llama-3-70B-Instruct", "Llama-3-70B" */
    double acc[CUTE_TASKS];
} CutePublished;
extern const CutePublished cute_published[CUTE_PUBLISHED];

typedef struct {
    long n, correct;
    size_t prompt_bytes; /* bytes of the prompts asked so far (progress) */
} CuteScore;

/* The model's greedy continuation of prompt[0..len) from a fresh state, decoded by gen (made by
 * task_generator(m, CUTE_ANSWER_MAX)) up to the answer's end; the answer goes into out
 * (CUTE_ANSWER_MAX + 1 bytes, NUL-terminated), its length is returned. */
size_t cute_complete(Generator *gen, const char *prompt, size_t len, char *out);

/* Callback after each row, e.g. progress or a record of the answers: sc holds the rows so far,
 * row the index of the one just scored, answer[0..n) its answer (NUL-terminated) and correct
 * whether it matched. */
typedef void (*CuteRowHook)(void *ctx, const CuteScore *sc, long row, const char *answer, size_t n,
                            int correct);
/* Scores every row of s with the task's template and shots; hook may be NULL. */
void cute_evaluate(Model *m, const CuteSet *s, const char *tmpl, int shots, CuteScore *sc,
                   CuteRowHook hook, void *ctx);

#endif
