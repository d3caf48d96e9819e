/* The fuzzers' findings kept as plain tests: every seed and every past crash input of the fuzz
 * targets (tests/fuzz/) is fed to the same target code, compiled here with gcc, so a bug a fuzzer
 * found stays fixed without clang or libFuzzer, and under the sanitizer build of
 * `make SANITIZE=1 test`; and each UTF-8 filter bug they found, as a direct test. */
#include <dirent.h>
#include <sys/stat.h>

#include "tests/test_util.h"

#define FUZZ_ENTRY fuzz_safetensors_one
#include "tests/fuzz/fuzz_safetensors.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_config_one
#include "tests/fuzz/fuzz_config.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_shard_one
#include "tests/fuzz/fuzz_shard.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_utf8_one
#include "tests/fuzz/fuzz_utf8.c"
#undef FUZZ_ENTRY

/* ---- the fuzzers' findings, as plain tests ---- */

static int collect(void *ctx, const uint8_t *p, size_t n, BlErr *e)
{
    (void)e;
    fuzz_buf_add(ctx, p, n);
    return 0;
}

/* fuzz utf8, regressions/utf8/empty-text-finish: a document that ends before any byte came
 * (utf8f_finish straight after utf8f_init) is empty and fine; it used to memmove from a NULL
 * buffer (undefined behaviour, reported by UBSan). */
START_TEST(utf8_finish_without_bytes)
{
    for (int mode = 0; mode < 3; mode++) {
        Utf8Filter f;
        FuzzBuf out = {0};
        BlErr e;
        utf8f_init(&f, (InvalidMode)mode, NORMALIZE_NONE, "doc", 0, collect, &out);
        ck_assert_int_eq(utf8f_finish(&f, &e), 0);
        ck_assert_uint_eq(out.n, 0);
        utf8f_free(&f);
        free(out.p);
    }
}
END_TEST

/* fuzz utf8, regressions/utf8/nfc-carry-only-first-chunk: with normalization on, a first chunk
 * that is only the start of a character (held back for the next chunk) passes nothing on; at
 * the end each of its bytes becomes U+FFFD. It used to copy zero bytes to a NULL pending buffer
 * (undefined behaviour, reported by UBSan). */
START_TEST(utf8_nfc_first_chunk_held_back)
{
    Utf8Filter f;
    FuzzBuf out = {0};
    BlErr e;
    utf8f_init(&f, INVALID_REPLACE, NORMALIZE_NFC, "doc", 0, collect, &out);
    ck_assert_int_eq(utf8f_push(&f, (const uint8_t *)"\xe2\x82", 2, &e), 0);
    ck_assert_int_eq(utf8f_finish(&f, &e), 0);
    ck_assert_uint_eq(out.n, 6);
    ck_assert(memcmp(out.p, "\xef\xbf\xbd\xef\xbf\xbd", 6) == 0);
    ck_assert_uint_eq(f.replaced, 2);
    utf8f_free(&f);
    free(out.p);
}
END_TEST

/* ---- replays of the fuzz targets' inputs ---- */

typedef int (*FuzzEntry)(const uint8_t *, size_t);

/* Feeds every file of tests/fuzz/DIR/ to the target; returns how many. A failing oracle aborts,
 * which Check reports as this test dying by a signal. */
static int replay_dir(FuzzEntry entry, const char *dir)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort), count = 0;
    for (int i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, ents[i]->d_name);
        struct stat st;
        if (ents[i]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len = 0;
            char *data = tu_slurp(p, &len);
            ck_assert_msg(data != NULL, "cannot read %s", p);
            /* an exact-size copy, so a read past the end is past the allocation */
            uint8_t *copy = malloc(len ? len : 1);
            memcpy(copy, data, len);
            fprintf(stderr, "replay %s\n", p);
            entry(copy, len);
            free(copy);
            free(data);
            count++;
        }
        free(ents[i]);
    }
    if (n >= 0) free(ents);
    return count;
}

static void replay(FuzzEntry entry, const char *target)
{
    char seeds[256], regress[256];
    snprintf(seeds, sizeof seeds, "tests/fuzz/seeds/%s", target);
    snprintf(regress, sizeof regress, "tests/fuzz/regressions/%s", target);
    int a = replay_dir(entry, seeds), b = replay_dir(entry, regress);
    printf("fuzz replay %-12s %d seeds, %d past crash inputs: oracles hold\n", target, a, b);
    ck_assert_int_gt(a, 0);
}

START_TEST(replay_safetensors) { replay(fuzz_safetensors_one, "safetensors"); }
END_TEST
START_TEST(replay_config) { replay(fuzz_config_one, "config"); }
END_TEST
START_TEST(replay_shard) { replay(fuzz_shard_one, "shard"); }
END_TEST
START_TEST(replay_utf8) { replay(fuzz_utf8_one, "utf8"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("fuzz-regressions");
    TCase *found = tcase_create("fuzz-findings");
    tcase_add_test(found, utf8_finish_without_bytes);
    tcase_add_test(found, utf8_nfc_first_chunk_held_back);
    suite_add_tcase(s, found);
    TCase *fz = tcase_create("fuzz-replay");
    tcase_add_test(fz, replay_safetensors);
    tcase_add_test(fz, replay_config);
    tcase_add_test(fz, replay_shard);
    tcase_add_test(fz, replay_utf8);
    suite_add_tcase(s, fz);
    return tu_run(s);
}
