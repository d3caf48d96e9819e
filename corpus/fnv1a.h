/* FNV-1a, 64-bit: the per-shard checksum named "fnv1a64" in corpus.json. Chosen because it is
 * tiny, needs no library and is easy to recompute from any language to check a shard. */
#ifndef BYTELM_FNV1A_H
#define BYTELM_FNV1A_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT 0xcbf29ce484222325ull
#define FNV1A64_PRIME 0x100000001b3ull

/* Continues the hash h over n more bytes (start with FNV1A64_INIT). */
static inline uint64_t fnv1a64_update(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV1A64_PRIME;
    return h;
}

#endif
