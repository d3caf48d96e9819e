/* Reads the seek table of a seekable zstd file and decodes single frames. */
#include "corpus/seekable.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/base/file_read.h"

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* pread until n bytes are in; returns bytes read (< n only at end of file) or -1. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

void framedec_init(FrameDecoder *d)
{
    memset(d, 0, sizeof *d);
    d->dctx = ZSTD_createDCtx();
    BL_CHECK(d->dctx);
}

void framedec_free(FrameDecoder *d)
{
    ZSTD_freeDCtx(d->dctx);
    free(d->src);
    memset(d, 0, sizeof *d);
}

int seekable_has_footer(int fd, uint64_t size)
{
    uint8_t f[4];
    if (size < 8 + SEEKABLE_FOOTER_SIZE) return 0;
    if (pread_full(fd, f, 4, size - 4) != 4) return 0;
    return get_le32(f) == SEEKABLE_FOOTER_MAGIC;
}

/* Walks the entries, checking that the frames tile the file exactly up to the seek table:
 * a truncated or spliced file fails here, before any frame is trusted. */
static int read_entries(SeekReader *r, uint32_t n, unsigned esz, uint64_t toff, BlErr *e)
{
    size_t bytes = (size_t)n * esz;
    uint8_t *t = bl_malloc(bytes);
    if (pread_full(r->fd, t, bytes, toff + 8) != (ssize_t)bytes) {
        free(t);
        return bl_fail_at(e, r->path, toff + 8, "cannot read the seek table");
    }
    r->frames = bl_calloc(n ? n : 1, sizeof *r->frames);
    uint64_t coff = 0, doff = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        uint64_t at = toff + 8 + (uint64_t)i * esz;
        uint32_t cs = get_le32(t + (size_t)i * esz), ds = get_le32(t + (size_t)i * esz + 4);
        if (ds > SEEKABLE_MAX_FRAME_SIZE)
            rc = bl_fail_at(e, r->path, at, "corrupt seek table: frame %u claims %u decoded bytes", i, ds);
        else if (cs == 0 && ds != 0)
            rc = bl_fail_at(e, r->path, at, "corrupt seek table: frame %u is empty but claims %u bytes", i, ds);
        else if (coff + cs > toff)
            rc = bl_fail_at(e, r->path, at, "corrupt seek table: frame %u runs past the seek table", i);
        else if (ds) r->frames[r->nframes++] = (SeekFrame){coff, doff, cs, ds};
        coff += cs;
        doff += ds;
    }
    free(t);
    if (!rc && coff != toff)
        rc = bl_fail_at(e, r->path, coff, "corrupt seek table: frames end at %llu but the table starts at %llu",
                        (unsigned long long)coff, (unsigned long long)toff);
    r->decoded_size = doff;
    return rc;
}

int seekr_open(SeekReader *r, const char *path, BlErr *e)
{
    memset(r, 0, sizeof *r);
    r->fd = file_open_regular(path, NULL, e);
    if (r->fd < 0) return -1;
    r->path = strdup(path);
    struct stat st;
    if (fstat(r->fd, &st)) {
        bl_fail_errno(e, path, "stat");
        goto fail;
    }
    r->file_size = (uint64_t)st.st_size;
    uint64_t size = r->file_size;
    uint8_t foot[SEEKABLE_FOOTER_SIZE];
    if (size < 8 + SEEKABLE_FOOTER_SIZE || pread_full(r->fd, foot, sizeof foot, size - sizeof foot) != sizeof foot) {
        bl_fail_at(e, path, size, "not a seekable zstd file: too short for a seek table (truncated?)");
        goto fail;
    }
    if (get_le32(foot + 5) != SEEKABLE_FOOTER_MAGIC) {
        bl_fail_at(e, path, size - 4, "not a seekable zstd file: no seek table footer (truncated?)");
        goto fail;
    }
    uint32_t n = get_le32(foot);
    uint8_t desc = foot[4];
    if (desc & 0x7c) {
        bl_fail_at(e, path, size - 5, "unsupported seek table descriptor 0x%02x", desc);
        goto fail;
    }
    unsigned esz = (desc & 0x80) ? 12 : 8;
    if (n > SEEKABLE_MAX_FRAMES) {
        bl_fail_at(e, path, size - 9, "corrupt seek table: %u frames", n);
        goto fail;
    }
    uint64_t tsize = 8 + (uint64_t)n * esz + SEEKABLE_FOOTER_SIZE;
    if (tsize > size) {
        bl_fail_at(e, path, size - 9, "corrupt seek table: %u frames do not fit in the file", n);
        goto fail;
    }
    uint64_t toff = size - tsize;
    uint8_t head[8];
    if (pread_full(r->fd, head, 8, toff) != 8 || get_le32(head) != SEEKABLE_SKIPPABLE_MAGIC ||
        get_le32(head + 4) != tsize - 8) {
        bl_fail_at(e, path, toff, "corrupt seek table: no skippable frame header where the table should start");
        goto fail;
    }
    if (read_entries(r, n, esz, toff, e)) goto fail;
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, r->fd, 0);
    r->map = m == MAP_FAILED ? NULL : m;
    return 0;
fail:
    seekr_close(r);
    return -1;
}

int seekr_decode(const SeekReader *r, uint32_t i, uint8_t *dst, FrameDecoder *d, BlErr *e)
{
    const SeekFrame *f = &r->frames[i];
    const uint8_t *src = r->map ? r->map + f->coff : NULL;
    if (!src) {
        if (d->src_cap < f->csize) {
            free(d->src);
            d->src_cap = f->csize;
            d->src = bl_malloc(d->src_cap);
        }
        ssize_t got = pread_full(r->fd, d->src, f->csize, f->coff);
        if (got < 0) return bl_fail_errno(e, r->path, "read");
        if ((size_t)got != f->csize) return bl_fail_at(e, r->path, f->coff + (uint64_t)got, "truncated frame %u", i);
        src = d->src;
    }
    size_t n = ZSTD_decompressDCtx(d->dctx, dst, f->dsize, src, f->csize);
    if (ZSTD_isError(n))
        return bl_fail_at(e, r->path, f->coff, "corrupt zstd frame %u: %s", i, ZSTD_getErrorName(n));
    if (n != f->dsize)
        return bl_fail_at(e, r->path, f->coff, "corrupt zstd frame %u: %zu bytes decoded, seek table says %u", i, n,
                          f->dsize);
    return 0;
}

void seekr_close(SeekReader *r)
{
    if (r->map) munmap((void *)r->map, (size_t)r->file_size);
    if (r->fd >= 0) close(r->fd);
    free(r->path);
    free(r->frames);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}
