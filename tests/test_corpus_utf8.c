/* The UTF-8 filter of prepare: the output and the error offsets must not depend on how the input
 * was cut into chunks, and normalization must equal utf8proc's on the whole text. */
#include <utf8proc.h>

#include "corpus/utf8_filter.h"
#include "tests/corpus/corpus_test_util.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Buf;

static int sink(void *ctx, const uint8_t *p, size_t n, BlErr *e)
{
    Buf *b = ctx;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

/* Runs the filter with chunks of sizes drawn from [1, maxchunk] (seeded); returns 0 or -1. */
static int run(InvalidMode inv, NormalizeMode norm, const uint8_t *in, size_t n, size_t maxchunk, uint64_t seed,
               Buf *out, uint64_t *replaced, BlErr *e)
{
    Utf8Filter f;
    memset(out, 0, sizeof *out);
    utf8f_init(&f, inv, norm, "doc.txt", 1000, sink, out);
    int rc = 0;
    for (size_t off = 0; off < n && !rc;) {
        size_t k = 1 + (size_t)(tu_next(&seed) % maxchunk);
        if (k > n - off) k = n - off;
        rc = utf8f_push(&f, in + off, k, e);
        off += k;
    }
    if (!rc) rc = utf8f_finish(&f, e);
    if (replaced) *replaced = f.replaced;
    utf8f_free(&f);
    return rc;
}

START_TEST(chunking_does_not_matter)
{
    size_t n = 200000;
    uint8_t *t = ct_text(3, n);
    /* sprinkle bad bytes: a lone continuation, a truncated sequence, an overlong, a surrogate */
    memcpy(t + 1000, "\x80", 1);
    memcpy(t + 5000, "\xe2\x82" "a", 3);
    memcpy(t + 9000, "\xc0\x80", 2);
    memcpy(t + 13000, "\xed\xa0\x80", 3);
    memcpy(t + 17000, "\xf4\x90\x80\x80", 4);
    Buf ref, b;
    uint64_t r0, r1;
    BlErr e;
    ck_assert_int_eq(run(INVALID_REPLACE, NORMALIZE_NONE, t, n, n, 1, &ref, &r0, &e), 0);
    ck_assert_uint_ge(r0, 2 + 2 + 3 + 4 + 1);
    size_t chunks[] = {1, 2, 3, 5, 4096, 65537};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        ck_assert_int_eq(run(INVALID_REPLACE, NORMALIZE_NONE, t, n, chunks[c], c, &b, &r1, &e), 0);
        ck_assert_uint_eq(b.n, ref.n);
        ck_assert_uint_eq(r1, r0);
        ck_assert(!memcmp(b.p, ref.p, ref.n));
        free(b.p);
    }
    /* every replacement is exactly U+FFFD, and the rest is unchanged valid text */
    utf8proc_int32_t cp;
    for (size_t i = 0; i < ref.n;) {
        utf8proc_ssize_t k = utf8proc_iterate(ref.p + i, (utf8proc_ssize_t)(ref.n - i), &cp);
        ck_assert_int_gt(k, 0);
        i += (size_t)k;
    }
    free(ref.p);
    free(t);
}
END_TEST

START_TEST(error_offsets)
{
    static const struct {
        const char *bytes;
        size_t len, bad; /* where the first bad byte is */
    } cases[] = {
        {"abc\x80", 4, 3},           {"ab\xc0\x80z", 5, 2},       {"\xed\xa0\x80", 3, 0},
        {"x\xf4\x90\x80\x80", 5, 1}, {"ok\xe2\x82", 4, 2},        {"\xe2\x82\xac\xe2\x82" "z", 6, 3},
        {"\xf0\x9f\x99\x82\xff", 5, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t chunk = 1; chunk <= 6; chunk++) {
            Buf b;
            BlErr e;
            ck_assert_int_eq(run(INVALID_ERROR, NORMALIZE_NONE, (const uint8_t *)cases[c].bytes, cases[c].len, chunk,
                                 chunk, &b, NULL, &e),
                             -1);
            char want[80];
            snprintf(want, sizeof want, "doc.txt: invalid UTF-8 (offset %zu)", 1000 + cases[c].bad);
            ck_assert_str_eq(e.msg, want);
            free(b.p);
        }
    }
}
END_TEST

START_TEST(normalization_matches_whole_text)
{
    /* decomposed letters, compatibility characters, Hangul jamo (which compose among themselves),
     * NUL bytes, and newlines only now and then: normalization cuts at newlines or before ASCII */
    static const char *const pieces[] = {"e\xcc\x81", "a\xcc\x88\xcc\x81", "\xef\xac\x81", "\xe1\x84\x80\xe1\x85\xa1",
                                         "\xe2\x84\xab", "x", " ", "\xc3\xa9", "\n", "\0", "\xcc\xa3\xcc\x87"};
    uint64_t s = 17;
    size_t n = 0, cap = 3 << 20;
    uint8_t *t = malloc(cap + 16);
    while (n < cap) {
        size_t i = (size_t)(tu_next(&s) % 11);
        if (i == 8 && tu_next(&s) % 50) continue; /* rare newlines: long stretches without one */
        size_t l = i == 9 ? 1 : strlen(pieces[i]);
        memcpy(t + n, pieces[i], l);
        n += l;
    }
    for (int form = NORMALIZE_NFC; form <= NORMALIZE_NFKC; form++) {
        utf8proc_uint8_t *want = NULL;
        int opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (form == NORMALIZE_NFKC ? UTF8PROC_COMPAT : 0);
        utf8proc_ssize_t m = utf8proc_map(t, (utf8proc_ssize_t)n, &want, (utf8proc_option_t)opts);
        ck_assert_int_gt(m, 0);
        for (size_t chunk = 1000; chunk <= 1000000; chunk *= 10) {
            Buf b;
            BlErr e;
            ck_assert_int_eq(run(INVALID_ERROR, (NormalizeMode)form, t, n, chunk, chunk, &b, NULL, &e), 0);
            ck_assert_uint_eq(b.n, (size_t)m);
            ck_assert_msg(!memcmp(b.p, want, (size_t)m), "form %d, chunks up to %zu", form, chunk);
            free(b.p);
        }
        free(want);
    }
    free(t);
}
END_TEST

START_TEST(keep_passes_everything)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    Buf b;
    BlErr e;
    ck_assert_int_eq(run(INVALID_KEEP, NORMALIZE_NONE, all, 256, 7, 1, &b, NULL, &e), 0);
    ck_assert_uint_eq(b.n, 256);
    ck_assert(!memcmp(b.p, all, 256));
    free(b.p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corpus_utf8");
    TCase *tc = tcase_create("utf8");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, chunking_does_not_matter);
    tcase_add_test(tc, error_offsets);
    tcase_add_test(tc, normalization_matches_whole_text);
    tcase_add_test(tc, keep_passes_everything);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
