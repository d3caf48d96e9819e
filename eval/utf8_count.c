#include "eval/utf8_count.h"

#include <string.h>
#include <utf8proc.h>

void utf8_count_init(Utf8Count *c)
{
    memset(c, 0, sizeof *c);
}

/* Length of the character at p, from utf8proc; an invalid byte is a character of length 1. */
static size_t char_len(const uint8_t *p, size_t n)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
    return r > 0 ? (size_t)r : 1;
}

/* Counts characters starting in p[0..n); with `final` unset it stops where fewer than 4 bytes
 * remain, because a character there may continue in the next piece, and returns the position. */
static size_t count_span(Utf8Count *c, const uint8_t *p, size_t n, int final)
{
    size_t i = 0;
    while (i < n && (final || n - i >= 4)) {
        size_t len = char_len(p + i, n - i);
        if (c->first_len == 0) c->first_len = (int)len;
        c->chars++;
        i += len;
    }
    return i;
}

void utf8_count_feed(Utf8Count *c, const uint8_t *p, size_t n)
{
    if (n == 0) return;
    /* First finish the carried tail with up to 3 new bytes: utf8proc reads at most 4. */
    while (c->ncarry > 0 && n > 0) {
        uint8_t tmp[7];
        size_t take = n < 4 ? n : 4;
        memcpy(tmp, c->carry, (size_t)c->ncarry);
        memcpy(tmp + c->ncarry, p, take);
        size_t have = (size_t)c->ncarry + take;
        if (have < 4) { /* still too short to decide: keep carrying */
            memcpy(c->carry + c->ncarry, p, take);
            c->ncarry += (int)take;
            return;
        }
        size_t len = char_len(tmp, have);
        if (c->first_len == 0) c->first_len = (int)len;
        c->chars++;
        if (len >= (size_t)c->ncarry) { /* the character used all of the carry */
            size_t used = len - (size_t)c->ncarry;
            p += used;
            n -= used;
            c->ncarry = 0;
        } else { /* a character (or invalid byte) inside the carry: count it, go on with the rest */
            memmove(c->carry, c->carry + len, (size_t)c->ncarry - len);
            c->ncarry -= (int)len;
        }
    }
    size_t done = count_span(c, p, n, 0);
    c->ncarry = (int)(n - done);
    memcpy(c->carry, p + done, n - done);
}

void utf8_count_finish(Utf8Count *c)
{
    uint8_t tmp[3];
    int k = c->ncarry;
    memcpy(tmp, c->carry, (size_t)k);
    c->ncarry = 0;
    count_span(c, tmp, (size_t)k, 1);
}

uint64_t utf8_count_all(const uint8_t *p, size_t n)
{
    Utf8Count c;
    utf8_count_init(&c);
    count_span(&c, p, n, 1);
    return c.chars;
}
