#include "eval/task_eval.h"

#include <string.h>

void task_eval_options_default(TaskEvalOptions *o)
{
    memset(o, 0, sizeof *o);
    o->n = 200;
    o->shots = 3;
    o->max_new = 64;
    o->seed = 1;
    o->pool = POOL_ALL;
}

Generator *task_generator(Model *m, int max_new)
{
    GenOptions go;
    gen_options_default(&go);
    go.sampler.temperature = 0.0f; /* greedy: the argmax, lowest byte on ties */
    go.utf8 = UTF8_OFF;            /* answers are compared as bytes; nothing is masked */
    go.max_bytes = max_new;
    go.ahead = 1; /* an answer ends at its newline, a few bytes in: steps run ahead of it would
                   * mostly be thrown away */
    return generator_create(m, &go);
}

int task_complete(Generator *gen, const uint8_t *prompt, int len, int max_new, char *out,
                  int *stopped)
{
    BL_CHECK(len >= 1 && generator_batch(gen) == 1);
    generator_prefill(gen, prompt, (size_t)len);
    int k = 0;
    *stopped = 0;
    while (k < max_new) {
        uint8_t b;
        generator_step(gen, &b);
        if (b == '\n') {
            *stopped = 1;
            break;
        }
        out[k++] = (char)b;
    }
    out[k] = 0;
    return k;
}

/* Fraction of the answer's bytes that the output has at the same position. */
static double in_place(const char *out, const char *answer)
{
    size_t n = strlen(answer), k = 0;
    if (n == 0) return out[0] == 0;
    for (size_t i = 0; i < n && out[i]; i++) k += out[i] == answer[i];
    return (double)k / (double)n;
}

/* Prints text with control bytes escaped, so a model's garbage cannot garble the terminal. */
static void print_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
}

int task_evaluate(Model *m, const TaskGen *g, const TaskEvalOptions *o, TaskScore *score,
                  BlErr *e)
{
    memset(score, 0, sizeof *score);
    size_t cap = (size_t)(o->shots + 1) * (TASK_TEXT_MAX * 2 + 2);
    char *prompt = bl_malloc(cap), *out = bl_malloc((size_t)o->max_new + 1);
    Generator *gen = task_generator(m, o->max_new);
    Rng r = rng_stream(o->seed, 0x7461736b);
    long index = 0;
    TaskExample q, shot;
    int rc = 0;
    for (int i = 0; i < o->n; i++) {
        /* the question walks the pool in its fixed order; the shots are random training inputs */
        if (task_make(g, &r, o->pool, &index, &q, 1000) < 0) {
            rc = bl_fail(e, NULL, "task %s: no question could be made (empty word pool?)", g->name);
            break;
        }
        size_t len = 0;
        for (int k = 0; k < o->shots; k++) {
            if (task_make(g, &r, POOL_TRAIN, NULL, &shot, 1000) < 0) {
                rc = bl_fail(e, NULL, "task %s: no example for the shots (no training words?)", g->name);
                break;
            }
            int n = task_line(&shot, prompt + len, (int)(cap - len));
            BL_CHECK(n > 0);
            len += (size_t)n;
        }
        if (rc) break;
        int n = snprintf(prompt + len, cap - len, "%s", q.prompt);
        BL_CHECK(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
        int stopped;
        task_complete(gen, (const uint8_t *)prompt, (int)len, o->max_new, out, &stopped);
        int exact = stopped && !strcmp(out, q.answer);
        score->n++;
        score->exact += exact;
        score->char_correct += in_place(out, q.answer);
        if (o->log && i < o->show) {
            fprintf(o->log, "  %-5s %s", exact ? "ok" : "WRONG", q.prompt);
            print_escaped(o->log, out);
            fprintf(o->log, "%s   (expected %s)\n", stopped ? "" : "...", q.answer);
        }
    }
    generator_free(gen);
    free(prompt);
    free(out);
    return rc;
}
