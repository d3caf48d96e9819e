/* safetensors: write/read round trips, float conversion, and a table of malformed files that the
 * reader must refuse with a one-line message naming the file, the problem and its offset. */
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "byte_lm/format/config.h"
#include "byte_lm/format/safetensors.h"
#include "tests/test_util.h"

/* ---- round trip ---- */

/* A whole file; the test fails when it cannot be read. */
static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *buf = (uint8_t *)tu_slurp(path, len);
    ck_assert_ptr_nonnull(buf);
    return buf;
}

/* The tensors every round-trip test writes: several dtypes, a scalar, an empty tensor, and a name
 * that needs JSON escaping. */
typedef struct {
    float w[3 * 4];
    uint8_t bytes[5];
    uint16_t bf16[2];
    int64_t step;
    float empty[1];
} Sample;

static void fill_sample(Sample *s, uint64_t seed)
{
    tu_fill(s->w, 12, &seed, -2, 2);
    for (int i = 0; i < 5; i++) s->bytes[i] = (uint8_t)(250 + i);
    s->bf16[0] = 0x3F80; /* 1.0 */
    s->bf16[1] = 0xC040; /* -3.0 */
    s->step = 1234567890123LL;
}

static void write_sample(const char *path, const Sample *s)
{
    BlErr e;
    StWriter *w = st_writer_new(path);
    const int64_t sw[] = {3, 4}, sb[] = {5}, sh[] = {2}, se[] = {0, 7};
    ck_assert_int_eq(st_writer_add(w, "backbone.layers.0.mixer.in_proj.weight", ST_F32, 2, sw, s->w, &e), 0);
    ck_assert_int_eq(st_writer_add(w, "loader \"state\"\n", ST_U8, 1, sb, s->bytes, &e), 0);
    ck_assert_int_eq(st_writer_add(w, "half", ST_BF16, 1, sh, s->bf16, &e), 0);
    ck_assert_int_eq(st_writer_add(w, "step", ST_I64, 0, NULL, &s->step, &e), 0);
    ck_assert_int_eq(st_writer_add(w, "empty", ST_F32, 2, se, s->empty, &e), 0);
    ck_assert_int_eq(st_writer_meta(w, "bytelm", "checkpoint \u00e9", &e), 0);
    ck_assert_int_eq(st_writer_write(w, &e), 0);
    st_writer_free(w);
}

START_TEST(round_trip)
{
    char *dir = tu_tmpdir("st");
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    Sample s;
    fill_sample(&s, 42);
    write_sample(path, &s);

    /* layout: 8-byte length, padded header, data 8-aligned and exactly the tensors */
    size_t len;
    uint8_t *raw = slurp(path, &len);
    uint64_t hlen;
    memcpy(&hlen, raw, 8);
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(len, 8 + hlen + 48 + 5 + 4 + 8);
    ck_assert_int_eq(raw[8], '{');
    ck_assert_int_eq(memcmp(raw + 8 + hlen, s.w, 48), 0);
    ck_assert_ptr_nonnull(strstr((char *)raw + 8, "\"__metadata__\":{\"format\":\"pt\""));
    free(raw);

    BlErr e;
    SafeTensors *st;
    ck_assert_msg(st_read(&st, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(st_count(st), 5);
    /* file order is the order added */
    ck_assert_str_eq(st_tensor(st, 0)->name, "backbone.layers.0.mixer.in_proj.weight");
    ck_assert_str_eq(st_tensor(st, 1)->name, "loader \"state\"\n");
    ck_assert_ptr_null(st_tensor(st, 5));

    const StTensor *t = st_find(st, "backbone.layers.0.mixer.in_proj.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, ST_F32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 3);
    ck_assert_int_eq(t->shape[1], 4);
    ck_assert_uint_eq(t->numel, 12);
    ck_assert_uint_eq(t->nbytes, 48);
    ck_assert_int_eq(memcmp(t->data, s.w, 48), 0);
    ck_assert_uint_eq(t->file_offset, 8 + hlen);

    t = st_find(st, "loader \"state\"\n");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, ST_U8);
    ck_assert_int_eq(memcmp(t->data, s.bytes, 5), 0);

    t = st_find(st, "step");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->numel, 1);
    int64_t step;
    memcpy(&step, t->data, 8);
    ck_assert_int_eq(step, s.step);

    t = st_find(st, "empty");
    ck_assert_uint_eq(t->numel, 0);
    ck_assert_uint_eq(t->nbytes, 0);
    ck_assert_ptr_null(st_find(st, "absent"));
    ck_assert_ptr_null(st_find(st, ""));

    ck_assert_int_eq(st_metadata_count(st), 2);
    ck_assert_str_eq(st_metadata(st, "format"), "pt");
    ck_assert_str_eq(st_metadata(st, "bytelm"), "checkpoint \u00e9");
    ck_assert_ptr_null(st_metadata(st, "nope"));

    float f[12];
    const int64_t sw[] = {3, 4};
    ck_assert_int_eq(st_read_f32(st, "backbone.layers.0.mixer.in_proj.weight", 2, sw, f, &e), 0);
    ck_assert_int_eq(memcmp(f, s.w, 48), 0);
    const int64_t sh[] = {2};
    ck_assert_int_eq(st_read_f32(st, "half", 1, sh, f, &e), 0);
    ck_assert_float_eq(f[0], 1.0f);
    ck_assert_float_eq(f[1], -3.0f);
    st_free(st);

    /* the temporary file is gone, and rewriting replaces the file whole */
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    fill_sample(&s, 43);
    write_sample(path, &s);
    ck_assert_msg(st_read(&st, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(memcmp(st_find(st, "backbone.layers.0.mixer.in_proj.weight")->data, s.w, 48), 0);
    st_free(st);

    remove(path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(float_conversion_and_shape_errors)
{
    char *dir = tu_tmpdir("st");
    char path[600];
    snprintf(path, sizeof path, "%s/conv.safetensors", dir);
    /* F16: 1, -2, 0.5, smallest subnormal, -0, +inf, 65504 (largest finite) */
    const uint16_t h[] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x8000, 0x7C00, 0x7BFF};
    const double d[] = {0.1, -1e30, 3.5};
    const int32_t ints[] = {1, 2};
    const int64_t s7[] = {7}, s3[] = {3}, s2[] = {2};
    BlErr e;
    StWriter *w = st_writer_new(path);
    ck_assert_int_eq(st_writer_add(w, "h", ST_F16, 1, s7, h, &e), 0);
    ck_assert_int_eq(st_writer_add(w, "d", ST_F64, 1, s3, d, &e), 0);
    ck_assert_int_eq(st_writer_add(w, "i", ST_I32, 1, s2, ints, &e), 0);
    ck_assert_int_eq(st_writer_write(w, &e), 0);
    st_writer_free(w);

    SafeTensors *st;
    ck_assert_msg(st_read(&st, path, &e) == 0, "%s", e.msg);
    float f[7];
    ck_assert_int_eq(st_read_f32(st, "h", 1, s7, f, &e), 0);
    ck_assert_float_eq(f[0], 1.0f);
    ck_assert_float_eq(f[1], -2.0f);
    ck_assert_float_eq(f[2], 0.5f);
    ck_assert_float_eq(f[3], 0x1p-24f);
    ck_assert_float_eq(f[4], 0.0f);
    ck_assert(signbit(f[4]));
    ck_assert(isinf(f[5]) && f[5] > 0);
    ck_assert_float_eq(f[6], 65504.0f);
    ck_assert_int_eq(st_read_f32(st, "d", 1, s3, f, &e), 0);
    ck_assert_float_eq(f[0], 0.1f);
    ck_assert_float_eq(f[1], -1e30f);
    ck_assert_float_eq(f[2], 3.5f);

    const int64_t s23[] = {2, 3};
    ck_assert_int_eq(st_read_f32(st, "d", 2, s23, f, &e), -1);
    char want[900];
    const StTensor *td = st_find(st, "d");
    snprintf(want, sizeof want, "%s: tensor d: expected shape [2, 3], found [3] (offset %llu)", path,
             (unsigned long long)td->file_offset);
    ck_assert_str_eq(e.msg, want);
    ck_assert_int_eq(st_read_f32(st, "missing.weight", 1, s3, f, &e), -1);
    snprintf(want, sizeof want, "%s: tensor missing.weight is missing", path);
    ck_assert_str_eq(e.msg, want);
    ck_assert_int_eq(st_read_f32(st, "i", 1, s2, f, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "tensor i: dtype I32 cannot be read as floats"));

    ck_assert_ptr_nonnull(st_expect(st, "i", ST_I32, 1, s2, &e));
    ck_assert_ptr_null(st_expect(st, "i", ST_I64, 1, s2, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "tensor i: expected dtype I64, found I32"));
    st_free(st);
    remove(path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(writer_rejects)
{
    BlErr e;
    StWriter *w = st_writer_new("out.safetensors");
    float x[4] = {0};
    const int64_t s4[] = {4}, neg[] = {-1};
    ck_assert_int_eq(st_writer_add(w, "a", ST_F32, 1, s4, x, &e), 0);
    ck_assert_int_eq(st_writer_add(w, "a", ST_F32, 1, s4, x, &e), -1);
    ck_assert_str_eq(e.msg, "out.safetensors: tensor a added twice");
    ck_assert_int_eq(st_writer_add(w, "b", ST_F32, 1, neg, x, &e), -1);
    ck_assert_str_eq(e.msg, "out.safetensors: tensor b: negative dimension -1");
    ck_assert_int_eq(st_writer_add(w, "__metadata__", ST_F32, 1, s4, x, &e), -1);
    ck_assert_int_eq(st_writer_add(w, "", ST_F32, 1, s4, x, &e), -1);
    ck_assert_int_eq(st_writer_add(w, "bad\xff", ST_F32, 1, s4, x, &e), -1);
    ck_assert_int_eq(st_writer_add(w, "c", ST_F32, 1, s4, NULL, &e), -1);
    const int64_t huge[] = {INT64_MAX, 4};
    ck_assert_int_eq(st_writer_add(w, "d", ST_F32, 2, huge, x, &e), -1);
    ck_assert_str_eq(e.msg, "out.safetensors: tensor d: element count overflows");
    st_writer_free(w);

    /* a directory that does not exist: error, nothing created */
    w = st_writer_new("/nonexistent-dir-bytelm/x.safetensors");
    ck_assert_int_eq(st_writer_write(w, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent-dir-bytelm/x.safetensors: cannot create"));
    st_writer_free(w);
}
END_TEST

/* ---- malformed files ---- */

/* A file from a header string and n data bytes; the header is used exactly as given (no
 * padding), so the offsets in expected messages are 8 + the position in the string. */
static uint8_t *make_file(const char *header, size_t ndata, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + ndata;
    uint8_t *b = calloc(1, *len);
    uint64_t hl = h;
    memcpy(b, &hl, 8);
    memcpy(b + 8, header, h);
    return b;
}

typedef struct {
    const char *header;
    size_t ndata;
    const char *want; /* the whole message after "t.st: " */
} BadCase;

static const BadCase BAD[] = {
    {"hello", 0, "safetensors header: must start with '{' (offset 8)"},
    {" {}", 0, "safetensors header: must start with '{' (offset 8)"},
    {"{", 0, "safetensors header: expected a string (offset 9)"},
    {"{\"a\":", 0, "safetensors header: tensor entry must be an object (offset 13)"},
    {"{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: unknown dtype \"F128\" (offset 22)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,100]}}", 4,
     "tensor a: data_offsets end 100 is past the data section (4 bytes) (offset 9)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
     "tensor a: data_offsets end before they begin (offset 9)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "tensor a: data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12 (offset 9)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "tensor b: data [4, 12) overlaps another tensor (offset 62)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     12, "data bytes [4, 8) belong to no tensor (hole before b) (offset 120)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
     "data bytes [0, 4) belong to no tensor (hole before a) (offset 62)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
     "data bytes [4, 8) belong to no tensor (trailing data) (offset 66)"},
    {"{}", 3, "data bytes [0, 3) belong to no tensor (trailing data) (offset 10)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, "safetensors header: tensor a appears twice (offset 62)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: shape dimension is negative (offset 37)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: shape dimension must be a non-negative integer (offset 37)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e2],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: shape dimension must be a non-negative integer (offset 37)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: shape dimension must be a non-negative integer (offset 37)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: shape dimension is too large (offset 37)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: shape dimension is too large (offset 37)"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,0]}}", 0,
     "tensor a: shape's element count overflows (offset 9)"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0,
     "tensor a: byte size overflows (offset 9)"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
     1, "safetensors header: shape has more than 16 dimensions (offset 68)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
     "safetensors header: data_offsets must be an array of two integers (offset 57)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
     "safetensors header: tensor entry has no \"data_offsets\" (offset 13)"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: tensor entry has no \"dtype\" (offset 13)"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "safetensors header: key repeated in tensor entry (offset 28)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
     "safetensors header: unknown key in tensor entry (offset 61)"},
    {"{\"a\":5}", 0, "safetensors header: tensor entry must be an object (offset 13)"},
    {"{\"__metadata__\":{\"format\":1}}", 0,
     "safetensors header: __metadata__ values must be strings (offset 34)"},
    {"{\"__metadata__\":[]}", 0,
     "safetensors header: __metadata__ must be an object of strings (offset 24)"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0,
     "safetensors header: __metadata__ appears twice (offset 42)"},
    {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0,
     "safetensors header: __metadata__ key repeated (offset 33)"},
    {"{} x", 0, "safetensors header: unexpected data after the header object (offset 11)"},
    {"{}}", 0, "safetensors header: unexpected data after the header object (offset 10)"},
    {"{\"a\" {}}", 0, "safetensors header: expected ':' (offset 13)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}\"b\":1}", 0,
     "safetensors header: expected ',' or '}' (offset 61)"},
    {"{\"a\xff\":{}}", 0, "safetensors header: invalid UTF-8 in string (offset 11)"},
    {"{\"a\xc0\x80\":{}}", 0, "safetensors header: invalid UTF-8 in string (offset 11)"},
    {"{\"a\\x\":{}}", 0, "safetensors header: invalid escape in string (offset 11)"},
    {"{\"a\\ud800\":{}}", 0, "safetensors header: unpaired surrogate in string (offset 11)"},
    {"{\"a\\udc00\":{}}", 0, "safetensors header: unpaired surrogate in string (offset 11)"},
    {"{\"a\\u0000\":{}}", 0, "safetensors header: control character or NUL in string (offset 11)"},
    {"{\"a\tb\":{}}", 0, "safetensors header: control character or NUL in string (offset 11)"},
    {"{\"abc", 0, "safetensors header: unterminated string (offset 10)"},
    {"{\"abc\\\"}", 0, "safetensors header: unterminated string (offset 10)"},
};

START_TEST(malformed_table)
{
    const BadCase *c = &BAD[_i];
    size_t len;
    uint8_t *b = make_file(c->header, c->ndata, &len);
    SafeTensors *st = (SafeTensors *)1;
    BlErr e;
    int rc = st_parse(b, len, "t.st", &st, &e);
    ck_assert_msg(rc == -1, "accepted: %s", c->header);
    ck_assert_ptr_null(st);
    char want[600];
    snprintf(want, sizeof want, "t.st: %s", c->want);
    ck_assert_str_eq(e.msg, want);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    free(b);
}
END_TEST

START_TEST(bad_lengths)
{
    BlErr e;
    SafeTensors *st;
    uint8_t small[8] = {0};
    ck_assert_int_eq(st_parse(small, 0, "t.st", &st, &e), -1);
    ck_assert_str_eq(e.msg, "t.st: too short for a safetensors file (0 bytes, need at least 8) (offset 0)");
    ck_assert_int_eq(st_parse(small, 7, "t.st", &st, &e), -1);
    ck_assert_str_eq(e.msg, "t.st: too short for a safetensors file (7 bytes, need at least 8) (offset 0)");

    /* header length past the end, including lengths that would wrap 8 + N */
    uint8_t b[16] = {0};
    const uint64_t lens[] = {9, UINT64_MAX, UINT64_MAX - 7, 1ull << 63};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(b, &lens[i], 8);
        ck_assert_int_eq(st_parse(b, 16, "t.st", &st, &e), -1);
        char want[200];
        snprintf(want, sizeof want,
                 "t.st: safetensors header length %llu is past the end of the file (16 bytes) (offset 0)",
                 (unsigned long long)lens[i]);
        ck_assert_str_eq(e.msg, want);
    }

    /* a header over the 100 MB limit is refused before it is parsed (calloc'd pages stay untouched) */
    size_t big = 8 + (size_t)ST_MAX_HEADER + 1;
    uint8_t *huge = calloc(1, big);
    uint64_t hl = ST_MAX_HEADER + 1;
    memcpy(huge, &hl, 8);
    ck_assert_int_eq(st_parse(huge, big, "t.st", &st, &e), -1);
    ck_assert_str_eq(e.msg, "t.st: safetensors header length 100000001 exceeds the 100000000-byte limit (offset 0)");
    free(huge);

    /* files that are not there or not regular */
    ck_assert_int_eq(st_read(&st, "/nonexistent-bytelm.safetensors", &e), -1);
    ck_assert_str_eq(e.msg, "/nonexistent-bytelm.safetensors: cannot open: No such file or directory");
    ck_assert_int_eq(st_read(&st, "/tmp", &e), -1);
    ck_assert_str_eq(e.msg, "/tmp: not a regular file (a directory)");
    ck_assert_int_eq(st_read(&st, "/dev/null", &e), -1);
    ck_assert_str_eq(e.msg, "/dev/null: not a regular file (a character device)");
}
END_TEST

START_TEST(valid_edge_cases)
{
    BlErr e;
    SafeTensors *st;
    size_t len;
    /* empty header, JSON whitespace, padding spaces, escapes, zero-size tensors sharing an offset */
    const char *hdr =
        "{ \"\\u00e9\\ud83d\\ude00\\n\" : {\"shape\":[2], \"data_offsets\" : [0,2], \"dtype\":\"U8\"},\n"
        "\"z1\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[2,2]},"
        "\"z2\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
        "\"__metadata__\":{}, \"b\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[2,3]}}    ";
    uint8_t *b = make_file(hdr, 3, &len);
    b[len - 3] = 7, b[len - 2] = 9, b[len - 1] = 1;
    ck_assert_msg(st_parse(b, len, "t.st", &st, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(st_count(st), 4);
    const StTensor *t = st_find(st, "\xc3\xa9\xf0\x9f\x98\x80\n");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->data[0], 7);
    ck_assert_int_eq(t->data[1], 9);
    ck_assert_int_eq(st_find(st, "b")->data[0], 1);
    ck_assert_uint_eq(st_find(st, "z1")->numel, 0);
    ck_assert_int_eq(st_metadata_count(st), 0);
    st_free(st);
    free(b);

    b = make_file("{}", 0, &len);
    ck_assert_int_eq(st_parse(b, len, "t.st", &st, &e), 0);
    ck_assert_int_eq(st_count(st), 0);
    ck_assert_ptr_null(st_find(st, "a"));
    st_free(st);
    free(b);
}
END_TEST

/* Every truncation and many random corruptions of a valid file: the parser must either accept
 * (then every tensor lies inside the buffer) or refuse with a one-line message naming the file.
 * Run under ASan/UBSan this is the in-tree fuzz test. */
START_TEST(corruption_never_crashes)
{
    char *dir = tu_tmpdir("st");
    char path[600];
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    Sample s;
    fill_sample(&s, 7);
    write_sample(path, &s);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    uint8_t *b = malloc(len);
    BlErr e;
    SafeTensors *st;
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(b, orig, cut);
        ck_assert_int_eq(st_parse(b, cut, "t.st", &st, &e), -1);
        ck_assert_int_eq(strncmp(e.msg, "t.st: ", 6), 0);
    }
    uint64_t seed = 99;
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(b, orig, len);
        int flips = 1 + (int)(tu_next(&seed) % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = tu_next(&seed) % len;
            b[at] = (uint8_t)tu_next(&seed);
        }
        if (st_parse(b, len, "t.st", &st, &e) == 0) {
            accepted++;
            for (int i = 0; i < st_count(st); i++) {
                const StTensor *t = st_tensor(st, i);
                ck_assert(t->data >= b && t->data + t->nbytes <= b + len);
            }
            st_free(st);
        } else {
            ck_assert_int_eq(strncmp(e.msg, "t.st: ", 6), 0);
            ck_assert_ptr_null(strchr(e.msg, '\n'));
        }
    }
    ck_assert_int_gt(accepted, 0); /* flips inside the data are harmless */
    free(b);
    free(orig);
    remove(path);
    rmdir(dir);
    free(dir);
}
END_TEST

/* tests/ref/read_safetensors.py, an independent reader written from the format description, must
 * read what the writer produced. */
START_TEST(python_reference_reads_our_file)
{
    if (system("python3 -c '' 2>/dev/null") != 0 || access("tests/ref/read_safetensors.py", R_OK) != 0) {
        fprintf(stderr, "python_reference_reads_our_file: skipped (python3 or the script not found)\n");
        return;
    }
    char *dir = tu_tmpdir("st");
    char path[600], cmd[1400], outp[640];
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    snprintf(outp, sizeof outp, "%s/out.txt", dir);
    Sample s;
    fill_sample(&s, 5);
    s.w[0] = 0.5f, s.w[1] = -1.25f, s.w[2] = 3.0f;
    write_sample(path, &s);
    snprintf(cmd, sizeof cmd, "python3 tests/ref/read_safetensors.py '%s' > '%s' 2>&1", path, outp);
    int rc = system(cmd);
    size_t n;
    char *out = (char *)slurp(outp, &n);
    out[n] = 0;
    ck_assert_msg(rc == 0, "reader failed: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "backbone.layers.0.mixer.in_proj.weight F32 [3, 4] 0.5 -1.25 3"));
    ck_assert_ptr_nonnull(strstr(out, "half BF16 [2] 1 -3"));
    ck_assert_ptr_nonnull(strstr(out, "step I64 [] 1234567890123"));
    ck_assert_ptr_nonnull(strstr(out, "empty F32 [0, 7]"));
    ck_assert_ptr_nonnull(strstr(out, "__metadata__ format=pt"));
    free(out);
    remove(outp);
    remove(path);
    rmdir(dir);
    free(dir);
}
END_TEST

/* A checkpoint written by PyTorch (transformers' save_pretrained, the safetensors library) reads
 * back, and its parameter count is the one config_num_params derives from its config.json. */
START_TEST(reads_pytorch_checkpoint)
{
    const char *dir = "tests/fixtures/tiny-ref";
    BlErr e;
    ModelConfig c;
    SafeTensors *st;
    ck_assert_msg(config_load(&c, "tests/fixtures/tiny-ref/config.json", &e) == 0, "%s", e.msg);
    ck_assert_msg(st_read(&st, "tests/fixtures/tiny-ref/model.safetensors", &e) == 0, "%s (in %s)",
                  e.msg, dir);
    ck_assert_int_eq(st_count(st), 2 + 10 * c.num_hidden_layers);
    ck_assert_str_eq(st_metadata(st, "format"), "pt");
    long long total = 0;
    for (int i = 0; i < st_count(st); i++) total += (long long)st_tensor(st, i)->numel;
    ck_assert_int_eq(total, config_num_params(&c));
    const StTensor *t = st_find(st, "backbone.layers.1.mixer.x_proj.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], c.time_step_rank + 2 * c.state_size);
    ck_assert_int_eq(t->shape[1], c.intermediate_size);
    st_free(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, float_conversion_and_shape_errors);
    tcase_add_test(tc, writer_rejects);
    tcase_add_loop_test(tc, malformed_table, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, bad_lengths);
    tcase_add_test(tc, valid_edge_cases);
    tcase_add_test(tc, corruption_never_crashes);
    tcase_add_test(tc, python_reference_reads_our_file);
    tcase_add_test(tc, reads_pytorch_checkpoint);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
