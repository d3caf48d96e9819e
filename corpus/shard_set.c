#include "corpus/shard_set.h"

#include <inttypes.h>
#include <string.h>

#include "corpus/manifest.h"

/* Appends the frames of shards[0..n) to the global frame list. */
static void index_frames(ShardSet *s)
{
    uint64_t n = 0;
    for (int i = 0; i < s->nshards; i++) n += s->shards[i].nframes;
    s->frames = bl_calloc(n ? n : 1, sizeof *s->frames);
    uint64_t doff = 0;
    for (int i = 0; i < s->nshards; i++) {
        const SeekReader *r = &s->shards[i];
        for (uint32_t f = 0; f < r->nframes; f++) {
            s->frames[s->nframes++] = (SetFrame){doff, r->frames[f].dsize, (uint32_t)i, f};
            doff += r->frames[f].dsize;
            if (r->frames[f].dsize > s->max_frame) s->max_frame = r->frames[f].dsize;
        }
    }
    s->total = doff;
}

int shardset_open_dir(ShardSet *s, const char *dir, const char *split, BlErr *e)
{
    memset(s, 0, sizeof *s);
    Manifest m;
    if (manifest_load(&m, dir, e)) return -1;
    const ManifestSplit *sp = manifest_split(&m, split ? split : "train");
    if (!sp) {
        manifest_free(&m);
        return bl_fail(e, dir, "no split \"%s\" (a corpus has \"train\" and \"val\")", split);
    }
    s->label = strdup(dir);
    s->shards = bl_calloc((size_t)(sp->nshards ? sp->nshards : 1), sizeof *s->shards);
    s->fnv1a64 = bl_calloc((size_t)(sp->nshards ? sp->nshards : 1), sizeof *s->fnv1a64);
    int rc = 0;
    for (int i = 0; i < sp->nshards && !rc; i++) {
        const ManifestShard *ms = &sp->shards[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ms->file);
        if (seekr_open(&s->shards[i], path, e)) {
            rc = -1;
            break;
        }
        s->nshards++;
        s->fnv1a64[i] = ms->fnv1a64;
        if (s->shards[i].decoded_size != ms->bytes)
            rc = bl_fail_at(e, path, 0, "holds %" PRIu64 " decoded bytes, corpus.json says %" PRIu64,
                            s->shards[i].decoded_size, ms->bytes);
        else if (s->shards[i].file_size != ms->file_bytes)
            rc = bl_fail_at(e, path, s->shards[i].file_size, "file is %" PRIu64 " bytes, corpus.json says %" PRIu64,
                            s->shards[i].file_size, ms->file_bytes);
    }
    manifest_free(&m);
    if (rc) {
        shardset_close(s);
        return -1;
    }
    index_frames(s);
    return 0;
}

int shardset_open_file(ShardSet *s, const char *path, BlErr *e)
{
    memset(s, 0, sizeof *s);
    s->label = strdup(path);
    s->shards = bl_calloc(1, sizeof *s->shards);
    if (seekr_open(&s->shards[0], path, e)) {
        shardset_close(s);
        return -1;
    }
    s->nshards = 1;
    index_frames(s);
    return 0;
}

uint64_t shardset_find(const ShardSet *s, uint64_t pos)
{
    uint64_t lo = 0, hi = s->nframes; /* invariant: frames[lo].doff <= pos < frames[hi].doff */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (s->frames[mid].doff <= pos) lo = mid;
        else hi = mid;
    }
    return lo;
}

int shardset_decode(const ShardSet *s, uint64_t frame, uint8_t *dst, FrameDecoder *d, BlErr *e)
{
    const SetFrame *f = &s->frames[frame];
    return seekr_decode(&s->shards[f->shard], f->frame, dst, d, e);
}

void shardset_close(ShardSet *s)
{
    for (int i = 0; i < s->nshards; i++) seekr_close(&s->shards[i]);
    free(s->shards);
    free(s->fnv1a64);
    free(s->frames);
    free(s->label);
    memset(s, 0, sizeof *s);
}
