/* Writes one seekable zstd file: frames of a fixed decoded size, then the seek table. */
#include "corpus/seekable.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "corpus/fnv1a.h"

typedef struct {
    uint32_t csize, dsize;
} Entry;

struct SeekWriter {
    char *path;
    int fd;
    ZSTD_CCtx *cctx;
    size_t frame_size;
    uint8_t *frame;   /* decoded bytes of the frame being filled */
    size_t fill;
    uint8_t *out;     /* compressed frame */
    size_t out_cap;
    Entry *entries;
    size_t nentries, cap_entries;
    uint64_t decoded, file_bytes, fnv;
};

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* write(2) until done: a short write is not an error for regular files, just a reason to loop. */
static int write_all(SeekWriter *w, const void *buf, size_t n, BlErr *e)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return bl_fail_errno(e, w->path, "write");
        }
        p += k, n -= (size_t)k;
        w->file_bytes += (uint64_t)k;
    }
    return 0;
}

static int zfail(BlErr *e, const char *path, const char *what, size_t code)
{
    return bl_fail(e, path, "%s: %s", what, ZSTD_getErrorName(code));
}

int seekw_open(SeekWriter **out, const char *path, int level, size_t frame_size, BlErr *e)
{
    *out = NULL;
    if (frame_size == 0 || frame_size > SEEKABLE_MAX_FRAME_SIZE)
        return bl_fail(e, path, "frame size %zu out of range (1..%u)", frame_size, SEEKABLE_MAX_FRAME_SIZE);
    SeekWriter *w = bl_calloc(1, sizeof *w);
    w->path = strdup(path);
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        bl_fail_errno(e, path, "create");
        free(w->path);
        free(w);
        return -1;
    }
    w->cctx = ZSTD_createCCtx();
    BL_CHECK(w->cctx);
    size_t r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_minMatch, SEEKABLE_MIN_MATCH);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
    if (ZSTD_isError(r)) {
        zfail(e, path, "zstd parameters", r);
        seekw_discard(w);
        return -1;
    }
    w->frame_size = frame_size;
    w->frame = bl_malloc(frame_size);
    w->out_cap = ZSTD_compressBound(frame_size);
    w->out = bl_malloc(w->out_cap);
    w->fnv = FNV1A64_INIT;
    *out = w;
    return 0;
}

/* Compresses the filled part of the frame buffer as one independent frame. */
static int flush_frame(SeekWriter *w, BlErr *e)
{
    if (w->fill == 0) return 0;
    if (w->nentries >= SEEKABLE_MAX_FRAMES)
        return bl_fail(e, w->path, "more than %u frames in one file", SEEKABLE_MAX_FRAMES);
    size_t c = ZSTD_compress2(w->cctx, w->out, w->out_cap, w->frame, w->fill);
    if (ZSTD_isError(c)) return zfail(e, w->path, "compress", c);
    if (c > UINT32_MAX) return bl_fail(e, w->path, "compressed frame of %zu bytes does not fit the seek table", c);
    if (write_all(w, w->out, c, e)) return -1;
    if (w->nentries == w->cap_entries) {
        w->cap_entries = w->cap_entries ? 2 * w->cap_entries : 256;
        w->entries = bl_realloc(w->entries, w->cap_entries * sizeof *w->entries);
        BL_CHECK(w->entries);
    }
    w->entries[w->nentries++] = (Entry){(uint32_t)c, (uint32_t)w->fill};
    w->fill = 0;
    return 0;
}

int seekw_write(SeekWriter *w, const void *data, size_t n, BlErr *e)
{
    const uint8_t *p = data;
    w->fnv = fnv1a64_update(w->fnv, p, n);
    w->decoded += n;
    while (n) {
        size_t k = w->frame_size - w->fill;
        if (k > n) k = n;
        memcpy(w->frame + w->fill, p, k);
        w->fill += k, p += k, n -= k;
        if (w->fill == w->frame_size && flush_frame(w, e)) return -1;
    }
    return 0;
}

uint64_t seekw_decoded_bytes(const SeekWriter *w)
{
    return w->decoded;
}

static void free_writer(SeekWriter *w)
{
    ZSTD_freeCCtx(w->cctx);
    free(w->frame);
    free(w->out);
    free(w->entries);
    free(w->path);
    free(w);
}

/* The seek table is assembled in memory and written with one call: its size is
 * 8 + 8*frames + 9 bytes, at most ~1 GiB for the largest legal table, usually a few KB. */
static int write_seek_table(SeekWriter *w, BlErr *e)
{
    size_t body = w->nentries * 8 + SEEKABLE_FOOTER_SIZE;
    uint8_t *t = bl_malloc(8 + body), *p = t;
    put_le32(p, SEEKABLE_SKIPPABLE_MAGIC), p += 4;
    put_le32(p, (uint32_t)body), p += 4;
    for (size_t i = 0; i < w->nentries; i++) {
        put_le32(p, w->entries[i].csize), p += 4;
        put_le32(p, w->entries[i].dsize), p += 4;
    }
    put_le32(p, (uint32_t)w->nentries), p += 4;
    *p++ = 0; /* descriptor: no per-frame checksums in the table (each zstd frame has its own) */
    put_le32(p, SEEKABLE_FOOTER_MAGIC), p += 4;
    int rc = write_all(w, t, (size_t)(p - t), e);
    free(t);
    return rc;
}

int seekw_finish(SeekWriter *w, SeekStats *st, BlErr *e)
{
    int rc = flush_frame(w, e);
    if (!rc) rc = write_seek_table(w, e);
    if (!rc && fsync(w->fd)) rc = bl_fail_errno(e, w->path, "fsync");
    if (close(w->fd) && !rc) rc = bl_fail_errno(e, w->path, "close");
    if (!rc && st) *st = (SeekStats){w->decoded, w->file_bytes, w->nentries, w->fnv};
    free_writer(w);
    return rc;
}

void seekw_discard(SeekWriter *w)
{
    if (!w) return;
    close(w->fd);
    free_writer(w);
}
