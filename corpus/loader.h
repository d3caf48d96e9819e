/* Streaming byte loader: batches of random windows for training, sequential reads for eval.
 *
 * Sources (one path): a prepared corpus directory (corpus.json + seekable shards; `split`
 * picks "train" or "val"), a single seekable shard, a plain .zst file, or a plain file (any
 * bytes). A plain .zst is decoded into memory once (read sequentially); a plain file is mapped.
 * For a single file, split is ignored: the file is its own stream.
 *
 * Random windows: batch number k, row i starts at a position drawn from a counter-based RNG
 * keyed by (seed, k, i), uniformly over all positions that have L+1 bytes after them in the
 * concatenated source. So the loader's whole position is (seed, k): saving and restoring it
 * continues the identical sequence. Frames are decoded ahead by worker threads (2 by default) into a ring
 * of buffers, so loader_next normally only copies.
 */
#ifndef BYTELM_LOADER_H
#define BYTELM_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/error.h"

typedef struct Loader Loader;

typedef struct {
    uint64_t seed;
    uint64_t next_batch; /* k of the next batch loader_next returns */
} LoaderPos;

/* The largest batch number a position may hold (2^53, exact in a double): far beyond any run,
 * and small enough that the workers' batch arithmetic never wraps around. */
#define LOADER_MAX_BATCH ((uint64_t)1 << 53)

/* Opens `path` for batches of B windows of L+1 bytes. Fails (one-line error naming the file and
 * offset) on unreadable, corrupt or too-short input (fewer than L+1 bytes). */
int loader_open(Loader **out, const char *path, const char *split, int B, int L, uint64_t seed,
                BlErr *e);
/* Fills batch[B*(L+1)] with the next batch (row-major: row i is bytes [i*(L+1), (i+1)*(L+1))). */
int loader_next(Loader *ld, uint8_t *batch, BlErr *e);
LoaderPos loader_get_pos(const Loader *ld);
/* The next loader_next continues from pos; a next_batch over LOADER_MAX_BATCH makes it fail. */
void loader_set_pos(Loader *ld, LoaderPos pos);
uint64_t loader_total_bytes(const Loader *ld);  /* decoded bytes in the source */
void loader_close(Loader *ld);

/* Tuning, for loader_open_opts; loader_open uses loader_default_options. */
typedef struct {
    int threads;        /* background decode threads */
    int ahead;          /* batches prepared ahead of loader_next (at least threads) */
    size_t cache_bytes; /* decoded frames kept for reuse, over all threads */
} LoaderOptions;
void loader_default_options(LoaderOptions *o); /* 2 threads, 8 batches ahead, 256 MiB */
int loader_open_opts(Loader **out, const char *path, const char *split, int B, int L, uint64_t seed,
                     const LoaderOptions *opt, BlErr *e);
/* Where row i of batch k starts in the concatenated source: a pure function of (seed, k, i) and
 * the source size, exposed so tests and tools can check a window against the source. */
uint64_t loader_window_start(const Loader *ld, uint64_t k, int i);

/* Sequential reader: every byte of a source, in order, in bounded memory (for eval). */
typedef struct SeqReader SeqReader;
int seqreader_open(SeqReader **out, const char *path, const char *split, BlErr *e);
/* Reads up to cap bytes; returns the number read (0 at the end) or -1 on error. */
long long seqreader_read(SeqReader *r, uint8_t *buf, size_t cap, BlErr *e);
uint64_t seqreader_total_bytes(const SeqReader *r); /* total decoded bytes, known at open */
void seqreader_close(SeqReader *r);

#endif
