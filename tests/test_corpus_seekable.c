/* The seekable zstd format: our writer against the zstd CLI and our reader, and every way a
 * damaged file must be rejected with its name and a byte offset. */
#include <fcntl.h>

#include "corpus/seekable.h"
#include "corpus/source.h"
#include "tests/corpus/corpus_test_util.h"

static char *write_shard(const char *dir, const char *name, const uint8_t *data, size_t n, size_t frame,
                         SeekStats *st)
{
    char *p = malloc(700);
    snprintf(p, 700, "%s/%s", dir, name);
    SeekWriter *w;
    BlErr e;
    ck_assert_msg(seekw_open(&w, p, 3, frame, &e) == 0, "%s", e.msg);
    /* in uneven pieces, so frames fill across write calls */
    for (size_t off = 0, k = 1; off < n; off += k, k = k * 3 + 1) {
        if (k > n - off) k = n - off;
        ck_assert_int_eq(seekw_write(w, data + off, k, &e), 0);
    }
    ck_assert_msg(seekw_finish(w, st, &e) == 0, "%s", e.msg);
    return p;
}

static void flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

START_TEST(roundtrip_sizes)
{
    char *tmp = tu_tmpdir("seek-rt");
    const size_t frame = 4096;
    const size_t sizes[] = {0, 1, frame - 1, frame, frame + 1, 5 * frame + 17, 70000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *data = ct_text(s + 1, n);
        SeekStats st;
        char name[32];
        snprintf(name, sizeof name, "s%zu.zst", s);
        char *p = write_shard(tmp, name, data, n, frame, &st);
        ck_assert_uint_eq(st.decoded_bytes, n);
        ck_assert_uint_eq(st.frames, (n + frame - 1) / frame);
        /* the zstd CLI accepts the file and decodes the same bytes */
        ck_assert_msg(ct_sh(NULL, NULL, "zstd -q -t '%s'", p) == 0, "zstd -t rejects %zu bytes", n);
        size_t k;
        uint8_t *dec = ct_zstd_decode(p, &k);
        ck_assert_uint_eq(k, n);
        ck_assert(n == 0 || !memcmp(dec, data, n));
        free(dec);
        /* and our reader finds every frame where the table says */
        SeekReader r;
        BlErr e;
        ck_assert_msg(seekr_open(&r, p, &e) == 0, "%s", e.msg);
        ck_assert_uint_eq(r.decoded_size, n);
        ck_assert_uint_eq(r.file_size, st.file_bytes);
        FrameDecoder d;
        framedec_init(&d);
        uint8_t *buf = malloc(frame);
        for (uint32_t i = r.nframes; i-- > 0;) { /* backwards: each frame stands alone */
            ck_assert_uint_eq(r.frames[i].doff, (uint64_t)i * frame);
            ck_assert_int_eq(seekr_decode(&r, i, buf, &d, &e), 0);
            ck_assert(!memcmp(buf, data + r.frames[i].doff, r.frames[i].dsize));
        }
        framedec_free(&d);
        free(buf);
        seekr_close(&r);
        SourceKind kind;
        ck_assert_int_eq(source_probe(p, &kind, &e), 0);
        ck_assert_int_eq(kind, SOURCE_SEEKABLE); /* even with no frames: a skippable frame and the table */
        free(p);
        free(data);
    }
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(damaged_files)
{
    char *tmp = tu_tmpdir("seek-bad");
    size_t n = 20000;
    uint8_t *data = ct_text(5, n);
    SeekStats st;
    char *p = write_shard(tmp, "a.zst", data, n, 4096, &st);
    char q[800], *err;
    SeekReader r;
    BlErr e;
    FrameDecoder d;
    framedec_init(&d);
    uint8_t *buf = malloc(4096);

    /* a flipped byte inside frame 1: the table is fine, decoding frame 1 fails at its offset */
    snprintf(q, sizeof q, "%s/flip.zst", tmp);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cp '%s' '%s'", p, q), 0);
    ck_assert_int_eq(seekr_open(&r, q, &e), 0);
    uint64_t f1 = r.frames[1].coff;
    flip_byte(q, f1 + r.frames[1].csize / 2);
    ck_assert_int_eq(seekr_decode(&r, 0, buf, &d, &e), 0);
    ck_assert_int_eq(seekr_decode(&r, 1, buf, &d, &e), -1);
    char want[900];
    snprintf(want, sizeof want, "%s: corrupt zstd frame 1: ", q);
    ck_assert_msg(!strncmp(e.msg, want, strlen(want)), "got: %s", e.msg);
    snprintf(want, sizeof want, "(offset %llu)", (unsigned long long)f1);
    ck_assert_msg(strstr(e.msg, want) != NULL, "got: %s", e.msg);
    seekr_close(&r);
    ck_assert_int_ne(ct_sh(NULL, &err, "zstd -q -t '%s'", q), 0); /* zstd's own checksum agrees */
    free(err);

    /* truncated: the footer is gone */
    snprintf(q, sizeof q, "%s/trunc.zst", tmp);
    ck_assert_int_eq(ct_sh(NULL, NULL, "head -c %llu '%s' > '%s'", (unsigned long long)st.file_bytes - 3, p, q), 0);
    ck_assert_int_eq(seekr_open(&r, q, &e), -1);
    snprintf(want, sizeof want, "%s: not a seekable zstd file: no seek table footer (truncated?) (offset %llu)", q,
             (unsigned long long)st.file_bytes - 7);
    ck_assert_str_eq(e.msg, want);

    /* a seek table entry that claims a different compressed size */
    snprintf(q, sizeof q, "%s/table.zst", tmp);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cp '%s' '%s'", p, q), 0);
    uint64_t entries = st.file_bytes - 9 - 8 * st.frames;
    flip_byte(q, entries); /* low byte of frame 0's compressed size */
    ck_assert_int_eq(seekr_open(&r, q, &e), -1);
    ck_assert_msg(strstr(e.msg, "corrupt seek table") && strstr(e.msg, "(offset "), "got: %s", e.msg);

    /* a bad reserved bit in the descriptor */
    snprintf(q, sizeof q, "%s/desc.zst", tmp);
    ck_assert_int_eq(ct_sh(NULL, NULL, "cp '%s' '%s'", p, q), 0);
    flip_byte(q, st.file_bytes - 5);
    ck_assert_int_eq(seekr_open(&r, q, &e), -1);
    ck_assert_msg(strstr(e.msg, "unsupported seek table descriptor"), "got: %s", e.msg);

    /* a plain zstd file has no seek table */
    snprintf(q, sizeof q, "%s/plain.zst", tmp);
    ck_assert_int_eq(ct_sh(NULL, NULL, "printf 'hello hello hello' | zstd -q -c > '%s'", q), 0);
    ck_assert_int_eq(seekr_open(&r, q, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "not a seekable zstd file"));

    framedec_free(&d);
    free(buf);
    free(data);
    free(p);
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

START_TEST(plain_zstd_stream)
{
    char *tmp = tu_tmpdir("seek-stream");
    size_t n = 3 << 20;
    uint8_t *data = ct_text(8, n);
    char in[600], z[700], t[700], c[700];
    snprintf(in, sizeof in, "%s/x.txt", tmp);
    snprintf(z, sizeof z, "%s/x.zst", tmp);
    snprintf(t, sizeof t, "%s/t.zst", tmp);
    snprintf(c, sizeof c, "%s/c.zst", tmp);
    ct_write(in, data, n);
    /* two concatenated frames, as zstd allows */
    ck_assert_int_eq(ct_sh(NULL, NULL, "head -c 1000000 '%s' | zstd -q -c > '%s' && tail -c +1000001 '%s' | zstd -q -c >> '%s'",
                           in, z, in, z),
                     0);
    uint8_t *dec;
    uint64_t len;
    BlErr e;
    ck_assert_msg(zstd_decode_file(z, &dec, &len, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(len, n);
    ck_assert(!memcmp(dec, data, n));
    free(dec);
    size_t zn = 0;
    uint8_t *zb = ct_read(z, &zn);
    ck_assert_ptr_nonnull(zb);
    ct_write(t, zb, zn - 10); /* truncated */
    ck_assert_int_eq(zstd_decode_file(t, &dec, &len, &e), -1);
    ck_assert_msg(strstr(e.msg, "truncated zstd data") && strstr(e.msg, t), "got: %s", e.msg);
    zb[zn / 2] ^= 0xff; /* corrupt */
    ct_write(c, zb, zn);
    ck_assert_int_eq(zstd_decode_file(c, &dec, &len, &e), -1);
    ck_assert_msg(strstr(e.msg, "corrupt zstd data") && strstr(e.msg, "(offset "), "got: %s", e.msg);
    free(zb);
    free(data);
    ct_rm_rf(tmp);
    free(tmp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corpus_seekable");
    TCase *tc = tcase_create("seekable");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, roundtrip_sizes);
    tcase_add_test(tc, damaged_files);
    tcase_add_test(tc, plain_zstd_stream);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
