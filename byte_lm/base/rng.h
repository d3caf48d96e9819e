/* Seedable random numbers for initialisation and sampling. A state is one 64-bit word
 * (splitmix64), so it can be saved in trainer_state.json and restored exactly. */
#ifndef BYTELM_RNG_H
#define BYTELM_RNG_H

#include <math.h>
#include <stdint.h>

#include "byte_lm/base/hostdev.h" /* the GPU sampler draws from the same stream */

typedef struct {
    uint64_t s;
} Rng;

static inline BL_HD uint64_t rng_u64(Rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 53 random bits */
static inline BL_HD double rng_uniform(Rng *r)
{
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* standard normal (Box-Muller; one value per call keeps the state a single word) */
static inline double rng_normal(Rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* An independent stream for a named purpose: mixes a tag into the seed. */
static inline Rng rng_stream(uint64_t seed, uint64_t tag)
{
    Rng r = {seed ^ (tag * 0xD1B54A32D192ED03ull)};
    rng_u64(&r);
    return r;
}

#endif
