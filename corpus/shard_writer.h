/* One split's byte stream written as numbered seekable shards (train-00000.zst, ...), each
 * holding shard_size decoded bytes except the last. */
#ifndef BYTELM_SHARD_WRITER_H
#define BYTELM_SHARD_WRITER_H

#include <stdint.h>

#include "corpus/manifest.h"
#include "corpus/seekable.h"

typedef struct {
    const char *dir;    /* where the shards go */
    const char *prefix; /* "train" or "val" */
    int level;
    uint64_t frame_size, shard_size;
    SeekWriter *cur;
    ManifestSplit out;  /* finished shards */
    int shards_cap;
} ShardWriter;

void shardw_init(ShardWriter *w, const char *dir, const char *prefix, int level, uint64_t frame_size,
                 uint64_t shard_size);
/* A ByteSink (utf8_filter.h): appends bytes, starting new shards as they fill. ctx is the ShardWriter. */
int shardw_sink(void *ctx, const uint8_t *p, size_t n, BlErr *e);
/* Finishes the last shard. */
int shardw_finish(ShardWriter *w, BlErr *e);
/* Frees everything (shards already written stay on disk: the caller owns the directory). */
void shardw_free(ShardWriter *w);

#endif
