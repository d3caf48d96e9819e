/* The loader and the sequential reader: windows inside the source and equal to its bytes (across
 * frames and shards), determinism, exact save/restore, every kind of source, and damaged input. */
#include <fcntl.h>

#include "corpus/loader.h"
#include "corpus/manifest.h"
#include "corpus/prepare.h"
#include "tests/corpus/corpus_test_util.h"

#define FRAME 4096
#define SHARD (4 * FRAME)

typedef struct {
    char *tmp;
    char dir[600];
    uint8_t *train, *val; /* each split decoded by the zstd CLI */
    size_t ntrain, nval;
} Fixture;

static uint8_t *decode_split(const char *dir, const char *split, size_t *len)
{
    Manifest m;
    BlErr e;
    ck_assert_msg(manifest_load(&m, dir, &e) == 0, "%s", e.msg);
    const ManifestSplit *s = manifest_split(&m, split);
    uint8_t *all = malloc(s->bytes + 1);
    size_t n = 0;
    for (int i = 0; i < s->nshards; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, s->shards[i].file);
        size_t k = 0;
        uint8_t *b = ct_zstd_decode(p, &k);
        memcpy(all + n, b, k);
        n += k;
        free(b);
    }
    ck_assert_uint_eq(n, s->bytes);
    manifest_free(&m);
    *len = n;
    return all;
}

/* A corpus of three documents in 4 KiB frames and 16 KiB shards, so windows of a few KB cross
 * frame and shard boundaries all the time. */
static void make_corpus(Fixture *f, const char *tag)
{
    f->tmp = tu_tmpdir(tag);
    const size_t sizes[] = {50000, 80000, 120000};
    char paths[3][700];
    const char *in[3];
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/doc%d.txt", f->tmp, i);
        uint8_t *t = ct_text(100 + (uint64_t)i, sizes[i]);
        ct_write(paths[i], t, sizes[i]);
        free(t);
        in[i] = paths[i];
    }
    snprintf(f->dir, sizeof f->dir, "%s/corpus", f->tmp);
    PrepareOptions o;
    prepare_default_options(&o);
    o.frame_size = FRAME;
    o.shard_size = SHARD;
    o.val_fraction = 0.25;
    o.progress = 0;
    PrepareResult r;
    BlErr e;
    ck_assert_msg(prepare_corpus(in, 3, f->dir, &o, &r, &e) == 0, "%s", e.msg);
    ck_assert_int_gt(r.train_shards, 3);
    f->train = decode_split(f->dir, "train", &f->ntrain);
    f->val = decode_split(f->dir, "val", &f->nval);
}

static void free_corpus(Fixture *f)
{
    free(f->train);
    free(f->val);
    ct_rm_rf(f->tmp);
    free(f->tmp);
}

/* Checks nb batches of a loader against the reference bytes; returns how many windows crossed
 * a shard boundary. */
static int check_windows(Loader *ld, const uint8_t *ref, size_t nref, int B, int L, int nb)
{
    size_t row = (size_t)L + 1;
    uint8_t *batch = malloc((size_t)B * row);
    int crossings = 0;
    BlErr e;
    ck_assert_uint_eq(loader_total_bytes(ld), nref);
    for (int k = 0; k < nb; k++) {
        uint64_t at = loader_get_pos(ld).next_batch;
        ck_assert_msg(loader_next(ld, batch, &e) == 0, "%s", e.msg);
        for (int i = 0; i < B; i++) {
            uint64_t p = loader_window_start(ld, at, i);
            ck_assert_uint_le(p + row, nref);
            ck_assert_msg(!memcmp(batch + (size_t)i * row, ref + p, row), "batch %d row %d", k, i);
            crossings += p / SHARD != (p + row - 1) / SHARD;
        }
    }
    free(batch);
    return crossings;
}

START_TEST(windows_are_source_bytes)
{
    Fixture f;
    make_corpus(&f, "ld-win");
    Loader *ld;
    BlErr e;
    const int B = 6, L = 5000; /* longer than a frame: every window spans two or three frames */
    ck_assert_msg(loader_open(&ld, f.dir, "train", B, L, 42, &e) == 0, "%s", e.msg);
    int crossings = check_windows(ld, f.train, f.ntrain, B, L, 60);
    ck_assert_int_gt(crossings, 10);
    loader_close(ld);
    ck_assert_msg(loader_open(&ld, f.dir, "val", B, L, 42, &e) == 0, "%s", e.msg);
    check_windows(ld, f.val, f.nval, B, L, 20);
    loader_close(ld);
    /* with a cache of nothing, every window decodes its frames; the bytes are the same */
    LoaderOptions o;
    loader_default_options(&o);
    o.cache_bytes = 0;
    o.threads = 3;
    ck_assert_int_eq(loader_open_opts(&ld, f.dir, NULL, B, L, 42, &o, &e), 0);
    check_windows(ld, f.train, f.ntrain, B, L, 30);
    loader_close(ld);
    free_corpus(&f);
}
END_TEST

/* Positions cover the whole source: the first and last possible windows both occur. */
START_TEST(windows_reach_both_ends)
{
    char *tmp = tu_tmpdir("ld-ends");
    char p[600];
    snprintf(p, sizeof p, "%s/x.bin", tmp);
    uint8_t data[40];
    for (int i = 0; i < 40; i++) data[i] = (uint8_t)i;
    ct_write(p, data, sizeof data);
    Loader *ld;
    BlErr e;
    const int L = 29; /* 40 - 30 + 1 = 11 possible starts */
    ck_assert_int_eq(loader_open(&ld, p, NULL, 4, L, 1, &e), 0);
    int seen[11] = {0};
    uint8_t batch[4 * 30];
    for (int k = 0; k < 100; k++) {
        ck_assert_int_eq(loader_next(ld, batch, &e), 0);
        for (int i = 0; i < 4; i++) {
            ck_assert_uint_le(batch[i * 30], 10);
            ck_assert_uint_eq(batch[i * 30 + 29], batch[i * 30] + 29);
            seen[batch[i * 30]]++;
        }
    }
    for (int s = 0; s < 11; s++) ck_assert_msg(seen[s] > 10, "start %d seen %d times in 400", s, seen[s]);
    loader_close(ld);
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

static void take(Loader *ld, int nb, uint8_t *out, size_t bytes)
{
    BlErr e;
    for (int k = 0; k < nb; k++) ck_assert_msg(loader_next(ld, out + (size_t)k * bytes, &e) == 0, "%s", e.msg);
}

START_TEST(deterministic_and_resumable)
{
    Fixture f;
    make_corpus(&f, "ld-det");
    const int B = 4, L = 700, N = 12;
    size_t bytes = (size_t)B * (L + 1);
    uint8_t *a = malloc(N * bytes), *b = malloc(N * bytes), *c = malloc(N * bytes);
    Loader *l1, *l2, *l3;
    BlErr e;
    LoaderOptions one;
    loader_default_options(&one);
    one.threads = 1;
    one.ahead = 1;
    ck_assert_int_eq(loader_open(&l1, f.dir, "train", B, L, 7, &e), 0);
    ck_assert_int_eq(loader_open_opts(&l2, f.dir, "train", B, L, 7, &one, &e), 0);
    ck_assert_int_eq(loader_open(&l3, f.dir, "train", B, L, 8, &e), 0);
    take(l1, N, a, bytes);
    take(l2, N, b, bytes);
    take(l3, N, c, bytes);
    ck_assert_msg(!memcmp(a, b, N * bytes), "same seed, different thread counts: different batches");
    ck_assert_msg(memcmp(a, c, N * bytes), "another seed gives the same batches");
    /* save after 5 batches; a fresh loader set to that position continues identically */
    loader_close(l2);
    ck_assert_int_eq(loader_open(&l2, f.dir, "train", B, L, 999, &e), 0);
    LoaderPos pos = {7, 5};
    loader_set_pos(l2, pos);
    ck_assert_uint_eq(loader_get_pos(l2).next_batch, 5);
    take(l2, N - 5, b, bytes);
    ck_assert(!memcmp(b, a + 5 * bytes, (N - 5) * bytes));
    ck_assert_uint_eq(loader_get_pos(l2).next_batch, N);
    ck_assert_uint_eq(loader_get_pos(l2).seed, 7);
    /* and a loader moved back (while its threads were ahead) repeats itself */
    LoaderPos p1 = loader_get_pos(l1);
    ck_assert_uint_eq(p1.next_batch, N);
    pos.next_batch = 2;
    loader_set_pos(l1, pos);
    take(l1, 3, b, bytes);
    ck_assert(!memcmp(b, a + 2 * bytes, 3 * bytes));
    loader_close(l1);
    loader_close(l2);
    loader_close(l3);
    free(a), free(b), free(c);
    free_corpus(&f);
}
END_TEST

/* A position beyond LOADER_MAX_BATCH (2^64 - 1 is what "-1" once became) makes loader_next fail
 * at once, where the workers' batch arithmetic used to wrap and every thread waited forever; the
 * last position allowed still works, and a good position afterwards works again. */
START_TEST(position_out_of_range)
{
    Fixture f;
    make_corpus(&f, "ld-pos");
    const int B = 2, L = 64;
    uint8_t *a = malloc((size_t)B * (L + 1)), *b = malloc((size_t)B * (L + 1));
    Loader *ld;
    BlErr e;
    ck_assert_int_eq(loader_open(&ld, f.dir, "train", B, L, 7, &e), 0);
    loader_set_pos(ld, (LoaderPos){7, UINT64_MAX});
    ck_assert_int_eq(loader_next(ld, a, &e), -1);
    ck_assert_msg(strstr(e.msg, "loader position 18446744073709551615 is out of range") != NULL, "%s", e.msg);
    loader_set_pos(ld, (LoaderPos){7, LOADER_MAX_BATCH + 1});
    ck_assert_int_eq(loader_next(ld, a, &e), -1);
    loader_set_pos(ld, (LoaderPos){7, LOADER_MAX_BATCH});
    ck_assert_int_eq(loader_next(ld, a, &e), 0);
    loader_set_pos(ld, (LoaderPos){7, 3});
    ck_assert_int_eq(loader_next(ld, a, &e), 0);
    loader_close(ld);
    ck_assert_int_eq(loader_open(&ld, f.dir, "train", B, L, 7, &e), 0);
    loader_set_pos(ld, (LoaderPos){7, 3});
    ck_assert_int_eq(loader_next(ld, b, &e), 0);
    ck_assert(!memcmp(a, b, (size_t)B * (L + 1)));
    loader_close(ld);
    free(a), free(b);
    free_corpus(&f);
}
END_TEST

START_TEST(other_sources)
{
    Fixture f;
    make_corpus(&f, "ld-src");
    char plain[700], zst[700], shard[700];
    snprintf(plain, sizeof plain, "%s/train.txt", f.tmp);
    snprintf(zst, sizeof zst, "%s/train.txt.zst", f.tmp);
    snprintf(shard, sizeof shard, "%s/train-00001.zst", f.dir);
    ct_write(plain, f.train, f.ntrain);
    ck_assert_int_eq(ct_sh(NULL, NULL, "zstd -q -19 '%s' -o '%s'", plain, zst), 0);
    size_t sn = 0;
    uint8_t *sref = ct_zstd_decode(shard, &sn);
    Loader *ld;
    BlErr e;
    ck_assert_msg(loader_open(&ld, plain, "train", 3, 999, 5, &e) == 0, "%s", e.msg);
    check_windows(ld, f.train, f.ntrain, 3, 999, 20);
    loader_close(ld);
    ck_assert_msg(loader_open(&ld, zst, NULL, 3, 999, 5, &e) == 0, "%s", e.msg);
    check_windows(ld, f.train, f.ntrain, 3, 999, 20);
    loader_close(ld);
    ck_assert_msg(loader_open(&ld, shard, NULL, 3, 999, 5, &e) == 0, "%s", e.msg);
    check_windows(ld, sref, sn, 3, 999, 20);
    loader_close(ld);
    /* the committed sample text works as a source too */
    size_t n;
    uint8_t *sample = ct_read("data/sample.txt", &n);
    ck_assert_msg(sample != NULL, "data/sample.txt missing (run from the repository root)");
    ck_assert_int_eq(loader_open(&ld, "data/sample.txt", NULL, 8, 256, 3, &e), 0);
    check_windows(ld, sample, n, 8, 256, 10);
    loader_close(ld);
    free(sample);
    free(sref);
    free_corpus(&f);
}
END_TEST

/* Reads a whole source with a SeqReader in odd-sized pieces. */
static uint8_t *seq_all(const char *path, const char *split, size_t *n)
{
    SeqReader *r;
    BlErr e;
    ck_assert_msg(seqreader_open(&r, path, split, &e) == 0, "%s", e.msg);
    uint64_t total = seqreader_total_bytes(r);
    uint8_t *b = malloc(total + 1);
    size_t got = 0;
    long long k;
    while ((k = seqreader_read(r, b + got, total - got < 3333 ? total - got + 1 : 3333, &e)) > 0) got += (size_t)k;
    ck_assert_msg(k == 0, "%s", e.msg);
    ck_assert_uint_eq(got, total);
    seqreader_close(r);
    *n = got;
    return b;
}

START_TEST(sequential_reader)
{
    Fixture f;
    make_corpus(&f, "ld-seq");
    size_t n;
    uint8_t *b = seq_all(f.dir, "train", &n);
    ck_assert_uint_eq(n, f.ntrain);
    ck_assert(!memcmp(b, f.train, n));
    free(b);
    b = seq_all(f.dir, "val", &n);
    ck_assert_uint_eq(n, f.nval);
    ck_assert(!memcmp(b, f.val, n));
    free(b);
    char plain[700], zst[700];
    snprintf(plain, sizeof plain, "%s/v.txt", f.tmp);
    snprintf(zst, sizeof zst, "%s/v.zst", f.tmp);
    ct_write(plain, f.val, f.nval);
    ck_assert_int_eq(ct_sh(NULL, NULL, "zstd -q '%s' -o '%s'", plain, zst), 0);
    const char *srcs[] = {plain, zst};
    for (int i = 0; i < 2; i++) {
        b = seq_all(srcs[i], NULL, &n);
        ck_assert_uint_eq(n, f.nval);
        ck_assert(!memcmp(b, f.val, n));
        free(b);
    }
    /* a shard whose bytes do not match corpus.json's checksum fails when it has been read */
    char json[700];
    snprintf(json, sizeof json, "%s/corpus.json", f.dir);
    size_t jn = 0;
    char *j = (char *)ct_read(json, &jn);
    Manifest m;
    BlErr e;
    ck_assert_int_eq(manifest_load(&m, f.dir, &e), 0);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)m.val.shards[0].fnv1a64);
    manifest_free(&m);
    char *at = strstr(j, hex);
    ck_assert_ptr_nonnull(at);
    at[15] = at[15] == '0' ? '1' : '0';
    ct_write(json, j, jn);
    free(j);
    SeqReader *r;
    ck_assert_int_eq(seqreader_open(&r, f.dir, "val", &e), 0);
    uint8_t *buf = malloc(f.nval + 1);
    long long k, got = 0;
    while ((k = seqreader_read(r, buf, 1000, &e)) > 0) got += k;
    ck_assert_int_eq(k, -1);
    ck_assert_msg(strstr(e.msg, "val-00000.zst: checksum mismatch"), "got: %s", e.msg);
    seqreader_close(r);
    free(buf);
    free_corpus(&f);
}
END_TEST

START_TEST(damaged_sources)
{
    Fixture f;
    make_corpus(&f, "ld-bad");
    Loader *ld;
    SeqReader *sr;
    BlErr e;
    char p[700], q[800];
    /* too short for one window; an empty file */
    snprintf(p, sizeof p, "%s/short.txt", f.tmp);
    ct_write(p, "0123456789", 10);
    ck_assert_int_eq(loader_open(&ld, p, NULL, 2, 10, 1, &e), -1);
    snprintf(q, sizeof q, "%s: too short: 10 bytes, fewer than one window of L+1 = 11 (offset 10)", p);
    ck_assert_str_eq(e.msg, q);
    ck_assert_int_eq(loader_open(&ld, p, NULL, 2, 9, 1, &e), 0);
    loader_close(ld);
    snprintf(p, sizeof p, "%s/empty.txt", f.tmp);
    ct_write(p, "", 0);
    ck_assert_int_eq(loader_open(&ld, p, NULL, 1, 1, 1, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "too short: 0 bytes"));
    /* no such split, no such file */
    ck_assert_int_eq(loader_open(&ld, f.dir, "test", 1, 8, 1, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "no split \"test\""));
    snprintf(p, sizeof p, "%s/missing", f.tmp);
    ck_assert_int_eq(loader_open(&ld, p, NULL, 1, 8, 1, &e), -1);
    ck_assert_int_eq(seqreader_open(&sr, p, NULL, &e), -1);
    /* a truncated shard: caught at open, by its seek table */
    snprintf(p, sizeof p, "%s/train-00001.zst", f.dir);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cp '%s' '%s.orig' && truncate -s -1 '%s'", p, p, p), 0);
    ck_assert_int_eq(loader_open(&ld, f.dir, "train", 1, 8, 1, &e), -1);
    ck_assert_msg(strstr(e.msg, "train-00001.zst: not a seekable zstd file") && strstr(e.msg, "(offset "), "got: %s", e.msg);
    ck_assert_int_eq(seqreader_open(&sr, f.dir, "train", &e), -1);
    ck_assert_int_eq(ct_sh(NULL, NULL, "mv '%s.orig' '%s'", p, p), 0);
    /* a corrupt frame in every frame of the val shard: the loader reports it from loader_next */
    snprintf(p, sizeof p, "%s/val-00000.zst", f.dir);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cp '%s' '%s.orig'", p, p), 0);
    ck_assert_int_eq(loader_open(&ld, f.dir, "val", 2, 100, 1, &e), 0);
    loader_close(ld);
    size_t n = 0;
    uint8_t *z = ct_read(p, &n);
    for (size_t off = 60; off + 200 < n; off += 500) z[off] ^= 0x55;
    ct_write(p, z, n);
    free(z);
    ck_assert_int_eq(loader_open(&ld, f.dir, "val", 2, 100, 1, &e), 0);
    uint8_t batch[2 * 101];
    int rc = loader_next(ld, batch, &e);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(e.msg, "val-00000.zst: corrupt zstd frame") && strstr(e.msg, "(offset "), "got: %s", e.msg);
    ck_assert_int_eq(loader_next(ld, batch, &e), -1); /* and it stays failed */
    loader_close(ld);
    ck_assert_int_eq(seqreader_open(&sr, f.dir, "val", &e), 0);
    ck_assert_int_eq(seqreader_read(sr, batch, sizeof batch, &e), -1);
    seqreader_close(sr);
    /* corpus.json that disagrees with a shard */
    ck_assert_int_eq(ct_sh(NULL, NULL, "mv '%s.orig' '%s'", p, p), 0);
    snprintf(p, sizeof p, "%s/corpus.json", f.dir);
    ck_assert_int_eq(ct_sh(NULL, NULL, "sed -i '0,/\"bytes\":\\t16384/s//\"bytes\":\\t16385/' '%s'", p), 0);
    ck_assert_int_eq(loader_open(&ld, f.dir, "train", 1, 8, 1, &e), -1);
    ck_assert_msg(strstr(e.msg, "corpus.json"), "got: %s", e.msg);
    ck_assert_int_eq(ct_sh(NULL, NULL, "printf '{\"format\": \"bytelm-corpus\", \"version\": ' > '%s'", p), 0);
    ck_assert_int_eq(loader_open(&ld, f.dir, "train", 1, 8, 1, &e), -1);
    ck_assert_msg(strstr(e.msg, "corpus.json: not valid JSON (offset "), "got: %s", e.msg);
    free_corpus(&f);
}
END_TEST

/* The CLI path of the same errors: one line naming the file and offset, exit 1. */
START_TEST(bench_loader_cli)
{
    Fixture f;
    make_corpus(&f, "ld-cli");
    char *out, *err;
    int rc = ct_sh(&out, &err, "%s bench loader --data '%s' -B 2 -L 512 --seconds 0.05 --json", ct_bytelm(), f.dir);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "\"bench\":\"loader\""));
    ck_assert_ptr_nonnull(strstr(out, "\"decoded_bytes\":"));
    free(out), free(err);
    char p[700];
    snprintf(p, sizeof p, "%s/train-00000.zst", f.dir);
    ck_assert_int_eq(ct_sh(NULL, NULL, "truncate -s 100 '%s'", p), 0);
    rc = ct_sh(&out, &err, "%s bench loader --data '%s' --seconds 0.05", ct_bytelm(), f.dir);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(!strncmp(err, "bytelm: ", 8) && strstr(err, "train-00000.zst: ") && strstr(err, "(offset "), "got: %s", err);
    ck_assert_int_eq(strchr(err, '\n') - err + 1, (long)strlen(err));
    free(out), free(err);
    /* a corrupt and a truncated plain .zst, an empty file: same shape of error */
    char txt[700], zst[700], cut[700], empty[700];
    snprintf(txt, sizeof txt, "%s/v.txt", f.tmp);
    snprintf(zst, sizeof zst, "%s/v.zst", f.tmp);
    snprintf(cut, sizeof cut, "%s/cut.zst", f.tmp);
    snprintf(empty, sizeof empty, "%s/empty.txt", f.tmp);
    ct_write(txt, f.val, f.nval);
    ct_write(empty, "", 0);
    ck_assert_int_eq(ct_sh(NULL, NULL, "zstd -q '%s' -o '%s' && head -c 2000 '%s' > '%s'", txt, zst, zst, cut), 0);
    size_t zn = 0;
    uint8_t *z = ct_read(zst, &zn);
    for (size_t i = 100; i < zn - 20; i += 97) z[i] ^= 0x21;
    ct_write(zst, z, zn);
    free(z);
    const char *bad[] = {zst, cut, empty};
    const char *what[] = {"corrupt zstd data", "truncated zstd data", "too short: 0 bytes"};
    for (int i = 0; i < 3; i++) {
        rc = ct_sh(&out, &err, "%s bench loader --data '%s' -L 100 --seconds 0.05", ct_bytelm(), bad[i]);
        ck_assert_int_eq(rc, 1);
        char want[800];
        snprintf(want, sizeof want, "bytelm: %s: %s", bad[i], what[i]);
        ck_assert_msg(!strncmp(err, want, strlen(want)) && strstr(err, "(offset "), "got: %s", err);
        ck_assert_int_eq(strchr(err, '\n') - err + 1, (long)strlen(err));
        free(out), free(err);
    }
    ck_assert_int_eq(ct_sh(NULL, NULL, "%s bench nosuch", ct_bytelm()), 2);
    free_corpus(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, windows_are_source_bytes);
    tcase_add_test(tc, windows_reach_both_ends);
    tcase_add_test(tc, deterministic_and_resumable);
    tcase_add_test(tc, position_out_of_range);
    tcase_add_test(tc, other_sources);
    tcase_add_test(tc, sequential_reader);
    tcase_add_test(tc, damaged_sources);
    tcase_add_test(tc, bench_loader_cli);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
