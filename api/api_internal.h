/* What the public API's handles hold (include/bytelm.h), and the error plumbing shared by its
 * files. The API is a thin layer over the same engines the `bytelm` command uses:
 * checkpoint_open, eval/bpb's streaming scorer and generate/'s generator. */
#ifndef BYTELM_API_INTERNAL_H
#define BYTELM_API_INTERNAL_H

#include "include/bytelm.h"
#include "byte_lm/base/error.h"
#include "byte_lm/model/backend.h"
#include "byte_lm/model/model.h"

struct bl_model {
    Backend *be;
    Model *m;
    char dir[4096]; /* the checkpoint directory loaded */
};

/* err (may be NULL) <- code and message; returns -1 for `return api_fail(...)`. */
int api_fail(bl_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* err <- code and the message of an internal error e. Returns -1. */
int api_fail_from(bl_error *err, int code, const BlErr *e);
/* err <- success (code 0, empty message). */
void api_ok(bl_error *err);

#endif
