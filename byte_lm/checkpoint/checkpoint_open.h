/* The one way a checkpoint becomes a model ready to run: every command that loads one (eval,
 * generate, info, a resumed train) goes through here, so each check is made once. */
#ifndef BYTELM_CHECKPOINT_OPEN_H
#define BYTELM_CHECKPOINT_OPEN_H

#include "byte_lm/checkpoint/checkpoint.h"

/* How to open it: the backend ("cpu" or "cuda"), CPU threads (0: all cores), the GPU, and the
 * precision ("fp32", "bf16", or NULL for the backend's default). */
typedef struct {
    const char *device;
    int threads, gpu;
    const char *precision;
} CkptOpen;

/* Config and weights of checkpoint directory dir onto be, each checked (shapes, dtypes, finite
 * values); the model stays in fp32 until the caller sets its precision. 0, or -1 with e set and
 * *m NULL. */
int checkpoint_load_model(const char *dir, Backend *be, Model **m, BlErr *e);

/* path (a checkpoint or a run directory) resolved into dir (cap bytes; may be NULL), its config
 * checked before any backend starts, then the backend opened, the model loaded and put in its
 * precision. 0, or -1 with e set and nothing left open. */
int checkpoint_open(const char *path, const CkptOpen *how, Backend **be, Model **m, char *dir,
                    size_t cap, BlErr *e);

#endif
