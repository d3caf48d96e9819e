#include "byte_lm/checkpoint/checkpoint_open.h"

#include <stdio.h>

#include "byte_lm/model/backend_select.h"

int checkpoint_load_model(const char *dir, Backend *be, Model **m, BlErr *e)
{
    ModelConfig cfg;
    *m = NULL;
    if (checkpoint_load_config(dir, &cfg, e) || model_create(m, &cfg, be, e)) return -1;
    if (checkpoint_load_weights(dir, *m, e)) {
        model_free(*m);
        *m = NULL;
        return -1;
    }
    return 0;
}

int checkpoint_open(const char *path, const CkptOpen *how, Backend **be, Model **m, char *dir,
                    size_t cap, BlErr *e)
{
    char own[4096];
    ModelConfig cfg;
    if (!dir) dir = own, cap = sizeof own;
    *be = NULL;
    *m = NULL;
    Precision p;
    if (how->precision && precision_parse(how->precision, &p)) /* before any backend starts */
        return bl_fail(e, NULL, "--precision must be fp32 or bf16, not '%s'", how->precision);
    /* a bad path or config is reported before a backend (a GPU) is asked for */
    if (checkpoint_resolve(path, dir, cap, e) || checkpoint_load_config(dir, &cfg, e)) return -1;
    if (!(*be = backend_open(how->device, how->threads, how->gpu, e))) return -1;
    if (checkpoint_load_model(dir, *be, m, e)) {
        (*be)->destroy(*be);
        *be = NULL;
        return -1;
    }
    precision_for(*be, how->precision, &p);
    model_set_precision(*m, p);
    return 0;
}
