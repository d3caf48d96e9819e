/* safetensors files (huggingface/safetensors): an 8-byte little-endian header length N, N bytes
 * of JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}, then the tensors' bytes, offsets relative to the end of the
 * header. The reader checks every length, offset and shape before anything is trusted (the file
 * may be truncated, corrupt or hostile); the writer produces files PyTorch's
 * safetensors.torch.load_file reads. Little-endian hosts only, as the format. */
#ifndef BYTELM_SAFETENSORS_H
#define BYTELM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "byte_lm/base/error.h"

typedef enum {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_F64,
    ST_I64,
    ST_U64,
    ST_NUM_DTYPES
} StDtype;

#define ST_MAX_DIMS 16
#define ST_MAX_HEADER (100u * 1000u * 1000u) /* as the reference implementation */

const char *st_dtype_name(StDtype t); /* "F32", ... */
size_t st_dtype_size(StDtype t);      /* bytes per element */

typedef struct {
    const char *name; /* NUL-terminated UTF-8 */
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    const uint8_t *data; /* nbytes bytes inside the file buffer; not necessarily aligned */
    size_t nbytes;
    uint64_t file_offset; /* where data starts in the file (for error messages) */
} StTensor;

typedef struct SafeTensors SafeTensors;

/* Parses a whole file held in buf. Nothing is copied: the tensors point into buf, which must
 * outlive the result. file names the source in error messages. */
int st_parse(const uint8_t *buf, size_t len, const char *file, SafeTensors **out, BlErr *e);
/* Maps the file at path read-only and parses it; st_free unmaps it. Saves replace files by
 * rename, so a mapped file is never rewritten underneath; truncating it in place would be. */
int st_read(SafeTensors **out, const char *path, BlErr *e);
void st_free(SafeTensors *st);

/* Tensors in file order (ascending data offset). */
int st_count(const SafeTensors *st);
const StTensor *st_tensor(const SafeTensors *st, int i);
const StTensor *st_find(const SafeTensors *st, const char *name); /* NULL when absent */
/* __metadata__ entries, in header order; st_metadata returns NULL for an absent key. */
int st_metadata_count(const SafeTensors *st);
void st_metadata_at(const SafeTensors *st, int i, const char **key, const char **value);
const char *st_metadata(const SafeTensors *st, const char *key);
const char *st_file(const SafeTensors *st);

/* Copies tensor `name` into dst as floats, converting from F32, BF16, F16 or F64, after checking
 * it exists and has exactly the expected shape ("FILE: tensor X: expected shape [..], found [..]").
 * dst holds the product of shape[] floats. */
int st_read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape,
                float *dst, BlErr *e);
/* st_read_f32, then every value must be finite: a NaN or infinity is an error naming the tensor,
 * the element and its file offset. What weights and optimizer moments are read with. */
int st_read_f32_finite(const SafeTensors *st, const char *name, int ndim, const int64_t *shape,
                       float *dst, BlErr *e);
/* The same check without conversion, for other dtypes: tensor exists, has this dtype and shape. */
const StTensor *st_expect(const SafeTensors *st, const char *name, StDtype dtype, int ndim,
                          const int64_t *shape, BlErr *e);

/* Writer: collect tensors (pointers only: the data must stay valid until st_writer_write), then
 * write them contiguously in the order added. Errors name the output path. */
typedef struct StWriter StWriter;
StWriter *st_writer_new(const char *path);
void st_writer_free(StWriter *w);
int st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                  const void *data, BlErr *e);
/* Adds a __metadata__ entry; "format": "pt" is written unless set here. */
int st_writer_meta(StWriter *w, const char *key, const char *value, BlErr *e);
/* Writes PATH.tmp, fsyncs it and renames it to PATH: PATH is never left half-written. */
int st_writer_write(StWriter *w, BlErr *e);

#endif
