/* safetensors reader: a strict parser for the header's small JSON grammar (so every error can
 * name its byte offset), then whole-file checks: offsets inside the data section, sizes matching
 * dtype x shape, no overlaps and no unindexed bytes, as the format requires. */
#include "byte_lm/format/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/format/safetensors_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

/* ---- the header's JSON ---- */

typedef struct {
    const uint8_t *s; /* header bytes */
    size_t n, pos;
    const char *file;
    BlErr *e;
} Hdr;

/* absolute offset in the file of the current position, for messages */
static uint64_t here(const Hdr *h) { return 8 + (uint64_t)h->pos; }

static int fail(Hdr *h, const char *what)
{
    return bl_fail_at(h->e, h->file, here(h), "safetensors header: %s", what);
}

static void skip_ws(Hdr *h)
{
    while (h->pos < h->n) {
        uint8_t c = h->s[h->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        h->pos++;
    }
}

static bool peek_is(Hdr *h, char c)
{
    skip_ws(h);
    return h->pos < h->n && h->s[h->pos] == (uint8_t)c;
}

static int expect(Hdr *h, char c, const char *what)
{
    if (!peek_is(h, c)) return fail(h, what);
    h->pos++;
    return 0;
}

static int hex4(Hdr *h, size_t at, uint32_t *out)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (at + i >= h->n) return -1;
        uint8_t c = h->s[at + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
               o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A JSON string, unescaped into a new NUL-terminated buffer. NUL characters are refused: names
 * are C strings here, and "a\u0000b" would silently become "a". */
static int parse_string(Hdr *h, char **out)
{
    if (expect(h, '"', "expected a string")) return -1;
    size_t start = h->pos, end = start;
    while (end < h->n && h->s[end] != '"') end += h->s[end] == '\\' ? 2 : 1;
    if (end >= h->n) return fail(h, "unterminated string");
    char *o = bl_malloc(end - start + 1); /* unescaping never lengthens */
    size_t k = 0;
    while (h->pos < end) {
        uint8_t c = h->s[h->pos];
        if (c < 0x20) goto bad_char;
        if (c >= 0x80) {
            size_t l = st_utf8_seq(h->s + h->pos, end - h->pos);
            if (!l) {
                free(o);
                return fail(h, "invalid UTF-8 in string");
            }
            memcpy(o + k, h->s + h->pos, l);
            k += l, h->pos += l;
            continue;
        }
        if (c != '\\') {
            o[k++] = (char)c, h->pos++;
            continue;
        }
        uint8_t x = h->s[h->pos + 1];
        const char *simple = strchr("\"\\/bfnrt", x);
        if (x && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            o[k++] = map[simple - "\"\\/bfnrt"];
            h->pos += 2;
            continue;
        }
        uint32_t cp, lo;
        if (x != 'u' || hex4(h, h->pos + 2, &cp)) {
            free(o);
            return fail(h, "invalid escape in string");
        }
        size_t used = 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* high surrogate: its pair must follow */
            if (h->pos + 12 > end || h->s[h->pos + 6] != '\\' || h->s[h->pos + 7] != 'u' ||
                hex4(h, h->pos + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                free(o);
                return fail(h, "unpaired surrogate in string");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            used = 12;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            free(o);
            return fail(h, "unpaired surrogate in string");
        }
        if (cp == 0) goto bad_char;
        k += put_utf8(o + k, cp);
        h->pos += used;
    }
    o[k] = 0;
    h->pos = end + 1;
    *out = o;
    return 0;
bad_char:
    free(o);
    return fail(h, "control character or NUL in string");
}

/* A non-negative JSON integer: digits only, as a shape or offset must be. */
static int parse_uint(Hdr *h, uint64_t *out, const char *what)
{
    skip_ws(h);
    char msg[96];
    size_t start = h->pos;
    if (h->pos < h->n && h->s[h->pos] == '-') {
        snprintf(msg, sizeof msg, "%s is negative", what);
        return fail(h, msg);
    }
    uint64_t v = 0;
    while (h->pos < h->n && h->s[h->pos] >= '0' && h->s[h->pos] <= '9') {
        unsigned d = h->s[h->pos] - '0';
        if (v > (UINT64_MAX - d) / 10) {
            h->pos = start;
            snprintf(msg, sizeof msg, "%s is too large", what);
            return fail(h, msg);
        }
        v = v * 10 + d;
        h->pos++;
    }
    size_t digits = h->pos - start;
    bool more = h->pos < h->n && (h->s[h->pos] == '.' || h->s[h->pos] == 'e' || h->s[h->pos] == 'E');
    if (digits == 0 || more || (digits > 1 && h->s[start] == '0')) {
        h->pos = start;
        snprintf(msg, sizeof msg, "%s must be a non-negative integer", what);
        return fail(h, msg);
    }
    *out = v;
    return 0;
}

/* ---- the parsed file ---- */

void st_free(SafeTensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n; i++) free((char *)st->ent[i].t.name);
    for (int i = 0; i < st->nmeta; i++) free(st->mkey[i]), free(st->mval[i]);
    free(st->ent);
    free(st->by_name);
    free(st->mkey);
    free(st->mpos);
    free(st->mval);
    if (st->map) munmap(st->map, st->map_len);
    free(st->file);
    free(st);
}

static int parse_shape(Hdr *h, Entry *en)
{
    if (expect(h, '[', "shape must be an array")) return -1;
    en->t.ndim = 0;
    if (peek_is(h, ']')) {
        h->pos++;
        return 0;
    }
    for (;;) {
        if (en->t.ndim == ST_MAX_DIMS) return fail(h, "shape has more than 16 dimensions");
        uint64_t d;
        skip_ws(h);
        size_t at = h->pos;
        if (parse_uint(h, &d, "shape dimension")) return -1;
        if (d > INT64_MAX) {
            h->pos = at;
            return fail(h, "shape dimension is too large");
        }
        en->t.shape[en->t.ndim++] = (int64_t)d;
        if (peek_is(h, ']')) break;
        if (expect(h, ',', "expected ',' or ']' in shape")) return -1;
    }
    h->pos++;
    return 0;
}

static int parse_offsets(Hdr *h, Entry *en)
{
    if (expect(h, '[', "data_offsets must be an array of two integers")) return -1;
    if (parse_uint(h, &en->begin, "data offset")) return -1;
    if (expect(h, ',', "data_offsets must be an array of two integers")) return -1;
    if (parse_uint(h, &en->end, "data offset")) return -1;
    if (expect(h, ']', "data_offsets must be an array of two integers")) return -1;
    return 0;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, keys in any order, each exactly once */
static int parse_entry(Hdr *h, Entry *en)
{
    skip_ws(h);
    uint64_t at = here(h);
    if (expect(h, '{', "tensor entry must be an object")) return -1;
    bool seen[3] = {false, false, false};
    static const char *const keys[3] = {"dtype", "shape", "data_offsets"};
    if (!peek_is(h, '}')) {
        for (;;) {
            char *k;
            size_t key_pos = h->pos;
            if (parse_string(h, &k)) return -1;
            int which = -1;
            for (int i = 0; i < 3; i++)
                if (strcmp(k, keys[i]) == 0) which = i;
            free(k);
            if (which < 0 || seen[which]) {
                h->pos = key_pos;
                return fail(h, which < 0 ? "unknown key in tensor entry" : "key repeated in tensor entry");
            }
            seen[which] = true;
            if (expect(h, ':', "expected ':'")) return -1;
            int rc;
            if (which == 0) {
                char *dt = NULL;
                skip_ws(h);
                size_t dt_pos = h->pos;
                rc = parse_string(h, &dt);
                if (rc == 0 && st_dtype_parse(dt, &en->t.dtype) != 0) {
                    h->pos = dt_pos;
                    char msg[96];
                    snprintf(msg, sizeof msg, "unknown dtype \"%.40s\"", dt);
                    rc = fail(h, msg);
                }
                free(dt);
            } else if (which == 1) {
                rc = parse_shape(h, en);
            } else {
                rc = parse_offsets(h, en);
            }
            if (rc) return -1;
            if (peek_is(h, '}')) break;
            if (expect(h, ',', "expected ',' or '}' in tensor entry")) return -1;
        }
    }
    h->pos++;
    for (int i = 0; i < 3; i++)
        if (!seen[i]) {
            char msg[64];
            snprintf(msg, sizeof msg, "tensor entry has no \"%s\"", keys[i]);
            return bl_fail_at(h->e, h->file, at, "safetensors header: %s", msg);
        }
    return 0;
}

/* a metadata key with its header position, so that sorting finds repeats in n log n */
typedef struct {
    const char *k;
    size_t pos;
} MetaRef;

static int cmp_meta(const void *a, const void *b)
{
    const MetaRef *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

/* A repeated key is an error at its second occurrence. Sorting, not comparing each key with all
 * before it: a header of 100k keys must not cost 10^10 comparisons. */
static int check_metadata_repeats(Hdr *h, SafeTensors *st)
{
    if (st->nmeta < 2) return 0;
    MetaRef *r = bl_malloc(sizeof *r * (size_t)st->nmeta);
    for (int i = 0; i < st->nmeta; i++) r[i] = (MetaRef){st->mkey[i], st->mpos[i]};
    qsort(r, (size_t)st->nmeta, sizeof *r, cmp_meta);
    size_t at = 0;
    for (int i = 1; i < st->nmeta && !at; i++)
        if (!strcmp(r[i].k, r[i - 1].k)) at = r[i].pos;
    free(r);
    if (!at) return 0;
    h->pos = at;
    return fail(h, "__metadata__ key repeated");
}

static int parse_metadata(Hdr *h, SafeTensors *st)
{
    if (st->capmeta) return fail(h, "__metadata__ appears twice");
    if (expect(h, '{', "__metadata__ must be an object of strings")) return -1;
    st->capmeta = 4;
    st->mkey = bl_malloc(sizeof(char *) * (size_t)st->capmeta);
    st->mval = bl_malloc(sizeof(char *) * (size_t)st->capmeta);
    st->mpos = bl_malloc(sizeof(size_t) * (size_t)st->capmeta);
    if (peek_is(h, '}')) {
        h->pos++;
        return 0;
    }
    for (;;) {
        size_t key_pos = (skip_ws(h), h->pos);
        char *k, *v;
        if (parse_string(h, &k)) return -1;
        if (expect(h, ':', "expected ':'")) {
            free(k);
            return -1;
        }
        if (!peek_is(h, '"')) {
            free(k);
            return fail(h, "__metadata__ values must be strings");
        }
        if (parse_string(h, &v)) {
            free(k);
            return -1;
        }
        if (st->nmeta == st->capmeta) {
            st->capmeta *= 2;
            st->mkey = bl_realloc(st->mkey, sizeof(char *) * (size_t)st->capmeta);
            st->mval = bl_realloc(st->mval, sizeof(char *) * (size_t)st->capmeta);
            st->mpos = bl_realloc(st->mpos, sizeof(size_t) * (size_t)st->capmeta);
            BL_CHECK(st->mkey && st->mval);
        }
        st->mpos[st->nmeta] = key_pos;
        st->mkey[st->nmeta] = k;
        st->mval[st->nmeta++] = v;
        if (peek_is(h, '}')) break;
        if (expect(h, ',', "expected ',' or '}' in __metadata__")) return -1;
    }
    size_t end = h->pos;
    if (check_metadata_repeats(h, st)) return -1;
    h->pos = end + 1;
    return 0;
}

void st_shape_str(char *o, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(o, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(o + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(o + k, cap - k, "]");
}

/* dtype x shape in bytes, refusing a product that does not fit in 64 bits */
static int entry_size(Hdr *h, Entry *en)
{
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < en->t.ndim; i++)
        if (__builtin_mul_overflow(numel, (uint64_t)en->t.shape[i], &numel))
            return bl_fail_at(h->e, h->file, en->at, "tensor %s: shape's element count overflows",
                              en->t.name);
    if (__builtin_mul_overflow(numel, (uint64_t)st_dtype_size(en->t.dtype), &nbytes))
        return bl_fail_at(h->e, h->file, en->at, "tensor %s: byte size overflows", en->t.name);
    en->t.numel = numel;
    en->t.nbytes = (size_t)nbytes;
    if (en->end - en->begin != nbytes) {
        char sh[160];
        st_shape_str(sh, sizeof sh, en->t.ndim, en->t.shape);
        return bl_fail_at(h->e, h->file, en->at,
                          "tensor %s: data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %llu",
                          en->t.name, (unsigned long long)en->begin, (unsigned long long)en->end,
                          (unsigned long long)(en->end - en->begin), st_dtype_name(en->t.dtype), sh,
                          (unsigned long long)nbytes);
    }
    return 0;
}

static int parse_header(Hdr *h, SafeTensors *st, uint64_t data_len)
{
    if (h->n == 0 || h->s[0] != '{') return fail(h, "must start with '{'");
    h->pos = 1;
    if (!peek_is(h, '}')) {
        for (;;) {
            skip_ws(h);
            uint64_t at = here(h);
            char *name;
            if (parse_string(h, &name)) return -1;
            if (expect(h, ':', "expected ':'")) {
                free(name);
                return -1;
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (parse_metadata(h, st)) return -1;
            } else {
                if (st->n == st->cap) {
                    st->cap = st->cap ? 2 * st->cap : 16;
                    st->ent = bl_realloc(st->ent, sizeof(Entry) * (size_t)st->cap);
                    BL_CHECK(st->ent);
                }
                Entry *en = &st->ent[st->n++];
                memset(en, 0, sizeof *en);
                en->t.name = name;
                en->at = at;
                if (parse_entry(h, en)) return -1;
                if (en->begin > en->end)
                    return bl_fail_at(h->e, h->file, at, "tensor %s: data_offsets end before they begin",
                                      name);
                if (en->end > data_len)
                    return bl_fail_at(h->e, h->file, at,
                                      "tensor %s: data_offsets end %llu is past the data section (%llu bytes)",
                                      name, (unsigned long long)en->end, (unsigned long long)data_len);
                if (entry_size(h, en)) return -1;
            }
            if (peek_is(h, '}')) break;
            if (expect(h, ',', "expected ',' or '}'")) return -1;
        }
    }
    h->pos++;
    skip_ws(h);
    if (h->pos != h->n) return fail(h, "unexpected data after the header object");
    return 0;
}

static int cmp_offsets(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* a name with its entry's position, so the sorted order maps back to the entries */
typedef struct {
    const Entry *e;
    int i;
} NameRef;

static int cmp_names(const void *a, const void *b)
{
    const NameRef *x = a, *y = b;
    int c = strcmp(x->e->t.name, y->e->t.name);
    return c ? c : (x->e->at < y->e->at ? -1 : 1);
}

/* The format requires the data section to be exactly the tensors, back to back: any overlap
 * could alias two tensors, any gap hides bytes no one checks. */
static int check_layout(SafeTensors *st, const char *file, uint64_t data_start, uint64_t data_len,
                        BlErr *e)
{
    uint64_t cursor = 0; /* entries are sorted by offsets */
    for (int i = 0; i < st->n; i++) {
        const Entry *en = &st->ent[i];
        if (en->begin < cursor)
            return bl_fail_at(e, file, en->at, "tensor %s: data [%llu, %llu) overlaps another tensor",
                              en->t.name, (unsigned long long)en->begin, (unsigned long long)en->end);
        if (en->begin > cursor)
            return bl_fail_at(e, file, data_start + cursor,
                              "data bytes [%llu, %llu) belong to no tensor (hole before %s)",
                              (unsigned long long)cursor, (unsigned long long)en->begin, en->t.name);
        cursor = en->end;
    }
    if (cursor != data_len)
        return bl_fail_at(e, file, data_start + cursor,
                          "data bytes [%llu, %llu) belong to no tensor (trailing data)",
                          (unsigned long long)cursor, (unsigned long long)data_len);
    return 0;
}

static int index_names(SafeTensors *st, const char *file, BlErr *e)
{
    NameRef *r = bl_malloc(sizeof(NameRef) * (size_t)(st->n ? st->n : 1));
    for (int i = 0; i < st->n; i++) r[i] = (NameRef){&st->ent[i], i};
    if (st->n > 1) qsort(r, (size_t)st->n, sizeof(NameRef), cmp_names);
    st->by_name = bl_malloc(sizeof(int) * (size_t)(st->n ? st->n : 1));
    for (int i = 0; i < st->n; i++) {
        if (i > 0 && strcmp(r[i].e->t.name, r[i - 1].e->t.name) == 0) {
            int rc = bl_fail_at(e, file, r[i].e->at, "safetensors header: tensor %s appears twice",
                                r[i].e->t.name);
            free(r);
            return rc;
        }
        st->by_name[i] = r[i].i;
    }
    free(r);
    return 0;
}

int st_parse(const uint8_t *buf, size_t len, const char *file, SafeTensors **out, BlErr *e)
{
    *out = NULL;
    if (!file) file = "(safetensors)";
    if (len < 8)
        return bl_fail_at(e, file, 0, "too short for a safetensors file (%zu bytes, need at least 8)",
                          len);
    uint64_t hlen;
    memcpy(&hlen, buf, 8);
    if (hlen > len - 8)
        return bl_fail_at(e, file, 0, "safetensors header length %llu is past the end of the file (%zu bytes)",
                          (unsigned long long)hlen, len);
    if (hlen > ST_MAX_HEADER)
        return bl_fail_at(e, file, 0, "safetensors header length %llu exceeds the %u-byte limit",
                          (unsigned long long)hlen, ST_MAX_HEADER);

    SafeTensors *st = bl_calloc(1, sizeof *st);
    st->file = strdup(file);
    BL_CHECK(st->file);
    uint64_t data_start = 8 + hlen, data_len = len - data_start;
    Hdr h = {.s = buf + 8, .n = (size_t)hlen, .pos = 0, .file = file, .e = e};
    if (parse_header(&h, st, data_len)) goto bad;
    if (st->n > 1) qsort(st->ent, (size_t)st->n, sizeof(Entry), cmp_offsets);
    /* names before layout: a repeated name usually also overlaps, and the name is the news */
    if (index_names(st, file, e) || check_layout(st, file, data_start, data_len, e)) goto bad;
    for (int i = 0; i < st->n; i++) {
        st->ent[i].t.data = buf + data_start + st->ent[i].begin;
        st->ent[i].t.file_offset = data_start + st->ent[i].begin;
    }
    *out = st;
    return 0;
bad:
    st_free(st);
    return -1;
}

int st_read(SafeTensors **out, const char *path, BlErr *e)
{
    *out = NULL;
    struct stat sb;
    int fd = file_open_regular(path, &sb, e);
    if (fd < 0) return -1;
    size_t len = (size_t)sb.st_size;
    if (len < 8) {
        close(fd);
        return bl_fail_at(e, path, 0, "too short for a safetensors file (%zu bytes, need at least 8)",
                          len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) {
        errno = err;
        return bl_fail_errno(e, path, "cannot map");
    }
    SafeTensors *st;
    if (st_parse(map, len, path, &st, e)) {
        munmap(map, len);
        return -1;
    }
    st->map = map;
    st->map_len = len;
    *out = st;
    return 0;
}
