/* Fuzz target: the safetensors reader (st_parse in byte_lm/format/safetensors.c), which loads checkpoints
 * that may be truncated, corrupt or hostile. A refused file must give one line
 * "model.safetensors: ..."; for an accepted one the format's promises are checked: every tensor
 * lies inside the data section, its size is dtype x shape, the tensors tile the data section with
 * no gap or overlap, every name is found by st_find, float tensors convert, and a wrong shape is
 * refused. */
#include "byte_lm/format/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define FUZZ_ST_MAX_CONVERT (1u << 16) /* elements converted per tensor (bounds the time per input) */

static void fuzz_st_check_tensor(const SafeTensors *st, const StTensor *t, const uint8_t *data, size_t size)
{
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        FUZZ_REQUIRE(t->shape[d] >= 0, "negative dimension in %s", t->name);
        numel *= (uint64_t)t->shape[d];
    }
    FUZZ_REQUIRE(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "ndim %d", t->ndim);
    FUZZ_REQUIRE(numel == t->numel, "numel of %s", t->name);
    FUZZ_REQUIRE(t->nbytes == t->numel * st_dtype_size(t->dtype), "nbytes of %s", t->name);
    FUZZ_REQUIRE(t->data >= data + 8 && t->nbytes <= size && t->data <= data + size - t->nbytes,
                 "tensor %s outside the file", t->name);
    FUZZ_REQUIRE(t->file_offset == (uint64_t)(t->data - data), "file_offset of %s", t->name);
    FUZZ_REQUIRE(st_find(st, t->name) == t, "st_find(%s)", t->name);

    BlErr e = {{0}};
    FUZZ_REQUIRE(st_expect(st, t->name, t->dtype, t->ndim, t->shape, &e) == t, "st_expect(%s): %s", t->name, e.msg);
    int64_t wrong[ST_MAX_DIMS + 1];
    memcpy(wrong, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    wrong[t->ndim] = 1;
    FUZZ_REQUIRE(st_expect(st, t->name, t->dtype, t->ndim + 1, wrong, &e) == NULL, "wrong rank accepted");
    FUZZ_REQUIRE(fuzz_msg_ok(e.msg, "model.safetensors"), "bad error message \"%s\"", e.msg);

    int is_float = t->dtype == ST_F32 || t->dtype == ST_BF16 || t->dtype == ST_F16 || t->dtype == ST_F64;
    if (t->numel > FUZZ_ST_MAX_CONVERT) return;
    float *dst = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    int rc = st_read_f32(st, t->name, t->ndim, t->shape, dst, &e);
    FUZZ_REQUIRE(rc == (is_float ? 0 : -1), "st_read_f32(%s, %s) returned %d", t->name, st_dtype_name(t->dtype), rc);
    if (rc == 0 && t->dtype == ST_F32)
        FUZZ_REQUIRE(!memcmp(dst, t->data, t->nbytes), "F32 tensor %s changed on reading", t->name);
    free(dst);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    SafeTensors *st;
    BlErr e = {{0}};
    if (st_parse(data, size, "model.safetensors", &st, &e)) {
        FUZZ_REQUIRE(st == NULL, "result set on failure");
        FUZZ_REQUIRE(fuzz_msg_ok(e.msg, "model.safetensors"), "bad error message \"%s\"", e.msg);
        return 0;
    }
    uint64_t hlen;
    memcpy(&hlen, data, 8);
    uint64_t cursor = 8 + hlen; /* tensors come in file order and tile the data section */
    for (int i = 0; i < st_count(st); i++) {
        const StTensor *t = st_tensor(st, i);
        FUZZ_REQUIRE(t->file_offset == cursor, "tensor %d starts at %llu, expected %llu", i,
                     (unsigned long long)t->file_offset, (unsigned long long)cursor);
        fuzz_st_check_tensor(st, t, data, size);
        cursor += t->nbytes;
    }
    FUZZ_REQUIRE(cursor == size, "data section not covered: %llu of %zu", (unsigned long long)cursor, size);
    for (int i = 0; i < st_metadata_count(st); i++) {
        const char *k, *v;
        st_metadata_at(st, i, &k, &v);
        FUZZ_REQUIRE(k && v && st_metadata(st, k) == v, "metadata %d", i);
    }
    st_free(st);
    return 0;
}
