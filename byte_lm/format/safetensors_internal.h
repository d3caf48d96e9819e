/* Pieces shared by the safetensors reader and writer, not part of the public API. */
#ifndef BYTELM_SAFETENSORS_INTERNAL_H
#define BYTELM_SAFETENSORS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/format/safetensors.h"

/* dtype from its header name ("F32"); -1 when unknown */
int st_dtype_parse(const char *s, StDtype *out);
/* length of the valid UTF-8 sequence starting at s (n bytes available), 0 when invalid */
size_t st_utf8_seq(const uint8_t *s, size_t n);

/* "[2, 3]" into o, for messages */
void st_shape_str(char *o, size_t cap, int ndim, const int64_t *shape);

/* The parsed file (safetensors.c builds it; safetensors_access.c reads it). */
typedef struct {
    StTensor t;
    uint64_t begin, end; /* data_offsets */
    uint64_t at;         /* file offset of the entry's name, for messages */
} Entry;

struct SafeTensors {
    char *file;
    void *map; /* st_read's mapping, or NULL */
    size_t map_len;
    Entry *ent; /* file order */
    int n, cap;
    int *by_name; /* indices into ent, sorted by name */
    char **mkey, **mval;
    size_t *mpos; /* header position of each key, for the repeated-key error */
    int nmeta, capmeta;
};

#endif
