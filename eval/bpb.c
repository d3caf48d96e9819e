#include "eval/bpb.h"

#include <math.h>
#include <string.h>

#include "eval/utf8_count.h"

#define LN2 0.69314718055994530942

struct BpbScorer {
    Model *model;
    ModelState *state;
    int chunk;
    uint8_t *inputs, *targets; /* chunk bytes each */
    float *losses;             /* chunk floats */
    int pending;               /* targets buffered, not yet scored */
    int have_first;            /* the stream's first byte has been seen */
    uint8_t last;              /* the byte before targets[0]: the first input of the next chunk */
    Utf8Count chars;
    BpbTally tally;
    float *record;
    uint64_t record_cap;
};

double bpb_bits(const BpbTally *t) { return t->nats / LN2; }

double bpb_bits_per_byte(const BpbTally *t)
{
    return t->scored ? bpb_bits(t) / (double)t->scored : NAN;
}

double bpb_bits_per_char(const BpbTally *t)
{
    return t->chars ? bpb_bits(t) / (double)t->chars : NAN;
}

void bpb_tally_add(BpbTally *sum, const BpbTally *t)
{
    sum->bytes += t->bytes;
    sum->scored += t->scored;
    sum->chars += t->chars;
    sum->nats += t->nats;
}

BpbScorer *bpb_scorer_create(Model *m, int chunk)
{
    BL_CHECK(chunk >= 1);
    BpbScorer *s = bl_calloc(1, sizeof *s);
    s->model = m;
    s->chunk = chunk;
    s->state = model_state_create(m, 1);
    s->inputs = bl_malloc((size_t)chunk);
    s->targets = bl_malloc((size_t)chunk);
    s->losses = bl_malloc((size_t)chunk * sizeof(float));
    bpb_begin(s);
    return s;
}

void bpb_scorer_free(BpbScorer *s)
{
    if (!s) return;
    model_state_free(s->model, s->state);
    free(s->inputs);
    free(s->targets);
    free(s->losses);
    free(s);
}

void bpb_record_losses(BpbScorer *s, float *losses, uint64_t cap)
{
    s->record = losses;
    s->record_cap = losses ? cap : 0;
}

void bpb_begin(BpbScorer *s)
{
    model_state_reset(s->model, s->state);
    s->pending = 0;
    s->have_first = 0;
    utf8_count_init(&s->chars);
    memset(&s->tally, 0, sizeof s->tally);
}

/* Scores the buffered targets. Input t is the byte before target t: for t = 0 that is `last`
 * (the previous chunk's final target, or the stream's first byte), so no byte loses context at
 * a chunk boundary and none is scored twice. */
static void flush(BpbScorer *s)
{
    int n = s->pending;
    if (n == 0) return;
    s->inputs[0] = s->last;
    memcpy(s->inputs + 1, s->targets, (size_t)n - 1);
    model_forward_stateful(s->model, s->state, s->inputs, s->targets, 1, n, s->losses, NULL);
    /* sum in double here rather than trusting a float sum over a long stream */
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->losses[i];
    uint64_t at = s->tally.scored;
    for (int i = 0; i < n && at + (uint64_t)i < s->record_cap; i++) s->record[at + i] = s->losses[i];
    s->tally.nats += sum;
    s->tally.scored += (uint64_t)n;
    s->last = s->targets[n - 1];
    s->pending = 0;
}

void bpb_feed(BpbScorer *s, const uint8_t *p, size_t n)
{
    utf8_count_feed(&s->chars, p, n);
    s->tally.bytes += n;
    if (n && !s->have_first) {
        s->last = *p++;
        n--;
        s->have_first = 1;
    }
    while (n > 0) {
        size_t take = (size_t)(s->chunk - s->pending);
        if (take > n) take = n;
        memcpy(s->targets + s->pending, p, take);
        s->pending += (int)take;
        p += take;
        n -= take;
        if (s->pending == s->chunk) flush(s);
    }
}

void bpb_end(BpbScorer *s, BpbTally *out)
{
    flush(s);
    utf8_count_finish(&s->chars);
    s->tally.chars = s->chars.chars;
    /* a one-byte first character was never scored; a longer one keeps its scored bytes' bits */
    if (s->tally.chars > 0 && s->chars.first_len == 1) s->tally.chars--;
    *out = s->tally;
}

BpbTally bpb_progress(const BpbScorer *s)
{
    BpbTally t = s->tally;
    t.chars = 0;
    return t;
}
