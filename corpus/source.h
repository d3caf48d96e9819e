/* What a path given to the loader or the sequential reader is, and the sequential ways of reading
 * the kinds that have no seek table (plain .zst, plain bytes). */
#ifndef BYTELM_SOURCE_H
#define BYTELM_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "byte_lm/base/error.h"

typedef enum {
    SOURCE_CORPUS_DIR, /* a directory with corpus.json */
    SOURCE_SEEKABLE,   /* a file ending in the seekable footer */
    SOURCE_ZSTD,       /* a file starting with a zstd (or skippable) frame magic */
    SOURCE_PLAIN,      /* anything else: bytes as they are */
} SourceKind;

/* Decides by content (magic numbers), not by file name. */
int source_probe(const char *path, SourceKind *kind, BlErr *e);

/* A plain zstd stream read front to back in bounded memory. */
typedef struct {
    char *path;
    int fd;
    ZSTD_DStream *ds;
    uint8_t *inbuf;
    size_t in_cap;
    ZSTD_inBuffer in;
    uint64_t in_base;  /* file offset of inbuf[0] */
    int eof;           /* no more compressed input */
    size_t last;       /* last ZSTD_decompressStream result: 0 when a frame just ended */
} ZstdStream;

int zstream_open(ZstdStream *z, const char *path, BlErr *e);
/* Decodes up to cap bytes; returns the count, 0 at the end, -1 on corrupt or truncated input. */
long long zstream_read(ZstdStream *z, uint8_t *dst, size_t cap, BlErr *e);
void zstream_close(ZstdStream *z);

/* The whole decoded content of a plain zstd file, in one malloc'd buffer. */
int zstd_decode_file(const char *path, uint8_t **data, uint64_t *len, BlErr *e);
/* 1 when the bytes start with a zstd frame or a skippable frame (what source_probe looks for). */
int zstd_magic_at(const uint8_t *p, size_t n);
/* Decodes zstd data held in memory (read from a pipe, which cannot be read twice), at most max
 * decoded bytes; name is the source in messages. */
int zstd_decode_mem(const uint8_t *src, size_t n, size_t max, const char *name, uint8_t **data, size_t *len,
                    BlErr *e);
/* A plain file mapped read-only (*data is NULL for an empty file); release with unmap_file. */
int map_file(const char *path, uint8_t **data, uint64_t *len, BlErr *e);
void unmap_file(uint8_t *data, uint64_t len);

#endif
