/* The output directory of prepare: built as DIR.tmp-<pid> and swapped in whole at the end, so a
 * failed run never leaves DIR half-written and an existing corpus survives until the new one is
 * complete. */
#ifndef BYTELM_OUTDIR_H
#define BYTELM_OUTDIR_H

#include <stddef.h>

#include "byte_lm/base/error.h"

/* 0 if dir is absent, an empty directory or a prepared corpus holding nothing but corpus.json
 * and the shards it lists (all may be replaced); otherwise an error naming the first file that
 * is not the corpus's: prepare never replaces anything else. */
int outdir_check(const char *dir, BlErr *e);
/* Creates the fresh temporary directory beside dir (and dir's missing parents); its path goes
 * to tmp. */
int outdir_create_tmp(const char *dir, char *tmp, size_t cap, BlErr *e);
/* fsyncs tmp, then moves it to dir (atomically exchanging with an existing dir, which is then
 * removed), then fsyncs the parent. */
int outdir_publish(const char *tmp, const char *dir, BlErr *e);
/* Removes a directory of plain files (what prepare writes). Returns -1 if anything remains. */
int outdir_remove(const char *path);
/* fsync of a file or directory by path. */
int fsync_path(const char *path, BlErr *e);

#endif
