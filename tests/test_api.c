/* The public API (include/bytelm.h) in-process, on the tiny random checkpoint of
 * tests/fixtures: errors as codes with one-line messages naming the file, argument checks,
 * scoring independent of how the stream is cut and equal to eval/bpb's scorer, generation's
 * budget, stop strings, seeds, strict UTF-8 and call order. (tests/test_install.c runs the
 * installed library and its examples against the command.) */
#include "include/bytelm.h"
#include "byte_lm/checkpoint/checkpoint_open.h"
#include "eval/bpb.h"
#include "byte_lm/generate/utf8_stream.h"
#include "tests/test_cli_util.h"

#define CKPT "tests/fixtures/tiny-ref"

static bl_model *open_tiny(void)
{
    bl_error err;
    bl_open_opts o;
    bl_open_opts_init(&o);
    o.threads = 2;
    bl_model *m = bl_model_open(CKPT, &o, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_int_eq(err.code, BL_OK);
    return m;
}

START_TEST(test_version_and_info)
{
    ck_assert_str_eq(bl_version(), BYTELM_VERSION_STRING);
    bl_model *m = open_tiny();
    bl_info info;
    bl_model_info(m, &info);
    ck_assert_int_gt(info.n_layer, 0);
    ck_assert_int_eq(info.d_inner, 2 * info.d_model);
    ck_assert_str_eq(info.device, "cpu");
    ck_assert_str_eq(info.precision, "fp32");
    ck_assert_ptr_nonnull(strstr(info.path, "tiny-ref"));
    printf("bl_model_info: %d layers, d_model %d, %llu parameters, %s %s\n", info.n_layer, info.d_model,
           (unsigned long long)info.n_params, info.device, info.precision);
    bl_model_close(m);
    bl_model_close(NULL);
}
END_TEST

START_TEST(test_open_errors)
{
    bl_error err;
    ck_assert_ptr_null(bl_model_open("/nonexistent/ckpt", NULL, &err));
    ck_assert_int_eq(err.code, BL_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/ckpt"));
    ck_assert_ptr_null(strchr(err.message, '\n'));
    printf("missing checkpoint: %s\n", err.message);

    /* a truncated weights file: the message names it and the offset */
    char *dir = tu_tmpdir("api");
    tu_sh_ok("cp " CKPT "/config.json %s/ && head -c 5000 " CKPT "/model.safetensors > %s/model.safetensors", dir, dir);
    ck_assert_ptr_null(bl_model_open(dir, NULL, &err));
    ck_assert_int_eq(err.code, BL_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.message, "model.safetensors"));
    printf("truncated weights: %s\n", err.message);
    tu_rmdir(dir);

    bl_open_opts o;
    bl_open_opts_init(&o);
    o.device = "tpu";
    ck_assert_ptr_null(bl_model_open(CKPT, &o, &err));
    ck_assert_int_eq(err.code, BL_ERR_ARG);
    bl_open_opts_init(&o);
    o.precision = "fp8";
    ck_assert_ptr_null(bl_model_open(CKPT, &o, &err));
    ck_assert_int_eq(err.code, BL_ERR_ARG);
    ck_assert_ptr_null(bl_model_open(NULL, NULL, &err));
    ck_assert_int_eq(err.code, BL_ERR_ARG);
    ck_assert_ptr_null(bl_model_open("/nonexistent", NULL, NULL)); /* err may be NULL */
}
END_TEST

/* Bits of text fed in pieces of `piece` bytes. */
static bl_score_result score_in_pieces(bl_score *s, const uint8_t *text, size_t n, size_t piece)
{
    bl_error err;
    double bits_so_far = -1;
    for (size_t i = 0; i < n; i += piece) {
        size_t k = n - i < piece ? n - i : piece;
        ck_assert_int_eq(bl_score_feed(s, text + i, k, &bits_so_far, &err), 0);
        ck_assert(bits_so_far >= 0);
    }
    bl_score_result r;
    ck_assert_int_eq(bl_score_finish(s, &r, &err), 0);
    ck_assert(r.bits >= bits_so_far);
    return r;
}

START_TEST(test_score_any_cut_and_equal_to_the_scorer)
{
    size_t n;
    uint8_t *text = (uint8_t *)tu_slurp("data/sample.txt", &n);
    ck_assert_ptr_nonnull(text);
    n = n > 9000 ? 9000 : n; /* over two of the 4096-byte chunks */
    bl_model *m = open_tiny();
    bl_error err;
    bl_score *s = bl_score_open(m, 0, &err);
    ck_assert_ptr_nonnull(s);
    bl_score_result whole = score_in_pieces(s, text, n, n);
    bl_score_result bits7 = score_in_pieces(s, text, n, 7); /* a new stream after finish */
    ck_assert_uint_eq(whole.bytes, n);
    ck_assert_uint_eq(whole.scored, n - 1);
    ck_assert(whole.bits_per_byte == bits7.bits_per_byte);
    ck_assert(whole.bits_per_char == bits7.bits_per_char);

    /* the engine `bytelm eval bpb` runs, on the same checkpoint opened the internal way */
    CkptOpen how = {"cpu", 2, 0, NULL};
    Backend *be;
    Model *im;
    BlErr e;
    ck_assert_int_eq(checkpoint_open(CKPT, &how, &be, &im, NULL, 0, &e), 0);
    BpbScorer *sc = bpb_scorer_create(im, 4096);
    bpb_feed(sc, text, n);
    BpbTally t;
    bpb_end(sc, &t);
    ck_assert(bpb_bits_per_byte(&t) == whole.bits_per_byte);
    bpb_scorer_free(sc);
    model_free(im);
    be->destroy(be);
    printf("bl_score: %zu bytes, %.6f bits/byte, %.6f bits/char, the same cut in 7-byte pieces\n", n,
           whole.bits_per_byte, whole.bits_per_char);

    bl_score_result empty;
    ck_assert_int_eq(bl_score_finish(s, &empty, &err), 0);
    ck_assert_uint_eq(empty.scored, 0);
    ck_assert(isnan(empty.bits_per_byte));
    ck_assert_int_eq(bl_score_feed(s, NULL, 3, NULL, &err), -1);
    ck_assert_int_eq(err.code, BL_ERR_ARG);
    bl_score_close(s);
    bl_model_close(m);
    free(text);
}
END_TEST

/* Generates to the end into out (cap bytes); returns the byte count. */
static size_t gen_all(bl_gen *g, const char *prompt, char *out, size_t cap)
{
    bl_error err;
    ck_assert_int_eq(bl_gen_prompt(g, prompt, strlen(prompt), &err), 0);
    size_t total = 0, n;
    int rc;
    char piece[3]; /* smaller than a character: pieces of any size work */
    while ((rc = bl_gen_next(g, piece, sizeof piece, &n, &err)) > 0) {
        ck_assert_uint_le(total + n, cap);
        memcpy(out + total, piece, n);
        total += n;
    }
    ck_assert_msg(rc == 0, "%s", err.message);
    return total;
}

START_TEST(test_generation_options)
{
    bl_model *m = open_tiny();
    bl_error err;
    bl_gen_opts o;
    bl_gen_opts_init(&o);
    o.utf8 = BL_UTF8_OFF;
    o.max_bytes = 200;
    o.seed = 42;
    bl_gen *g = bl_gen_open(m, &o, &err);
    size_t n;
    char a[1024], b[1024], c[1024];
    char one;
    ck_assert_int_eq(bl_gen_next(g, &one, 1, &n, &err), -1); /* no prompt yet */
    ck_assert_int_eq(err.code, BL_ERR_STATE);
    size_t na = gen_all(g, "Hello", a, sizeof a), nb = gen_all(g, "Hello", b, sizeof b);
    ck_assert_uint_eq(na, 200);
    ck_assert_uint_eq(bl_gen_produced(g), 200);
    ck_assert(nb == na && !memcmp(a, b, na)); /* same seed, same bytes */
    bl_gen_close(g);
    o.seed = 43;
    g = bl_gen_open(m, &o, &err);
    size_t nc = gen_all(g, "Hello", c, sizeof c);
    ck_assert(nc != na || memcmp(a, c, na)); /* another seed, other bytes */
    bl_gen_close(g);

    /* stop strings: the output ends with the first one to appear */
    o.seed = 42;
    const char *stops[2] = {"zzzz-never", ""};
    char s2[3] = {a[60], a[61], 0};
    stops[1] = s2;
    o.stop = stops;
    o.n_stop = 2;
    g = bl_gen_open(m, &o, &err);
    ck_assert_ptr_nonnull(g);
    size_t ns = gen_all(g, "Hello", b, sizeof b);
    size_t want = 0;
    for (size_t i = 1; i < na; i++)
        if (a[i - 1] == s2[0] && a[i] == s2[1]) {
            want = i + 1;
            break;
        }
    ck_assert_uint_eq(ns, want);
    ck_assert(!memcmp(a, b, ns));
    printf("stop string at byte %zu of 200, as the unstopped run predicts\n", ns);
    bl_gen_close(g);

    /* strict UTF-8: valid text, ending on a whole character within the budget */
    bl_gen_opts_init(&o);
    o.utf8 = BL_UTF8_STRICT;
    o.max_bytes = 300;
    g = bl_gen_open(m, &o, &err);
    size_t nt = gen_all(g, "", c, sizeof c);
    ck_assert_uint_le(nt, 300);
    Utf8State st = {0};
    for (size_t i = 0; i < nt; i++) ck_assert_int_ne(utf8_state_push(&st, (uint8_t)c[i]), UTF8_REJECT);
    ck_assert_int_eq(st.len, 0);
    bl_gen_close(g);

    /* bad options are refused with BL_ERR_ARG */
    bl_gen_opts_init(&o);
    o.top_p = 0;
    ck_assert_ptr_null(bl_gen_open(m, &o, &err));
    ck_assert_int_eq(err.code, BL_ERR_ARG);
    bl_gen_opts_init(&o);
    const char *empty[1] = {""};
    o.stop = empty, o.n_stop = 1;
    ck_assert_ptr_null(bl_gen_open(m, &o, &err));
    ck_assert_int_eq(err.code, BL_ERR_ARG);
    bl_gen_opts_init(&o);
    o.temperature = -1;
    ck_assert_ptr_null(bl_gen_open(m, &o, &err));
    bl_gen_close(NULL);
    bl_model_close(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_version_and_info);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_score_any_cut_and_equal_to_the_scorer);
    tcase_add_test(tc, test_generation_options);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
