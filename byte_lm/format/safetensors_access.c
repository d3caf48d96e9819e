/* Looking tensors up in a parsed safetensors file, and reading them as floats with their shape
 * checked against what the caller expects. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "byte_lm/format/safetensors_internal.h"

/* ---- lookups ---- */

int st_count(const SafeTensors *st) { return st->n; }
const StTensor *st_tensor(const SafeTensors *st, int i)
{
    return i >= 0 && i < st->n ? &st->ent[i].t : NULL;
}
const char *st_file(const SafeTensors *st) { return st->file; }

const StTensor *st_find(const SafeTensors *st, const char *name)
{
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const StTensor *t = &st->ent[st->by_name[mid]].t;
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

int st_metadata_count(const SafeTensors *st) { return st->nmeta; }
void st_metadata_at(const SafeTensors *st, int i, const char **key, const char **value)
{
    BL_CHECK(i >= 0 && i < st->nmeta);
    *key = st->mkey[i];
    *value = st->mval[i];
}
const char *st_metadata(const SafeTensors *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->mkey[i], key) == 0) return st->mval[i];
    return NULL;
}

/* ---- typed access ---- */

static const StTensor *expect_shape(const SafeTensors *st, const char *name, int ndim,
                                    const int64_t *shape, BlErr *e)
{
    const StTensor *t = st_find(st, name);
    if (!t) {
        bl_fail(e, st->file, "tensor %s is missing", name);
        return NULL;
    }
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[160], got[160];
        st_shape_str(want, sizeof want, ndim, shape);
        st_shape_str(got, sizeof got, t->ndim, t->shape);
        bl_fail_at(e, st->file, t->file_offset, "tensor %s: expected shape %s, found %s", name, want,
                   got);
        return NULL;
    }
    return t;
}

const StTensor *st_expect(const SafeTensors *st, const char *name, StDtype dtype, int ndim,
                          const int64_t *shape, BlErr *e)
{
    const StTensor *t = expect_shape(st, name, ndim, shape, e);
    if (t && t->dtype != dtype) {
        bl_fail_at(e, st->file, t->file_offset, "tensor %s: expected dtype %s, found %s", name,
                   st_dtype_name(dtype), st_dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

/* IEEE half to float, subnormals, infinities and NaNs included */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        float f = (float)man * 0x1p-24f; /* zero or subnormal: man * 2^-24 */
        return sign ? -f : f;
    }
    if (exp == 31) bits = sign | 0x7F800000u | (man << 13);
    else bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int st_read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape,
                float *dst, BlErr *e)
{
    const StTensor *t = expect_shape(st, name, ndim, shape, e);
    if (!t) return -1;
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, p, n * 4);
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        return bl_fail_at(e, st->file, t->file_offset,
                          "tensor %s: dtype %s cannot be read as floats (need F32, BF16, F16 or F64)",
                          name, st_dtype_name(t->dtype));
    }
}

int st_read_f32_finite(const SafeTensors *st, const char *name, int ndim, const int64_t *shape,
                       float *dst, BlErr *e)
{
    if (st_read_f32(st, name, ndim, shape, dst, e)) return -1;
    const StTensor *t = st_find(st, name);
    for (size_t i = 0; i < (size_t)t->numel; i++)
        if (!isfinite(dst[i]))
            return bl_fail_at(e, st->file, t->file_offset + i * st_dtype_size(t->dtype),
                              "tensor %s: element %zu is %s%s", name, i,
                              isnan(dst[i]) ? "NaN" : "infinite",
                              t->dtype == ST_F64 && !isnan(dst[i]) ? " as a float" : "");
    return 0;
}
