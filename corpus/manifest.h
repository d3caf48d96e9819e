/* corpus.json: what a prepared corpus directory holds. Written by prepare (prepare_manifest.c),
 * read here by everything that opens a corpus. Only the fields readers need are loaded; the
 * file also records the options and the validation documents for people. */
#ifndef BYTELM_MANIFEST_H
#define BYTELM_MANIFEST_H

#include <stdint.h>

#include "byte_lm/base/error.h"

#define CORPUS_MANIFEST "corpus.json"
#define CORPUS_FORMAT "bytelm-corpus"
#define CORPUS_VERSION 1
#define CORPUS_CHECKSUM "fnv1a64"
#define MANIFEST_MAX_SHARDS 65536 /* 64 TiB of 1 GiB shards per split */

typedef struct {
    char *file;          /* a plain name inside the corpus directory */
    uint64_t bytes;      /* decoded */
    uint64_t file_bytes; /* on disk */
    uint64_t frames;
    uint64_t fnv1a64;    /* of the decoded bytes */
} ManifestShard;

typedef struct {
    uint64_t bytes;
    uint64_t documents;
    int nshards;
    ManifestShard *shards;
} ManifestSplit;

typedef struct {
    ManifestSplit train, val;
    uint64_t frame_size;
} Manifest;

/* Loads dir/corpus.json; fails with the json file's name and the byte offset of the problem. */
int manifest_load(Manifest *m, const char *dir, BlErr *e);
/* The split called name ("train" or "val"), or NULL. */
const ManifestSplit *manifest_split(const Manifest *m, const char *name);
void manifest_free(Manifest *m);
/* 1 if dir holds a corpus.json whose "format" is ours (so prepare may replace the directory). */
int manifest_is_corpus_dir(const char *dir);

/* Reads a whole (small) file into a NUL-terminated buffer; fails above max bytes. */
int read_small_file(const char *path, size_t max, char **buf, size_t *len, BlErr *e);

#endif
