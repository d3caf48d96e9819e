/* safetensors dtypes (names and sizes) and the strict UTF-8 rule the header parser and writer
 * share. */
#include <string.h>

#include "byte_lm/format/safetensors_internal.h"

static const struct {
    const char *name;
    size_t size;
} DTYPES[ST_NUM_DTYPES] = {
    [ST_BOOL] = {"BOOL", 1},   [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},     [ST_U16] = {"U16", 2},   [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},   [ST_I32] = {"I32", 4},   [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},     [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(StDtype t) { return (unsigned)t < ST_NUM_DTYPES ? DTYPES[t].name : "?"; }
size_t st_dtype_size(StDtype t) { return (unsigned)t < ST_NUM_DTYPES ? DTYPES[t].size : 0; }

int st_dtype_parse(const char *s, StDtype *out)
{
    for (int i = 0; i < ST_NUM_DTYPES; i++)
        if (strcmp(s, DTYPES[i].name) == 0) {
            *out = (StDtype)i;
            return 0;
        }
    return -1;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid: overlong forms,
 * surrogates and code points past U+10FFFF are refused, as a strict JSON parser does. */
size_t st_utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}
