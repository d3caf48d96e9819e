/* Counting UTF-8 characters in a stream that arrives in arbitrary pieces, with utf8proc, so that
 * bits-per-character figures compare with those of subword models. */
#ifndef BYTELM_EVAL_UTF8_COUNT_H
#define BYTELM_EVAL_UTF8_COUNT_H

#include <stddef.h>
#include <stdint.h>

/* The count never depends on how the stream was cut into pieces: it equals utf8_count_all over
 * the concatenation. */
typedef struct {
    uint8_t carry[3]; /* the tail of the last piece: possibly the start of a split character */
    int ncarry;
    uint64_t chars;   /* characters completed so far */
    int first_len;    /* byte length of the stream's first character, 0 until it is known */
} Utf8Count;

void utf8_count_init(Utf8Count *c);
void utf8_count_feed(Utf8Count *c, const uint8_t *p, size_t n);
/* Counts whatever is still carried; call once at the end of the stream. */
void utf8_count_finish(Utf8Count *c);

/* Characters in a whole buffer: each valid UTF-8 sequence is one character, and so is each byte
 * that does not start one (invalid or truncated input still counts, one per byte). */
uint64_t utf8_count_all(const uint8_t *p, size_t n);

#endif
