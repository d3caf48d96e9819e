/* UTF-8 validity one byte at a time (RFC 3629: no overlongs, no surrogates, nothing above
 * U+10FFFF), and which bytes may come next. Inline and shared with the CUDA sampler, so strict
 * masking on the GPU follows exactly these rules. The output stream built on them is in
 * byte_lm/generate/utf8_stream.h. */
#ifndef BYTELM_UTF8_RULES_H
#define BYTELM_UTF8_RULES_H

#include <stdint.h>

#include "byte_lm/base/hostdev.h"

/* Position inside a character. The zero value is a character boundary. */
typedef struct {
    uint8_t len;    /* bytes of the pending character seen so far (0 at a boundary) */
    uint8_t need;   /* continuation bytes still to come */
    uint8_t lo, hi; /* inclusive range of the next continuation byte */
} Utf8State;

enum { UTF8_REJECT = -1, UTF8_MORE = 0, UTF8_DONE = 1 };

/* Bytes in the character that b starts (1..4); 0 when b cannot start one (80..C1, F5..FF). */
static inline BL_HD int utf8_lead_length(uint8_t b)
{
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0; /* continuation bytes, and C0/C1 which only start overlongs */
    if (b < 0xE0) return 2;
    if (b < 0xF0) return 3;
    if (b < 0xF5) return 4;
    return 0; /* F5..FF would encode above U+10FFFF */
}

/* Feeds b: UTF8_DONE when b completes a character (s is back at a boundary), UTF8_MORE when
 * b is a valid, unfinished prefix, UTF8_REJECT when b cannot come next (s unchanged).
 * The first continuation byte after a lead carries the range limits (RFC 3629 table): E0
 * excludes 3-byte overlongs, ED the surrogates D800..DFFF, F0 4-byte overlongs and F4 values
 * above U+10FFFF. Later continuation bytes are always 80..BF. */
static inline BL_HD int utf8_state_push(Utf8State *s, uint8_t b)
{
    if (s->need == 0) {
        int n = utf8_lead_length(b);
        if (n == 0) return UTF8_REJECT;
        if (n == 1) return UTF8_DONE;
        s->len = 1;
        s->need = (uint8_t)(n - 1);
        s->lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
        s->hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        return UTF8_MORE;
    }
    if (b < s->lo || b > s->hi) return UTF8_REJECT;
    s->len++;
    s->need--;
    s->lo = 0x80;
    s->hi = 0xBF;
    if (s->need == 0) {
        s->len = 0;
        return UTF8_DONE;
    }
    return UTF8_MORE;
}

/* 1 when utf8_state_push would accept v, except that at a boundary a character longer than
 * `remaining` bytes (this one included) is refused, so a budget of bytes always ends on a
 * whole character. remaining <= 0 means no budget. */
static inline BL_HD int utf8_byte_allowed(const Utf8State *s, long remaining, int v)
{
    if (s->need) return v >= s->lo && v <= s->hi;
    int n = utf8_lead_length((uint8_t)v);
    return n > 0 && (remaining <= 0 || n <= remaining);
}

/* allowed[v] = utf8_byte_allowed(s, remaining, v) for every byte. Returns how many bytes are
 * allowed (at least one: ASCII or a continuation always is). */
static inline int utf8_allowed(const Utf8State *s, long remaining, uint8_t allowed[256])
{
    int count = 0;
    for (int v = 0; v < 256; v++) {
        allowed[v] = (uint8_t)utf8_byte_allowed(s, remaining, v);
        count += allowed[v];
    }
    return count;
}

#endif
