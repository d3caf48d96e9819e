/* Exact bits-per-byte: the chunked, state-carrying scorer against the plain parallel forward over
 * the whole text as one row; the untrained model's ~8 bits; UTF-8 character counts that do not
 * depend on how the stream is cut. */
#include <math.h>
#include <utf8proc.h>

#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "eval/bpb.h"
#include "eval/utf8_count.h"
#include "tests/test_util.h"

#define LN2 0.69314718055994530942

static Model *tiny_model(Backend *be, uint64_t seed)
{
    ModelConfig c;
    config_default(&c, 32, 2);
    BlErr e;
    Model *m;
    ck_assert_msg(model_create(&m, &c, be, &e) == 0, "%s", e.msg);
    model_init_params(m, seed);
    return m;
}

/* Mixed-language text with multi-byte characters, repeated with small changes so a model can
 * learn it quickly. */
static size_t make_text(uint8_t *buf, size_t cap, uint64_t seed)
{
    static const char *const parts[] = {"the quick brown fox ", "jumps over the lazy dog. ",
                                        "größer als ", "naïve café ", "ελληνικά ", "日本語 ",
                                        "a ∑ of 𝄞 notes, "};
    size_t n = 0;
    uint64_t s = seed;
    while (1) {
        const char *p = parts[tu_next(&s) % 7];
        size_t k = strlen(p);
        if (n + k > cap) break;
        memcpy(buf + n, p, k);
        n += k;
    }
    return n;
}

/* A model that has learned something, so every byte's loss depends on its context: a wrong byte
 * at a chunk boundary would change that byte's loss visibly. */
static void train_briefly(Model *m, const uint8_t *text, size_t n)
{
    OptimConfig oc;
    optim_config_default(&oc);
    oc.lr = 5e-3f;
    oc.warmup_steps = 5;
    oc.total_steps = 80;
    Optimizer opt;
    optimizer_init(&opt, m, &oc);
    int B = 8, L = 48;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    uint64_t s = 17;
    for (int step = 0; step < oc.total_steps; step++) {
        for (int b = 0; b < B; b++) memcpy(batch + b * (L + 1), text + tu_next(&s) % (n - L - 1), L + 1);
        model_zero_grads(m);
        model_forward_backward(m, batch, B, L, 1.0f);
        optimizer_step(&opt, m, NULL);
    }
    optimizer_free(&opt, m);
    free(batch);
}

/* Reads a whole file back (the scorer is fed from the file, as the CLI does). */
static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n + 1);
    ck_assert_uint_eq(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

static BpbTally score(Model *m, const uint8_t *p, size_t n, int chunk, size_t piece, float *rec)
{
    BpbScorer *sc = bpb_scorer_create(m, chunk);
    bpb_record_losses(sc, rec, rec ? n : 0);
    bpb_begin(sc);
    for (size_t i = 0; i < n; i += piece) bpb_feed(sc, p + i, n - i < piece ? n - i : piece);
    BpbTally t;
    bpb_end(sc, &t);
    bpb_scorer_free(sc);
    return t;
}

START_TEST(test_chunked_equals_parallel)
{
    Backend *be = backend_cpu_create(1);
    Model *m = tiny_model(be, 3);
    uint8_t gen[1400];
    size_t glen = make_text(gen, sizeof gen, 5);
    train_briefly(m, gen, glen);

    char *dir = tu_tmpdir("bpb");
    char path[600];
    snprintf(path, sizeof path, "%s/text.txt", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(gen, 1, glen, f), glen);
    fclose(f);
    size_t n;
    uint8_t *text = read_file(path, &n);
    const int chunk = 77;
    ck_assert(n % chunk != 0 && (n - 1) % chunk != 0); /* the last chunk is a partial one */

    /* reference: the plain parallel forward over the whole file as one row */
    int L = (int)n - 1;
    float *ref = malloc((size_t)L * sizeof(float)), *got = malloc((size_t)L * sizeof(float));
    model_forward(m, text, text + 1, 1, L, ref, NULL);
    double ref_nats = 0;
    for (int i = 0; i < L; i++) ref_nats += ref[i];

    BpbTally t = score(m, text, n, chunk, 13, got);
    ck_assert_uint_eq(t.bytes, n);
    ck_assert_uint_eq(t.scored, n - 1);
    double worst = 0, worst_boundary = 0;
    for (int i = 0; i < L; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (d > worst) worst = d;
        if (i % chunk == 0 && d > worst_boundary) worst_boundary = d;
    }
    double ref_bpb = ref_nats / LN2 / L, rel = fabs(t.nats - ref_nats) / ref_nats;
    printf("bpb equality: %zu bytes, chunk %d (%d full chunks + %d), pieces of 13\n", n, chunk,
           L / chunk, L % chunk);
    printf("  parallel forward: %.9f bits/byte (%.6f nats total)\n", ref_bpb, ref_nats);
    printf("  chunked scorer:   %.9f bits/byte (%.6f nats total), rel diff %.2e\n",
           bpb_bits_per_byte(&t), t.nats, rel);
    printf("  per-byte loss: max |diff| %.2e nats, at chunk starts %.2e\n", worst, worst_boundary);
    /* a model that uses its context (far below 8 bits), so a boundary slip could not hide */
    ck_assert_msg(ref_bpb < 4.0, "model barely trained: %.3f bits/byte", ref_bpb);
    ck_assert_msg(worst < 1e-4, "per-byte loss differs by %.3e nats", worst);
    ck_assert_msg(rel < 1e-6, "total differs: rel %.3e", rel);

    /* the chunk size and the read pieces change nothing: one byte per call, or one call */
    BpbTally t1 = score(m, text, n, 1, 1000, NULL), tn = score(m, text, n, 8192, 1, NULL);
    printf("  chunk 1: %.9f, chunk 8192: %.9f bits/byte\n", bpb_bits_per_byte(&t1), bpb_bits_per_byte(&tn));
    ck_assert(fabs(t1.nats - ref_nats) / ref_nats < 1e-6);
    ck_assert(fabs(tn.nats - ref_nats) / ref_nats < 1e-6);

    /* bits per character: the same bits over the characters with a scored byte */
    uint64_t chars = utf8_count_all(text, n);
    ck_assert_uint_eq(t.chars, chars - 1); /* the text starts with a one-byte character */
    ck_assert(fabs(bpb_bits_per_char(&t) - t.nats / LN2 / (double)(chars - 1)) < 1e-12);
    printf("  %llu characters: %.6f bits/char\n", (unsigned long long)t.chars, bpb_bits_per_char(&t));

    remove(path);
    rmdir(dir);
    free(dir), free(text), free(ref), free(got);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* An untrained model spreads its prediction evenly over 256 bytes: log2(256) = 8 bits. */
START_TEST(test_untrained_is_8_bits)
{
    Backend *be = backend_cpu_create(1);
    Model *m = tiny_model(be, 11);
    uint8_t text[3000];
    size_t n = make_text(text, sizeof text, 9);
    BpbTally t = score(m, text, n, 500, 4096, NULL);
    printf("untrained model: %.4f bits/byte over %llu bytes, %.4f bits/char\n",
           bpb_bits_per_byte(&t), (unsigned long long)t.scored, bpb_bits_per_char(&t));
    ck_assert(fabs(bpb_bits_per_byte(&t) - 8.0) < 0.05);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* Nothing to score: NaN figures, not a crash or a division by zero in disguise. */
START_TEST(test_empty_and_single_byte)
{
    Backend *be = backend_cpu_create(1);
    Model *m = tiny_model(be, 1);
    BpbTally t = score(m, (const uint8_t *)"", 0, 16, 1, NULL);
    ck_assert_uint_eq(t.bytes, 0);
    ck_assert_uint_eq(t.scored, 0);
    ck_assert(isnan(bpb_bits_per_byte(&t)) && isnan(bpb_bits_per_char(&t)));
    t = score(m, (const uint8_t *)"x", 1, 16, 1, NULL);
    ck_assert_uint_eq(t.bytes, 1);
    ck_assert_uint_eq(t.scored, 0);
    ck_assert_uint_eq(t.chars, 0);
    /* a first character of several bytes keeps its scored bytes, so it counts */
    t = score(m, (const uint8_t *)"\xc3\xa9t\xc3\xa9", 5, 2, 1, NULL);
    ck_assert_uint_eq(t.scored, 4);
    ck_assert_uint_eq(t.chars, 3);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* Character counts: utf8proc's view of the whole buffer, whatever the pieces. */
START_TEST(test_utf8_count_any_pieces)
{
    /* ASCII, 2-, 3- and 4-byte characters, a stray continuation byte, a truncated sequence,
     * an overlong encoding and a lone lead byte at the very end */
    const uint8_t text[] = "a\xc3\xa9\xe2\x88\x91\xf0\x9d\x84\x9e b\x80x\xe2\x88y\xc0\xafz\xf0";
    size_t n = sizeof text - 1;
    uint64_t want = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(text + i, (utf8proc_ssize_t)(n - i), &cp);
        i += r > 0 ? (size_t)r : 1;
        want++;
    }
    ck_assert_uint_eq(utf8_count_all(text, n), want);
    ck_assert_uint_eq(utf8_count_all((const uint8_t *)"a\xc3\xa9\xe2\x88\x91\xf0\x9d\x84\x9e", 10), 4);
    for (size_t piece = 1; piece <= 9; piece++)
        for (size_t first = 0; first <= 5; first++) {
            Utf8Count c;
            utf8_count_init(&c);
            size_t i = 0, k = first;
            while (i < n) {
                size_t take = k < n - i ? k : n - i;
                utf8_count_feed(&c, text + i, take);
                i += take;
                k = piece;
            }
            utf8_count_finish(&c);
            ck_assert_msg(c.chars == want, "pieces %zu (first %zu): %llu chars, want %llu", piece,
                          first, (unsigned long long)c.chars, (unsigned long long)want);
        }
    printf("utf8 count: %llu characters in %zu bytes, same for every cut\n",
           (unsigned long long)want, n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval_bpb");
    TCase *tc = tcase_create("bpb");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_chunked_equals_parallel);
    tcase_add_test(tc, test_untrained_is_8_bits);
    tcase_add_test(tc, test_empty_and_single_byte);
    tcase_add_test(tc, test_utf8_count_any_pieces);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
