/* Shared by the fuzz targets in tests/fuzz/. Each target defines FUZZ_ENTRY, which is libFuzzer's
 * LLVMFuzzerTestOneInput unless the includer renames it: tests/test_fuzz_regressions.c includes the
 * targets under other names to replay the committed seeds and crash inputs in `make test`, so a
 * found bug stays found with gcc and without libFuzzer. */
#ifndef BYTELM_FUZZ_UTIL_H
#define BYTELM_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* An oracle disagreed: print why and abort, which libFuzzer records as a crash with its input. */
#define FUZZ_REQUIRE(cond, ...)                                                   \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "fuzz: %s:%d: %s failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* An error message as the CLI prints it: one non-empty line starting "FILE: ". */
static inline int fuzz_msg_ok(const char *msg, const char *file)
{
    size_t n = strlen(file);
    return strncmp(msg, file, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' && msg[n + 2] &&
           !strchr(msg, '\n');
}

/* A growable byte buffer (a sink for outputs under test). */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} FuzzBuf;

/* Room for n more bytes; returns where they go (b->n is not changed). */
static inline uint8_t *fuzz_buf_reserve(FuzzBuf *b, size_t n)
{
    if (b->n + n > b->cap || !b->p) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    return b->p + b->n;
}

static inline void fuzz_buf_add(FuzzBuf *b, const void *p, size_t n)
{
    uint8_t *dst = fuzz_buf_reserve(b, n);
    if (n) memcpy(dst, p, n);
    b->n += n;
}

/* The parsers under test that read files by path get the input through an anonymous memory file:
 * no disk traffic, and nothing left behind when a run is killed. Fills path with a name open()
 * accepts; returns the descriptor to close afterwards, or -1. */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("bytelm-fuzz", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        if (k <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)k;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
