/* Pieces shared by the safetensors reader and writer, not part of the public API. */
#ifndef BYTELM_SAFETENSORS_INTERNAL_H
#define BYTELM_SAFETENSORS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

/* dtype from its header name ("F32"); -1 when unknown */
int st_dtype_parse(const char *s, StDtype *out);
/* length of the valid UTF-8 sequence starting at s (n bytes available), 0 when invalid */
size_t st_utf8_seq(const uint8_t *s, size_t n);

#endif
