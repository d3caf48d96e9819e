/* Fuzz target: reading corpus shards. The input is a file's bytes, given to the readers through a
 * memory file, in two ways:
 *   1. seekr_open + seekr_decode of every frame (corpus/seekable_reader.c): a seek table that
 *      does not tile the file must be refused at open; a frame must decode to exactly the size
 *      the table gives or fail; and when every frame decodes, their concatenation must equal what
 *      libzstd's streaming decoder makes of the whole file (the oracle: any zstd -d reads shards).
 *   2. seqreader_open + seqreader_read to the end (corpus/seqreader.c, source.c, shard_set.c),
 *      which decides by content whether the file is a seekable shard, plain zstd or plain bytes:
 *      it must deliver exactly the bytes it announced, the same as way 1 for a shard, the same as
 *      libzstd for plain zstd, the file itself for plain bytes; and fail where way 1 failed.
 * Failures must be one line naming the file. Frames claiming more than FUZZ_SHARD_MAX_FRAME
 * decoded bytes are not decoded (that only costs memory, and the table check still runs). */
#include <zstd.h>

#include "corpus/loader.h"
#include "corpus/seekable.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define FUZZ_SHARD_MAX_FRAME ((uint32_t)1 << 20)
#define FUZZ_SHARD_MAX_TOTAL ((uint64_t)16 << 20)

enum { FZ_REFUSED, FZ_FRAME_FAILED, FZ_SKIPPED, FZ_ALL_DECODED }; /* outcomes of way 1 */

static uint32_t fuzz_shard_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The oracle: libzstd's streaming decoder over the whole file in memory. Returns 0 when the file
 * is complete, valid zstd (skippable frames allowed) of at most FUZZ_SHARD_MAX_TOTAL decoded
 * bytes, appending them to out; -1 otherwise. */
static int fuzz_shard_zstd(const uint8_t *data, size_t size, FuzzBuf *out)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    ZSTD_inBuffer in = {data, size, 0};
    uint8_t buf[1 << 16];
    size_t r = 0;
    int rc = 0;
    while (in.pos < in.size && !rc) {
        ZSTD_outBuffer o = {buf, sizeof buf, 0};
        r = ZSTD_decompressStream(d, &o, &in);
        if (ZSTD_isError(r) || out->n + o.pos > FUZZ_SHARD_MAX_TOTAL) rc = -1;
        else fuzz_buf_add(out, buf, o.pos);
    }
    /* input used up: flush what the decoder still holds; r != 0 means a frame is incomplete */
    while (!rc && r != 0) {
        ZSTD_outBuffer o = {buf, sizeof buf, 0};
        r = ZSTD_decompressStream(d, &o, &in);
        if (ZSTD_isError(r) || o.pos == 0 || out->n + o.pos > FUZZ_SHARD_MAX_TOTAL) rc = -1;
        else fuzz_buf_add(out, buf, o.pos);
    }
    ZSTD_freeDCtx(d);
    return rc;
}

/* 0 when the oracle decodes the file to exactly got's bytes. */
static int fuzz_shard_same_as_zstd(const uint8_t *data, size_t size, const FuzzBuf *got)
{
    FuzzBuf whole = {0};
    int same = fuzz_shard_zstd(data, size, &whole) == 0 && whole.n == got->n && (!got->n || !memcmp(whole.p, got->p, got->n));
    free(whole.p);
    return same ? 0 : -1;
}

/* 1 if the oracle accepts the file. */
static int fuzz_shard_zstd_ok(const uint8_t *data, size_t size)
{
    FuzzBuf whole = {0};
    int ok = fuzz_shard_zstd(data, size, &whole) == 0;
    free(whole.p);
    return ok;
}

/* Way 1: the outcome, with the decoded frames in order in cat when all decoded. */
static int fuzz_shard_frames(const char *path, const uint8_t *data, size_t size, FuzzBuf *cat)
{
    SeekReader r;
    BlErr e = {{0}};
    if (seekr_open(&r, path, &e)) {
        FUZZ_REQUIRE(fuzz_msg_ok(e.msg, path), "bad error message \"%s\"", e.msg);
        return FZ_REFUSED;
    }
    FUZZ_REQUIRE(size >= 17 && fuzz_shard_le32(data + size - 4) == SEEKABLE_FOOTER_MAGIC, "no footer accepted");
    uint32_t entries = fuzz_shard_le32(data + size - 9);
    uint64_t toff = size - 9 - 8 - (uint64_t)entries * ((data[size - 5] & 0x80) ? 12 : 8);
    uint64_t doff = 0, kept_csize = 0, prev_end = 0;
    for (uint32_t i = 0; i < r.nframes; i++) {
        const SeekFrame *f = &r.frames[i];
        FUZZ_REQUIRE(f->dsize > 0 && f->doff == doff, "frame %u: dsize %u doff %llu", i, f->dsize,
                     (unsigned long long)f->doff);
        FUZZ_REQUIRE(f->coff >= prev_end && f->coff + f->csize <= toff, "frame %u outside the frame area", i);
        doff += f->dsize;
        kept_csize += f->csize;
        prev_end = f->coff + f->csize;
    }
    FUZZ_REQUIRE(doff == r.decoded_size && r.file_size == size, "sizes");
    int outcome = FZ_ALL_DECODED;
    FrameDecoder d;
    framedec_init(&d);
    for (uint32_t i = 0; i < r.nframes && outcome == FZ_ALL_DECODED; i++) {
        const SeekFrame *f = &r.frames[i];
        if (f->dsize > FUZZ_SHARD_MAX_FRAME || doff > FUZZ_SHARD_MAX_TOTAL) {
            outcome = FZ_SKIPPED;
        } else if (seekr_decode(&r, i, fuzz_buf_reserve(cat, f->dsize), &d, &e)) {
            FUZZ_REQUIRE(fuzz_msg_ok(e.msg, path), "bad error message \"%s\"", e.msg);
            outcome = FZ_FRAME_FAILED;
        } else {
            cat->n += f->dsize;
        }
    }
    framedec_free(&d);
    seekr_close(&r);
    /* frames the table calls empty are never read, so the oracle applies only when the kept
     * frames cover the whole frame area */
    if (outcome == FZ_ALL_DECODED && kept_csize == toff)
        FUZZ_REQUIRE(fuzz_shard_same_as_zstd(data, size, cat) == 0, "frames differ from libzstd's decode of the file");
    return outcome;
}

/* Way 2, given way 1's outcome and bytes. */
static void fuzz_shard_seq(const char *path, const uint8_t *data, size_t size, int frames, const FuzzBuf *cat)
{
    uint32_t magic = size >= 4 ? fuzz_shard_le32(data) : 0;
    int zstd = size >= 4 && (magic == ZSTD_MAGICNUMBER || (magic & 0xFFFFFFF0u) == ZSTD_MAGIC_SKIPPABLE_START);
    int seekable = zstd && size >= 17 && fuzz_shard_le32(data + size - 4) == SEEKABLE_FOOTER_MAGIC;
    if (seekable && frames == FZ_SKIPPED) return;
    SeqReader *r;
    BlErr e = {{0}};
    long long k = 0;
    FuzzBuf got = {0};
    if (seqreader_open(&r, path, NULL, &e) == 0) {
        uint64_t total = seqreader_total_bytes(r);
        if (total > FUZZ_SHARD_MAX_TOTAL) {
            seqreader_close(r);
            return;
        }
        uint8_t buf[777]; /* an odd size, so reads end inside frames */
        while ((k = seqreader_read(r, buf, sizeof buf, &e)) > 0) fuzz_buf_add(&got, buf, (size_t)k);
        seqreader_close(r);
        FUZZ_REQUIRE(k < 0 || got.n == total, "read %zu of %llu announced bytes", got.n, (unsigned long long)total);
    } else {
        k = -1;
    }
    if (k < 0) FUZZ_REQUIRE(fuzz_msg_ok(e.msg, path), "bad error message \"%s\"", e.msg);
    if (seekable) {
        FUZZ_REQUIRE((k < 0) == (frames != FZ_ALL_DECODED), "seqreader %s a shard way 1 %s: %s",
                     k < 0 ? "fails on" : "reads", frames == FZ_ALL_DECODED ? "read" : "refused", e.msg);
        if (k == 0)
            FUZZ_REQUIRE(got.n == cat->n && (!got.n || !memcmp(got.p, cat->p, got.n)), "seqreader differs from the frames");
    } else if (zstd) {
        if (k == 0)
            FUZZ_REQUIRE(fuzz_shard_same_as_zstd(data, size, &got) == 0, "seqreader differs from libzstd (%zu bytes)", got.n);
        else
            FUZZ_REQUIRE(!fuzz_shard_zstd_ok(data, size), "seqreader refuses a file libzstd decodes: %s", e.msg);
    } else {
        FUZZ_REQUIRE(k == 0, "plain file refused: %s", e.msg);
        FUZZ_REQUIRE(got.n == size && (!size || !memcmp(got.p, data, size)), "plain file not read as it is");
    }
    free(got.p);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    FUZZ_REQUIRE(fd >= 0, "memfd_create failed");
    FuzzBuf cat = {0};
    int frames = fuzz_shard_frames(path, data, size, &cat);
    fuzz_shard_seq(path, data, size, frames, &cat);
    free(cat.p);
    close(fd);
    return 0;
}
