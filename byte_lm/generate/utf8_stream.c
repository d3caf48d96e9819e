/* UTF-8 state machine, next-byte sets and the replacing output stream (see utf8_stream.h). */
#include <string.h>

#include "byte_lm/generate/utf8_stream.h"

static const uint8_t REPLACEMENT[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */

int utf8_mode_parse(const char *s, Utf8Mode *mode)
{
    if (!strcmp(s, "safe")) *mode = UTF8_SAFE;
    else if (!strcmp(s, "strict")) *mode = UTF8_STRICT;
    else if (!strcmp(s, "off")) *mode = UTF8_OFF;
    else return -1;
    return 0;
}

const char *utf8_mode_name(Utf8Mode mode)
{
    return mode == UTF8_STRICT ? "strict" : mode == UTF8_OFF ? "off" : "safe";
}

int utf8_lead_length(uint8_t b)
{
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0; /* continuation bytes, and C0/C1 which only start overlongs */
    if (b < 0xE0) return 2;
    if (b < 0xF0) return 3;
    if (b < 0xF5) return 4;
    return 0; /* F5..FF would encode above U+10FFFF */
}

/* The first continuation byte after a lead carries the range limits (RFC 3629 table):
 * E0 excludes 3-byte overlongs, ED the surrogates D800..DFFF, F0 4-byte overlongs and F4 values
 * above U+10FFFF. Later continuation bytes are always 80..BF. */
static void first_continuation_range(uint8_t lead, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (lead == 0xE0) *lo = 0xA0;
    else if (lead == 0xED) *hi = 0x9F;
    else if (lead == 0xF0) *lo = 0x90;
    else if (lead == 0xF4) *hi = 0x8F;
}

int utf8_state_push(Utf8State *s, uint8_t b)
{
    if (s->need == 0) {
        int n = utf8_lead_length(b);
        if (n == 0) return UTF8_REJECT;
        if (n == 1) return UTF8_DONE;
        s->len = 1;
        s->need = (uint8_t)(n - 1);
        first_continuation_range(b, &s->lo, &s->hi);
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

int utf8_allowed(const Utf8State *s, long remaining, uint8_t allowed[256])
{
    int count = 0;
    for (int v = 0; v < 256; v++) {
        int ok;
        if (s->need) {
            ok = v >= s->lo && v <= s->hi;
        } else {
            int n = utf8_lead_length((uint8_t)v);
            ok = n > 0 && (remaining <= 0 || n <= remaining);
        }
        allowed[v] = (uint8_t)ok;
        count += ok;
    }
    return count;
}

void utf8_stream_init(Utf8Stream *s, Utf8Mode mode, Utf8Sink sink, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->sink = sink;
    s->ctx = ctx;
}

static void replace(Utf8Stream *s)
{
    s->replacements++;
    s->sink(s->ctx, REPLACEMENT, sizeof REPLACEMENT);
}

void utf8_stream_put(Utf8Stream *s, uint8_t b)
{
    if (s->mode == UTF8_OFF) {
        s->sink(s->ctx, &b, 1);
        return;
    }
    int r = utf8_state_push(&s->st, b);
    if (r == UTF8_REJECT && s->npend) {
        /* the pending bytes are a maximal subpart: one U+FFFD, then b starts afresh */
        replace(s);
        s->npend = 0;
        memset(&s->st, 0, sizeof s->st);
        r = utf8_state_push(&s->st, b);
    }
    if (r == UTF8_REJECT) {
        replace(s);
    } else if (r == UTF8_MORE) {
        s->pend[s->npend++] = b;
    } else {
        s->pend[s->npend++] = b;
        s->sink(s->ctx, s->pend, (size_t)s->npend);
        s->npend = 0;
    }
}

void utf8_stream_write(Utf8Stream *s, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) utf8_stream_put(s, bytes[i]);
}

void utf8_stream_finish(Utf8Stream *s)
{
    if (s->mode != UTF8_OFF && s->npend) replace(s);
    memset(&s->st, 0, sizeof s->st);
    s->npend = 0;
}
