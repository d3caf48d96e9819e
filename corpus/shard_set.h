/* One split of a corpus (or a single seekable file) as one decoded byte stream: the frames of all
 * its shards, in order, with their offsets in the concatenation. This is what lets a window of the
 * loader cross frame and shard boundaries as if the split were one file. */
#ifndef BYTELM_SHARD_SET_H
#define BYTELM_SHARD_SET_H

#include <stdint.h>

#include "corpus/seekable.h"

typedef struct {
    uint64_t doff;  /* first decoded byte in the concatenated stream */
    uint32_t dsize;
    uint32_t shard;
    uint32_t frame; /* index in the shard's SeekReader */
} SetFrame;

typedef struct {
    char *label;        /* the path the caller gave (for errors about the whole set) */
    int nshards;
    SeekReader *shards;
    uint64_t *fnv1a64;  /* per shard, from corpus.json; NULL for a lone file */
    uint64_t nframes;
    SetFrame *frames;
    uint64_t total;     /* decoded bytes */
    uint32_t max_frame; /* largest dsize */
} ShardSet;

/* A corpus directory's split ("train" or "val"): checks each shard's seek table against the
 * sizes in corpus.json. */
int shardset_open_dir(ShardSet *s, const char *dir, const char *split, BlErr *e);
/* A single seekable zstd file. */
int shardset_open_file(ShardSet *s, const char *path, BlErr *e);
/* Index of the frame holding decoded byte pos (pos < total). */
uint64_t shardset_find(const ShardSet *s, uint64_t pos);
int shardset_decode(const ShardSet *s, uint64_t frame, uint8_t *dst, FrameDecoder *d, BlErr *e);
void shardset_close(ShardSet *s);

#endif
