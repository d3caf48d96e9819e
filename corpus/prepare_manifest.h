/* Writing corpus.json at the end of prepare (manifest.h reads it). */
#ifndef BYTELM_PREPARE_MANIFEST_H
#define BYTELM_PREPARE_MANIFEST_H

#include "corpus/documents.h"
#include "corpus/manifest.h"
#include "corpus/prepare.h"

int prepare_write_manifest(const char *path, const ManifestSplit *train, const ManifestSplit *val,
                           const DocList *docs, const PrepareOptions *o, const PrepareResult *r,
                           const char *const *inputs, int ninputs, BlErr *e);

/* The names of the option values, as the command line and corpus.json spell them. */
const char *invalid_mode_name(InvalidMode m);
const char *normalize_mode_name(NormalizeMode m);

#endif
