/* The sequential reader for evaluation: every byte of a source in order, one frame (or one read
 * buffer) in memory at a time. Reading a corpus shard to its end also checks its fnv1a64 against
 * corpus.json, so an evaluation never runs silently on damaged data. */
#include "corpus/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/base/file_read.h"
#include "corpus/fnv1a.h"
#include "corpus/shard_set.h"
#include "corpus/source.h"

struct SeqReader {
    SourceKind kind;
    char *path;
    uint64_t total, done;
    /* shard sets */
    ShardSet set;
    FrameDecoder dec;
    uint8_t *frame;
    uint64_t next_frame;
    uint32_t fpos, flen;
    uint64_t fnv;
    /* plain .zst */
    ZstdStream z;
    /* plain files */
    int fd;
};

/* Decoded size of a plain zstd file: found by decoding it once, which also rejects a corrupt or
 * truncated file at open rather than in the middle of an evaluation. */
static int count_zstd(const char *path, uint64_t *total, BlErr *e)
{
    ZstdStream z;
    if (zstream_open(&z, path, e)) return -1;
    size_t cap = (size_t)1 << 20;
    uint8_t *buf = bl_malloc(cap);
    uint64_t n = 0;
    long long k;
    while ((k = zstream_read(&z, buf, cap, e)) > 0) n += (uint64_t)k;
    free(buf);
    zstream_close(&z);
    *total = n;
    return k < 0 ? -1 : 0;
}

int seqreader_open(SeqReader **out, const char *path, const char *split, BlErr *e)
{
    *out = NULL;
    SourceKind kind;
    if (source_probe(path, &kind, e)) return -1;
    SeqReader *r = bl_calloc(1, sizeof *r);
    r->kind = kind;
    r->fd = -1;
    r->path = strdup(path);
    int rc = 0;
    if (kind == SOURCE_CORPUS_DIR || kind == SOURCE_SEEKABLE) {
        rc = kind == SOURCE_CORPUS_DIR ? shardset_open_dir(&r->set, path, split, e) : shardset_open_file(&r->set, path, e);
        if (!rc) {
            framedec_init(&r->dec);
            r->frame = bl_malloc(r->set.max_frame ? r->set.max_frame : 1);
            r->total = r->set.total;
            r->fnv = FNV1A64_INIT;
        } else r->kind = SOURCE_PLAIN; /* nothing of the set to close */
    } else if (kind == SOURCE_ZSTD) {
        rc = count_zstd(path, &r->total, e);
        if (!rc) rc = zstream_open(&r->z, path, e);
        if (rc) r->kind = SOURCE_PLAIN;
    } else {
        struct stat st;
        r->fd = file_open_regular(path, &st, e);
        if (r->fd < 0) rc = -1;
        else r->total = (uint64_t)st.st_size;
    }
    if (rc) {
        seqreader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* Decodes the next frame of the set; at the last frame of a shard, checks the shard's checksum. */
static int next_frame(SeqReader *r, BlErr *e)
{
    const ShardSet *s = &r->set;
    uint64_t f = r->next_frame++;
    if (shardset_decode(s, f, r->frame, &r->dec, e)) return -1;
    const SetFrame *fr = &s->frames[f];
    r->fpos = 0;
    r->flen = fr->dsize;
    r->fnv = fnv1a64_update(r->fnv, r->frame, fr->dsize);
    int last_of_shard = f + 1 == s->nframes || s->frames[f + 1].shard != fr->shard;
    if (last_of_shard) {
        if (s->fnv1a64 && r->fnv != s->fnv1a64[fr->shard])
            return bl_fail_at(e, s->shards[fr->shard].path, 0,
                              "checksum mismatch: fnv1a64 of the decoded bytes is %016" PRIx64 ", corpus.json says %016" PRIx64,
                              r->fnv, s->fnv1a64[fr->shard]);
        r->fnv = FNV1A64_INIT;
    }
    return 0;
}

long long seqreader_read(SeqReader *r, uint8_t *buf, size_t cap, BlErr *e)
{
    size_t got = 0;
    if (cap > r->total - r->done) cap = (size_t)(r->total - r->done); /* a file that grew since open */
    if (r->kind == SOURCE_PLAIN) {
        while (got < cap) {
            ssize_t k = read(r->fd, buf + got, cap - got);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) return bl_fail_errno(e, r->path, "read");
            if (k == 0) break;
            got += (size_t)k;
        }
    } else if (r->kind == SOURCE_ZSTD) {
        long long k = zstream_read(&r->z, buf, cap, e);
        if (k < 0) return -1;
        got = (size_t)k;
    } else {
        while (got < cap) {
            if (r->fpos == r->flen) {
                if (r->next_frame == r->set.nframes) break;
                if (next_frame(r, e)) return -1;
            }
            size_t take = r->flen - r->fpos < cap - got ? r->flen - r->fpos : cap - got;
            memcpy(buf + got, r->frame + r->fpos, take);
            r->fpos += (uint32_t)take;
            got += take;
        }
    }
    r->done += got;
    if (got == 0 && cap && r->done != r->total)
        return bl_fail_at(e, r->path, r->done, "changed while reading: ended after %" PRIu64 " of %" PRIu64 " bytes",
                          r->done, r->total);
    return (long long)got;
}

uint64_t seqreader_total_bytes(const SeqReader *r)
{
    return r->total;
}

void seqreader_close(SeqReader *r)
{
    if (!r) return;
    if (r->kind == SOURCE_CORPUS_DIR || r->kind == SOURCE_SEEKABLE) {
        shardset_close(&r->set);
        framedec_free(&r->dec);
        free(r->frame);
    } else if (r->kind == SOURCE_ZSTD) {
        zstream_close(&r->z);
    }
    if (r->fd >= 0) close(r->fd);
    free(r->path);
    free(r);
}
