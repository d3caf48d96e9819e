#include "byte_lm/base/file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *file_kind(mode_t mode)
{
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

int file_open_regular(const char *path, struct stat *out, BlErr *e)
{
    struct stat st;
    if (stat(path, &st)) {
        bl_fail_errno(e, path, "cannot open");
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        bl_fail(e, path, "not a regular file (%s)", file_kind(st.st_mode));
        return -1;
    }
    /* O_NONBLOCK: if a FIFO took the name after the stat, open() still returns at once */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        bl_fail_errno(e, path, "cannot open");
        return -1;
    }
    if (fstat(fd, &st)) {
        bl_fail_errno(e, path, "cannot stat");
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        bl_fail(e, path, "not a regular file (%s)", file_kind(st.st_mode));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (out) *out = st;
    return fd;
}

int file_same(const char *a, const char *b)
{
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int file_is_pipe(const char *path)
{
    struct stat st;
    return !strcmp(path, "-") || (stat(path, &st) == 0 && S_ISFIFO(st.st_mode));
}

/* Reads fd to its end into a growing buffer; fails once more than max bytes came. */
static int read_stream(int fd, const char *name, size_t max, char **buf, size_t *len, BlErr *e)
{
    size_t cap = 1 << 16, n = 0;
    char *b = bl_malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                return bl_fail_at(e, name, n, "out of memory reading it");
            }
            b = nb;
        }
        size_t want = cap - n;
        if (want > max + 1 - n) want = max + 1 - n; /* one byte over the bound is enough to know */
        ssize_t k = read(fd, b + n, want);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int err = errno;
            free(b);
            errno = err;
            return bl_fail_errno(e, name, "cannot read");
        }
        if (k == 0) break;
        n += (size_t)k;
        if (n > max) {
            free(b);
            return bl_fail_at(e, name, max, "more than %zu bytes: too large to read", max);
        }
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

int file_read_all(const char *path, size_t max, int flags, char **buf, size_t *len, BlErr *e)
{
    *buf = NULL;
    *len = 0;
    if ((flags & FILE_PIPE_OK) && file_is_pipe(path)) {
        if (!strcmp(path, "-")) return read_stream(STDIN_FILENO, "<stdin>", max, buf, len, e);
        int fd = open(path, O_RDONLY | O_CLOEXEC); /* blocks until a writer opens it: a pipe's nature */
        if (fd < 0) return bl_fail_errno(e, path, "cannot open");
        int rc = read_stream(fd, path, max, buf, len, e);
        close(fd);
        return rc;
    }
    struct stat st;
    int fd = file_open_regular(path, &st, e);
    if (fd < 0) return -1;
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return bl_fail_at(e, path, max, "too large (%lld bytes, at most %zu)", (long long)st.st_size, max);
    }
    /* read to the end, not to st_size: a file that grows meanwhile is still bounded by max */
    int rc = read_stream(fd, path, max, buf, len, e);
    close(fd);
    return rc;
}
