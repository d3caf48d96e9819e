/* Crash-safe saving of a directory of files (a checkpoint): the files are written into DIR.tmp,
 * made durable, and swapped in with renames, so DIR is always either the old complete save or the
 * new complete save, never a mixture. atomic_dir.c explains why each step is there.
 *
 *   AtomicDir ad;
 *   if (atomic_dir_begin(&ad, "ckpt", e)) ...
 *   write files under atomic_dir_tmp(&ad)  (e.g. with write_file_atomic)
 *   if (atomic_dir_commit(&ad, e)) { atomic_dir_abort(&ad); ... }
 *
 * Loading goes through atomic_dir_resolve, which finds the surviving copy after a crash. */
#ifndef BYTELM_ATOMIC_DIR_H
#define BYTELM_ATOMIC_DIR_H

#include <stddef.h>
#include <stdio.h>
#include <sys/uio.h>

#include "byte_lm/base/error.h"

#define ATOMIC_DIR_PATH_MAX 4096

typedef struct {
    char dir[ATOMIC_DIR_PATH_MAX];    /* DIR, trailing slashes removed */
    char tmp[ATOMIC_DIR_PATH_MAX];    /* DIR.tmp: where the caller writes */
    char old[ATOMIC_DIR_PATH_MAX];    /* DIR.old: the previous save during the swap */
    char parent[ATOMIC_DIR_PATH_MAX]; /* the directory holding all three */
} AtomicDir;

/* Creates an empty DIR.tmp, first removing one left by an interrupted save. DIR and DIR.old are
 * left alone: one of them is the last good save. */
int atomic_dir_begin(AtomicDir *ad, const char *dir, BlErr *e);
/* DIR.tmp, where the caller writes the files of the new save. */
const char *atomic_dir_tmp(const AtomicDir *ad);
/* Joins DIR.tmp and a file name into buf; -1 (with e set) when it does not fit. */
int atomic_dir_file(const AtomicDir *ad, const char *name, char *buf, size_t cap, BlErr *e);
/* Makes every file in DIR.tmp durable, then replaces DIR with it. On failure DIR (or DIR.old)
 * still holds the previous save; call atomic_dir_abort to remove DIR.tmp. */
int atomic_dir_commit(AtomicDir *ad, BlErr *e);
/* Removes DIR.tmp after a failed save. */
void atomic_dir_abort(AtomicDir *ad);

/* The directory to load DIR from: DIR itself, or DIR.old when a crash came between the two renames
 * of a commit (DIR gone, DIR.old complete). DIR.tmp is never used: it may be incomplete.
 * Writes the path into out; -1 with "DIR: no such checkpoint directory" when neither exists. */
int atomic_dir_resolve(const char *dir, char *out, size_t cap, BlErr *e);

/* Writes a whole file durably: to PATH.tmp, fsync, rename to PATH. A failure leaves any previous
 * PATH untouched and no PATH.tmp behind. (The rename itself becomes durable when the containing
 * directory is fsynced, which atomic_dir_commit does.) */
int write_file_atomic(const char *path, const void *data, size_t len, BlErr *e);
/* The same for a file made of n pieces, written in order (a header, then tensors, ...). */
int write_file_atomic_iov(const char *path, const struct iovec *parts, int n, BlErr *e);
/* A file written as a stream and put in place whole: file_replace_begin opens PATH.tmp-PID
 * (name in tmp, cap bytes) for writing; file_replace_end closes it and, when ok and neither a
 * write nor the close failed, renames it over PATH, else removes it. A failure or an
 * interrupt leaves what PATH held before. begin: the stream, or NULL with e set; end: 0, or -1 with e set (when ok). */
FILE *file_replace_begin(const char *path, char *tmp, size_t cap, BlErr *e);
int file_replace_end(FILE *f, const char *tmp, const char *path, int ok, BlErr *e);
/* Removes path and, if it is a directory, everything under it (symlinks are removed, never
 * followed). A missing path is not an error. */
int remove_tree(const char *path, BlErr *e);
/* fsync of a directory, so the names created or renamed in it survive a crash. */
int fsync_dir(const char *path, BlErr *e);

#endif
