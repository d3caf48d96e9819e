/* Helpers for the corpus and loader suites: running the bytelm binary and the zstd CLI, files,
 * and deterministic UTF-8 text with multi-byte characters. */
#ifndef BYTELM_CORPUS_TEST_UTIL_H
#define BYTELM_CORPUS_TEST_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/test_util.h"

static inline const char *ct_bytelm(void)
{
    const char *b = getenv("BYTELM");
    return b && *b ? b : "bin/bytelm";
}

static inline void ct_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* The whole file, NUL-terminated; *n gets its size. NULL if it cannot be read. */
static inline uint8_t *ct_read(const char *path, size_t *n)
{
    if (n) *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap + 1);
    size_t k;
    while ((k = fread(b + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) b = realloc(b, (cap *= 2) + 1);
    }
    fclose(f);
    b[len] = 0;
    if (n) *n = len;
    return b;
}

static inline int ct_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs a shell command with stdout and stderr captured (either pointer may be NULL); returns
 * the exit status, or -1 if it did not exit normally. */
static inline int ct_sh(char **out, char **err, const char *fmt, ...)
{
    char cmd[8192], full[8400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char o[64], e[64];
    snprintf(o, sizeof o, "/tmp/bytelm-ct-out-%d", (int)getpid());
    snprintf(e, sizeof e, "/tmp/bytelm-ct-err-%d", (int)getpid());
    snprintf(full, sizeof full, "( %s ) >%s 2>%s", cmd, o, e);
    int st = system(full);
    if (out) *out = (char *)ct_read(o, NULL);
    if (err) *err = (char *)ct_read(e, NULL);
    unlink(o);
    unlink(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Decodes a file with the zstd CLI (an implementation independent of ours). */
static inline uint8_t *ct_zstd_decode(const char *path, size_t *n)
{
    char out[1100];
    snprintf(out, sizeof out, "%s.ct-decoded", path);
    int rc = ct_sh(NULL, NULL, "zstd -q -d -f -c '%s' > '%s'", path, out);
    ck_assert_msg(rc == 0, "zstd -d %s failed", path);
    uint8_t *b = ct_read(out, n);
    unlink(out);
    return b;
}

/* n bytes of valid UTF-8: words of ASCII letters and of 2-, 3- and 4-byte characters, spaces
 * and newlines. Multi-byte characters are common so that chunk and frame boundaries split them. */
static inline uint8_t *ct_text(uint64_t seed, size_t n)
{
    static const char *const pieces[] = {"the ", "bytes ", "é", "ß", "漢字", "€", "🙂", "\n", "naïve ", "x", ". ", "ñ", "\t"};
    uint8_t *b = malloc(n + 8);
    size_t k = 0;
    while (k < n) {
        const char *p = pieces[tu_next(&seed) % (sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        if (k + l > n) { /* fill the tail with ASCII so the text stays valid */
            while (k < n) b[k++] = 'z';
            break;
        }
        memcpy(b + k, p, l);
        k += l;
    }
    return b;
}

static inline void ct_rm_rf(const char *path)
{
    ct_sh(NULL, NULL, "rm -rf '%s'", path);
}

#endif
