/* Recurrent generation: prefill with the parallel scan, then one model step per byte
 * (see generate.h). */
#include <math.h>
#include <string.h>

#include "byte_lm/generate/generate.h"

struct Generator {
    Model *m;
    GenOptions o;
    int B;
    ModelState *st;
    ModelState *st1; /* batch-1 state the shared prompt is prefilled into (B > 1 only) */
    float *logits;   /* host, B x 256: the last step's output */
    uint8_t *next;   /* host, B: the byte each stream feeds at its next step */
    size_t chunk;    /* prompt bytes per prefill call */
    Rng *rng;        /* one independent stream per sample */
    Utf8State *u8;   /* per stream, for strict masking */
    long produced;
};

void gen_options_default(GenOptions *o)
{
    memset(o, 0, sizeof *o);
    sampler_config_default(&o->sampler);
    o->utf8 = UTF8_SAFE;
    o->batch = 1;
    o->prefill_chunk = 4096;
}

Generator *generator_create(Model *m, const GenOptions *o)
{
    BL_CHECK(o->batch >= 1 && o->prefill_chunk >= 1);
    Generator *g = bl_calloc(1, sizeof *g);
    g->m = m;
    g->o = *o;
    g->B = o->batch;
    g->st = model_state_create(m, g->B);
    g->logits = bl_malloc((size_t)g->B * 256 * sizeof(float));
    g->next = bl_calloc((size_t)g->B, 1);
    g->st1 = g->B > 1 ? model_state_create(m, 1) : NULL;
    g->chunk = (size_t)o->prefill_chunk;
    g->rng = bl_calloc((size_t)g->B, sizeof(Rng));
    g->u8 = bl_calloc((size_t)g->B, sizeof(Utf8State));
    generator_prefill(g, NULL, 0);
    return g;
}

void generator_free(Generator *g)
{
    if (!g) return;
    model_state_free(g->m, g->st);
    model_state_free(g->m, g->st1);
    free(g->logits);
    free(g->next);
    free(g->rng);
    free(g->u8);
    free(g);
}

int generator_batch(const Generator *g)
{
    return g->B;
}

void generator_prefill(Generator *g, const uint8_t *prompt, size_t n)
{
    static const uint8_t start = GEN_START_BYTE;
    if (n == 0) {
        prompt = &start;
        n = 1;
    }
    model_state_reset(g->m, g->st);
    for (int b = 0; b < g->B; b++) {
        g->rng[b] = rng_stream(g->o.seed, (uint64_t)g->o.first_sample + (uint64_t)b);
        memset(&g->u8[b], 0, sizeof g->u8[b]);
    }
    g->produced = 0;
    /* every byte but the last through the parallel scan. All streams share the prompt, so it is
     * run once, as a batch of one, and its state copied to every stream. */
    ModelState *pre = g->st1 ? g->st1 : g->st;
    if (g->st1) model_state_reset(g->m, g->st1);
    size_t chunk = g->chunk;
    for (size_t off = 0; off + 1 < n; off += chunk) {
        size_t L = n - 1 - off < chunk ? n - 1 - off : chunk;
        model_forward_stateful(g->m, pre, prompt + off, NULL, 1, (int)L, NULL, NULL);
    }
    if (g->st1)
        for (int b = 0; b < g->B; b++) model_state_copy_row(g->m, g->st, b, g->st1, 0);
    memset(g->next, prompt[n - 1], (size_t)g->B);
}

/* Picks stream b's byte from its logits; strict mode first narrows the choice to bytes that keep
 * the text valid and let the last character finish within the budget. */
static uint8_t choose(Generator *g, int b)
{
    const float *lg = g->logits + (size_t)b * 256;
    if (g->o.utf8 != UTF8_STRICT) return (uint8_t)sampler_sample(&g->o.sampler, lg, NULL, &g->rng[b]);
    long remaining = g->o.max_bytes > 0 ? g->o.max_bytes - g->produced : 0;
    uint8_t allowed[256];
    utf8_allowed(&g->u8[b], remaining, allowed);
    uint8_t v = (uint8_t)sampler_sample(&g->o.sampler, lg, allowed, &g->rng[b]);
    utf8_state_push(&g->u8[b], v);
    return v;
}

void generator_step(Generator *g, uint8_t *out)
{
    model_forward_stateful(g->m, g->st, g->next, NULL, g->B, 1, NULL, g->logits);
    for (int b = 0; b < g->B; b++) g->next[b] = choose(g, b);
    memcpy(out, g->next, (size_t)g->B);
    g->produced++;
}

void generator_run(Generator *g, long n, uint8_t *out)
{
    uint8_t *scratch = out ? NULL : bl_malloc((size_t)g->B);
    for (long t = 0; t < n; t++) generator_step(g, out ? out + (size_t)t * g->B : scratch);
    free(scratch);
}

long generator_produced(const Generator *g)
{
    return g->produced;
}

const float *generator_logits(const Generator *g)
{
    return g->logits;
}

int generator_logits_finite(const Generator *g)
{
    for (size_t i = 0; i < (size_t)g->B * 256; i++)
        if (!isfinite(g->logits[i])) return 0;
    return 1;
}
