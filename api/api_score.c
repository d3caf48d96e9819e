/* The public API's scoring sessions: eval/bpb's streaming scorer (the one `bytelm eval bpb`
 * uses, with its default chunk), so a program and the command give the same bits. */
#include <math.h>

#include "api/api_internal.h"
#include "eval/bpb.h"

#define SCORE_CHUNK 4096 /* `bytelm eval bpb`'s default; the result does not depend on it */
#define SCORE_CHUNK_MAX ((size_t)1 << 24)

struct bl_score {
    bl_model *model;
    BpbScorer *sc;
};

/* out <- t, with the derived figures */
static void result_of(const BpbTally *t, bl_score_result *out)
{
    out->bytes = t->bytes;
    out->scored = t->scored;
    out->chars = t->chars;
    out->bits = bpb_bits(t);
    out->bits_per_byte = bpb_bits_per_byte(t);
    out->bits_per_char = bpb_bits_per_char(t);
}

bl_score *bl_score_open(bl_model *m, size_t chunk, bl_error *err)
{
    if (!m) return api_fail(err, BL_ERR_ARG, "bl_score_open: model is NULL"), NULL;
    if (chunk > SCORE_CHUNK_MAX)
        return api_fail(err, BL_ERR_ARG, "bl_score_open: chunk must be at most %zu bytes", SCORE_CHUNK_MAX), NULL;
    bl_score *s = bl_calloc(1, sizeof *s);
    s->model = m;
    s->sc = bpb_scorer_create(m->m, chunk ? (int)chunk : SCORE_CHUNK);
    api_ok(err);
    return s;
}

int bl_score_feed(bl_score *s, const void *bytes, size_t n, double *bits, bl_error *err)
{
    if (!s || (!bytes && n)) return api_fail(err, BL_ERR_ARG, "bl_score_feed: NULL session or bytes");
    bpb_feed(s->sc, bytes, n);
    if (bits) {
        BpbTally t = bpb_progress(s->sc);
        *bits = bpb_bits(&t);
    }
    api_ok(err);
    return 0;
}

int bl_score_finish(bl_score *s, bl_score_result *out, bl_error *err)
{
    if (!s || !out) return api_fail(err, BL_ERR_ARG, "bl_score_finish: NULL session or result");
    BpbTally t;
    bpb_end(s->sc, &t);
    bpb_begin(s->sc);
    result_of(&t, out);
    if (!isfinite(t.nats))
        return api_fail(err, BL_ERR_MODEL, "%s: the model's losses are not finite (the weights overflow)",
                        s->model->dir);
    api_ok(err);
    return 0;
}

void bl_score_progress(const bl_score *s, bl_score_result *out)
{
    BpbTally t = bpb_progress(s->sc);
    result_of(&t, out);
}

void bl_score_close(bl_score *s)
{
    if (!s) return;
    bpb_scorer_free(s->sc);
    free(s);
}
