/* The documents of a `bytelm prepare` run: one per input file, found in the order the inputs
 * are given, directories walked recursively in byte order of their entry names (so the same tree
 * always gives the same list), and how each is split between train and val. */
#ifndef BYTELM_DOCUMENTS_H
#define BYTELM_DOCUMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/error.h"

#define STDIN_NAME "<stdin>"

typedef struct {
    char *path;     /* what to open (for stdin: its spool file, once written) */
    char *name;     /* shown in errors and corpus.json */
    char *key;      /* what the split hashes: the path below its input root, so it does not
                       depend on where the tree lives */
    uint64_t size;  /* bytes (stdin: known after spooling) */
    uint64_t cut;   /* bytes [0, cut) go to train, [cut, size) to val */
    int is_stdin;
} Document;

typedef struct {
    Document *docs;
    size_t n, cap;
} DocList;

/* Expands inputs (files, directories, "-") into documents. Inside directories, names starting
 * with '.', non-regular files, symlinked directories and prepared corpora are skipped. */
int doclist_collect(DocList *l, const char *const *inputs, int n, BlErr *e);
/* Drops empty documents; returns how many were dropped. */
size_t doclist_drop_empty(DocList *l);
void doclist_free(DocList *l);

/* Sets every cut: with one document its tail (>= val_fraction of it, starting after a newline
 * when one is near) is val; with more, whole documents chosen by a hash of (seed, key) until
 * val_fraction of the bytes, at least one document and never all of them. Deterministic. */
int doclist_split(DocList *l, double val_fraction, uint64_t seed, BlErr *e);

#endif
