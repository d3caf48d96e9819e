/* Synthetic English-like text (Zipf-distributed made-up words in sentences and paragraphs) for
 * benchmarks run without a corpus: it compresses and decodes at rates close to real prose, which
 * repeated copies of one sample would not (long repeats decode far faster than text). */
#ifndef BYTELM_SYNTH_TEXT_H
#define BYTELM_SYNTH_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/error.h"

/* Writes n bytes of text to path, deterministically for seed. */
int synth_text_write(const char *path, uint64_t n, uint64_t seed, BlErr *e);

#endif
