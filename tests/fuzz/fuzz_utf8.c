/* Fuzz target: the UTF-8 filter of `bytelm prepare` (corpus/utf8_filter.c), checked against an
 * oracle rather than only for crashes. The oracle is utf8proc_iterate run once over the whole
 * input; the filter gets the same bytes in small pieces of fuzzer-chosen sizes, so characters are
 * split across chunk boundaries the way a file read in blocks splits them.
 *
 * Input: byte 0 picks the mode (error / replace / keep / replace+NFC), byte 1 seeds the chunk
 * sizes (bit 7 set: one chunk), the rest is the text. Expected:
 *   error:   valid text passes unchanged; otherwise the error names the offset of the first byte
 *            utf8proc_iterate rejects, and nothing from that byte on reached the sink
 *   replace: each rejected byte becomes U+FFFD, exactly where the oracle puts one
 *   keep:    the bytes as they are
 *   nfc:     the replaced text, NFC-normalized by utf8proc_map in one piece */
#include <utf8proc.h>

#include "corpus/utf8_filter.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define FUZZ_UTF8_BASE 1000 /* input offset of the first text byte, as if a header came before */

static int fuzz_utf8_sink(void *ctx, const uint8_t *p, size_t n, BlErr *e)
{
    (void)e;
    fuzz_buf_add(ctx, p, n);
    return 0;
}

/* The whole input at once: the replaced text, the offset of the first invalid byte (-1 if none)
 * and the number of invalid bytes. */
static void fuzz_utf8_oracle(const uint8_t *p, size_t n, FuzzBuf *out, long long *first_bad, uint64_t *nbad)
{
    static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
    *first_bad = -1;
    *nbad = 0;
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (r > 0) {
            fuzz_buf_add(out, p + i, (size_t)r);
            i += (size_t)r;
            continue;
        }
        if (*first_bad < 0) *first_bad = (long long)i;
        ++*nbad;
        fuzz_buf_add(out, fffd, 3);
        i++;
    }
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int mode = data[0] % 4;
    uint64_t seed = data[1];
    int one_chunk = (data[1] & 0x80) != 0;
    const uint8_t *text = data + 2;
    size_t n = size - 2;

    static const InvalidMode inv[4] = {INVALID_ERROR, INVALID_REPLACE, INVALID_KEEP, INVALID_REPLACE};
    Utf8Filter f;
    FuzzBuf got = {0};
    utf8f_init(&f, inv[mode], mode == 3 ? NORMALIZE_NFC : NORMALIZE_NONE, "text.txt", FUZZ_UTF8_BASE,
               fuzz_utf8_sink, &got);
    BlErr e = {{0}};
    int rc = 0;
    for (size_t pos = 0; pos < n && !rc;) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t k = one_chunk ? n : 1 + (size_t)(seed >> 61) + (size_t)((seed >> 40) & 1) * 5;
        if (k > n - pos) k = n - pos;
        rc = utf8f_push(&f, text + pos, k, &e);
        pos += k;
    }
    if (!rc) rc = utf8f_finish(&f, &e);
    uint64_t replaced = f.replaced;
    utf8f_free(&f);

    FuzzBuf want = {0};
    long long bad;
    uint64_t nbad;
    fuzz_utf8_oracle(text, n, &want, &bad, &nbad);
    if (mode == 0) {
        if (bad < 0) {
            FUZZ_REQUIRE(rc == 0, "valid UTF-8 refused: %s", e.msg);
            FUZZ_REQUIRE(got.n == n && (!n || !memcmp(got.p, text, n)), "valid text changed");
        } else {
            char msg[128];
            snprintf(msg, sizeof msg, "text.txt: invalid UTF-8 (offset %lld)", FUZZ_UTF8_BASE + bad);
            FUZZ_REQUIRE(rc != 0, "invalid byte at %lld accepted", bad);
            FUZZ_REQUIRE(!strcmp(e.msg, msg), "got \"%s\", want \"%s\"", e.msg, msg);
            FUZZ_REQUIRE(got.n <= (size_t)bad && (!got.n || !memcmp(got.p, text, got.n)),
                         "%zu bytes passed on before the invalid byte at %lld", got.n, bad);
        }
    } else if (mode == 1) {
        FUZZ_REQUIRE(rc == 0, "replace mode failed: %s", e.msg);
        FUZZ_REQUIRE(replaced == nbad, "replaced %llu bytes, oracle %llu", (unsigned long long)replaced,
                     (unsigned long long)nbad);
        FUZZ_REQUIRE(got.n == want.n && (!got.n || !memcmp(got.p, want.p, got.n)),
                     "replaced text differs from the oracle (%zu vs %zu bytes)", got.n, want.n);
    } else if (mode == 2) {
        FUZZ_REQUIRE(rc == 0, "keep mode failed: %s", e.msg);
        FUZZ_REQUIRE(got.n == n && (!n || !memcmp(got.p, text, n)), "keep mode changed the bytes");
    } else {
        FUZZ_REQUIRE(rc == 0, "replace+nfc failed: %s", e.msg);
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t m = 0;
        if (want.n) {
            m = utf8proc_map(want.p, (utf8proc_ssize_t)want.n, &nfc,
                             (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
            FUZZ_REQUIRE(m >= 0, "oracle normalization failed: %s", utf8proc_errmsg(m));
        }
        FUZZ_REQUIRE(got.n == (size_t)m && (!m || !memcmp(got.p, nfc, (size_t)m)),
                     "normalized text differs from the oracle (%zu vs %zd bytes)", got.n, (ssize_t)m);
        free(nfc);
    }
    free(got.p);
    free(want.p);
    return 0;
}
