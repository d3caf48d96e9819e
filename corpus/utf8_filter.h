/* The text filter of `bytelm prepare`: checks UTF-8 with utf8proc, replaces or keeps invalid
 * bytes, and optionally normalizes (NFC/NFKC), streaming a document through in chunks.
 *
 * Chunk boundaries are invisible in the output: an incomplete sequence at the end of a chunk waits
 * for the next one, and normalization only cuts the text after a newline or before an ASCII
 * character, where no canonical reordering or composition can reach across. */
#ifndef BYTELM_UTF8_FILTER_H
#define BYTELM_UTF8_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/error.h"

typedef enum { INVALID_ERROR, INVALID_REPLACE, INVALID_KEEP } InvalidMode;
typedef enum { NORMALIZE_NONE, NORMALIZE_NFC, NORMALIZE_NFKC } NormalizeMode;

/* Where filtered bytes go (the shard writer). Returns 0 or -1 with e set. */
typedef int (*ByteSink)(void *ctx, const uint8_t *p, size_t n, BlErr *e);

typedef struct {
    InvalidMode invalid;
    NormalizeMode normalize;
    const char *label;  /* file name for errors */
    ByteSink sink;
    void *sink_ctx;
    uint64_t offset;    /* input offset of the first byte not yet checked (carry[0]) */
    uint8_t *buf;       /* carry + the chunk being checked */
    size_t ncarry, buf_cap;
    uint8_t *out;       /* replace mode: the checked chunk with U+FFFD in place of bad bytes */
    size_t out_len, out_cap;
    uint8_t *pending;   /* normalize: checked text waiting for a safe place to cut */
    size_t pending_len, pending_cap;
    uint64_t replaced;  /* bytes replaced by U+FFFD */
} Utf8Filter;

/* offset: input offset of the first byte that will be pushed (for error messages). */
void utf8f_init(Utf8Filter *f, InvalidMode invalid, NormalizeMode normalize, const char *label, uint64_t offset,
                ByteSink sink, void *sink_ctx);
int utf8f_push(Utf8Filter *f, const uint8_t *p, size_t n, BlErr *e);
/* End of the document: a sequence still incomplete is invalid; pending text is normalized. */
int utf8f_finish(Utf8Filter *f, BlErr *e);
void utf8f_free(Utf8Filter *f);

#endif
