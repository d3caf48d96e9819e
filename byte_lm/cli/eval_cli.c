#include "byte_lm/cli/eval_cli.h"

#include <stdlib.h>

#include "byte_lm/checkpoint/checkpoint_open.h"

int eval_load_model(const char *ckpt, const char *device, int threads, const char *precision,
                    Backend **be, Model **m, BlErr *e)
{
    CkptOpen how = {device, threads, 0, precision};
    return checkpoint_open(ckpt, &how, be, m, NULL, 0, e);
}

void eval_close_model(Backend *be, Model *m)
{
    if (m) model_free(m);
    if (be) be->destroy(be);
}
