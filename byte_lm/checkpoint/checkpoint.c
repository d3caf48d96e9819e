#include "byte_lm/checkpoint/checkpoint.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
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

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    /* JSON numbers are doubles in most readers: 64-bit values travel as strings */
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON_AddStringToObject(o, k, buf);
}

static char *trainer_json(const TrainerState *ts, int opt_step)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", ts->step);
    cJSON_AddNumberToObject(o, "optimizer_step", opt_step);
    add_u64(o, "bytes_seen", ts->bytes_seen);
    cJSON_AddNumberToObject(o, "elapsed_seconds", ts->elapsed_seconds);
    cJSON *ld = cJSON_AddObjectToObject(o, "loader");
    add_u64(ld, "seed", ts->loader.seed);
    add_u64(ld, "next_batch", ts->loader.next_batch);
    cJSON *op = cJSON_AddObjectToObject(o, "options");
    cJSON_AddNumberToObject(op, "batch", ts->B);
    cJSON_AddNumberToObject(op, "seq_len", ts->L);
    cJSON_AddNumberToObject(op, "accum", ts->accum);
    add_u64(op, "seed", ts->seed);
    cJSON_AddNumberToObject(op, "eval_every", ts->eval_every);
    cJSON_AddNumberToObject(op, "eval_batches", ts->eval_batches);
    cJSON_AddNumberToObject(op, "ckpt_every", ts->ckpt_every);
    cJSON_AddStringToObject(op, "data", ts->data);
    cJSON_AddStringToObject(op, "val", ts->val);
    cJSON_AddStringToObject(op, "precision", precision_name(ts->precision));
    const OptimConfig *c = &ts->optim;
    cJSON *oc = cJSON_AddObjectToObject(o, "optimizer");
    cJSON_AddNumberToObject(oc, "lr", c->lr);
    cJSON_AddNumberToObject(oc, "min_lr_ratio", c->min_lr_ratio);
    cJSON_AddNumberToObject(oc, "warmup_steps", c->warmup_steps);
    cJSON_AddNumberToObject(oc, "total_steps", c->total_steps);
    cJSON_AddNumberToObject(oc, "beta1", c->beta1);
    cJSON_AddNumberToObject(oc, "beta2", c->beta2);
    cJSON_AddNumberToObject(oc, "eps", c->eps);
    cJSON_AddNumberToObject(oc, "weight_decay", c->weight_decay);
    cJSON_AddNumberToObject(oc, "clip", c->clip);
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

static int get_num(cJSON *o, const char *k, double *out, const char *file, BlErr *e)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) return bl_fail(e, file, "missing or non-numeric field '%s'", k);
    *out = v->valuedouble;
    return 0;
}

/* A 64-bit count written as a string of decimal digits, at most max. strtoull alone would take
 * "-1" as 2^64 - 1 (a loader position no run reaches, on which the loader used to wait forever)
 * and " 5" or "+5" too, so only digits pass. */
static int get_u64(cJSON *o, const char *sec, const char *k, uint64_t max, uint64_t *out, const char *file, BlErr *e)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v) || !v->valuestring[0]) return bl_fail(e, file, "missing field '%s%s'", sec, k);
    const char *s = v->valuestring;
    if (strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
        return bl_fail(e, file, "field '%s%s' is not an unsigned integer ('%.40s')", sec, k, s);
    errno = 0;
    unsigned long long x = strtoull(s, NULL, 10);
    if (errno == ERANGE || x > max)
        return bl_fail(e, file, "field '%s%s' out of range (%.40s, at most %llu)", sec, k, s, (unsigned long long)max);
    *out = x;
    return 0;
}

/* A string field that must fit out[cap] whole: a truncated data path would name another file. */
static int get_str(cJSON *o, const char *k, char *out, size_t cap, const char *file, BlErr *e)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v)) return bl_fail(e, file, "missing field '%s'", k);
    if (strlen(v->valuestring) >= cap) return bl_fail(e, file, "field '%s' is too long (%zu bytes, at most %zu)", k,
                                                      strlen(v->valuestring), cap - 1);
    snprintf(out, cap, "%s", v->valuestring);
    return 0;
}

static int parse_trainer(const char *js, size_t len, const char *file, TrainerState *ts,
                         int *opt_step, BlErr *e)
{
    cJSON *o = cJSON_ParseWithLength(js, len);
    if (!o) {
        const char *at = cJSON_GetErrorPtr();
        return bl_fail_at(e, file, at && at >= js ? (uint64_t)(at - js) : 0, "invalid JSON");
    }
    cJSON *ld = cJSON_GetObjectItem(o, "loader"), *op = cJSON_GetObjectItem(o, "options"),
          *oc = cJSON_GetObjectItem(o, "optimizer");
    double v[20];
    int rc = !cJSON_IsObject(ld) || !cJSON_IsObject(op) || !cJSON_IsObject(oc)
                 ? bl_fail(e, file, "missing loader/options/optimizer sections")
                 : 0;
    if (!rc)
        rc = get_num(o, "step", &v[0], file, e) || get_num(o, "optimizer_step", &v[1], file, e) ||
             get_num(o, "elapsed_seconds", &v[2], file, e) ||
             get_u64(o, "", "bytes_seen", UINT64_MAX / 2, &ts->bytes_seen, file, e) ||
             get_u64(ld, "loader.", "seed", UINT64_MAX, &ts->loader.seed, file, e) ||
             get_u64(ld, "loader.", "next_batch", LOADER_MAX_BATCH, &ts->loader.next_batch, file, e) ||
             get_num(op, "batch", &v[3], file, e) || get_num(op, "seq_len", &v[4], file, e) ||
             get_num(op, "accum", &v[5], file, e) || get_u64(op, "options.", "seed", UINT64_MAX, &ts->seed, file, e) ||
             get_num(op, "eval_every", &v[6], file, e) ||
             get_num(op, "eval_batches", &v[7], file, e) ||
             get_num(op, "ckpt_every", &v[8], file, e) ||
             get_str(op, "data", ts->data, sizeof ts->data, file, e) ||
             get_str(op, "val", ts->val, sizeof ts->val, file, e) ||
             get_num(oc, "lr", &v[9], file, e) || get_num(oc, "min_lr_ratio", &v[10], file, e) ||
             get_num(oc, "warmup_steps", &v[11], file, e) ||
             get_num(oc, "total_steps", &v[12], file, e) || get_num(oc, "beta1", &v[13], file, e) ||
             get_num(oc, "beta2", &v[14], file, e) || get_num(oc, "eps", &v[15], file, e) ||
             get_num(oc, "weight_decay", &v[16], file, e) || get_num(oc, "clip", &v[17], file, e);
    if (!rc) {
        const cJSON *pr = cJSON_GetObjectItem(op, "precision");
        ts->precision = PREC_FP32;
        if (pr && (!cJSON_IsString(pr) || precision_parse(pr->valuestring, &ts->precision)))
            rc = bl_fail(e, file, "field 'precision' must be \"fp32\" or \"bf16\"");
    }
    cJSON_Delete(o);
    if (rc) return -1;
    /* every count is range-checked before it becomes an int: a hand-edited or damaged file must
     * not turn into a run with a wrapped-around batch size */
    /* counts must be whole numbers; lr and eps must be above 0 and the betas below 1, or AdamW
     * divides by zero (open ends are marked) */
    enum { INT = 1, OPEN_LO = 2, OPEN_HI = 4 };
    static const struct {
        int idx;
        const char *name;
        double lo, hi;
        int flags;
    } limits[] = {{0, "step", 0, 1 << 30, INT},          {1, "optimizer_step", 0, 1 << 30, INT},
                  {2, "elapsed_seconds", 0, 1e12, 0},   {3, "batch", 1, 1 << 16, INT},
                  {4, "seq_len", 1, 1 << 24, INT},      {5, "accum", 1, 1 << 24, INT},
                  {6, "eval_every", 0, 1 << 30, INT},   {7, "eval_batches", 1, 1 << 20, INT},
                  {8, "ckpt_every", 0, 1 << 30, INT},   {9, "lr", 0, 1e3, OPEN_LO},
                  {10, "min_lr_ratio", 0, 1, 0},        {11, "warmup_steps", 0, 1 << 30, INT},
                  {12, "total_steps", 1, 1 << 30, INT}, {13, "beta1", 0, 1, OPEN_HI},
                  {14, "beta2", 0, 1, OPEN_HI},       {15, "eps", 0, 1, OPEN_LO},
                  {16, "weight_decay", 0, 1e3, 0},    {17, "clip", 0, 1e9, 0}};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        double x = v[limits[i].idx];
        int f = limits[i].flags;
        if (!(x >= limits[i].lo && x <= limits[i].hi) || ((f & OPEN_LO) && x == limits[i].lo) ||
            ((f & OPEN_HI) && x == limits[i].hi))
            return bl_fail(e, file, "field '%s' out of range: %.15g, expected %.15g %s %s %s %.15g", limits[i].name, x,
                           limits[i].lo, f & OPEN_LO ? "<" : "<=", limits[i].name, f & OPEN_HI ? "<" : "<=",
                           limits[i].hi);
        if ((f & INT) && x != floor(x))
            return bl_fail(e, file, "field '%s' is not a whole number (%.15g)", limits[i].name, x);
    }
    if (!ts->data[0]) return bl_fail(e, file, "field 'data' is empty");
    if ((double)v[3] * (v[4] + 1) > (double)(1u << 31))
        return bl_fail(e, file, "batch x (seq_len + 1) too large");
    ts->step = (int)v[0];
    *opt_step = (int)v[1];
    ts->elapsed_seconds = v[2];
    ts->B = (int)v[3], ts->L = (int)v[4], ts->accum = (int)v[5];
    ts->eval_every = (int)v[6], ts->eval_batches = (int)v[7], ts->ckpt_every = (int)v[8];
    OptimConfig *c = &ts->optim;
    c->lr = (float)v[9], c->min_lr_ratio = (float)v[10];
    c->warmup_steps = (int)v[11], c->total_steps = (int)v[12];
    c->beta1 = (float)v[13], c->beta2 = (float)v[14], c->eps = (float)v[15];
    c->weight_decay = (float)v[16], c->clip = (float)v[17];
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
