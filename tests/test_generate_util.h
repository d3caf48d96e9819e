/* The generation tests' tiny model and checks, shared by the engine's suite (test_generate.c)
 * and the command line's (test_generate_cli.c). */
#ifndef BYTELM_TEST_GENERATE_UTIL_H
#define BYTELM_TEST_GENERATE_UTIL_H

#include <utf8proc.h>

#include "byte_lm/generate/generate.h"
#include "tests/test_util.h"

typedef struct {
    Backend *be;
    Model *m;
} Tiny;

/* config_default(32, 2) from a seed, with the weights pushed off the init (an initialised model
 * is nearly uniform over bytes, so its greedy text would be a few repeated bytes): embedding
 * scaled up for peaked distributions, every weight jittered so the text depends on context. */
static inline Tiny tiny(uint64_t seed)
{
    Tiny t;
    t.be = backend_cpu_create(2);
    ModelConfig c;
    config_default(&c, 32, 2);
    BlErr e;
    ck_assert_msg(model_create(&t.m, &c, t.be, &e) == 0, "%s", e.msg);
    model_init_params(t.m, seed);
    float *p = model_params(t.m);
    uint64_t s = seed * 7 + 1;
    for (size_t i = 0; i < model_num_params(t.m); i++) p[i] += tu_uniform(&s, -0.5f, 0.5f);
    const ParamInfo *emb = model_find_tensor(t.m, "backbone.embeddings.weight");
    for (size_t i = 0; i < emb->numel; i++) p[emb->offset + i] *= 3.0f;
    return t;
}

static inline void tiny_free(Tiny *t)
{
    model_free(t->m);
    t->be->destroy(t->be);
}

/* Generates n bytes per stream; returns them sample-major (out[b*n + t]). */
static inline uint8_t *generate(Model *m, const GenOptions *o, const char *prompt, long n)
{
    Generator *g = generator_create(m, o);
    generator_prefill(g, (const uint8_t *)prompt, strlen(prompt));
    int B = o->batch;
    uint8_t *step = malloc((size_t)n * B), *out = malloc((size_t)n * B);
    generator_run(g, n, step);
    ck_assert_int_eq(generator_produced(g), n);
    for (long t = 0; t < n; t++)
        for (int b = 0; b < B; b++) out[(size_t)b * n + t] = step[(size_t)t * B + b];
    free(step);
    generator_free(g);
    return out;
}

static inline int distinct(const uint8_t *x, long n)
{
    int seen[256] = {0}, k = 0;
    for (long i = 0; i < n; i++) k += !seen[x[i]]++;
    return k;
}

static inline int valid_utf8(const uint8_t *x, long n)
{
    for (long pos = 0; pos < n;) {
        int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(x + pos, n - pos, &cp);
        if (r <= 0) return 0;
        pos += r;
    }
    return 1;
}

#endif
