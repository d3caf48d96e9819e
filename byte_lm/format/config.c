/* MambaConfig JSON <-> ModelConfig. Field names, meanings and defaults follow transformers'
 * MambaConfig so a checkpoint's config.json loads in PyTorch as is; values bytelm cannot run
 * (biases in the projections, an untied head, other activations) are rejected, not ignored. */
#include "byte_lm/format/config.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/base/atomic_dir.h"
#include "byte_lm/base/file_read.h"

#define MAX_HIDDEN 65536
#define MAX_LAYERS 1024
#define MAX_STATE 256
#define MAX_CONV 16
#define MAX_EXPAND 16
#define MAX_DT_RANK 65536
#define MAX_PARAMS (1LL << 40) /* 4 TiB of fp32 weights: no machine trains this, so it is a typo */
#define MAX_CONFIG_BYTES (1 << 20)

/* transformers' MambaConfig defaults (and PretrainedConfig's for tie_word_embeddings): what a
 * config.json that omits a field means to PyTorch, so the same omission means the same here. */
#define HF_VOCAB_SIZE 50280
#define HF_HIDDEN_SIZE 768
#define HF_NUM_LAYERS 32
#define HF_INITIALIZER_RANGE 0.1f

static int ceil_div16(int x) { return (x + 15) / 16; }

void config_default(ModelConfig *c, int hidden_size, int num_hidden_layers)
{
    memset(c, 0, sizeof *c);
    c->vocab_size = 256;
    c->hidden_size = hidden_size;
    c->num_hidden_layers = num_hidden_layers;
    c->state_size = 16;
    c->expand = 2;
    c->intermediate_size = c->expand * hidden_size;
    c->conv_kernel = 4;
    c->time_step_rank = ceil_div16(hidden_size);
    c->layer_norm_epsilon = 1e-5f;
    /* mamba_ssm's values (embedding std 0.02, out_proj rescaled by 1/sqrt(n_layer)), which
     * docs/ARCHITECTURE.md ("The model") adopts, rather than transformers' 0.1 / no rescale */
    c->initializer_range = 0.02f;
    c->rescale_prenorm_residual = 0; /* see config_save: the rescale lives in model_init_params */
    c->time_step_min = 0.001f;
    c->time_step_max = 0.1f;
    c->time_step_floor = 1e-4f;
    c->time_step_scale = 1.0f;
    c->use_bias = 0;
    c->use_conv_bias = 1;
    c->tie_word_embeddings = 1;
}

/* d_inner and dt_rank as the model will use them, also for a config not yet finalized
 * (time_step_rank 0 stands for "auto"). */
static long long inner_of(const ModelConfig *c)
{
    return c->intermediate_size > 0 ? c->intermediate_size : (long long)c->expand * c->hidden_size;
}
static long long rank_of(const ModelConfig *c)
{
    return c->time_step_rank > 0 ? c->time_step_rank : ceil_div16(c->hidden_size);
}

long long config_num_params(const ModelConfig *c)
{
    long long d = c->hidden_size, di = inner_of(c), r = rank_of(c), n = c->state_size,
              k = c->conv_kernel;
    long long layer = 2 * di * d      /* in_proj */
                      + di * k + di   /* conv1d weight, bias */
                      + (r + 2 * n) * di /* x_proj */
                      + di * r + di   /* dt_proj weight, bias */
                      + di * n + di   /* A_log, D */
                      + d * di        /* out_proj */
                      + d;            /* norm */
    return 256 * d + (long long)c->num_hidden_layers * layer + d;
}

static int check_range(BlErr *e, const char *file, const char *field, int v, int lo, int hi)
{
    if (v < lo || v > hi) return bl_fail(e, file, "%s is %d; must be in %d..%d", field, v, lo, hi);
    return 0;
}

static int check_float(BlErr *e, const char *file, const char *field, float v, bool positive)
{
    if (!isfinite(v) || v < 0 || (positive && v == 0))
        return bl_fail(e, file, "%s is %g; must be %s", field, (double)v,
                       positive ? "finite and > 0" : "finite and >= 0");
    return 0;
}

int config_finalize(ModelConfig *c, const char *file, BlErr *e)
{
    if (c->vocab_size != 256)
        return bl_fail(e, file, "vocab_size is %d; a byte-level model needs 256", c->vocab_size);
    if (check_range(e, file, "hidden_size", c->hidden_size, 1, MAX_HIDDEN) ||
        check_range(e, file, "num_hidden_layers", c->num_hidden_layers, 1, MAX_LAYERS) ||
        check_range(e, file, "state_size", c->state_size, 1, MAX_STATE) ||
        check_range(e, file, "expand", c->expand, 1, MAX_EXPAND) ||
        check_range(e, file, "conv_kernel", c->conv_kernel, 1, MAX_CONV))
        return -1;
    /* 0 is how config_parse records "auto"; an explicit rank from the file is kept as is */
    if (c->time_step_rank == 0) c->time_step_rank = ceil_div16(c->hidden_size);
    if (check_range(e, file, "time_step_rank", c->time_step_rank, 1, MAX_DT_RANK)) return -1;
    c->intermediate_size = c->expand * c->hidden_size;

    if (check_float(e, file, "layer_norm_epsilon", c->layer_norm_epsilon, true) ||
        check_float(e, file, "initializer_range", c->initializer_range, false) ||
        check_float(e, file, "time_step_min", c->time_step_min, true) ||
        check_float(e, file, "time_step_max", c->time_step_max, true) ||
        check_float(e, file, "time_step_floor", c->time_step_floor, false) ||
        check_float(e, file, "time_step_scale", c->time_step_scale, true))
        return -1;
    if (c->time_step_max < c->time_step_min)
        return bl_fail(e, file, "time_step_max (%g) is below time_step_min (%g)",
                       (double)c->time_step_max, (double)c->time_step_min);

    if (c->use_bias)
        return bl_fail(e, file, "use_bias is true; bytelm's in_proj/out_proj have no bias");
    if (!c->use_conv_bias)
        return bl_fail(e, file, "use_conv_bias is false; bytelm's conv1d always has a bias");
    if (!c->tie_word_embeddings)
        return bl_fail(e, file, "tie_word_embeddings is false; bytelm's head is the embedding");

    long long p = config_num_params(c);
    if (p > MAX_PARAMS)
        return bl_fail(e, file, "parameter count %lld is absurd (limit 2^40): check the sizes", p);
    return 0;
}

/* ---- parsing ---- */

typedef enum { K_INT, K_FLOAT, K_BOOL } Kind;

typedef struct {
    const char *name;
    Kind kind;
    size_t off;
} Field;

/* The fields stored in ModelConfig. Others (strings, token ids, flags bytelm does not use) are
 * checked one by one in parse_special. */
static const Field FIELDS[] = {
    {"vocab_size", K_INT, offsetof(ModelConfig, vocab_size)},
    {"hidden_size", K_INT, offsetof(ModelConfig, hidden_size)},
    {"num_hidden_layers", K_INT, offsetof(ModelConfig, num_hidden_layers)},
    {"state_size", K_INT, offsetof(ModelConfig, state_size)},
    {"expand", K_INT, offsetof(ModelConfig, expand)},
    {"conv_kernel", K_INT, offsetof(ModelConfig, conv_kernel)},
    {"layer_norm_epsilon", K_FLOAT, offsetof(ModelConfig, layer_norm_epsilon)},
    {"initializer_range", K_FLOAT, offsetof(ModelConfig, initializer_range)},
    {"time_step_min", K_FLOAT, offsetof(ModelConfig, time_step_min)},
    {"time_step_max", K_FLOAT, offsetof(ModelConfig, time_step_max)},
    {"time_step_floor", K_FLOAT, offsetof(ModelConfig, time_step_floor)},
    {"time_step_scale", K_FLOAT, offsetof(ModelConfig, time_step_scale)},
    {"use_bias", K_BOOL, offsetof(ModelConfig, use_bias)},
    {"use_conv_bias", K_BOOL, offsetof(ModelConfig, use_conv_bias)},
    {"rescale_prenorm_residual", K_BOOL, offsetof(ModelConfig, rescale_prenorm_residual)},
    {"tie_word_embeddings", K_BOOL, offsetof(ModelConfig, tie_word_embeddings)},
};

static int get_int(const cJSON *it, const char *file, const char *name, int *out, BlErr *e)
{
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || v != floor(v) || v < INT_MIN || v > INT_MAX)
        return bl_fail(e, file, "%s: expected an integer", name);
    *out = (int)v;
    return 0;
}

static int get_field(const cJSON *it, const Field *f, const char *file, ModelConfig *c, BlErr *e)
{
    char *dst = (char *)c + f->off;
    switch (f->kind) {
    case K_INT:
        return get_int(it, file, f->name, (int *)(void *)dst, e);
    case K_FLOAT:
        if (!cJSON_IsNumber(it)) return bl_fail(e, file, "%s: expected a number", f->name);
        *(float *)(void *)dst = (float)it->valuedouble;
        return 0;
    case K_BOOL:
        if (!cJSON_IsBool(it)) return bl_fail(e, file, "%s: expected true or false", f->name);
        *(int *)(void *)dst = cJSON_IsTrue(it) ? 1 : 0;
        return 0;
    }
    return 0;
}

static int expect_string(const cJSON *root, const char *file, const char *name, const char *want,
                         BlErr *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!it) return 0;
    if (!cJSON_IsString(it)) return bl_fail(e, file, "%s: expected a string", name);
    if (strcmp(it->valuestring, want) != 0)
        return bl_fail(e, file, "%s is \"%s\"; bytelm supports only \"%s\"", name,
                       it->valuestring, want);
    return 0;
}

/* Fields not kept in ModelConfig: checked so a file describing a model bytelm would run
 * differently from PyTorch is refused rather than silently reinterpreted. */
static int parse_special(const cJSON *root, const char *file, ModelConfig *c, int *inter,
                         BlErr *e)
{
    if (expect_string(root, file, "model_type", "mamba", e) ||
        expect_string(root, file, "hidden_act", "silu", e) ||
        expect_string(root, file, "time_step_init_scheme", "random", e))
        return -1;

    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "time_step_rank");
    if (it && cJSON_IsString(it)) {
        if (strcmp(it->valuestring, "auto") != 0)
            return bl_fail(e, file, "time_step_rank: expected an integer or \"auto\"");
        c->time_step_rank = 0;
    } else if (it) {
        if (get_int(it, file, "time_step_rank", &c->time_step_rank, e)) return -1;
        if (c->time_step_rank < 1)
            return bl_fail(e, file, "time_step_rank is %d; must be >= 1 or \"auto\"",
                           c->time_step_rank);
    }

    static const char *const ids[] = {"pad_token_id", "bos_token_id", "eos_token_id"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int v;
        it = cJSON_GetObjectItemCaseSensitive(root, ids[i]);
        if (!it || cJSON_IsNull(it)) continue;
        if (get_int(it, file, ids[i], &v, e)) return -1;
        if (v < 0 || v > 255) return bl_fail(e, file, "%s is %d; must be a byte (0..255)", ids[i], v);
    }
    static const char *const flags[] = {"residual_in_fp32", "use_cache"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        it = cJSON_GetObjectItemCaseSensitive(root, flags[i]);
        if (it && !cJSON_IsBool(it)) return bl_fail(e, file, "%s: expected true or false", flags[i]);
    }

    it = cJSON_GetObjectItemCaseSensitive(root, "intermediate_size");
    if (it && get_int(it, file, "intermediate_size", inter, e)) return -1;
    return 0;
}

/* A key given twice means two values for one field; PyTorch would take the last and bytelm
 * the first, so neither is trusted. */
static int check_duplicates(const cJSON *root, const char *file, BlErr *e)
{
    for (const cJSON *a = root->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return bl_fail(e, file, "field \"%s\" appears twice", a->string);
    return 0;
}

/* first byte at or after p that is not JSON whitespace */
static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

int config_parse(ModelConfig *c, const char *json, size_t len, const char *file, BlErr *e)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        return bl_fail_at(e, file, off, "invalid JSON");
    }
    int rc = -1;
    const char *rest = skip_space(end, json + len);
    if (rest != json + len) {
        bl_fail_at(e, file, (uint64_t)(rest - json), "unexpected data after the JSON object");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        bl_fail_at(e, file, 0, "expected a JSON object");
        goto out;
    }
    if (check_duplicates(root, file, e)) goto out;

    ModelConfig t;
    config_default(&t, HF_HIDDEN_SIZE, HF_NUM_LAYERS);
    t.vocab_size = HF_VOCAB_SIZE;
    t.initializer_range = HF_INITIALIZER_RANGE;
    t.rescale_prenorm_residual = 0;
    t.use_bias = 1;
    t.time_step_rank = 0; /* "auto" */
    /* an omitted vocab_size or use_bias means transformers' default, which bytelm cannot run:
     * say so plainly instead of reporting a value the file does not contain */
    if (!cJSON_GetObjectItemCaseSensitive(root, "vocab_size")) {
        bl_fail(e, file, "vocab_size missing (transformers' default is %d; bytelm needs 256)",
                HF_VOCAB_SIZE);
        goto out;
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "use_bias")) {
        bl_fail(e, file, "use_bias missing (transformers' default is true; bytelm needs false)");
        goto out;
    }
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, FIELDS[i].name);
        if (it && get_field(it, &FIELDS[i], file, &t, e)) goto out;
    }
    int inter = -1;
    if (parse_special(root, file, &t, &inter, e)) goto out;
    if (config_finalize(&t, file, e)) goto out;
    if (inter != -1 && inter != t.intermediate_size) {
        bl_fail(e, file, "intermediate_size is %d but expand * hidden_size is %d", inter,
                t.intermediate_size);
        goto out;
    }
    *c = t;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int config_load(ModelConfig *c, const char *path, BlErr *e)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return bl_fail(e, path, "not a config file: not a regular file (%s)", file_kind(st.st_mode));
    int fd = file_open_regular(path, &st, e);
    if (fd < 0) return -1;
    if (st.st_size > MAX_CONFIG_BYTES) {
        close(fd);
        return bl_fail(e, path, "not a config file (a regular file of at most %d bytes)",
                       MAX_CONFIG_BYTES);
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = bl_malloc(n + 1);
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO; /* shrank while reading */
            bl_fail_errno(e, path, "cannot read");
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    int rc = config_parse(c, buf, n, path, e);
    free(buf);
    return rc;
}

/* ---- saving ---- */

/* The shortest decimal that reads back as the same float: "1e-05", not the
 * "9.9999997473787516e-06" a double conversion prints, so the file stays readable. */
static cJSON *float_item(float v)
{
    char s[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, (double)v);
        if (strtof(s, NULL) == v) break;
    }
    /* keep it a float to strict readers: transformers' config dataclass rejects 1 where it
     * declares a float, so whole numbers are written as 1.0 */
    if (!strpbrk(s, ".eEn")) strncat(s, ".0", sizeof s - strlen(s) - 1);
    return cJSON_CreateRaw(s);
}

static void add(cJSON *o, const char *k, cJSON *v) { cJSON_AddItemToObject(o, k, v); }

int config_save(const ModelConfig *c, const char *path, BlErr *e)
{
    ModelConfig f = *c;
    if (config_finalize(&f, path, e)) return -1;

    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateArray();
    cJSON_AddItemToArray(arch, cJSON_CreateString("MambaForCausalLM"));
    add(o, "architectures", arch);
    add(o, "model_type", cJSON_CreateString("mamba"));
    add(o, "vocab_size", cJSON_CreateNumber(f.vocab_size));
    add(o, "hidden_size", cJSON_CreateNumber(f.hidden_size));
    add(o, "num_hidden_layers", cJSON_CreateNumber(f.num_hidden_layers));
    add(o, "state_size", cJSON_CreateNumber(f.state_size));
    add(o, "expand", cJSON_CreateNumber(f.expand));
    add(o, "intermediate_size", cJSON_CreateNumber(f.intermediate_size));
    add(o, "conv_kernel", cJSON_CreateNumber(f.conv_kernel));
    add(o, "time_step_rank", cJSON_CreateNumber(f.time_step_rank));
    add(o, "layer_norm_epsilon", float_item(f.layer_norm_epsilon));
    add(o, "use_bias", cJSON_CreateBool(f.use_bias));
    add(o, "use_conv_bias", cJSON_CreateBool(f.use_conv_bias));
    add(o, "hidden_act", cJSON_CreateString("silu"));
    add(o, "initializer_range", float_item(f.initializer_range));
    add(o, "residual_in_fp32", cJSON_CreateBool(1));
    /* An initialisation instruction, already baked into saved out_proj weights: transformers 5
     * applies it again to weights it loads (dividing out_proj by sqrt(n_layer) a second time),
     * so a saved config always says false. bytelm's own init always rescales (docs/ARCHITECTURE.md, "The model"). */
    add(o, "rescale_prenorm_residual", cJSON_CreateBool(0));
    add(o, "time_step_scale", float_item(f.time_step_scale));
    add(o, "time_step_min", float_item(f.time_step_min));
    add(o, "time_step_max", float_item(f.time_step_max));
    add(o, "time_step_init_scheme", cJSON_CreateString("random"));
    add(o, "time_step_floor", float_item(f.time_step_floor));
    add(o, "tie_word_embeddings", cJSON_CreateBool(f.tie_word_embeddings));
    add(o, "pad_token_id", cJSON_CreateNumber(0));
    add(o, "bos_token_id", cJSON_CreateNumber(0));
    add(o, "eos_token_id", cJSON_CreateNumber(0));
    add(o, "use_cache", cJSON_CreateBool(1));

    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    BL_CHECK(text != NULL);
    size_t n = strlen(text);
    char *out = bl_malloc(n + 2);
    memcpy(out, text, n);
    out[n++] = '\n';
    cJSON_free(text);
    int rc = write_file_atomic(path, out, n, e);
    free(out);
    return rc;
}

double config_activation_bytes_per_row(const ModelConfig *c)
{
    double d = c->hidden_size, di = c->intermediate_size, nx = c->time_step_rank + 2.0 * c->state_size;
    /* per layer: res, normed, rstd, xz, u, xdbl, delta, y; then the head and the gradients */
    double layer = 2 * d + 1 + 2 * di + di + nx + di + di;
    double rest = 2 * d + 1 + 256 + 1 + 2 * d + 2 * di + di + nx + di + di;
    return 4.0 * (layer * c->num_hidden_layers + rest) + 2; /* + the byte ids and targets */
}

double config_train_bytes(const ModelConfig *c, int B, int L)
{
    return 4.0 * 4.0 * (double)config_num_params(c) + (double)B * L * config_activation_bytes_per_row(c);
}
