/* Helpers for the suites that drive the bytelm binary: where it is, running a shell command,
 * capturing a command's output and status, a small English-like training text, the per-step
 * losses of a metrics file, and whether this is an ASan build. */
#ifndef BYTELM_TEST_CLI_UTIL_H
#define BYTELM_TEST_CLI_UTIL_H

#include <stdarg.h>
#include <unistd.h>
#include <sys/wait.h>

#include "tests/test_util.h"

/* 1 in an AddressSanitizer build: tests of address-space limits skip themselves there */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* The binary under test: $BYTELM (make test sets it), else bin/bytelm. */
static inline const char *tu_bytelm(void)
{
    const char *b = getenv("BYTELM");
    return b ? b : "bin/bytelm";
}

/* Runs a shell command; its exit status, or -1 when a signal ended it. */
static inline int tu_sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs a shell command made like printf; it must succeed. */
static inline void tu_sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tu_sh_ok(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_msg(tu_sh(cmd) == 0, "failed: %s", cmd);
}

/* n words drawn from the first `vocab` (<= 16) of a fixed list, a sentence every 12 words:
 * structure a tiny model learns in a few steps. */
static inline void tu_write_words(const char *path, uint64_t seed, int n, int vocab)
{
    static const char *const words[] = {"the", "quick", "brown", "fox", "jumps", "over",
                                        "lazy", "dog", "and", "runs", "away", "from",
                                        "a", "big", "red", "barn"};
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s", words[tu_next(&seed) % (uint64_t)vocab], i % 12 == 11 ? ".\n" : " ");
    fclose(f);
}

/* Runs cmd with stdout into out (cap bytes) and stderr into err (errcap bytes); returns the exit
 * status, or -1 when it did not exit. */
static inline int tu_run_capture(const char *cmd, char *out, size_t cap, char *err, size_t errcap)
{
    char full[8192], errpath[] = "/tmp/bytelm-test-err-XXXXXX";
    int fd = mkstemp(errpath);
    ck_assert(fd >= 0);
    close(fd);
    snprintf(full, sizeof full, "%s 2>%s", cmd, errpath);
    FILE *p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    FILE *f = fopen(errpath, "r");
    n = f ? fread(err, 1, errcap - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    remove(errpath);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The "loss" of every step line of a metrics.jsonl, in order; returns the count. */
static inline int tu_read_losses(const char *path, double *out, int cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        char *p = strstr(line, "\"loss\":");
        if (p) out[n++] = atof(p + 7);
    }
    fclose(f);
    return n;
}

#endif
