/* The public API's generation sessions: generate/'s generator for one stream (the engine of
 * `bytelm generate`), its bytes through the same UTF-8 output stream, handed to the caller a
 * few at a time, with stop strings matched on the raw bytes. */
#include <math.h>
#include <string.h>

#include "api/api_internal.h"
#include "byte_lm/generate/generate.h"
#include "byte_lm/generate/stop_match.h"

struct bl_gen {
    bl_model *model;
    GenOptions o;
    Generator *g;
    StopMatch stop;    /* matched on the raw bytes */
    Utf8Stream us;
    uint8_t *ready;    /* output not yet handed out */
    size_t nready, ready_off, ready_cap;
    int started, done;
};

void bl_gen_opts_init(bl_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->temperature = 1.0;
    o->top_p = 1.0;
    o->utf8 = BL_UTF8_SAFE;
    o->repetition_penalty = 1.0;
}

/* The output stream's sink: whole characters (or raw bytes) appended to what is ready. */
static void sink_ready(void *ctx, const uint8_t *bytes, size_t n)
{
    bl_gen *g = ctx;
    if (g->nready + n > g->ready_cap) {
        g->ready_cap = (g->nready + n) * 2 + 64;
        g->ready = bl_realloc(g->ready, g->ready_cap);
    }
    memcpy(g->ready + g->nready, bytes, n);
    g->nready += n;
}

static int check_opts(const bl_gen_opts *o, bl_error *err)
{
    if (!(o->temperature >= 0) || !isfinite(o->temperature))
        return api_fail(err, BL_ERR_ARG, "bl_gen_open: temperature must be a finite value >= 0");
    if (o->top_k < 0 || o->top_k > 256) return api_fail(err, BL_ERR_ARG, "bl_gen_open: top_k must be 0..256");
    if (!(o->top_p > 0 && o->top_p <= 1)) return api_fail(err, BL_ERR_ARG, "bl_gen_open: top_p must be in (0, 1]");
    if (o->utf8 < BL_UTF8_SAFE || o->utf8 > BL_UTF8_OFF)
        return api_fail(err, BL_ERR_ARG, "bl_gen_open: utf8 must be BL_UTF8_SAFE, _STRICT or _OFF");
    if (o->max_bytes < 0) return api_fail(err, BL_ERR_ARG, "bl_gen_open: max_bytes must be >= 0");
    if (!(o->repetition_penalty > 0) || !isfinite(o->repetition_penalty))
        return api_fail(err, BL_ERR_ARG, "bl_gen_open: repetition_penalty must be a finite value > 0");
    if (o->repetition_window < 0 || o->repetition_window > BL_MAX_REPETITION_WINDOW)
        return api_fail(err, BL_ERR_ARG, "bl_gen_open: repetition_window must be 0..%d", BL_MAX_REPETITION_WINDOW);
    if (o->n_stop < 0 || (o->n_stop && !o->stop)) return api_fail(err, BL_ERR_ARG, "bl_gen_open: bad stop list");
    for (int i = 0; i < o->n_stop; i++)
        if (!o->stop[i] || !o->stop[i][0])
            return api_fail(err, BL_ERR_ARG, "bl_gen_open: stop string %d is NULL or empty", i);
    return 0;
}

bl_gen *bl_gen_open(bl_model *m, const bl_gen_opts *opts, bl_error *err)
{
    bl_gen_opts def;
    if (!opts) bl_gen_opts_init(&def), opts = &def;
    if (!m) return api_fail(err, BL_ERR_ARG, "bl_gen_open: model is NULL"), NULL;
    if (check_opts(opts, err)) return NULL;
    bl_gen *g = bl_calloc(1, sizeof *g);
    g->model = m;
    gen_options_default(&g->o);
    g->o.sampler.temperature = (float)opts->temperature;
    g->o.sampler.top_k = opts->top_k;
    g->o.sampler.top_p = (float)opts->top_p;
    g->o.seed = opts->seed;
    g->o.utf8 = opts->utf8 == BL_UTF8_STRICT ? UTF8_STRICT : opts->utf8 == BL_UTF8_OFF ? UTF8_OFF : UTF8_SAFE;
    g->o.max_bytes = opts->max_bytes;
    g->o.sampler.repetition_penalty = (float)opts->repetition_penalty;
    g->o.sampler.repetition_window = opts->repetition_window;
    stop_match_init(&g->stop, opts->stop, opts->n_stop);
    g->g = generator_create(m->m, &g->o);
    api_ok(err);
    return g;
}

int bl_gen_prompt(bl_gen *g, const void *prompt, size_t n, bl_error *err)
{
    if (!g || (!prompt && n)) return api_fail(err, BL_ERR_ARG, "bl_gen_prompt: NULL session or prompt");
    generator_prefill(g->g, prompt, n);
    g->model->be->sync(g->model->be); /* the prompt is read when this returns */
    utf8_stream_init(&g->us, g->o.utf8, sink_ready, g);
    g->nready = g->ready_off = 0;
    stop_match_reset(&g->stop);
    g->started = 1;
    g->done = 0;
    api_ok(err);
    return 0;
}

int bl_gen_next(bl_gen *g, void *out, size_t cap, size_t *n, bl_error *err)
{
    if (!g || !out || !n || !cap) return api_fail(err, BL_ERR_ARG, "bl_gen_next: NULL argument or cap 0");
    *n = 0;
    if (!g->started) return api_fail(err, BL_ERR_STATE, "bl_gen_next: no prompt given (bl_gen_prompt)");
    while (g->ready_off == g->nready && !g->done) {
        g->nready = g->ready_off = 0;
        if (g->o.max_bytes && generator_produced(g->g) >= g->o.max_bytes) {
            utf8_stream_finish(&g->us);
            g->done = 1;
            break;
        }
        uint8_t b;
        generator_step(g->g, &b);
        if (!generator_logits_finite(g->g)) {
            g->done = 1;
            return api_fail(err, BL_ERR_MODEL, "%s: the model's logits are not finite at output byte %ld (the weights overflow)",
                            g->model->dir, generator_produced(g->g) - 1);
        }
        utf8_stream_put(&g->us, b);
        if (stop_match_push(&g->stop, b)) {
            utf8_stream_finish(&g->us);
            g->done = 1;
        }
    }
    size_t k = g->nready - g->ready_off;
    if (k > cap) k = cap;
    memcpy(out, g->ready + g->ready_off, k);
    g->ready_off += k;
    *n = k;
    api_ok(err);
    return k > 0;
}

long bl_gen_produced(const bl_gen *g) { return g && g->started ? generator_produced(g->g) : 0; }

void bl_gen_close(bl_gen *g)
{
    if (!g) return;
    generator_free(g->g);
    stop_match_free(&g->stop);
    free(g->ready);
    free(g);
}
