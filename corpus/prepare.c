/* The prepare pipeline: documents -> UTF-8 filter -> shard writers, in a temporary directory
 * that replaces the output directory only when everything succeeded. */
#include "corpus/prepare.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/base/progress.h"
#include "corpus/documents.h"
#include "corpus/outdir.h"
#include "corpus/prepare_manifest.h"
#include "corpus/shard_writer.h"

#define READ_CHUNK ((size_t)1 << 20)
#define STDIN_SPOOL ".stdin"

void prepare_default_options(PrepareOptions *o)
{
    memset(o, 0, sizeof *o);
    o->val_fraction = 0.005;
    o->frame_size = (uint64_t)1 << 20;
    o->shard_size = (uint64_t)1 << 30;
    o->level = 3;
    o->on_invalid = INVALID_ERROR;
    o->normalize = NORMALIZE_NONE;
    o->seed = 0;
    o->progress = 1;
}

int prepare_check_options(const PrepareOptions *o, BlErr *e)
{
    if (!(o->val_fraction > 0 && o->val_fraction <= 0.5))
        return bl_fail(e, NULL, "--val-fraction must be in (0, 0.5], not %g", o->val_fraction);
    if (o->frame_size < 256 || o->frame_size > SEEKABLE_MAX_FRAME_SIZE)
        return bl_fail(e, NULL, "--frame-size must be between 256 bytes and 1 GiB");
    if (o->shard_size < o->frame_size || o->shard_size % o->frame_size)
        return bl_fail(e, NULL, "--shard-size must be a multiple of --frame-size (%" PRIu64 ")", o->frame_size);
    if (o->shard_size / o->frame_size > SEEKABLE_MAX_FRAMES)
        return bl_fail(e, NULL, "--shard-size holds more than %u frames", SEEKABLE_MAX_FRAMES);
    if (o->level < PREPARE_MIN_LEVEL || o->level > PREPARE_MAX_LEVEL)
        return bl_fail(e, NULL, "--level must be between %d and %d", PREPARE_MIN_LEVEL, PREPARE_MAX_LEVEL);
    if (o->on_invalid == INVALID_KEEP && o->normalize != NORMALIZE_NONE)
        return bl_fail(e, NULL, "--normalize needs valid UTF-8: use --on-invalid error or replace with it");
    return 0;
}

typedef struct {
    const PrepareOptions *o;
    PrepareResult *res;
    Progress bar;
    uint64_t total_input;
    uint8_t *chunk;
} Run;

/* Copies stdin into the temporary directory so it is one document of known size, like a file. */
static int spool_stdin(Document *d, const char *tmp, BlErr *e)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", tmp, STDIN_SPOOL);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return bl_fail_errno(e, path, "create");
    uint8_t *buf = bl_malloc(READ_CHUNK);
    uint64_t n = 0;
    int rc = 0;
    for (;;) {
        ssize_t k = read(0, buf, READ_CHUNK);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = bl_fail_errno(e, STDIN_NAME, "read");
            break;
        }
        if (k == 0) break;
        if (write(fd, buf, (size_t)k) != k) {
            rc = bl_fail_errno(e, path, "write");
            break;
        }
        n += (uint64_t)k;
    }
    free(buf);
    close(fd);
    free(d->path);
    d->path = strdup(path);
    d->size = n;
    return rc;
}

/* Streams bytes [from, to) of a document through the filter into the writer. */
static int run_part(Run *r, const Document *d, uint64_t from, uint64_t to, ShardWriter *w, BlErr *e)
{
    int fd = file_open_regular(d->path, NULL, e);
    if (fd < 0) return -1;
    Utf8Filter f;
    utf8f_init(&f, r->o->on_invalid, r->o->normalize, d->name, from, shardw_sink, w);
    uint64_t pos = from;
    int rc = 0;
    while (pos < to && !rc) {
        size_t want = to - pos < READ_CHUNK ? (size_t)(to - pos) : READ_CHUNK;
        ssize_t k = pread(fd, r->chunk, want, (off_t)pos);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = bl_fail_errno(e, d->name, "read");
        else if (k == 0) rc = bl_fail_at(e, d->name, pos, "changed while reading: ends before its %" PRIu64 " bytes", d->size);
        else {
            rc = utf8f_push(&f, r->chunk, (size_t)k, e);
            pos += (uint64_t)k;
            r->res->input_bytes += (uint64_t)k;
            if (r->o->progress) progress_update(&r->bar, r->res->input_bytes, NULL);
        }
    }
    if (!rc) rc = utf8f_finish(&f, e);
    r->res->replaced += f.replaced;
    utf8f_free(&f);
    close(fd);
    return rc;
}

/* Writes one split: for train the part before each document's cut, for val the part after. */
static int write_split(Run *r, const DocList *l, int val, ShardWriter *w, BlErr *e)
{
    for (size_t i = 0; i < l->n; i++) {
        const Document *d = &l->docs[i];
        uint64_t from = val ? d->cut : 0, to = val ? d->size : d->cut;
        if (from == to) continue;
        if (run_part(r, d, from, to, w, e)) return -1;
        w->out.documents++;
    }
    return shardw_finish(w, e);
}

static int build(Run *r, const char *const *inputs, int n, const char *tmp, DocList *l, BlErr *e)
{
    PrepareResult *res = r->res;
    for (size_t i = 0; i < l->n; i++)
        if (l->docs[i].is_stdin && spool_stdin(&l->docs[i], tmp, e)) return -1;
    size_t docs_found = l->n;
    res->empty_skipped = doclist_drop_empty(l);
    if (l->n == 0)
        return bl_fail_at(e, docs_found == 1 && !strcmp(inputs[0], "-") ? STDIN_NAME : inputs[0], 0,
                          "empty input: no bytes in %zu document%s", docs_found, docs_found == 1 ? "" : "s");
    if (doclist_split(l, r->o->val_fraction, r->o->seed, e)) return -1;
    res->documents = l->n;
    for (size_t i = 0; i < l->n; i++) r->total_input += l->docs[i].size;
    if (r->o->progress) progress_init(&r->bar, "prepare", r->total_input);

    ShardWriter tw, vw;
    shardw_init(&tw, tmp, "train", r->o->level, r->o->frame_size, r->o->shard_size);
    shardw_init(&vw, tmp, "val", r->o->level, r->o->frame_size, r->o->shard_size);
    int rc = write_split(r, l, 0, &tw, e);
    if (!rc) rc = write_split(r, l, 1, &vw, e);
    if (!rc) {
        res->train_bytes = tw.out.bytes, res->val_bytes = vw.out.bytes;
        res->train_documents = tw.out.documents, res->val_documents = vw.out.documents;
        res->train_shards = tw.out.nshards, res->val_shards = vw.out.nshards;
        for (int i = 0; i < tw.out.nshards; i++) res->file_bytes += tw.out.shards[i].file_bytes;
        for (int i = 0; i < vw.out.nshards; i++) res->file_bytes += vw.out.shards[i].file_bytes;
        if (res->train_bytes == 0 || res->val_bytes == 0)
            rc = bl_fail_at(e, l->docs[0].name, 0, "nothing left in the %s split after filtering",
                            res->train_bytes ? "val" : "train");
    }
    if (!rc) {
        char mpath[4400];
        snprintf(mpath, sizeof mpath, "%s/%s", tmp, CORPUS_MANIFEST);
        rc = prepare_write_manifest(mpath, &tw.out, &vw.out, l, r->o, res, inputs, n, e);
    }
    if (r->o->progress) {
        char extra[96];
        snprintf(extra, sizeof extra, "%.1f MB -> %.1f MB", (double)(res->train_bytes + res->val_bytes) / 1e6,
                 (double)res->file_bytes / 1e6);
        progress_finish(&r->bar, res->input_bytes, rc ? "failed" : extra);
    }
    shardw_free(&tw);
    shardw_free(&vw);
    return rc;
}

int prepare_corpus(const char *const *inputs, int ninputs, const char *out_dir, const PrepareOptions *o,
                   PrepareResult *res, BlErr *e)
{
    memset(res, 0, sizeof *res);
    double t0 = now_seconds();
    if (prepare_check_options(o, e)) return -1;
    if (ninputs < 1) return bl_fail(e, NULL, "no inputs");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out_dir);
    for (size_t k = strlen(dir); k > 1 && dir[k - 1] == '/'; k--) dir[k - 1] = 0;
    if (outdir_check(dir, e)) return -1;
    DocList l;
    if (doclist_collect(&l, inputs, ninputs, e)) {
        doclist_free(&l);
        return -1;
    }
    char tmp[4200];
    if (outdir_create_tmp(dir, tmp, sizeof tmp, e)) {
        doclist_free(&l);
        return -1;
    }
    Run r = {.o = o, .res = res, .chunk = bl_malloc(READ_CHUNK)};
    int rc = build(&r, inputs, ninputs, tmp, &l, e);
    free(r.chunk);
    if (!rc) {
        char spool[4300];
        snprintf(spool, sizeof spool, "%s/%s", tmp, STDIN_SPOOL);
        unlink(spool);
        rc = outdir_publish(tmp, dir, e);
    }
    if (rc) outdir_remove(tmp);
    doclist_free(&l);
    res->seconds = now_seconds() - t0;
    return rc;
}
