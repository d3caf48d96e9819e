/* Scoring a model on a CUTE task: each row's prompt decoded greedily through the generator (as
 * the character tasks are, task_eval.c), the answer cut and compared by the benchmark's rule. */
#include <string.h>

#include "eval/cute.h"
#include "eval/task_eval.h"

size_t cute_complete(Generator *gen, const char *prompt, size_t len, char *out)
{
    BL_CHECK(len >= 1 && generator_batch(gen) == 1);
    generator_prefill(gen, (const uint8_t *)prompt, len);
    /* greedy decoding is deterministic, so stopping at the answer's end gives what decoding
     * CUTE_ANSWER_MAX bytes and cutting them with cute_answer_len would */
    size_t k = 0;
    while (k < CUTE_ANSWER_MAX) {
        uint8_t b;
        generator_step(gen, &b);
        out[k] = (char)b;
        if (cute_answer_len(out, k + 1) == k) break;
        k++;
    }
    out[k] = 0;
    return k;
}

void cute_evaluate(Model *m, const CuteSet *s, const char *tmpl, int shots, CuteScore *sc,
                   CuteRowHook hook, void *ctx)
{
    memset(sc, 0, sizeof *sc);
    Generator *gen = task_generator(m, CUTE_ANSWER_MAX);
    char out[CUTE_ANSWER_MAX + 1];
    for (long i = 0; i < s->n; i++) {
        size_t len;
        char *prompt = cute_prompt(tmpl, &s->rows[i], shots, &len);
        size_t k = cute_complete(gen, prompt, len, out);
        free(prompt);
        sc->n++;
        sc->prompt_bytes += len;
        int ok = cute_correct(s->task, out, k, s->rows[i].label);
        sc->correct += ok;
        if (hook) hook(ctx, sc, i, out, k, ok);
    }
    generator_free(gen);
}
