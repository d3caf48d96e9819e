#include "byte_lm/base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static int vfail(BlErr *e, const char *file, const char *suffix, const char *fmt, va_list ap)
{
    if (!e) return -1;
    size_t n = 0;
    if (file) n = (size_t)snprintf(e->msg, sizeof e->msg, "%s: ", file);
    if (n < sizeof e->msg) n += (size_t)vsnprintf(e->msg + n, sizeof e->msg - n, fmt, ap);
    if (suffix && n < sizeof e->msg) snprintf(e->msg + n, sizeof e->msg - n, "%s", suffix);
    /* one line, whatever the caller passed */
    for (char *p = e->msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return -1;
}

int bl_fail(BlErr *e, const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(e, file, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int bl_fail_at(BlErr *e, const char *file, uint64_t offset, const char *fmt, ...)
{
    char suffix[48];
    snprintf(suffix, sizeof suffix, " (offset %llu)", (unsigned long long)offset);
    va_list ap;
    va_start(ap, fmt);
    vfail(e, file, suffix, fmt, ap);
    va_end(ap);
    return -1;
}

int bl_fail_errno(BlErr *e, const char *file, const char *what)
{
    return bl_fail(e, file, "%s: %s", what, strerror(errno));
}

void bl_out_of_memory(size_t bytes)
{
    /* _exit, not exit: other threads (loader, OpenMP) may hold locks an exit handler wants */
    fprintf(stderr, "bytelm: out of memory: cannot allocate %zu bytes (%.2f GiB); try a smaller model, batch (-B) or "
                    "window (-L)\n",
            bytes, (double)bytes / (double)(1ull << 30));
    _exit(1);
}

void *bl_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) bl_out_of_memory(n);
    return p;
}

void *bl_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) bl_out_of_memory(n * size > n ? n * size : SIZE_MAX);
    return p;
}

void *bl_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) bl_out_of_memory(n);
    return q;
}
