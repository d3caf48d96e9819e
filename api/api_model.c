/* The public API's models: bl_model_open over checkpoint_open, and the error and version
 * helpers every API call uses. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "byte_lm/checkpoint/checkpoint_open.h"
#include "byte_lm/model/backend_select.h"

const char *bl_version(void) { return BYTELM_VERSION_STRING; }

int api_fail(bl_error *err, int code, const char *fmt, ...)
{
    if (!err) return -1;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

int api_fail_from(bl_error *err, int code, const BlErr *e) { return api_fail(err, code, "%s", e->msg); }

void api_ok(bl_error *err)
{
    if (!err) return;
    err->code = BL_OK;
    err->message[0] = 0;
}

void bl_open_opts_init(bl_open_opts *o)
{
    memset(o, 0, sizeof *o);
    o->device = "cpu";
}

bl_model *bl_model_open(const char *path, const bl_open_opts *opts, bl_error *err)
{
    bl_open_opts def;
    if (!opts) bl_open_opts_init(&def), opts = &def;
    if (!path) return api_fail(err, BL_ERR_ARG, "bl_model_open: path is NULL"), NULL;
    const char *device = opts->device ? opts->device : "cpu";
    Precision prec;
    if (!backend_name_known(device))
        return api_fail(err, BL_ERR_ARG, "bl_model_open: device must be cpu or cuda, not '%.40s'", device), NULL;
    if (opts->precision && precision_parse(opts->precision, &prec))
        return api_fail(err, BL_ERR_ARG, "bl_model_open: precision must be fp32 or bf16, not '%.40s'",
                        opts->precision),
               NULL;
    if (opts->threads < 0 || opts->gpu < 0)
        return api_fail(err, BL_ERR_ARG, "bl_model_open: threads and gpu must be >= 0"), NULL;
    bl_model *m = bl_calloc(1, sizeof *m);
    CkptOpen how = {device, opts->threads, opts->gpu, opts->precision};
    BlErr e;
    if (checkpoint_open(path, &how, &m->be, &m->m, m->dir, sizeof m->dir, &e)) {
        free(m);
        return api_fail_from(err, BL_ERR_INPUT, &e), NULL;
    }
    api_ok(err);
    return m;
}

void bl_model_close(bl_model *m)
{
    if (!m) return;
    model_free(m->m);
    m->be->destroy(m->be);
    free(m);
}

void bl_model_info(const bl_model *m, bl_info *out)
{
    const ModelConfig *c = model_config(m->m);
    memset(out, 0, sizeof *out);
    out->n_layer = c->num_hidden_layers;
    out->d_model = c->hidden_size;
    out->d_inner = c->intermediate_size;
    out->d_state = c->state_size;
    out->n_params = (uint64_t)model_num_params(m->m);
    out->device = m->be->name;
    out->precision = precision_name(model_precision(m->m));
    out->path = m->dir;
}
