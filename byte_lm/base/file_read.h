/* Opening and reading input files without hanging. Every reader of a user-given or checkpoint
 * file opens it here: a FIFO, a device or a socket where a file belongs would block in open() or
 * read without end, so anything but a regular file is refused with one line
 * ("FILE: not a regular file (a FIFO)"). The few inputs where a pipe makes sense (eval's text,
 * a prompt) are read whole through file_read_all with FILE_PIPE_OK and a size bound. */
#ifndef BYTELM_FILE_READ_H
#define BYTELM_FILE_READ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "byte_lm/base/error.h"

/* "a FIFO", "a directory", "a character device", ... for a message. */
const char *file_kind(mode_t mode);

/* Opens a regular file read-only; the descriptor (close-on-exec, blocking) or -1 with e set.
 * The type is checked with stat before opening (so a FIFO is never opened) and again with
 * fstat after (the name may have changed in between); st (may be NULL) gets the fstat. */
int file_open_regular(const char *path, struct stat *st, BlErr *e);

/* 1 when path names what file_read_all reads as a pipe: "-" (stdin) or a FIFO such as a
 * shell's <(...). */
int file_is_pipe(const char *path);
/* 1 when a and b both exist and are one file or directory (same device and inode), whatever
 * names they are reached by. */
int file_same(const char *a, const char *b);

enum { FILE_PIPE_OK = 1 };
/* The whole content of path, NUL-terminated (the NUL not counted in *len), in a malloc'd
 * buffer. A regular file larger than max is refused before reading; with FILE_PIPE_OK, "-"
 * (stdin, named "<stdin>" in messages) or a FIFO is read to its end, and refused once it
 * passes max bytes. */
int file_read_all(const char *path, size_t max, int flags, char **buf, size_t *len, BlErr *e);

#endif
