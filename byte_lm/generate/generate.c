/* Recurrent generation: prefill with the parallel scan, then one model step per byte
 * (see generate.h). */
#include <limits.h>
#include <string.h>

#include "byte_lm/generate/generate.h"

struct Generator {
    Model *m;
    Backend *be;
    GenOptions o;
    int B;
    ModelState *st;
    ModelState *st1;       /* batch-1 state the shared prompt is prefilled into (B > 1 only) */
    ModelStep *step;       /* the step and its sampler, recorded once where the backend can */
    int ahead;             /* steps run per trip to the backend, at most */
    uint8_t *io;           /* backend, `ahead` slots of 2B: the bytes each stream feeds next (the
                            * sampler writes them there), then a finite-logits flag per stream
                            * (model_step_create) */
    SampleStream *streams; /* backend, B */
    uint8_t *history;      /* backend, B x repetition window (NULL without a window) */
    uint8_t *host_io;      /* host copy of io */
    int next, have;        /* slots of host_io handed out next and filled (next == have: none) */
    int cur;               /* the slot of the last byte handed out */
    SampleStream *host_streams;
    uint8_t *host_history;
    float *logits;         /* host, B x 256, fetched when asked for */
    long produced;
};

void gen_options_default(GenOptions *o)
{
    memset(o, 0, sizeof *o);
    sampler_config_default(&o->sampler);
    o->utf8 = UTF8_SAFE;
    o->batch = 1;
    o->prefill_chunk = 4096;
    o->ahead = 0;
}

Generator *generator_create(Model *m, const GenOptions *o)
{
    BL_CHECK(o->batch >= 1 && o->prefill_chunk >= 1 && o->sampler.repetition_window >= 0 &&
             o->ahead >= 0);
    Generator *g = bl_calloc(1, sizeof *g);
    Backend *be = model_backend(m);
    g->m = m;
    g->be = be;
    g->o = *o;
    g->B = o->batch;
    /* a replayed recording costs the host a launch and a download per trip: 8 steps a trip
     * share them (kernels/NOTES.md, "Generation"); without recordings a trip costs nothing */
    g->ahead = o->ahead ? o->ahead : be->graph_begin ? GEN_AHEAD : 1;
    size_t B = (size_t)g->B, W = (size_t)o->sampler.repetition_window, S = (size_t)g->ahead;
    g->st = model_state_create(m, g->B);
    g->st1 = g->B > 1 ? model_state_create(m, 1) : NULL;
    g->io = be->alloc(be, S * 2 * B);
    g->streams = be->alloc(be, B * sizeof(SampleStream));
    g->history = W ? be->alloc(be, B * W) : NULL;
    g->host_io = bl_calloc(S * 2 * B, 1);
    g->host_streams = bl_calloc(B, sizeof(SampleStream));
    g->host_history = W ? bl_calloc(B * W, 1) : NULL;
    g->logits = bl_malloc(B * 256 * sizeof(float));
    SampleArgs tail = {.cfg = o->sampler, .strict_utf8 = o->utf8 == UTF8_STRICT,
                       .max_bytes = o->max_bytes, .B = g->B, .out = g->io,
                       .streams = g->streams, .history = g->history};
    g->step = model_step_create(m, g->st, g->io, g->ahead, &tail);
    generator_prefill(g, NULL, 0);
    return g;
}

void generator_free(Generator *g)
{
    if (!g) return;
    model_step_free(g->step);
    model_state_free(g->m, g->st);
    model_state_free(g->m, g->st1);
    g->be->free(g->be, g->io);
    g->be->free(g->be, g->streams);
    if (g->history) g->be->free(g->be, g->history);
    free(g->host_io);
    free(g->host_streams);
    free(g->host_history);
    free(g->logits);
    free(g);
}

int generator_batch(const Generator *g)
{
    return g->B;
}

void generator_prefill(Generator *g, const uint8_t *prompt, size_t n)
{
    static const uint8_t start = GEN_START_BYTE;
    const uint8_t *context = prompt; /* what the repetition penalty looks back over */
    size_t n_context = n;
    if (n == 0) {
        prompt = &start;
        n = 1;
    }
    model_state_reset(g->m, g->st);
    int W = g->o.sampler.repetition_window;
    for (int b = 0; b < g->B; b++)
        sampler_stream_init(&g->host_streams[b], W ? g->host_history + (size_t)b * W : NULL, W,
                            g->o.seed, (uint64_t)g->o.first_sample + (uint64_t)b, context,
                            n_context);
    g->be->upload(g->be, g->streams, g->host_streams, (size_t)g->B * sizeof(SampleStream));
    if (W) g->be->upload(g->be, g->history, g->host_history, (size_t)g->B * (size_t)W);
    g->produced = 0;
    /* every byte but the last through the parallel scan. All streams share the prompt, so it is
     * run once, as a batch of one, and its state copied to every stream. */
    ModelState *pre = g->st1 ? g->st1 : g->st;
    if (g->st1) model_state_reset(g->m, g->st1);
    size_t chunk = (size_t)g->o.prefill_chunk;
    for (size_t off = 0; off + 1 < n; off += chunk) {
        size_t L = n - 1 - off < chunk ? n - 1 - off : chunk;
        model_forward_stateful(g->m, pre, prompt + off, NULL, 1, (int)L, NULL, NULL);
    }
    if (g->st1)
        for (int b = 0; b < g->B; b++) model_state_copy_row(g->m, g->st, b, g->st1, 0);
    /* the first step reads the last slot (model_step_run, model_step_run_ahead) */
    uint8_t *last = g->host_io + (size_t)(g->ahead - 1) * 2 * (size_t)g->B;
    memset(last, prompt[n - 1], (size_t)g->B);
    memset(last + g->B, 1, (size_t)g->B);
    g->be->upload(g->be, g->io + (last - g->host_io), last, (size_t)g->B);
    g->next = g->have = g->cur = g->ahead - 1;
}

/* Runs more steps: `ahead` of them in one trip when the caller will take that many (`want`,
 * LONG_MAX when it does not say) and the byte budget has room for them, else one; fetches their
 * bytes and flags. */
static void refill(Generator *g, long want)
{
    size_t slot = 2 * (size_t)g->B;
    long left = g->o.max_bytes > 0 ? g->o.max_bytes - g->produced : LONG_MAX;
    if (g->ahead > 1 && want >= g->ahead && left >= g->ahead) {
        model_step_run_ahead(g->step);
        g->be->download(g->be, g->host_io, g->io, (size_t)g->ahead * slot);
        g->next = 0;
    } else {
        size_t off = (size_t)(g->ahead - 1) * slot;
        model_step_run(g->step);
        g->be->download(g->be, g->host_io + off, g->io + off, slot);
        g->next = g->ahead - 1;
    }
    g->have = g->ahead;
}

static void take(Generator *g, long want, uint8_t *out)
{
    if (g->next == g->have) refill(g, want);
    g->cur = g->next++;
    memcpy(out, g->host_io + (size_t)g->cur * 2 * (size_t)g->B, (size_t)g->B);
    g->produced++;
}

/* One step of every stream: the model and the sampler run on the backend, which writes each
 * stream's byte where the next step reads it; only the bytes and their flags come back, `ahead`
 * steps' at a time. */
void generator_step(Generator *g, uint8_t *out) { take(g, LONG_MAX, out); }

void generator_run(Generator *g, long n, uint8_t *out)
{
    uint8_t *scratch = out ? NULL : bl_malloc((size_t)g->B);
    for (long t = 0; t < n; t++) take(g, n - t, out ? out + (size_t)t * g->B : scratch);
    free(scratch);
}

int generator_step_recorded(const Generator *g) { return model_step_recorded(g->step); }

long generator_produced(const Generator *g)
{
    return g->produced;
}

const float *generator_logits(Generator *g)
{
    BL_CHECK(g->ahead == 1); /* else the step's logits may be a later byte's */
    g->be->download(g->be, g->logits, model_step_logits(g->step), (size_t)g->B * 256 * sizeof(float));
    return g->logits;
}

int generator_logits_finite(const Generator *g)
{
    for (int b = 0; b < g->B; b++)
        if (!g->host_io[(size_t)g->cur * 2 * (size_t)g->B + (size_t)g->B + (size_t)b]) return 0;
    return 1;
}
