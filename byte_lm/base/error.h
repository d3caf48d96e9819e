/* Errors: every fallible function takes a BlErr* and returns 0 on success, -1 on failure.
 * The message is one line, "FILE: what (offset N)", printed by the CLI as "bytelm: ...". */
#ifndef BYTELM_ERROR_H
#define BYTELM_ERROR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    char msg[512];
} BlErr;

/* Formats "file: what" into e (file may be NULL). Always returns -1 so callers can `return bl_fail(...)`. */
int bl_fail(BlErr *e, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, with " (offset N)" appended: for errors that have a position in a file. */
int bl_fail_at(BlErr *e, const char *file, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like bl_fail with strerror(errno) appended. */
int bl_fail_errno(BlErr *e, const char *file, const char *what);

/* Fatal checks for conditions that are bugs or resource exhaustion, not bad input. */
#define BL_CHECK(cond)                                                                   \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "bytelm: internal error: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* Allocation failures of these end the process with one line ("bytelm: out of memory: ...")
 * and exit status 1: running out of memory is the user's sizes meeting the machine, not a bug. */
void *bl_malloc(size_t n);
void *bl_calloc(size_t n, size_t size);
void *bl_realloc(void *p, size_t n);
void bl_out_of_memory(size_t bytes) __attribute__((noreturn));

#endif
