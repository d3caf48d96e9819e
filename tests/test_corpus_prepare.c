/* `bytelm prepare` end to end: round trips checked with the zstd CLI, the split, determinism,
 * and the output directory's safety on failure. */
#include <cjson/cJSON.h>
#include <inttypes.h>

#include "corpus/fnv1a.h"
#include "corpus/manifest.h"
#include "tests/corpus/corpus_test_util.h"

typedef struct {
    char path[512];
    uint8_t *data;
    size_t n;
} Doc;

/* Decodes every shard of a split with the zstd CLI, checking `zstd -t` and the fnv1a64 in
 * corpus.json on the way; returns the concatenation. */
static uint8_t *decode_split(const char *dir, const char *split, size_t *len)
{
    Manifest m;
    BlErr e;
    ck_assert_msg(manifest_load(&m, dir, &e) == 0, "%s", e.msg);
    const ManifestSplit *s = manifest_split(&m, split);
    size_t cap = s->bytes + 1, n = 0;
    uint8_t *all = malloc(cap);
    for (int i = 0; i < s->nshards; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, s->shards[i].file);
        ck_assert_msg(ct_sh(NULL, NULL, "zstd -q -t '%s'", p) == 0, "zstd -t rejects %s", p);
        size_t k;
        uint8_t *b = ct_zstd_decode(p, &k);
        ck_assert_uint_eq(k, s->shards[i].bytes);
        ck_assert_msg(fnv1a64_update(FNV1A64_INIT, b, k) == s->shards[i].fnv1a64, "checksum of %s", p);
        ck_assert_uint_le(n + k, s->bytes);
        memcpy(all + n, b, k);
        n += k;
        free(b);
    }
    ck_assert_uint_eq(n, s->bytes);
    manifest_free(&m);
    *len = n;
    return all;
}

/* The names of the validation documents listed in corpus.json. */
static int is_val_doc(const char *dir, const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/corpus.json", dir);
    char *text = (char *)ct_read(p, NULL);
    cJSON *root = cJSON_Parse(text);
    const cJSON *vd = cJSON_GetObjectItem(root, "val_documents"), *it;
    int found = 0;
    cJSON_ArrayForEach(it, vd) if (!strcmp(cJSON_GetObjectItem(it, "name")->valuestring, name)) found = 1;
    cJSON_Delete(root);
    free(text);
    return found;
}

static void make_tree(const char *root, Doc *docs, int ndocs, uint64_t seed)
{
    char p[600];
    snprintf(p, sizeof p, "%s/in/sub", root);
    ck_assert_int_eq(ct_sh(NULL, NULL, "mkdir -p '%s'", p), 0);
    for (int i = 0; i < ndocs; i++) {
        /* sorted walk order: in/d00.txt, in/d01.txt, ..., then in/sub/... */
        if (i < ndocs / 2) snprintf(docs[i].path, sizeof docs[i].path, "%s/in/d%02d.txt", root, i);
        else snprintf(docs[i].path, sizeof docs[i].path, "%s/in/sub/e%02d.txt", root, i);
        docs[i].n = 1000 + (size_t)(tu_next(&seed) % 60000);
        docs[i].data = ct_text(seed + (uint64_t)i, docs[i].n);
        ct_write(docs[i].path, docs[i].data, docs[i].n);
    }
    /* skipped: a hidden file and an empty file */
    snprintf(p, sizeof p, "%s/in/.hidden", root);
    ct_write(p, "not a document", 14);
    snprintf(p, sizeof p, "%s/in/empty.txt", root);
    ct_write(p, "", 0);
}

START_TEST(roundtrip_directory)
{
    char *tmp = tu_tmpdir("prep-rt");
    enum { N = 12 };
    Doc docs[N];
    make_tree(tmp, docs, N, 7);
    char *out, *err;
    int rc = ct_sh(&out, &err, "%s prepare '%s/in' -o '%s/c' --frame-size 4KiB --shard-size 32KiB --val-fraction 0.1 --json",
                   ct_bytelm(), tmp, tmp);
    ck_assert_msg(rc == 0, "prepare failed: %s", err);
    ck_assert_ptr_nonnull(strstr(out, "\"documents\":12"));
    ck_assert_ptr_nonnull(strstr(out, "\"empty_documents_skipped\":1"));
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", tmp);
    size_t tn, vn;
    uint8_t *train = decode_split(dir, "train", &tn), *val = decode_split(dir, "val", &vn);
    size_t ti = 0, vi = 0, nval = 0;
    for (int i = 0; i < N; i++) {
        int v = is_val_doc(dir, docs[i].path);
        nval += (size_t)v;
        uint8_t *dst = v ? val + vi : train + ti;
        size_t room = v ? vn - vi : tn - ti;
        ck_assert_uint_ge(room, docs[i].n);
        ck_assert_msg(!memcmp(dst, docs[i].data, docs[i].n), "document %s differs", docs[i].path);
        *(v ? &vi : &ti) += docs[i].n;
    }
    ck_assert_uint_eq(ti, tn);
    ck_assert_uint_eq(vi, vn);
    ck_assert_uint_ge(nval, 1);
    ck_assert_uint_lt(nval, N);
    /* several shards per split were written, and none is larger than asked */
    char third[700];
    snprintf(third, sizeof third, "%s/train-00002.zst", dir);
    ck_assert(ct_exists(third));
    for (int i = 0; i < N; i++) free(docs[i].data);
    free(train), free(val), free(out), free(err);
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(single_document_tail_and_stdin)
{
    char *tmp = tu_tmpdir("prep-one");
    size_t n = 300000;
    uint8_t *text = ct_text(11, n);
    char in[600], dir[600], dir2[600];
    snprintf(in, sizeof in, "%s/one.txt", tmp);
    snprintf(dir, sizeof dir, "%s/c", tmp);
    snprintf(dir2, sizeof dir2, "%s/c2", tmp);
    ct_write(in, text, n);
    char *err;
    ck_assert_int_eq(ct_sh(NULL, &err, "%s prepare '%s' -o '%s' --val-fraction 0.05 -q", ct_bytelm(), in, dir), 0);
    free(err);
    size_t tn, vn;
    uint8_t *train = decode_split(dir, "train", &tn), *val = decode_split(dir, "val", &vn);
    ck_assert_uint_eq(tn + vn, n);
    ck_assert_uint_ge(vn, n / 20);
    ck_assert(!memcmp(train, text, tn) && !memcmp(val, text + tn, vn));
    ck_assert_msg(text[tn - 1] == '\n', "the validation tail starts after a newline");
    /* the same bytes through stdin give the same split and the same shards */
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare - -o '%s' --val-fraction 0.05 -q < '%s'", ct_bytelm(), dir2, in), 0);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cmp '%s/train-00000.zst' '%s/train-00000.zst' && cmp '%s/val-00000.zst' '%s/val-00000.zst'",
                           dir, dir2, dir, dir2),
                     0);
    char spool[700];
    snprintf(spool, sizeof spool, "%s/.stdin", dir2);
    ck_assert(!ct_exists(spool));
    free(train), free(val), free(text);
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(deterministic_and_seeded)
{
    char *tmp = tu_tmpdir("prep-det");
    enum { N = 30 };
    Doc docs[N];
    make_tree(tmp, docs, N, 99);
    for (int i = 0; i < N; i++) free(docs[i].data);
    const char *b = ct_bytelm();
    ck_assert_int_eq(ct_sh(NULL, NULL, "cd '%s' && %s prepare in -o a -q --frame-size 8KiB --val-fraction 0.2", tmp, b), 0);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cd '%s' && %s prepare in -o b -q --frame-size 8KiB --val-fraction 0.2", tmp, b), 0);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cd '%s' && %s prepare in -o s -q --frame-size 8KiB --val-fraction 0.2 --seed 5", tmp, b), 0);
    ck_assert_msg(ct_sh(NULL, NULL, "cd '%s' && diff -r a b", tmp) == 0, "two runs differ");
    ck_assert_msg(ct_sh(NULL, NULL, "cd '%s' && cmp -s a/val-00000.zst s/val-00000.zst", tmp) != 0,
                  "another seed should choose other validation documents");
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(invalid_utf8_is_an_error_with_offset)
{
    char *tmp = tu_tmpdir("prep-bad");
    char in[600], dir[600];
    snprintf(in, sizeof in, "%s/bad.txt", tmp);
    snprintf(dir, sizeof dir, "%s/c", tmp);
    /* a valid 3-byte character straddles the 1 MiB read chunk; the bad byte comes after it */
    size_t n = (1 << 20) + 100, bad = (1 << 20) + 37;
    uint8_t *t = malloc(n);
    memset(t, 'a', n);
    memcpy(t + (1 << 20) - 1, "\xe2\x82\xac", 3);
    t[bad] = 0xC3; /* a lead byte followed by 'a': invalid */
    ct_write(in, t, n);
    char *err;
    int rc = ct_sh(NULL, &err, "%s prepare '%s' -o '%s' -q", ct_bytelm(), in, dir);
    char want[800];
    snprintf(want, sizeof want, "bytelm: %s: invalid UTF-8 (offset %zu)\n", in, bad);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(err, want);
    ck_assert(!ct_exists(dir));
    ck_assert_int_eq(ct_sh(NULL, NULL, "ls -d '%s'/c.tmp-* 2>/dev/null", tmp) == 0, 0); /* nothing left behind */
    free(err);
    /* through stdin the file is called <stdin>; a sequence cut by the end of input is invalid too */
    rc = ct_sh(NULL, &err, "printf 'ok\\342\\202' | %s prepare - -o '%s' -q", ct_bytelm(), dir);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(err, "bytelm: <stdin>: invalid UTF-8 (offset 2)\n");
    free(err);
    free(t);
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(replace_keep_and_normalize)
{
    char *tmp = tu_tmpdir("prep-modes");
    char in[600], dir[600];
    snprintf(in, sizeof in, "%s/x.txt", tmp);
    snprintf(dir, sizeof dir, "%s/c", tmp);
    const char *b = ct_bytelm();
    size_t tn, vn;
    /* replace: every bad byte becomes U+FFFD; a truncated sequence at the end is two bad bytes */
    ct_write(in, "a\xff" "b\n\xe2\x82", 6);
    char *out;
    ck_assert_int_eq(ct_sh(&out, NULL, "%s prepare '%s' -o '%s' -q --on-invalid replace --val-fraction 0.5 --json", b, in, dir), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"replaced_bytes\":3"));
    free(out);
    uint8_t *tr = decode_split(dir, "train", &tn), *va = decode_split(dir, "val", &vn);
    uint8_t all[64];
    memcpy(all, tr, tn);
    memcpy(all + tn, va, vn);
    ck_assert_uint_eq(tn + vn, 12);
    ck_assert(!memcmp(all, "a\xef\xbf\xbd" "b\n\xef\xbf\xbd\xef\xbf\xbd", 12));
    free(tr), free(va);
    /* keep: any bytes, unchanged */
    uint8_t bin[512];
    for (int i = 0; i < 512; i++) bin[i] = (uint8_t)(i * 7 + 3);
    ct_write(in, bin, sizeof bin);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' -o '%s' -q --on-invalid keep", b, in, dir), 0);
    tr = decode_split(dir, "train", &tn), va = decode_split(dir, "val", &vn);
    ck_assert_uint_eq(tn + vn, sizeof bin);
    ck_assert(!memcmp(tr, bin, tn) && !memcmp(va, bin + tn, vn));
    free(tr), free(va);
    /* nfc composes e + U+0301, also across the 1 MiB normalization batches; nfkc folds the ligature */
    size_t reps = 200000, n = reps * 6 + 1;
    uint8_t *t = malloc(n);
    for (size_t i = 0; i < reps; i++) memcpy(t + 6 * i, "e\xcc\x81" "\xef\xac\x81", 6); /* e◌́ ﬁ */
    t[n - 1] = '\n';
    ct_write(in, t, n);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' -o '%s' -q --normalize nfc", b, in, dir), 0);
    tr = decode_split(dir, "train", &tn), va = decode_split(dir, "val", &vn);
    ck_assert_uint_eq(tn + vn, reps * 5 + 1); /* e + U+0301 (3 bytes) -> é (2 bytes) */
    for (size_t i = 0; i + 5 <= tn; i += 5) ck_assert(!memcmp(tr + i, "\xc3\xa9\xef\xac\x81", 5));
    for (size_t i = 0; i + 5 <= vn; i += 5) ck_assert(!memcmp(va + i, "\xc3\xa9\xef\xac\x81", 5));
    free(tr), free(va);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' -o '%s' -q --normalize nfkc", b, in, dir), 0);
    tr = decode_split(dir, "train", &tn), va = decode_split(dir, "val", &vn);
    ck_assert_uint_eq(tn + vn, reps * 4 + 1); /* é f i */
    ck_assert(!memcmp(tr, "\xc3\xa9" "fi" "\xc3\xa9" "fi", 8));
    free(tr), free(va), free(t);
    /* normalizing needs valid text */
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' -o '%s' -q --normalize nfc --on-invalid keep", b, in, dir), 2);
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(empty_input)
{
    char *tmp = tu_tmpdir("prep-empty");
    char in[600], dir[600], want[800];
    snprintf(in, sizeof in, "%s/empty.txt", tmp);
    snprintf(dir, sizeof dir, "%s/c", tmp);
    ct_write(in, "", 0);
    char *err;
    ck_assert_int_eq(ct_sh(NULL, &err, "%s prepare '%s' -o '%s' -q", ct_bytelm(), in, dir), 1);
    snprintf(want, sizeof want, "bytelm: %s: empty input: no bytes in 1 document (offset 0)\n", in);
    ck_assert_str_eq(err, want);
    free(err);
    ck_assert_int_eq(ct_sh(NULL, &err, "%s prepare - -o '%s' -q < /dev/null", ct_bytelm(), dir), 1);
    ck_assert_str_eq(err, "bytelm: <stdin>: empty input: no bytes in 1 document (offset 0)\n");
    free(err);
    ck_assert(!ct_exists(dir));
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(output_directory_safety)
{
    char *tmp = tu_tmpdir("prep-out");
    char good[600], bad[600], dir[600], p[700];
    snprintf(good, sizeof good, "%s/good.txt", tmp);
    snprintf(bad, sizeof bad, "%s/bad.txt", tmp);
    snprintf(dir, sizeof dir, "%s/c", tmp);
    ct_write(good, "first corpus\nline two\n", 22);
    ct_write(bad, "broken \x80 text\n", 15);
    const char *b = ct_bytelm();
    char *err;
    /* a directory that is not a corpus is never replaced */
    ck_assert_int_eq(ct_sh(NULL, NULL, "mkdir '%s' && echo precious > '%s/keep.txt'", dir, dir), 0);
    ck_assert_int_eq(ct_sh(NULL, &err, "%s prepare '%s' -o '%s' -q", b, good, dir), 1);
    ck_assert_ptr_nonnull(strstr(err, "refusing to replace it"));
    ck_assert_int_eq(strchr(err, '\n') - err + 1, (long)strlen(err)); /* one line */
    free(err);
    snprintf(p, sizeof p, "%s/keep.txt", dir);
    char *kept = (char *)ct_read(p, NULL);
    ck_assert_str_eq(kept, "precious\n");
    free(kept);
    ct_rm_rf(dir);
    /* a corpus survives a failed run untouched, and is replaced by a successful one */
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' -o '%s/' -q", b, good, dir), 0);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cp -a '%s' '%s/before'", dir, tmp), 0);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' -o '%s' -q", b, bad, dir), 1);
    ck_assert_msg(ct_sh(NULL, NULL, "diff -r '%s' '%s/before'", dir, tmp) == 0, "a failed run changed the corpus");
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' '%s' -o '%s' -q --on-invalid replace", b, good, bad, dir), 0);
    ck_assert_msg(ct_sh(NULL, NULL, "diff -q '%s/corpus.json' '%s/before/corpus.json'", dir, tmp) != 0, "not replaced");
    ck_assert_int_eq(ct_sh(NULL, NULL, "ls -d '%s'/c.* 2>/dev/null", tmp) == 0, 0); /* no tmp or old dirs */
    /* missing parents of the output are created */
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare '%s' -o '%s/deep/er/c' -q", b, good, tmp), 0);
    snprintf(p, sizeof p, "%s/deep/er/c/corpus.json", tmp);
    ck_assert(ct_exists(p));
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(usage_errors)
{
    const char *b = ct_bytelm();
    char *out, *err;
    ck_assert_int_eq(ct_sh(&out, NULL, "%s prepare --help", b), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: bytelm prepare"));
    free(out);
    ck_assert_int_eq(ct_sh(NULL, &err, "%s prepare data", b), 2);
    ck_assert_ptr_nonnull(strstr(err, "-o DIR is required"));
    free(err);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare x -o /tmp/never --level 30", b), 2);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare x -o /tmp/never --frame-size 3MiB --shard-size 4MiB", b), 2);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare x -o /tmp/never --val-fraction 0", b), 2);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare x -o /tmp/never --on-invalid maybe", b), 2);
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s prepare x -o /tmp/never --frobnicate", b), 2);
    ck_assert_int_eq(ct_sh(NULL, &err, "%s prepare /nonexistent/file -o /tmp/never-%d", b, (int)getpid()), 1);
    ck_assert_ptr_nonnull(strstr(err, "bytelm: /nonexistent/file: input:"));
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corpus_prepare");
    TCase *tc = tcase_create("prepare");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, roundtrip_directory);
    tcase_add_test(tc, single_document_tail_and_stdin);
    tcase_add_test(tc, deterministic_and_seeded);
    tcase_add_test(tc, invalid_utf8_is_an_error_with_offset);
    tcase_add_test(tc, replace_keep_and_normalize);
    tcase_add_test(tc, empty_input);
    tcase_add_test(tc, output_directory_safety);
    tcase_add_test(tc, usage_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
