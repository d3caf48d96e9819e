/* Picking the next byte from 256 logits: greedy, or a draw after temperature, top-k and top-p
 * (nucleus) filtering, optionally restricted to an allowed set (strict UTF-8 masks the rest to
 * -inf). Host-side and per stream; deterministic for a given Rng state. */
#ifndef BYTELM_SAMPLER_H
#define BYTELM_SAMPLER_H

#include <stdint.h>

#include "byte_lm/base/rng.h"

typedef struct {
    float temperature; /* > 0: softmax(logits / T); 0: greedy (argmax) */
    int top_k;         /* keep the k most likely bytes; 0: all */
    float top_p;       /* keep the smallest most-likely set with mass >= p; 1: all */
} SamplerConfig;

/* temperature 1, no top-k, no top-p: the model's own distribution */
void sampler_config_default(SamplerConfig *c);

/* The allowed byte with the largest logit, lowest index on ties. allowed may be NULL (all).
 * Logits that are NaN never win; if none compares, the lowest allowed byte. */
int sampler_argmax(const float *logits, const uint8_t *allowed);

/* The distribution sampler_sample draws from (sums to 1; zero outside the kept set); for a
 * greedy configuration, all mass on the argmax. */
void sampler_probs(const SamplerConfig *c, const float *logits, const uint8_t *allowed,
                   double probs[256]);

/* One byte. Greedy configurations draw nothing from rng; the others draw one uniform. */
int sampler_sample(const SamplerConfig *c, const float *logits, const uint8_t *allowed, Rng *rng);

#endif
