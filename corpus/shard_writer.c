#include "corpus/shard_writer.h"

#include <stdio.h>
#include <string.h>

void shardw_init(ShardWriter *w, const char *dir, const char *prefix, int level, uint64_t frame_size,
                 uint64_t shard_size)
{
    memset(w, 0, sizeof *w);
    w->dir = dir;
    w->prefix = prefix;
    w->level = level;
    w->frame_size = frame_size;
    w->shard_size = shard_size;
}

static int close_shard(ShardWriter *w, BlErr *e)
{
    SeekStats st;
    SeekWriter *sw = w->cur;
    w->cur = NULL;
    if (seekw_finish(sw, &st, e)) return -1;
    ManifestShard *s = &w->out.shards[w->out.nshards - 1];
    s->bytes = st.decoded_bytes;
    s->file_bytes = st.file_bytes;
    s->frames = st.frames;
    s->fnv1a64 = st.fnv1a64;
    w->out.bytes += st.decoded_bytes;
    return 0;
}

static int open_shard(ShardWriter *w, BlErr *e)
{
    if (w->out.nshards == w->shards_cap) {
        w->shards_cap = w->shards_cap ? 2 * w->shards_cap : 16;
        w->out.shards = bl_realloc(w->out.shards, (size_t)w->shards_cap * sizeof *w->out.shards);
        BL_CHECK(w->out.shards);
    }
    char name[64], path[4096];
    snprintf(name, sizeof name, "%s-%05d.zst", w->prefix, w->out.nshards);
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    if (seekw_open(&w->cur, path, w->level, (size_t)w->frame_size, e)) return -1;
    ManifestShard *s = &w->out.shards[w->out.nshards++];
    memset(s, 0, sizeof *s);
    s->file = strdup(name);
    return 0;
}

int shardw_sink(void *ctx, const uint8_t *p, size_t n, BlErr *e)
{
    ShardWriter *w = ctx;
    while (n) {
        if (!w->cur && open_shard(w, e)) return -1;
        uint64_t room = w->shard_size - seekw_decoded_bytes(w->cur);
        size_t take = room < n ? (size_t)room : n;
        if (seekw_write(w->cur, p, take, e)) return -1;
        p += take, n -= take;
        if (seekw_decoded_bytes(w->cur) == w->shard_size && close_shard(w, e)) return -1;
    }
    return 0;
}

int shardw_finish(ShardWriter *w, BlErr *e)
{
    return w->cur ? close_shard(w, e) : 0;
}

void shardw_free(ShardWriter *w)
{
    if (w->cur) seekw_discard(w->cur);
    w->cur = NULL;
    for (int i = 0; i < w->out.nshards; i++) free(w->out.shards[i].file);
    free(w->out.shards);
    memset(&w->out, 0, sizeof w->out);
}
