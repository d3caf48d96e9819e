/* Picking the next byte from 256 logits: an optional repetition penalty over the recent context,
 * then greedy, or a draw after temperature, top-k and top-p (nucleus) filtering, optionally
 * restricted to an allowed set (strict UTF-8 masks the rest). Deterministic for a given Rng
 * state. This is the specification: the CPU backend's sample op runs it, and the CUDA sampler
 * (kernels/sample.cu) follows it step for step in the same double arithmetic. */
#ifndef BYTELM_SAMPLER_H
#define BYTELM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/rng.h"
#include "byte_lm/base/utf8_rules.h"

typedef struct {
    float temperature; /* > 0: softmax(logits / T); 0: greedy (argmax) */
    int top_k;         /* keep the k most likely bytes; 0: all */
    float top_p;       /* keep the smallest most-likely set with mass >= p; 1: all */
    /* CTRL's penalty (Keskar et al., 2019; what llama.cpp and transformers call
     * repetition_penalty): each distinct byte among the last repetition_window bytes of the
     * context (prompt and output) has its logit divided by it when positive, multiplied when
     * not. 1 or a window of 0: none. */
    float repetition_penalty;
    int repetition_window;
} SamplerConfig;

/* temperature 1, no top-k, no top-p, no penalty: the model's own distribution */
void sampler_config_default(SamplerConfig *c);

/* The allowed byte with the largest logit, lowest index on ties. allowed may be NULL (all).
 * Logits that are NaN never win; if none compares, the lowest allowed byte. */
int sampler_argmax(const float *logits, const uint8_t *allowed);

/* The distribution sampler_sample draws from (sums to 1; zero outside the kept set); for a
 * greedy configuration, all mass on the argmax. */
void sampler_probs(const SamplerConfig *c, const float *logits, const uint8_t *allowed,
                   double probs[256]);

/* One byte. Greedy configurations draw nothing from rng; the others draw one uniform. The
 * repetition penalty is not applied here (sampler_penalize does it). */
int sampler_sample(const SamplerConfig *c, const float *logits, const uint8_t *allowed, Rng *rng);

/* The penalty applied to one logit (see SamplerConfig), in float as both backends compute it. */
static inline BL_HD float sampler_penalized(float logit, float penalty)
{
    return logit > 0 ? logit / penalty : logit * penalty;
}

/* One stream's sampling state, as the backends keep it (in backend memory on the GPU). */
typedef struct {
    uint64_t rng;     /* the Rng's state word */
    int64_t produced; /* bytes picked since the prompt: strict mode's budget counts these */
    int64_t seen;     /* bytes pushed into the history ring (prompt and output) */
    Utf8State utf8;   /* strict mode: where the output stands inside a character */
    uint8_t pad[4];
} SampleStream;

/* The byte of the context `back` bytes ago (0 = the latest) in a ring of `window` bytes that
 * has seen `seen` bytes; the caller keeps back < min(seen, window). */
static inline BL_HD uint8_t sampler_history_at(const uint8_t *ring, int window, int64_t seen,
                                               int back)
{
    return ring[(seen - 1 - back) % window];
}

/* out[v] = logits[v], penalized for each distinct byte v among the last window bytes of the
 * ring (the logits unchanged when the penalty is off). */
void sampler_penalize(const SamplerConfig *c, const uint8_t *ring, int64_t seen,
                      const float *logits, float out[256]);

/* The whole pick for one stream, as the backends' sample op does it: the penalty, the strict
 * UTF-8 mask (when strict: bytes that keep the output valid and let its last character finish
 * within max_bytes, 0 = no budget), the draw, then the stream advanced (its rng, its UTF-8
 * position in strict mode, its counts) and the byte pushed into the ring (NULL when the window
 * is 0). */
int sampler_pick(const SamplerConfig *c, int strict, long max_bytes, const float *logits,
                 SampleStream *s, uint8_t *ring);

/* Starts a stream: rng from seed and tag, counts zero, the last bytes of `context` (the prompt)
 * in the ring. */
void sampler_stream_init(SampleStream *s, uint8_t *ring, int window, uint64_t seed, uint64_t tag,
                         const uint8_t *context, size_t n);

#endif
