#ifndef BYTELM_BACKEND_SELECT_H
#define BYTELM_BACKEND_SELECT_H

#include "byte_lm/model/backend.h"
#include "byte_lm/base/error.h"

/* 1 for the device names backend_open knows: "cpu", "cuda" and its alias "gpu". */
int backend_name_known(const char *name);

/* "cpu" or "cuda"; NULL with a message in e when unavailable. */
Backend *backend_by_name(const char *name, int threads, BlErr *e);
/* The same, with GPU `gpu` for "cuda" (a data-parallel rank's own device). */
Backend *backend_open(const char *name, int threads, int gpu, BlErr *e);

/* 0 when backend `name` can run on GPUs 0..gpus-1 (always for "cpu"), else -1 with the reason
 * in e: checked once before data-parallel ranks start, so that one line says it, not N. */
int backend_check(const char *name, int gpus, BlErr *e);


#endif
