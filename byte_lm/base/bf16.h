/* bfloat16 conversions on the host: widening is exact, narrowing rounds to nearest even (NaN
 * stays a quiet NaN), the rounding CUDA's __float2bfloat16_rn does, so host and device stores
 * of the same float give the same bits. */
#ifndef BYTELM_BF16_H
#define BYTELM_BF16_H

#include <stdint.h>
#include <string.h>

/* bfloat16 storage: the upper half of an IEEE fp32 */
typedef uint16_t bf16;

static inline float bf16_to_f32(bf16 h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline bf16 bf16_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40); /* NaN: keep it quiet */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16)(u >> 16);
}

#endif
