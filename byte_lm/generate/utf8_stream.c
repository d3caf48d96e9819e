/* The replacing output stream (see utf8_stream.h); the UTF-8 rules are in base/utf8_rules.h. */
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
