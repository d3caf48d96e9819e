/* UTF-8 state machine, strict next-byte sets and the replacing output stream: the machine against
 * utf8proc over every 1-4 byte sequence, replacement against Python's decoder, and streaming in
 * whole characters. */
#include <utf8proc.h>

#include "byte_lm/generate/utf8_stream.h"
#include "tests/test_util.h"

/* ck_assert marks a checkpoint on every pass; the exhaustive walk only reports failures */
#define REQUIRE(cond, ...)                        \
    do {                                          \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);   \
    } while (0)

/* Bit sets of the proper prefixes (length 1..3) of every valid character's encoding, built by
 * encoding each valid code point with utf8proc: the truth for "can this still become valid". */
typedef struct {
    uint8_t *bits[4]; /* bits[k]: prefixes of length k, indexed by the k bytes big-endian */
} PrefixSet;

static uint32_t pack(const uint8_t *q, int k)
{
    uint32_t v = 0;
    for (int i = 0; i < k; i++) v = v << 8 | q[i];
    return v;
}

static void prefixes_build(PrefixSet *ps)
{
    for (int k = 1; k <= 3; k++) ps->bits[k] = calloc(((size_t)1 << (8 * k)) / 8, 1);
    for (int32_t cp = 0; cp < 0x110000; cp++) {
        if (!utf8proc_codepoint_valid(cp)) continue;
        uint8_t q[4];
        int n = (int)utf8proc_encode_char(cp, q);
        int32_t back;
        REQUIRE(utf8proc_iterate(q, n, &back) == n && back == cp, "U+%04X does not round-trip", cp);
        for (int k = 1; k < n; k++) {
            uint32_t v = pack(q, k);
            ps->bits[k][v >> 3] |= (uint8_t)(1u << (v & 7));
        }
    }
}

static int is_prefix(const PrefixSet *ps, const uint8_t *q, int k)
{
    if (k > 3) return 0;
    uint32_t v = pack(q, k);
    return ps->bits[k][v >> 3] >> (v & 7) & 1;
}

static int is_char(const uint8_t *q, int k)
{
    int32_t cp;
    return utf8proc_iterate(q, k, &cp) == k;
}

typedef struct {
    const PrefixSet *ps;
    long accepted, nodes;
} Walk;

/* Visits every child q+b of a prefix the machine accepts and checks the machine's verdict on it,
 * and utf8_allowed's set at q for every budget, against utf8proc. By induction from the empty
 * prefix this covers every byte sequence of length 1..4 the machine could be asked about. */
static void walk(Walk *w, const Utf8State *s, uint8_t *q, int k)
{
    for (long budget = 0; budget <= 5; budget++) {
        uint8_t allowed[256];
        int count = utf8_allowed(s, budget, allowed);
        REQUIRE(count > 0, "nothing allowed at prefix len %d", k);
        for (int b = 0; b < 256; b++) {
            q[k] = (uint8_t)b;
            int valid = is_char(q, k + 1) || is_prefix(w->ps, q, k + 1);
            int lead = utf8_lead_length((uint8_t)b);
            int fits = k > 0 || budget == 0 || lead <= budget;
            REQUIRE(allowed[b] == (valid && fits), "allowed mismatch: prefix len %d byte %02X budget %ld",
                          k, b, budget);
        }
    }
    for (int b = 0; b < 256; b++) {
        q[k] = (uint8_t)b;
        Utf8State t = *s;
        int r = utf8_state_push(&t, (uint8_t)b);
        int want = is_char(q, k + 1) ? UTF8_DONE : is_prefix(w->ps, q, k + 1) ? UTF8_MORE : UTF8_REJECT;
        REQUIRE(r == want, "sequence of %d bytes ending %02X: machine %d, utf8proc %d", k + 1, b, r, want);
        w->nodes++;
        if (r == UTF8_DONE) {
            w->accepted++;
            REQUIRE(t.need == 0 && t.len == 0, "state not at a boundary after a character");
        } else if (r == UTF8_REJECT) {
            REQUIRE(!memcmp(&t, s, sizeof t), "a rejected byte changed the state");
        } else {
            REQUIRE(k + 1 < 4, "a 4-byte prefix still wants more");
            walk(w, &t, q, k + 1);
        }
    }
}

START_TEST(test_machine_matches_utf8proc)
{
    PrefixSet ps;
    prefixes_build(&ps);
    Walk w = {&ps, 0, 0};
    Utf8State s = {0};
    uint8_t q[4];
    walk(&w, &s, q, 0);
    printf("utf8 machine: %ld sequences checked against utf8proc, %ld valid characters\n", w.nodes,
           w.accepted);
    /* every Unicode scalar value exactly once: 0x110000 minus 2048 surrogates */
    ck_assert_int_eq(w.accepted, 0x110000 - 0x800);
    for (int k = 1; k <= 3; k++) free(ps.bits[k]);
}
END_TEST

typedef struct {
    uint8_t buf[4096];
    size_t n;
    int calls;
    int bad_call; /* a call that was not exactly one character */
} Sink;

static void sink_put(void *ctx, const uint8_t *bytes, size_t n)
{
    Sink *k = ctx;
    ck_assert_uint_le(k->n + n, sizeof k->buf);
    int32_t cp;
    if (utf8proc_iterate(bytes, (utf8proc_ssize_t)n, &cp) != (utf8proc_ssize_t)n) k->bad_call = 1;
    memcpy(k->buf + k->n, bytes, n);
    k->n += n;
    k->calls++;
}

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* Expected outputs are Python 3's bytes.decode("utf-8", "replace"), which replaces maximal
 * subparts as the Unicode Standard recommends (its Table 3-8 is the first case). */
START_TEST(test_safe_stream_matches_python_replace)
{
    static const char *cases[][2] = {
        {"61F18080E180C262806380BF64", "61efbfbdefbfbdefbfbd62efbfbd63efbfbdefbfbd64"},
        {"E080", "efbfbdefbfbd"},                         /* overlong 3-byte lead */
        {"EDA080", "efbfbdefbfbdefbfbd"},                 /* surrogate U+D800 */
        {"61E282", "61efbfbd"},                           /* incomplete at the end */
        {"F4908080", "efbfbdefbfbdefbfbdefbfbd"},         /* above U+10FFFF */
        {"F08FBFBF", "efbfbdefbfbdefbfbdefbfbd"},         /* overlong 4-byte */
        {"C0AF", "efbfbdefbfbd"},                         /* C0 never valid */
        {"E282ACF09F9880", "e282acf09f9880"},             /* euro sign, emoji: unchanged */
        {"F580", "efbfbdefbfbd"},
        {"E28261", "efbfbd61"},                           /* cut short by ASCII */
        {"ED9FBFEE8080", "ed9fbfee8080"},                 /* around the surrogate block */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t in[64], want[64];
        size_t n = unhex(cases[i][0], in), nw = unhex(cases[i][1], want);
        Sink k = {0};
        Utf8Stream s;
        utf8_stream_init(&s, UTF8_SAFE, sink_put, &k);
        utf8_stream_write(&s, in, n);
        utf8_stream_finish(&s);
        ck_assert_msg(k.n == nw && !memcmp(k.buf, want, nw), "case %s", cases[i][0]);
        ck_assert_int_eq(k.bad_call, 0);
    }
}
END_TEST

/* Random bytes (biased towards the interesting ranges) always come out as valid UTF-8, one
 * whole character per sink call, and valid input comes out unchanged. */
START_TEST(test_safe_stream_random_bytes)
{
    uint64_t seed = 42;
    for (int trial = 0; trial < 2000; trial++) {
        uint8_t in[48];
        size_t n = 1 + tu_next(&seed) % sizeof in;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = tu_next(&seed);
            in[i] = (r & 3) == 0 ? (uint8_t)(0x80 | (r >> 8 & 0x3F)) : (uint8_t)(r >> 8);
        }
        Sink k = {0};
        Utf8Stream s;
        utf8_stream_init(&s, UTF8_SAFE, sink_put, &k);
        utf8_stream_write(&s, in, n);
        utf8_stream_finish(&s);
        REQUIRE(!k.bad_call, "a sink call was not one character");
        /* count the characters utf8proc finds in the input: the stream writes them unchanged */
        size_t pos = 0, valid_bytes = 0;
        while (pos < n) {
            int32_t cp;
            utf8proc_ssize_t r = utf8proc_iterate(in + pos, (utf8proc_ssize_t)(n - pos), &cp);
            if (r > 0) valid_bytes += (size_t)r, pos += (size_t)r;
            else pos++;
        }
        if (valid_bytes == n)
            REQUIRE(s.replacements == 0 && k.n == n && !memcmp(k.buf, in, n), "valid input changed");
        else
            REQUIRE(s.replacements > 0, "invalid input passed without replacement");
        REQUIRE(k.n == valid_bytes + 3 * (size_t)s.replacements, "output is not characters + U+FFFDs");
    }
}
END_TEST

START_TEST(test_off_mode_passes_raw_bytes)
{
    uint8_t in[] = {0x61, 0xFF, 0xE2, 0x82, 0x00, 0xC0};
    Sink k = {0};
    Utf8Stream s;
    utf8_stream_init(&s, UTF8_OFF, sink_put, &k);
    utf8_stream_write(&s, in, sizeof in);
    utf8_stream_finish(&s);
    ck_assert_uint_eq(k.n, sizeof in);
    ck_assert_mem_eq(k.buf, in, sizeof in);
    ck_assert_int_eq(k.calls, (int)sizeof in);
    ck_assert_int_eq(s.replacements, 0);
}
END_TEST

/* Walking only through allowed bytes with a budget always ends on a character boundary, and
 * every budget can be spent exactly. */
START_TEST(test_budget_ends_on_boundary)
{
    uint64_t seed = 9;
    for (int trial = 0; trial < 3000; trial++) {
        long budget = 1 + (long)(tu_next(&seed) % 12);
        Utf8State st = {0};
        uint8_t out[16];
        for (long i = 0; i < budget; i++) {
            uint8_t allowed[256];
            int count = utf8_allowed(&st, budget - i, allowed);
            REQUIRE(count > 0, "nothing allowed");
            int pick = (int)(tu_next(&seed) % (uint64_t)count);
            int b = 0;
            for (;; b++)
                if (allowed[b] && pick-- == 0) break;
            out[i] = (uint8_t)b;
            REQUIRE(utf8_state_push(&st, (uint8_t)b) != UTF8_REJECT, "allowed byte rejected");
        }
        REQUIRE(st.need == 0, "budget %ld ended inside a character", budget);
        int32_t cp;
        for (long pos = 0; pos < budget;) {
            utf8proc_ssize_t r = utf8proc_iterate(out + pos, budget - pos, &cp);
            REQUIRE(r > 0, "invalid UTF-8 at %ld", pos);
            pos += r;
        }
    }
}
END_TEST

START_TEST(test_mode_names)
{
    Utf8Mode m;
    ck_assert_int_eq(utf8_mode_parse("strict", &m), 0);
    ck_assert_int_eq(m, UTF8_STRICT);
    ck_assert_str_eq(utf8_mode_name(m), "strict");
    ck_assert_int_eq(utf8_mode_parse("off", &m), 0);
    ck_assert_str_eq(utf8_mode_name(m), "off");
    ck_assert_int_eq(utf8_mode_parse("safe", &m), 0);
    ck_assert_str_eq(utf8_mode_name(m), "safe");
    ck_assert_int_eq(utf8_mode_parse("Safe", &m), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("utf8_stream");
    TCase *tc = tcase_create("utf8");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_machine_matches_utf8proc);
    tcase_add_test(tc, test_safe_stream_matches_python_replace);
    tcase_add_test(tc, test_safe_stream_random_bytes);
    tcase_add_test(tc, test_off_mode_passes_raw_bytes);
    tcase_add_test(tc, test_budget_ends_on_boundary);
    tcase_add_test(tc, test_mode_names);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
