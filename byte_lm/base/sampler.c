/* Next-byte sampling (see sampler.h). Probabilities are computed in double so that very low
 * temperatures and long tails do not round to garbage. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/base/sampler.h"

void sampler_config_default(SamplerConfig *c)
{
    c->temperature = 1.0f;
    c->top_k = 0;
    c->top_p = 1.0f;
    c->repetition_penalty = 1.0f;
    c->repetition_window = 0;
}

int sampler_argmax(const float *logits, const uint8_t *allowed)
{
    int best = -1;
    for (int i = 0; i < 256; i++) {
        if (allowed && !allowed[i]) continue;
        if (best < 0) best = i;
        else if (logits[i] > logits[best] || (isnan(logits[best]) && !isnan(logits[i]))) best = i;
    }
    return best < 0 ? 0 : best;
}

typedef struct {
    double p;
    int i;
} Ranked;

/* most likely first; equal probabilities by lower byte, so filtering is deterministic */
static int by_prob_desc(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->i - y->i;
}

/* Zeroes everything outside the top-k, then outside the smallest prefix (by probability) whose
 * mass reaches top_p of what top-k kept. */
static void filter_top(const SamplerConfig *c, double probs[256])
{
    Ranked r[256];
    int n = 0;
    for (int i = 0; i < 256; i++)
        if (probs[i] > 0) r[n++] = (Ranked){probs[i], i};
    qsort(r, (size_t)n, sizeof r[0], by_prob_desc);
    int keep = n;
    if (c->top_k > 0 && c->top_k < keep) keep = c->top_k;
    if (c->top_p < 1.0f) {
        double total = 0, acc = 0;
        for (int j = 0; j < keep; j++) total += r[j].p;
        int j = 0;
        while (j < keep) {
            acc += r[j++].p;
            if (acc >= (double)c->top_p * total) break;
        }
        keep = j;
    }
    for (int j = keep; j < n; j++) probs[r[j].i] = 0;
}

void sampler_probs(const SamplerConfig *c, const float *logits, const uint8_t *allowed,
                   double probs[256])
{
    double mx = -INFINITY;
    for (int i = 0; i < 256; i++)
        if ((!allowed || allowed[i]) && logits[i] > mx) mx = logits[i];
    if (!isfinite(mx) || !(c->temperature > 0)) {
        /* nothing usable to soften (all masked, -inf or NaN), or greedy: all mass on argmax */
        for (int i = 0; i < 256; i++) probs[i] = 0;
        probs[sampler_argmax(logits, allowed)] = 1;
        return;
    }
    double inv_t = 1.0 / (double)c->temperature;
    for (int i = 0; i < 256; i++) {
        int ok = (!allowed || allowed[i]) && !isnan(logits[i]);
        probs[i] = ok ? exp(((double)logits[i] - mx) * inv_t) : 0;
    }
    if ((c->top_k > 0 && c->top_k < 256) || c->top_p < 1.0f) filter_top(c, probs);
    double total = 0;
    for (int i = 0; i < 256; i++) total += probs[i];
    for (int i = 0; i < 256; i++) probs[i] /= total; /* total >= 1: the maximum has exp(0) */
}

int sampler_sample(const SamplerConfig *c, const float *logits, const uint8_t *allowed, Rng *rng)
{
    if (!(c->temperature > 0)) return sampler_argmax(logits, allowed);
    double probs[256];
    sampler_probs(c, logits, allowed, probs);
    double u = rng_uniform(rng), acc = 0;
    int last = -1;
    for (int i = 0; i < 256; i++) {
        if (probs[i] <= 0) continue;
        acc += probs[i];
        last = i;
        if (u < acc) return i;
    }
    return last; /* u landed in the rounding gap just below 1 */
}

void sampler_penalize(const SamplerConfig *c, const uint8_t *ring, int64_t seen,
                      const float *logits, float out[256])
{
    memcpy(out, logits, 256 * sizeof(float));
    if (c->repetition_penalty == 1.0f || c->repetition_window <= 0 || !ring) return;
    uint8_t hit[256] = {0};
    int64_t n = seen < c->repetition_window ? seen : c->repetition_window;
    for (int64_t k = 0; k < n; k++) hit[sampler_history_at(ring, c->repetition_window, seen, (int)k)] = 1;
    for (int v = 0; v < 256; v++)
        if (hit[v]) out[v] = sampler_penalized(logits[v], c->repetition_penalty);
}

int sampler_pick(const SamplerConfig *c, int strict, long max_bytes, const float *logits,
                 SampleStream *s, uint8_t *ring)
{
    float lg[256];
    sampler_penalize(c, ring, s->seen, logits, lg);
    uint8_t allowed[256];
    if (strict) {
        long remaining = max_bytes > 0 ? max_bytes - (long)s->produced : 0;
        utf8_allowed(&s->utf8, remaining, allowed);
    }
    Rng r = {s->rng};
    int v = sampler_sample(c, lg, strict ? allowed : NULL, &r);
    s->rng = r.s;
    if (strict) utf8_state_push(&s->utf8, (uint8_t)v);
    s->produced++;
    if (ring && c->repetition_window > 0) ring[s->seen % c->repetition_window] = (uint8_t)v;
    s->seen++;
    return v;
}

void sampler_stream_init(SampleStream *s, uint8_t *ring, int window, uint64_t seed, uint64_t tag,
                         const uint8_t *context, size_t n)
{
    memset(s, 0, sizeof *s);
    s->rng = rng_stream(seed, tag).s;
    if (!ring || window <= 0) return;
    memset(ring, 0, (size_t)window);
    size_t from = n > (size_t)window ? n - (size_t)window : 0;
    for (size_t i = from; i < n; i++) ring[s->seen++ % window] = context[i];
}
