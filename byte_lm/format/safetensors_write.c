/* safetensors writer: tensors back to back in the order added, a header padded with spaces so the
 * data starts 8-byte aligned (as the reference writer does, so mapped F32/F64 data is aligned),
 * written through a temporary file so the path never holds half a file. */
#include <stdbool.h>
#include <string.h>
#include <sys/uio.h>

#include "byte_lm/base/atomic_dir.h"
#include "byte_lm/format/safetensors.h"
#include "byte_lm/format/safetensors_internal.h"

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} Item;

struct StWriter {
    char *path;
    Item *items;
    int n, cap;
    char **mkey, **mval;
    int nmeta, capmeta;
};

typedef struct {
    char *p;
    size_t n, cap;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = bl_realloc(b->p, b->cap);
        BL_CHECK(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }
static void buf_u64(Buf *b, uint64_t v)
{
    char t[24];
    buf_put(b, t, (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)v));
}

/* JSON string: quotes, backslashes and control characters escaped, UTF-8 passed through */
static void buf_json_string(Buf *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char t[2] = {'\\', (char)c};
            buf_put(b, t, 2);
        } else if (c < 0x20) {
            char t[8];
            buf_put(b, t, (size_t)snprintf(t, sizeof t, "\\u%04x", c));
        } else {
            buf_put(b, (const char *)&c, 1);
        }
    }
    buf_put(b, "\"", 1);
}

static bool valid_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = st_utf8_seq((const uint8_t *)s + i, n - i);
        if (!l) return false;
        i += l;
    }
    return true;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = bl_malloc(n);
    memcpy(d, s, n);
    return d;
}

StWriter *st_writer_new(const char *path)
{
    StWriter *w = bl_calloc(1, sizeof *w);
    w->path = dup_str(path);
    return w;
}

void st_writer_free(StWriter *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->items[i].name);
    for (int i = 0; i < w->nmeta; i++) free(w->mkey[i]), free(w->mval[i]);
    free(w->items);
    free(w->mkey);
    free(w->mval);
    free(w->path);
    free(w);
}

int st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                  const void *data, BlErr *e)
{
    if (!name[0] || strcmp(name, "__metadata__") == 0 || !valid_utf8(name))
        return bl_fail(e, w->path, "tensor name \"%s\" is not allowed", name);
    if ((unsigned)dtype >= ST_NUM_DTYPES) return bl_fail(e, w->path, "tensor %s: bad dtype", name);
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return bl_fail(e, w->path, "tensor %s: %d dimensions (at most %d)", name, ndim, ST_MAX_DIMS);
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return bl_fail(e, w->path, "tensor %s: negative dimension %lld", name, (long long)shape[i]);
        if (__builtin_mul_overflow(numel, (uint64_t)shape[i], &numel))
            return bl_fail(e, w->path, "tensor %s: element count overflows", name);
    }
    if (__builtin_mul_overflow(numel, (uint64_t)st_dtype_size(dtype), &nbytes))
        return bl_fail(e, w->path, "tensor %s: byte size overflows", name);
    if (!data && nbytes) return bl_fail(e, w->path, "tensor %s: no data", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return bl_fail(e, w->path, "tensor %s added twice", name);

    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->items = bl_realloc(w->items, sizeof(Item) * (size_t)w->cap);
        BL_CHECK(w->items);
    }
    Item *it = &w->items[w->n++];
    memset(it, 0, sizeof *it);
    it->name = dup_str(name);
    it->dtype = dtype;
    it->ndim = ndim;
    if (ndim) memcpy(it->shape, shape, sizeof(int64_t) * (size_t)ndim);
    it->data = data;
    it->nbytes = nbytes;
    return 0;
}

int st_writer_meta(StWriter *w, const char *key, const char *value, BlErr *e)
{
    if (!valid_utf8(key) || !valid_utf8(value))
        return bl_fail(e, w->path, "metadata %s: not valid UTF-8", key);
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->mkey[i], key) == 0) {
            free(w->mval[i]);
            w->mval[i] = dup_str(value);
            return 0;
        }
    if (w->nmeta == w->capmeta) {
        w->capmeta = w->capmeta ? 2 * w->capmeta : 8;
        w->mkey = bl_realloc(w->mkey, sizeof(char *) * (size_t)w->capmeta);
        w->mval = bl_realloc(w->mval, sizeof(char *) * (size_t)w->capmeta);
        BL_CHECK(w->mkey && w->mval);
    }
    w->mkey[w->nmeta] = dup_str(key);
    w->mval[w->nmeta++] = dup_str(value);
    return 0;
}

static bool has_meta(const StWriter *w, const char *key)
{
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->mkey[i], key) == 0) return true;
    return false;
}

/* The header: 8 reserved bytes for the length, the JSON, then spaces up to a multiple of 8. */
static void build_header(const StWriter *w, Buf *b)
{
    buf_put(b, "\0\0\0\0\0\0\0\0", 8);
    buf_str(b, "{");
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const Item *it = &w->items[i];
        if (i) buf_str(b, ",");
        buf_json_string(b, it->name);
        buf_str(b, ":{\"dtype\":\"");
        buf_str(b, st_dtype_name(it->dtype));
        buf_str(b, "\",\"shape\":[");
        for (int d = 0; d < it->ndim; d++) {
            if (d) buf_str(b, ",");
            buf_u64(b, (uint64_t)it->shape[d]);
        }
        buf_str(b, "],\"data_offsets\":[");
        buf_u64(b, off);
        buf_str(b, ",");
        buf_u64(b, off + it->nbytes);
        buf_str(b, "]}");
        off += it->nbytes;
    }
    buf_str(b, w->n ? ",\"__metadata__\":{" : "\"__metadata__\":{");
    bool pt = !has_meta(w, "format");
    if (pt) buf_str(b, "\"format\":\"pt\"");
    for (int i = 0; i < w->nmeta; i++) {
        if (pt || i) buf_str(b, ",");
        buf_json_string(b, w->mkey[i]);
        buf_str(b, ":");
        buf_json_string(b, w->mval[i]);
    }
    buf_str(b, "}}");
    while (b->n % 8) buf_str(b, " ");
    uint64_t hlen = b->n - 8;
    memcpy(b->p, &hlen, 8); /* little-endian host, checked in safetensors.c */
}

int st_writer_write(StWriter *w, BlErr *e)
{
    uint64_t total = 0;
    for (int i = 0; i < w->n; i++)
        if (__builtin_add_overflow(total, w->items[i].nbytes, &total))
            return bl_fail(e, w->path, "total tensor size overflows");
    Buf b = {0};
    build_header(w, &b);
    if (b.n - 8 > ST_MAX_HEADER) {
        free(b.p);
        return bl_fail(e, w->path, "safetensors header would exceed %u bytes", ST_MAX_HEADER);
    }
    struct iovec *parts = bl_malloc(sizeof(struct iovec) * (size_t)(w->n + 1));
    int np = 0;
    parts[np++] = (struct iovec){.iov_base = b.p, .iov_len = b.n};
    for (int i = 0; i < w->n; i++)
        if (w->items[i].nbytes)
            parts[np++] = (struct iovec){.iov_base = (void *)w->items[i].data,
                                         .iov_len = (size_t)w->items[i].nbytes};
    int rc = write_file_atomic_iov(w->path, parts, np, e);
    free(parts);
    free(b.p);
    return rc;
}
