/* The zstd seekable format (facebook/zstd contrib/seekable_format): a file of independent zstd
 * frames followed by a seek table in a skippable frame,
 *
 *   [frame 0][frame 1]...[0x184D2A5E][table size][entries: csize u32, dsize u32]...[footer]
 *   footer = [number of frames u32][descriptor u8][0x8F92EAB1], all little-endian,
 *
 * so any zstd decoder reads the whole file and bytelm can decode frame i alone. Written and read
 * here with libzstd's ordinary one-frame API. Each frame also carries zstd's own content checksum,
 * so a corrupt frame fails to decode instead of yielding wrong bytes. */
#ifndef BYTELM_SEEKABLE_H
#define BYTELM_SEEKABLE_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "byte_lm/base/error.h"

#define SEEKABLE_SKIPPABLE_MAGIC 0x184D2A5Eu
#define SEEKABLE_FOOTER_MAGIC 0x8F92EAB1u
#define SEEKABLE_FOOTER_SIZE 9u
#define SEEKABLE_MAX_FRAMES 0x8000000u
#define SEEKABLE_MAX_FRAME_SIZE 0x40000000u /* decoded bytes in one frame (1 GiB) */
/* Compression parameter applied at every level: on English text a minimum match of 7 bytes costs
 * about 2% in size and makes decoding about 30% faster, and decoding is what training waits on. */
#define SEEKABLE_MIN_MATCH 7

/* ---- writing ---- */
typedef struct SeekWriter SeekWriter;

typedef struct {
    uint64_t decoded_bytes;
    uint64_t file_bytes; /* size of the whole file, seek table included */
    uint64_t frames;
    uint64_t fnv1a64;    /* of the decoded bytes */
} SeekStats;

/* Creates path (which must not exist) for frames of frame_size decoded bytes at zstd level. */
int seekw_open(SeekWriter **out, const char *path, int level, size_t frame_size, BlErr *e);
int seekw_write(SeekWriter *w, const void *data, size_t n, BlErr *e);
uint64_t seekw_decoded_bytes(const SeekWriter *w);
/* Writes the last frame and the seek table, fsyncs and closes. Frees w, also on failure. */
int seekw_finish(SeekWriter *w, SeekStats *st, BlErr *e);
/* Closes and frees without finishing (on an error path); the caller removes the file. */
void seekw_discard(SeekWriter *w);

/* ---- reading ---- */
typedef struct {
    uint64_t coff;  /* offset of the compressed frame in the file */
    uint64_t doff;  /* offset of its first decoded byte in the file's decoded stream */
    uint32_t csize;
    uint32_t dsize; /* never 0: frames without content are dropped at open */
} SeekFrame;

typedef struct {
    char *path;
    int fd;
    /* The file mapped read-only (NULL if mapping failed: frames are then read with pread). Decoding
     * straight from the page cache saves a copy of every compressed frame, ~5% of decode time.
     * The table was checked against the file size at open; a file truncated while open would
     * fault, but shards are written once and never changed in place. */
    const uint8_t *map;
    uint64_t file_size;
    uint64_t decoded_size;
    uint32_t nframes;
    SeekFrame *frames;
} SeekReader;

/* Scratch for decoding one frame: a decompression context and the compressed bytes. One per
 * thread; frames of one SeekReader may be decoded concurrently with different decoders. */
typedef struct {
    ZSTD_DCtx *dctx;
    uint8_t *src;
    size_t src_cap;
} FrameDecoder;

void framedec_init(FrameDecoder *d);
void framedec_free(FrameDecoder *d);

/* 1 if the open file fd of the given size ends with the seekable footer magic, else 0. */
int seekable_has_footer(int fd, uint64_t size);
/* Opens path and checks its seek table against the file size (not the frames themselves). */
int seekr_open(SeekReader *r, const char *path, BlErr *e);
/* Decodes frame i into dst (room for frames[i].dsize bytes). Thread-safe for distinct decoders. */
int seekr_decode(const SeekReader *r, uint32_t i, uint8_t *dst, FrameDecoder *d, BlErr *e);
void seekr_close(SeekReader *r);

#endif
