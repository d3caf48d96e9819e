#include "corpus/utf8_filter.h"

#include <string.h>
#include <utf8proc.h>

static const uint8_t REPLACEMENT[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */
#define NORMALIZE_BATCH ((size_t)1 << 20)

void utf8f_init(Utf8Filter *f, InvalidMode invalid, NormalizeMode normalize, const char *label, uint64_t offset,
                ByteSink sink, void *sink_ctx)
{
    memset(f, 0, sizeof *f);
    f->invalid = invalid;
    f->normalize = normalize;
    f->label = label;
    f->offset = offset;
    f->sink = sink;
    f->sink_ctx = sink_ctx;
}

void utf8f_free(Utf8Filter *f)
{
    free(f->buf);
    free(f->out);
    free(f->pending);
    memset(f, 0, sizeof *f);
}

static void grow(uint8_t **p, size_t *cap, size_t need)
{
    if (*cap >= need) return;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    *p = bl_realloc(*p, c);
    BL_CHECK(*p);
    *cap = c;
}

/* Bytes before the first non-ASCII byte; eight at a time, since text is mostly ASCII. */
static size_t ascii_run(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
    }
    while (i < n && p[i] < 0x80) i++;
    return i;
}

/* The largest cut <= n after which normalizing the two halves separately equals normalizing the
 * whole: just after a newline, or else just before any ASCII character (ASCII has combining class
 * 0 and takes part in no composition, so no reordering or composing reaches across it). 0 if none. */
static size_t safe_cut(const uint8_t *p, size_t n)
{
    for (size_t i = n; i > 0; i--)
        if (p[i - 1] == '\n') return i;
    for (size_t i = n - (n > 0); i > 0; i--)
        if (p[i] < 0x80) return i;
    return 0;
}

static int normalize_out(Utf8Filter *f, const uint8_t *p, size_t n, BlErr *e)
{
    if (n == 0) return 0;
    utf8proc_uint8_t *dst = NULL;
    int opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (f->normalize == NORMALIZE_NFKC ? UTF8PROC_COMPAT : 0);
    utf8proc_ssize_t m = utf8proc_map(p, (utf8proc_ssize_t)n, &dst, (utf8proc_option_t)opts);
    if (m < 0) return bl_fail(e, f->label, "normalization failed: %s", utf8proc_errmsg(m));
    int rc = f->sink(f->sink_ctx, dst, (size_t)m, e);
    free(dst);
    return rc;
}

/* Second stage: checked text goes to the sink, through normalization when it is on. */
static int emit(Utf8Filter *f, const uint8_t *p, size_t n, int final, BlErr *e)
{
    if (f->normalize == NORMALIZE_NONE) return n ? f->sink(f->sink_ctx, p, n, e) : 0;
    grow(&f->pending, &f->pending_cap, f->pending_len + n);
    if (n) memcpy(f->pending + f->pending_len, p, n); /* pending may still be NULL when n == 0 */
    f->pending_len += n;
    size_t cut = final ? f->pending_len : f->pending_len >= NORMALIZE_BATCH ? safe_cut(f->pending, f->pending_len) : 0;
    if (cut == 0) return 0;
    if (normalize_out(f, f->pending, cut, e)) return -1;
    if (f->pending_len > cut) memmove(f->pending, f->pending + cut, f->pending_len - cut);
    f->pending_len -= cut;
    return 0;
}

/* Checks buf[0..len): valid text passes on, an invalid byte fails or becomes U+FFFD. Unless final,
 * the last < 4 bytes that do not yet form a valid character are kept back for the next chunk. */
static int check(Utf8Filter *f, size_t len, int final, BlErr *e)
{
    const uint8_t *b = f->buf;
    size_t i = 0, span = 0; /* span: start of the valid bytes not yet copied (replace mode) */
    f->out_len = 0;
    while (i < len) {
        i += ascii_run(b + i, len - i);
        if (i == len) break;
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(b + i, (utf8proc_ssize_t)(len - i), &cp);
        if (r > 0) {
            i += (size_t)r;
            continue;
        }
        if (!final && len - i < 4) break; /* maybe the start of a character split by the chunk */
        if (f->invalid == INVALID_ERROR) return bl_fail_at(e, f->label, f->offset + i, "invalid UTF-8");
        grow(&f->out, &f->out_cap, f->out_len + (i - span) + 3);
        memcpy(f->out + f->out_len, b + span, i - span);
        memcpy(f->out + f->out_len + (i - span), REPLACEMENT, 3);
        f->out_len += i - span + 3;
        f->replaced++;
        span = ++i;
    }
    size_t done = i;
    int rc;
    if (f->out_len) {
        grow(&f->out, &f->out_cap, f->out_len + (done - span));
        memcpy(f->out + f->out_len, b + span, done - span);
        rc = emit(f, f->out, f->out_len + (done - span), final, e);
    } else {
        rc = emit(f, b, done, final, e);
    }
    if (rc) return -1;
    f->ncarry = len - done;
    if (f->ncarry) memmove(f->buf, f->buf + done, f->ncarry); /* buf is NULL before any input */
    f->offset += done;
    return 0;
}

int utf8f_push(Utf8Filter *f, const uint8_t *p, size_t n, BlErr *e)
{
    if (f->invalid == INVALID_KEEP) { /* bytes as they are: no check, and no normalization */
        f->offset += n;
        return n ? f->sink(f->sink_ctx, p, n, e) : 0;
    }
    grow(&f->buf, &f->buf_cap, f->ncarry + n);
    memcpy(f->buf + f->ncarry, p, n);
    return check(f, f->ncarry + n, 0, e);
}

int utf8f_finish(Utf8Filter *f, BlErr *e)
{
    if (f->invalid == INVALID_KEEP) return 0;
    return check(f, f->ncarry, 1, e);
}
