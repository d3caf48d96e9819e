#include "byte_lm/checkpoint/checkpoint.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "byte_lm/base/atomic_dir.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/format/safetensors.h"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int checkpoint_resolve(const char *path, char *out, size_t cap, BlErr *e)
{
    char sub[ATOMIC_DIR_PATH_MAX], probe[ATOMIC_DIR_PATH_MAX];
    snprintf(sub, sizeof sub, "%.4000s/checkpoint", path);
    snprintf(probe, sizeof probe, "%.4000s/config.json", path);
    struct stat st;
    /* a run directory holds checkpoint/ (or checkpoint.old after a crash mid-save) */
    if (stat(probe, &st) != 0) {
        char old[ATOMIC_DIR_PATH_MAX];
        snprintf(old, sizeof old, "%.4000s.old", sub);
        if (is_dir(sub) || is_dir(old)) return atomic_dir_resolve(sub, out, cap, e);
    }
    if (atomic_dir_resolve(path, out, cap, e)) return -1;
    snprintf(probe, sizeof probe, "%.4000s/config.json", out);
    if (stat(probe, &st) != 0) return bl_fail(e, path, "not a checkpoint directory (no config.json)");
    return 0;
}

static void join(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%.3900s/%s", dir, name);
}

/* Downloads the whole flat buffer p (params, m or v) to the host. */
static float *to_host(Model *m, const float *p)
{
    Backend *be = model_backend(m);
    float *h = bl_malloc(model_num_params(m) * sizeof(float));
    be->download(be, h, p, model_num_params(m) * sizeof(float));
    return h;
}

static int write_tensors(Model *m, const char *path, const char *prefix, const float *host,
                         const char *step_meta, BlErr *e)
{
    StWriter *w = st_writer_new(path);
    int rc = 0;
    for (int i = 0; i < model_num_tensors(m) && !rc; i++) {
        const ParamInfo *p = model_tensor(m, i);
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        rc = st_writer_add(w, name, ST_F32, p->ndim, p->shape, host + p->offset, e);
    }
    if (!rc && step_meta) rc = st_writer_meta(w, "step", step_meta, e);
    if (!rc) rc = st_writer_write(w, e);
    st_writer_free(w);
    return rc;
}

/* trainer_state.json, one table: each field's section, key, type, place and bounds. The writer,
 * the reader and its range checks all walk it, so a field and its bounds are written once.
 * Offsets are into StateFile (the optimizer's step count travels beside the TrainerState). */
typedef struct {
    TrainerState ts;
    int opt_step;
} StateFile;

enum { T_INT, T_FLOAT, T_DOUBLE, T_U64, T_STR, T_PREC };
enum { OPEN_LO = 1, OPEN_HI = 2 }; /* the bound itself is out: lr and eps above 0, betas below 1 */

typedef struct {
    const char *sec; /* NULL: top level */
    const char *key;
    int type;
    size_t off, cap; /* cap: T_STR's buffer size */
    double lo, hi;   /* T_INT, T_FLOAT, T_DOUBLE */
    int open;
    uint64_t max;    /* T_U64 */
} StateField;

#define SF(m) offsetof(StateFile, m)
static const StateField STATE_FIELDS[] = {
    {NULL, "step", T_INT, SF(ts.step), 0, 0, OPTIM_MAX_STEPS, 0, 0},
    {NULL, "optimizer_step", T_INT, SF(opt_step), 0, 0, OPTIM_MAX_STEPS, 0, 0},
    {NULL, "bytes_seen", T_U64, SF(ts.bytes_seen), 0, 0, 0, 0, UINT64_MAX / 2},
    {NULL, "elapsed_seconds", T_DOUBLE, SF(ts.elapsed_seconds), 0, 0, 1e12, 0, 0},
    {"loader", "seed", T_U64, SF(ts.loader.seed), 0, 0, 0, 0, UINT64_MAX},
    /* a position no run reaches: the loader used to wait on it forever */
    {"loader", "next_batch", T_U64, SF(ts.loader.next_batch), 0, 0, 0, 0, LOADER_MAX_BATCH},
    {"options", "batch", T_INT, SF(ts.B), 0, 1, TS_MAX_BATCH, 0, 0},
    {"options", "seq_len", T_INT, SF(ts.L), 0, 1, TS_MAX_SEQ_LEN, 0, 0},
    /* the whole step over all ranks: one rank's --accum times the world */
    {"options", "accum", T_INT, SF(ts.accum), 0, 1, (double)TS_MAX_ACCUM * TS_MAX_WORLD, 0, 0},
    {"options", "seed", T_U64, SF(ts.seed), 0, 0, 0, 0, UINT64_MAX},
    {"options", "eval_every", T_INT, SF(ts.eval_every), 0, 0, TS_MAX_PERIOD, 0, 0},
    {"options", "eval_batches", T_INT, SF(ts.eval_batches), 0, 1, TS_MAX_EVAL_BATCHES, 0, 0},
    {"options", "ckpt_every", T_INT, SF(ts.ckpt_every), 0, 0, TS_MAX_PERIOD, 0, 0},
    {"options", "data", T_STR, SF(ts.data), sizeof(((TrainerState *)0)->data), 0, 0, 0, 0},
    {"options", "val", T_STR, SF(ts.val), sizeof(((TrainerState *)0)->val), 0, 0, 0, 0},
    {"options", "precision", T_PREC, SF(ts.precision), 0, 0, 0, 0, 0},
    {"optimizer", "lr", T_FLOAT, SF(ts.optim.lr), 0, 0, OPTIM_MAX_LR, OPEN_LO, 0},
    {"optimizer", "min_lr_ratio", T_FLOAT, SF(ts.optim.min_lr_ratio), 0, 0, 1, 0, 0},
    {"optimizer", "warmup_steps", T_INT, SF(ts.optim.warmup_steps), 0, 0, OPTIM_MAX_STEPS, 0, 0},
    {"optimizer", "total_steps", T_INT, SF(ts.optim.total_steps), 0, 1, OPTIM_MAX_STEPS, 0, 0},
    {"optimizer", "beta1", T_FLOAT, SF(ts.optim.beta1), 0, 0, 1, OPEN_HI, 0},
    {"optimizer", "beta2", T_FLOAT, SF(ts.optim.beta2), 0, 0, 1, OPEN_HI, 0},
    {"optimizer", "eps", T_FLOAT, SF(ts.optim.eps), 0, 0, 1, OPEN_LO, 0},
    {"optimizer", "weight_decay", T_FLOAT, SF(ts.optim.weight_decay), 0, 0, OPTIM_MAX_WEIGHT_DECAY, 0, 0},
    {"optimizer", "clip", T_FLOAT, SF(ts.optim.clip), 0, 0, OPTIM_MAX_CLIP, 0, 0},
};
#define N_STATE_FIELDS (sizeof STATE_FIELDS / sizeof STATE_FIELDS[0])
static const char *const STATE_SECTIONS[] = {"loader", "options", "optimizer"};

/* The object a field lives in, made on the way when `make` (the writer). */
static cJSON *field_parent(cJSON *root, const StateField *f, int make)
{
    if (!f->sec) return root;
    cJSON *o = cJSON_GetObjectItemCaseSensitive(root, f->sec);
    if (!o && make) o = cJSON_AddObjectToObject(root, f->sec);
    return o;
}

static char *trainer_json(const TrainerState *ts, int opt_step)
{
    StateFile sf = {*ts, opt_step};
    const char *base = (const char *)&sf;
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < N_STATE_FIELDS; i++) {
        const StateField *f = &STATE_FIELDS[i];
        cJSON *p = field_parent(o, f, 1);
        const void *at = base + f->off;
        char buf[32];
        switch (f->type) {
        case T_INT: cJSON_AddNumberToObject(p, f->key, *(const int *)at); break;
        case T_FLOAT: cJSON_AddNumberToObject(p, f->key, *(const float *)at); break;
        case T_DOUBLE: cJSON_AddNumberToObject(p, f->key, *(const double *)at); break;
        case T_U64: /* JSON numbers are doubles in most readers: 64-bit values travel as strings */
            snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)at);
            cJSON_AddStringToObject(p, f->key, buf);
            break;
        case T_STR: cJSON_AddStringToObject(p, f->key, (const char *)at); break;
        case T_PREC: cJSON_AddStringToObject(p, f->key, precision_name(*(const Precision *)at)); break;
        }
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

int checkpoint_save(const char *dir, Model *m, const Optimizer *opt, const TrainerState *ts,
                    BlErr *e)
{
    AtomicDir ad;
    if (atomic_dir_begin(&ad, dir, e)) return -1;
    char path[ATOMIC_DIR_PATH_MAX], step[32];
    snprintf(step, sizeof step, "%d", ts ? ts->step : 0);
    int rc = atomic_dir_file(&ad, "config.json", path, sizeof path, e);
    if (!rc) rc = config_save(model_config(m), path, e);
    float *h = to_host(m, model_params(m));
    if (!rc) rc = atomic_dir_file(&ad, "model.safetensors", path, sizeof path, e);
    if (!rc) rc = write_tensors(m, path, "", h, NULL, e);
    free(h);
    if (!rc && opt) {
        rc = atomic_dir_file(&ad, "optimizer.safetensors", path, sizeof path, e);
        float *hm = to_host(m, opt->m), *hv = to_host(m, opt->v);
        /* one file, two prefixes: the writer takes pointers, so both host copies stay alive */
        StWriter *w = st_writer_new(path);
        for (int pass = 0; pass < 2 && !rc; pass++)
            for (int i = 0; i < model_num_tensors(m) && !rc; i++) {
                const ParamInfo *p = model_tensor(m, i);
                char name[128];
                snprintf(name, sizeof name, "%s%s", pass ? "exp_avg_sq." : "exp_avg.", p->name);
                rc = st_writer_add(w, name, ST_F32, p->ndim, p->shape, (pass ? hv : hm) + p->offset, e);
            }
        if (!rc) rc = st_writer_meta(w, "step", step, e);
        if (!rc) rc = st_writer_write(w, e);
        st_writer_free(w);
        free(hm);
        free(hv);
    }
    if (!rc && ts) {
        rc = atomic_dir_file(&ad, "trainer_state.json", path, sizeof path, e);
        char *js = trainer_json(ts, opt ? opt->step : 0);
        if (!rc) rc = write_file_atomic(path, js, strlen(js), e);
        free(js);
    }
    if (!rc) rc = atomic_dir_commit(&ad, e);
    if (rc) atomic_dir_abort(&ad);
    return rc;
}

int checkpoint_load_config(const char *dir, ModelConfig *c, BlErr *e)
{
    char path[ATOMIC_DIR_PATH_MAX];
    join(path, sizeof path, dir, "config.json");
    return config_load(c, path, e);
}

/* Reads every model tensor from a safetensors file into host (flat layout), checking shapes;
 * prefix selects e.g. "exp_avg." in the optimizer file. Tensors the model does not have are an
 * error, except transformers' tied "lm_head.weight" copy. */
static int read_tensors(Model *m, const char *path, const char *prefix, float *host, BlErr *e)
{
    SafeTensors *st;
    if (st_read(&st, path, e)) return -1;
    int rc = 0;
    for (int i = 0; i < model_num_tensors(m) && !rc; i++) {
        const ParamInfo *p = model_tensor(m, i);
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        rc = st_read_f32_finite(st, name, p->ndim, p->shape, host + p->offset, e);
    }
    if (!rc && !prefix[0])
        for (int i = 0; i < st_count(st); i++) {
            const char *n = st_tensor(st, i)->name;
            if (!strcmp(n, "lm_head.weight") || model_find_tensor(m, n)) continue;
            rc = bl_fail(e, path, "unexpected tensor '%s' (does config.json match the weights?)", n);
            break;
        }
    st_free(st);
    return rc;
}

int checkpoint_load_weights(const char *dir, Model *m, BlErr *e)
{
    char path[ATOMIC_DIR_PATH_MAX];
    join(path, sizeof path, dir, "model.safetensors");
    float *h = bl_calloc(model_num_params(m), sizeof(float));
    int rc = read_tensors(m, path, "", h, e);
    if (!rc) {
        Backend *be = model_backend(m);
        be->upload(be, model_params(m), h, model_num_params(m) * sizeof(float));
    }
    free(h);
    return rc;
}

/* A number within the field's bounds (open ends marked), whole for T_INT. Counts are checked
 * before they become ints: a hand-edited or damaged file must not turn into a run with a
 * wrapped-around batch size. */
static int read_number(const cJSON *v, const StateField *f, void *at, const char *file, BlErr *e)
{
    if (!cJSON_IsNumber(v)) return bl_fail(e, file, "missing or non-numeric field '%s'", f->key);
    double x = v->valuedouble;
    if (!(x >= f->lo && x <= f->hi) || ((f->open & OPEN_LO) && x == f->lo) || ((f->open & OPEN_HI) && x == f->hi))
        return bl_fail(e, file, "field '%s' out of range: %.15g, expected %.15g %s %s %s %.15g", f->key, x, f->lo,
                       f->open & OPEN_LO ? "<" : "<=", f->key, f->open & OPEN_HI ? "<" : "<=", f->hi);
    if (f->type == T_INT && x != floor(x))
        return bl_fail(e, file, "field '%s' is not a whole number (%.15g)", f->key, x);
    if (f->type == T_INT) *(int *)at = (int)x;
    else if (f->type == T_FLOAT) *(float *)at = (float)x;
    else *(double *)at = x;
    return 0;
}

/* A 64-bit count written as a string of decimal digits, at most f->max. strtoull alone would
 * take "-1" as 2^64 - 1 and " 5" or "+5" too, so only digits pass. */
static int read_u64(const cJSON *v, const StateField *f, uint64_t *out, const char *file, BlErr *e)
{
    const char *sec = f->sec ? f->sec : "", *dot = f->sec ? "." : "";
    if (!cJSON_IsString(v) || !v->valuestring[0]) return bl_fail(e, file, "missing field '%s%s%s'", sec, dot, f->key);
    const char *s = v->valuestring;
    if (strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
        return bl_fail(e, file, "field '%s%s%s' is not an unsigned integer ('%.40s')", sec, dot, f->key, s);
    errno = 0;
    unsigned long long x = strtoull(s, NULL, 10);
    if (errno == ERANGE || x > f->max)
        return bl_fail(e, file, "field '%s%s%s' out of range (%.40s, at most %llu)", sec, dot, f->key, s,
                       (unsigned long long)f->max);
    *out = x;
    return 0;
}

/* One field of the table from the parsed file into sf. */
static int read_field(cJSON *root, const StateField *f, StateFile *sf, const char *file, BlErr *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(field_parent(root, f, 0), f->key);
    void *at = (char *)sf + f->off;
    switch (f->type) {
    case T_U64: return read_u64(v, f, at, file, e);
    case T_STR: /* must fit whole: a truncated data path would name another file */
        if (!cJSON_IsString(v)) return bl_fail(e, file, "missing field '%s'", f->key);
        if (strlen(v->valuestring) >= f->cap)
            return bl_fail(e, file, "field '%s' is too long (%zu bytes, at most %zu)", f->key, strlen(v->valuestring),
                           f->cap - 1);
        snprintf(at, f->cap, "%s", v->valuestring);
        return 0;
    case T_PREC: /* absent in files written before it existed: those runs trained in fp32 */
        *(Precision *)at = PREC_FP32;
        if (v && (!cJSON_IsString(v) || precision_parse(v->valuestring, at)))
            return bl_fail(e, file, "field 'precision' must be \"fp32\" or \"bf16\"");
        return 0;
    default: return read_number(v, f, at, file, e);
    }
}

static int parse_trainer(const char *js, size_t len, const char *file, TrainerState *ts,
                         int *opt_step, BlErr *e)
{
    cJSON *o = cJSON_ParseWithLength(js, len);
    if (!o) {
        const char *at = cJSON_GetErrorPtr();
        return bl_fail_at(e, file, at && at >= js ? (uint64_t)(at - js) : 0, "invalid JSON");
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof STATE_SECTIONS / sizeof STATE_SECTIONS[0] && !rc; i++)
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, STATE_SECTIONS[i])))
            rc = bl_fail(e, file, "missing loader/options/optimizer sections");
    StateFile sf;
    memset(&sf, 0, sizeof sf);
    for (size_t i = 0; i < N_STATE_FIELDS && !rc; i++) rc = read_field(o, &STATE_FIELDS[i], &sf, file, e);
    cJSON_Delete(o);
    if (rc) return -1;
    if (!sf.ts.data[0]) return bl_fail(e, file, "field 'data' is empty");
    if ((double)sf.ts.B * (sf.ts.L + 1.0) > (double)(1u << 31))
        return bl_fail(e, file, "batch x (seq_len + 1) too large");
    *ts = sf.ts;
    *opt_step = sf.opt_step;
    return 0;
}

int checkpoint_read_state(const char *dir, TrainerState *ts, int *opt_step, BlErr *e)
{
    char path[ATOMIC_DIR_PATH_MAX];
    join(path, sizeof path, dir, "trainer_state.json");
    char *buf;
    size_t n;
    if (file_read_all(path, 1 << 20, 0, &buf, &n, e)) return -1;
    int rc = parse_trainer(buf, n, path, ts, opt_step, e);
    free(buf);
    return rc;
}

int checkpoint_load_trainer(const char *dir, Model *m, Optimizer *opt, TrainerState *ts, BlErr *e)
{
    char path[ATOMIC_DIR_PATH_MAX];
    int opt_step = 0;
    if (checkpoint_read_state(dir, ts, &opt_step, e)) return -1;
    int rc;

    join(path, sizeof path, dir, "optimizer.safetensors");
    size_t np = model_num_params(m);
    float *hm = bl_calloc(np, sizeof(float)), *hv = bl_calloc(np, sizeof(float));
    rc = read_tensors(m, path, "exp_avg.", hm, e);
    if (!rc) rc = read_tensors(m, path, "exp_avg_sq.", hv, e);
    if (!rc) {
        Backend *be = model_backend(m);
        be->upload(be, opt->m, hm, np * sizeof(float));
        be->upload(be, opt->v, hv, np * sizeof(float));
        opt->step = opt_step;
        opt->cfg = ts->optim;
    }
    free(hm);
    free(hv);
    return rc;
}
