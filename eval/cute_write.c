/* CUTE training text: examples in the evaluation's own prompt, written beside the target and
 * renamed over it once complete. */
#include <stdio.h>
#include <string.h>

#include "byte_lm/base/atomic_dir.h"
#include "eval/cute_train.h"

/* One example: the prompt as eval cute gives it (ending ` Answer: "`), the label, the closing
 * quote the evaluation stops at, and a newline. */
static int write_example(FILE *f, const char *tmpl, const CuteRow *row, int shots)
{
    size_t len;
    char *prompt = cute_prompt(tmpl, row, shots, &len);
    int ok = fwrite(prompt, 1, len, f) == len && fputs(row->label, f) >= 0 && fputs("\"\n", f) >= 0;
    free(prompt);
    return ok ? 0 : -1;
}

/* 4 or 0 for the next example; a share of 0 or 1 draws nothing, so the examples of a seed
 * stay those of a single kind of prompt. */
static int shots_of(Rng *r, double four_shot_share)
{
    if (four_shot_share >= 1) return 4;
    if (four_shot_share <= 0) return 0;
    return rng_uniform(r) < four_shot_share ? 4 : 0;
}

/* One of the tasks, with chances in proportion to weight[task] (all equal when weight is NULL,
 * drawn then as before weights existed, so a seed's text stays the same). */
static int draw_task(Rng *r, const int *tasks, int ntasks, const double *weight)
{
    if (!weight) return tasks[rng_u64(r) % (uint64_t)ntasks];
    double total = 0;
    for (int i = 0; i < ntasks; i++) total += weight[tasks[i]];
    double x = rng_uniform(r) * total;
    for (int i = 0; i < ntasks - 1; i++) {
        if (x < weight[tasks[i]]) return tasks[i];
        x -= weight[tasks[i]];
    }
    return tasks[ntasks - 1];
}

int cute_write_train(const char *path, const CuteTrainSource *s, const CutePrompts *p,
                     const int *tasks, int ntasks, const double *weight, double four_shot_share,
                     long n, uint64_t seed, long counts[CUTE_TASKS], BlErr *e)
{
    BL_CHECK(ntasks > 0 && four_shot_share >= 0 && four_shot_share <= 1);
    for (int i = 0; weight && i < ntasks; i++) BL_CHECK(weight[tasks[i]] > 0);
    for (int i = 0; i < ntasks; i++) BL_CHECK(cute_train_has(s, tasks[i]));
    long local[CUTE_TASKS];
    if (!counts) counts = local;
    memset(counts, 0, CUTE_TASKS * sizeof *counts);
    char tmp[4200];
    FILE *f = file_replace_begin(path, tmp, sizeof tmp, e);
    if (!f) return -1;
    Rng r = rng_stream(seed, 0x63757465ull);
    char buf[CUTE_EXAMPLE_MAX];
    CuteRow row;
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        int t = draw_task(&r, tasks, ntasks, weight);
        if (cute_train_example(s, t, &r, &row, buf))
            rc = bl_fail(e, NULL, "%s: no training example could be made from these words and sentences",
                         cute_task(t)->name);
        else if (write_example(f, p->tmpl[t], &row, shots_of(&r, four_shot_share)))
            rc = bl_fail_errno(e, tmp, "cannot write");
        else
            counts[t]++;
    }
    return file_replace_end(f, tmp, path, !rc, e) ? -1 : rc;
}
