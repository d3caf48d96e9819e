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

int cute_write_train(const char *path, const CuteTrainSource *s, const CutePrompts *p,
                     const int *tasks, int ntasks, int shots, long n, uint64_t seed,
                     long counts[CUTE_TASKS], BlErr *e)
{
    BL_CHECK(ntasks > 0);
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
        int t = tasks[rng_u64(&r) % (uint64_t)ntasks];
        if (cute_train_example(s, t, &r, &row, buf))
            rc = bl_fail(e, NULL, "%s: no training example could be made from these words and sentences",
                         cute_task(t)->name);
        else if (write_example(f, p->tmpl[t], &row, shots))
            rc = bl_fail_errno(e, tmp, "cannot write");
        else
            counts[t]++;
    }
    return file_replace_end(f, tmp, path, !rc, e) ? -1 : rc;
}
