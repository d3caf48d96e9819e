/* `bytelm prepare` as a library call: input files -> a corpus directory of seekable shards. */
#ifndef BYTELM_PREPARE_H
#define BYTELM_PREPARE_H

#include <stdint.h>

#include "byte_lm/base/error.h"
#include "corpus/utf8_filter.h"

/* The zstd levels prepare accepts (prepare_check_options and the command line). */
#define PREPARE_MIN_LEVEL 1
#define PREPARE_MAX_LEVEL 19

typedef struct {
    double val_fraction;   /* (0, 0.5] */
    uint64_t frame_size;   /* decoded bytes per zstd frame */
    uint64_t shard_size;   /* decoded bytes per shard, a multiple of frame_size */
    int level;             /* zstd level, PREPARE_MIN_LEVEL..PREPARE_MAX_LEVEL */
    InvalidMode on_invalid;
    NormalizeMode normalize;
    uint64_t seed;         /* of the train/val split */
    int progress;          /* show progress on stderr */
} PrepareOptions;

typedef struct {
    uint64_t input_bytes;  /* raw bytes read */
    uint64_t train_bytes, val_bytes, file_bytes; /* decoded train/val, compressed on disk */
    uint64_t documents, train_documents, val_documents, empty_skipped;
    uint64_t replaced;     /* invalid bytes replaced by U+FFFD */
    int train_shards, val_shards;
    double seconds;
} PrepareResult;

void prepare_default_options(PrepareOptions *o);
/* Checks the option values; the message names the bad option. */
int prepare_check_options(const PrepareOptions *o, BlErr *e);
int prepare_corpus(const char *const *inputs, int ninputs, const char *out_dir, const PrepareOptions *o,
                   PrepareResult *res, BlErr *e);

/* "1048576", "1MiB", "1M" (binary), "1MB" (decimal), also K/G/T: bytes in *out. 0 ok, -1 bad. */
int parse_size(const char *s, uint64_t *out);

#endif
