#include "eval_cli.h"

#include <stdlib.h>

#include "byte_lm/backend_select.h"
#include "byte_lm/checkpoint.h"

int eval_load_model(const char *ckpt, const char *device, int threads, const char *precision,
                    Backend **be, Model **m, BlErr *e)
{
    char dir[4096];
    ModelConfig cfg;
    *be = NULL;
    *m = NULL;
    if (checkpoint_resolve(ckpt, dir, sizeof dir, e) || checkpoint_load_config(dir, &cfg, e)) return -1;
    if (!(*be = backend_by_name(device, threads, e))) return -1;
    Precision p = (*be)->bf16_default ? PREC_BF16 : PREC_FP32;
    if (precision && precision_parse(precision, &p)) {
        bl_fail(e, NULL, "--precision must be fp32 or bf16, not '%s'", precision);
    } else if (model_create(m, &cfg, *be, e) == 0 && checkpoint_load_weights(dir, *m, e) == 0) {
        model_set_precision(*m, p);
        return 0;
    }
    eval_close_model(*be, *m);
    *be = NULL;
    *m = NULL;
    return -1;
}

void eval_close_model(Backend *be, Model *m)
{
    if (m) model_free(m);
    if (be) be->destroy(be);
}
