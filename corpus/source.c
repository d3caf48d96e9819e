#include "corpus/source.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/base/file_read.h"
#include "corpus/manifest.h"
#include "corpus/seekable.h"

int source_probe(const char *path, SourceKind *kind, BlErr *e)
{
    struct stat st;
    if (stat(path, &st)) return bl_fail_errno(e, path, "stat");
    if (S_ISDIR(st.st_mode)) {
        char m[4096];
        snprintf(m, sizeof m, "%s/%s", path, CORPUS_MANIFEST);
        if (access(m, F_OK)) return bl_fail(e, path, "a directory without %s (not a prepared corpus)", CORPUS_MANIFEST);
        *kind = SOURCE_CORPUS_DIR;
        return 0;
    }
    int fd = file_open_regular(path, &st, e);
    if (fd < 0) return -1;
    uint8_t head[4] = {0};
    ssize_t got = pread(fd, head, 4, 0);
    int zstd_magic = got == 4 && zstd_magic_at(head, 4);
    if (zstd_magic && seekable_has_footer(fd, (uint64_t)st.st_size)) *kind = SOURCE_SEEKABLE;
    else if (zstd_magic) *kind = SOURCE_ZSTD;
    else *kind = SOURCE_PLAIN;
    close(fd);
    return 0;
}

int zstd_magic_at(const uint8_t *p, size_t n)
{
    if (n < 4) return 0;
    uint32_t magic = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return magic == ZSTD_MAGICNUMBER || (magic & 0xFFFFFFF0u) == ZSTD_MAGIC_SKIPPABLE_START;
}

int zstd_decode_mem(const uint8_t *src, size_t n, size_t max, const char *name, uint8_t **data, size_t *len,
                    BlErr *e)
{
    *data = NULL;
    *len = 0;
    ZSTD_DStream *ds = ZSTD_createDStream();
    BL_CHECK(ds);
    size_t cap = (size_t)1 << 20, last = 1;
    uint8_t *buf = bl_malloc(cap);
    ZSTD_inBuffer in = {src, n, 0};
    ZSTD_outBuffer out = {buf, cap, 0};
    int rc = 0;
    while (!rc) {
        if (out.pos == out.size) {
            if (cap > max) {
                rc = bl_fail_at(e, name, in.pos, "decodes to more than %zu bytes: too large", max);
                break;
            }
            cap *= 2;
            buf = realloc(buf, cap);
            BL_CHECK(buf);
            out.dst = buf, out.size = cap;
        }
        size_t in0 = in.pos, out0 = out.pos;
        size_t r = ZSTD_decompressStream(ds, &out, &in);
        if (ZSTD_isError(r)) rc = bl_fail_at(e, name, in.pos, "corrupt zstd data: %s", ZSTD_getErrorName(r));
        else if (in.pos == in0 && out.pos == out0) break; /* input used up and nothing left to flush */
        else last = r;
    }
    if (!rc && last != 0) rc = bl_fail_at(e, name, n, "truncated zstd data: the last frame is incomplete");
    if (!rc && out.pos > max) rc = bl_fail_at(e, name, n, "decodes to more than %zu bytes: too large", max);
    ZSTD_freeDStream(ds);
    if (rc) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = out.pos;
    return 0;
}

int zstream_open(ZstdStream *z, const char *path, BlErr *e)
{
    memset(z, 0, sizeof *z);
    z->fd = file_open_regular(path, NULL, e);
    if (z->fd < 0) return -1;
    z->path = strdup(path);
    z->ds = ZSTD_createDStream();
    BL_CHECK(z->ds);
    z->in_cap = ZSTD_DStreamInSize();
    z->inbuf = bl_malloc(z->in_cap);
    z->in = (ZSTD_inBuffer){z->inbuf, 0, 0};
    return 0;
}

/* Refills the input buffer; sets eof when the file is exhausted. */
static int refill(ZstdStream *z, BlErr *e)
{
    z->in_base += z->in.size;
    for (;;) {
        ssize_t k = read(z->fd, z->inbuf, z->in_cap);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return bl_fail_errno(e, z->path, "read");
        z->in = (ZSTD_inBuffer){z->inbuf, (size_t)k, 0};
        if (k == 0) z->eof = 1;
        return 0;
    }
}

long long zstream_read(ZstdStream *z, uint8_t *dst, size_t cap, BlErr *e)
{
    ZSTD_outBuffer out = {dst, cap, 0};
    /* The decoder is called even with no input left: it may still hold decoded bytes that did
     * not fit the previous output buffer. It is done when a call at end of file makes no progress. */
    while (out.pos < cap) {
        if (z->in.pos == z->in.size && !z->eof && refill(z, e)) return -1;
        size_t in0 = z->in.pos, out0 = out.pos;
        size_t r = ZSTD_decompressStream(z->ds, &out, &z->in);
        if (ZSTD_isError(r))
            return bl_fail_at(e, z->path, z->in_base + z->in.pos, "corrupt zstd data: %s", ZSTD_getErrorName(r));
        if (z->in.pos == in0 && out.pos == out0) {
            if (z->eof) break; /* r of a call that did nothing is only a hint for a next frame */
            continue;
        }
        z->last = r;
    }
    if (out.pos == 0 && cap && z->eof && z->last != 0)
        return bl_fail_at(e, z->path, z->in_base + z->in.pos, "truncated zstd data: the last frame is incomplete");
    return (long long)out.pos;
}

void zstream_close(ZstdStream *z)
{
    if (z->fd >= 0) close(z->fd);
    ZSTD_freeDStream(z->ds);
    free(z->inbuf);
    free(z->path);
    memset(z, 0, sizeof *z);
    z->fd = -1;
}

/* The most a plain .zst may decode to in memory: half the RAM, or half the address-space
 * limit when one is set. A small file can decode to terabytes (a decompression bomb); past this
 * the file is refused, not the machine exhausted. */
static uint64_t decode_limit(void)
{
    uint64_t lim = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) / 2;
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur / 2 < lim)
        lim = as.rlim_cur / 2;
    return lim;
}

int zstd_decode_file(const char *path, uint8_t **data, uint64_t *len, BlErr *e)
{
    ZstdStream z;
    *data = NULL;
    *len = 0;
    if (zstream_open(&z, path, e)) return -1;
    size_t cap = (size_t)1 << 20, n = 0;
    uint64_t limit = decode_limit();
    uint8_t *buf = bl_malloc(cap);
    for (;;) {
        if (cap - n < ((size_t)1 << 20)) {
            uint8_t *grown = (uint64_t)cap * 2 <= limit ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                free(buf);
                bl_fail_at(e, path, z.in_base + z.in.pos,
                           "decodes to more than %zu bytes, more than memory allows (a .zst is decoded whole into "
                           "memory; bytelm prepare streams it into a corpus)",
                           n);
                zstream_close(&z);
                return -1;
            }
            buf = grown;
            cap *= 2;
        }
        long long k = zstream_read(&z, buf + n, cap - n, e);
        if (k < 0) {
            free(buf);
            zstream_close(&z);
            return -1;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    zstream_close(&z);
    *data = buf;
    *len = n;
    return 0;
}

int map_file(const char *path, uint8_t **data, uint64_t *len, BlErr *e)
{
    *data = NULL;
    *len = 0;
    struct stat st;
    int fd = file_open_regular(path, &st, e);
    if (fd < 0) return -1;
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return bl_fail_errno(e, path, "mmap");
        }
        *data = p;
        *len = (uint64_t)st.st_size;
    }
    close(fd);
    return 0;
}

void unmap_file(uint8_t *data, uint64_t len)
{
    if (data) munmap(data, (size_t)len);
}
