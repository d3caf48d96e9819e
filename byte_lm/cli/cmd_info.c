/* `bytelm info PATH`: what a checkpoint (bytelm's or transformers' save_pretrained) or a config
 * file holds, checked the way train/eval/generate would load it. */
#include <cJSON.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/checkpoint/checkpoint_open.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/format/safetensors.h"

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm info [--json] [-o|--dump-logits FILE [--text STR]] [-h] PATH\n\n"
               "PATH is a checkpoint directory (config.json + model.safetensors), a run directory,\n"
               "or a config JSON file. The weights are loaded and every tensor's shape is checked.\n"
               "For a run, the options it was trained with and its last train and validation bpb\n"
               "(from metrics.jsonl) are shown too.\n\n");
    cli_print_options(f, rows, 0, 19);
}

static void print_config(const ModelConfig *c)
{
    printf("model: MambaByte (transformers MambaForCausalLM layout), vocab_size %d\n", c->vocab_size);
    printf("  hidden_size %d, num_hidden_layers %d, intermediate_size %d, state_size %d\n",
           c->hidden_size, c->num_hidden_layers, c->intermediate_size, c->state_size);
    printf("  conv_kernel %d, time_step_rank %d, layer_norm_epsilon %g\n", c->conv_kernel,
           c->time_step_rank, c->layer_norm_epsilon);
    printf("  parameters: %lld (%.2f M)\n", config_num_params(c), config_num_params(c) / 1e6);
}

static int dump_logits(Model *m, const char *text, const char *path, BlErr *e)
{
    int T = (int)strlen(text);
    if (T < 1) return bl_fail(e, NULL, "--text must not be empty");
    float *logits = bl_malloc((size_t)T * 256 * sizeof(float));
    model_forward(m, (const uint8_t *)text, NULL, 1, T, NULL, logits);
    StWriter *w = st_writer_new(path);
    int64_t sb[2] = {1, T}, sl[3] = {1, T, 256};
    int rc = st_writer_add(w, "input_bytes", ST_U8, 2, sb, text, e);
    if (!rc) rc = st_writer_add(w, "logits", ST_F32, 3, sl, logits, e);
    if (!rc) rc = st_writer_write(w, e);
    st_writer_free(w);
    free(logits);
    return rc;
}

/* A number for JSON: JSON has no NaN or infinity, so a non-finite value is null. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

/* Prints o (then frees it) on one line. cJSON escapes every string, paths with quotes included. */
static void print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* The whole small file at path, NUL-terminated, or NULL. */
/* The trainer state beside the checkpoint, parsed (NULL when there is none); -1 when it exists
 * but is no regular file or cannot be read: e says why. */
static int read_trainer_state(const char *path, cJSON **out, BlErr *e)
{
    struct stat st;
    *out = NULL;
    if (stat(path, &st) != 0) return 0;
    char *buf;
    size_t n;
    if (file_read_all(path, 1 << 20, 0, &buf, &n, e)) return -1;
    *out = cJSON_ParseWithLength(buf, n);
    free(buf);
    return 0;
}

/* The last train bpb and validation bpb of the run the checkpoint dir belongs to (its parent's
 * metrics.jsonl); NAN where there is none. */
static void final_bpb(const char *dir, double *train, double *val)
{
    *train = *val = NAN;
    char path[4200];
    snprintf(path, sizeof path, "%s", dir);
    char *slash = strrchr(path, '/');
    if (!slash || strcmp(slash, "/checkpoint")) return;
    snprintf(slash, sizeof path - (size_t)(slash - path), "/metrics.jsonl");
    int fd = file_open_regular(path, NULL, NULL);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
    if (!f) {
        if (fd >= 0) close(fd);
        return;
    }
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        cJSON *b = cJSON_GetObjectItem(o, "bpb"), *v = cJSON_GetObjectItem(o, "val_bpb");
        if (cJSON_IsNumber(b)) *train = b->valuedouble;
        if (cJSON_IsNumber(v)) *val = v->valuedouble;
        cJSON_Delete(o);
    }
    fclose(f);
}

/* "k v, k v, ..." of a JSON object's scalar members, for the text output. */
static void print_members(const char *title, const cJSON *o)
{
    if (!cJSON_IsObject(o)) return;
    printf("  %s:", title);
    int first = 1;
    for (const cJSON *c = o->child; c; c = c->next) {
        if (cJSON_IsNumber(c)) printf("%s %s %.6g", first ? "" : ",", c->string, c->valuedouble);
        else if (cJSON_IsString(c)) printf("%s %s %s", first ? "" : ",", c->string, c->valuestring[0] ? c->valuestring : "(none)");
        else continue;
        first = 0;
    }
    printf("\n");
}

int cmd_info(int argc, char **argv)
{
    int json = 0;
    const char *dump = NULL, *text = "Byte-level models read UTF-8: na\xc3\xafve caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\x99\x82.";
    const CliOpt rows[] = {
        {"json", 0, CLI_FLAG, &json, .help = "print what PATH holds as JSON on stdout"},
        {"dump-logits", 'o', CLI_STRING, &dump, .arg = "FILE",
         .help = "write the model's logits for STR's bytes (input_bytes U8 [1, T],\n"
                 "logits F32 [1, T, 256]) to a safetensors FILE, for comparing with\n"
                 "other implementations (tests/ref/make_fixtures.py --check-bytelm)"},
        {"text", 0, CLI_STRING, &text, .arg = "STR",
         .help = "the text --dump-logits runs (default: a sentence in several\n"
                 "scripts)"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int rc = cli_parse_options("info", rows, NULL, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    if (optind != argc - 1) return cmd_usage_error("info", "expected one PATH");
    const char *path = argv[optind];
    BlErr e;
    struct stat st;
    if (stat(path, &st) != 0) return bl_fail_errno(&e, path, "cannot open"), cmd_error(e.msg);

    ModelConfig cfg;
    if (!S_ISDIR(st.st_mode)) {
        if (config_load(&cfg, path, &e)) return cmd_error(e.msg);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "config", path);
            cJSON_AddNumberToObject(o, "parameters", (double)config_num_params(&cfg));
            cJSON_AddNumberToObject(o, "hidden_size", cfg.hidden_size);
            cJSON_AddNumberToObject(o, "num_hidden_layers", cfg.num_hidden_layers);
            print_json(o);
        } else {
            print_config(&cfg);
        }
        return 0;
    }

    char dir[4096];
    Backend *be;
    Model *m;
    CkptOpen how = {"cpu", 1, 0, "fp32"}; /* the checked fp32 weights, as stored */
    if (checkpoint_open(path, &how, &be, &m, dir, sizeof dir, &e)) return cmd_error(e.msg);
    cfg = *model_config(m);
    if (dump && dump_logits(m, text, dump, &e)) rc = -1;
    if (rc) {
        model_free(m);
        be->destroy(be);
        return cmd_error(e.msg);
    }
    /* weight statistics confirm the values loaded, not only the shapes */
    double ss = be->sumsq(be, model_params(m), model_num_params(m));
    double rms = sqrt(ss / config_num_params(&cfg));
    char ts_path[4200];
    snprintf(ts_path, sizeof ts_path, "%s/trainer_state.json", dir);
    cJSON *ts;
    if (read_trainer_state(ts_path, &ts, &e)) {
        model_free(m);
        be->destroy(be);
        return cmd_error(e.msg);
    }
    double train_bpb, val_bpb;
    final_bpb(dir, &train_bpb, &val_bpb);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "checkpoint", dir);
        cJSON_AddNumberToObject(o, "parameters", (double)config_num_params(&cfg));
        cJSON_AddNumberToObject(o, "hidden_size", cfg.hidden_size);
        cJSON_AddNumberToObject(o, "num_hidden_layers", cfg.num_hidden_layers);
        cJSON_AddNumberToObject(o, "state_size", cfg.state_size);
        add_num(o, "weights_rms", rms);
        cJSON_AddBoolToObject(o, "trainer_state", ts != NULL);
        if (ts) {
            cJSON *step = cJSON_GetObjectItem(ts, "step"), *bytes = cJSON_GetObjectItem(ts, "bytes_seen");
            if (cJSON_IsNumber(step)) cJSON_AddNumberToObject(o, "step", step->valuedouble);
            if (cJSON_IsString(bytes)) cJSON_AddStringToObject(o, "bytes_seen", bytes->valuestring);
            cJSON *opts = cJSON_GetObjectItem(ts, "options"), *optim = cJSON_GetObjectItem(ts, "optimizer");
            if (cJSON_IsObject(opts)) cJSON_AddItemToObject(o, "options", cJSON_Duplicate(opts, 1));
            if (cJSON_IsObject(optim)) cJSON_AddItemToObject(o, "optimizer", cJSON_Duplicate(optim, 1));
        }
        add_num(o, "final_train_bpb", train_bpb);
        add_num(o, "final_val_bpb", val_bpb);
        cJSON *arr = cJSON_AddArrayToObject(o, "tensors");
        for (int i = 0; i < model_num_tensors(m); i++) {
            const ParamInfo *p = model_tensor(m, i);
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "name", p->name);
            cJSON *shape = cJSON_AddArrayToObject(t, "shape");
            for (int k = 0; k < p->ndim; k++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)p->shape[k]));
            cJSON_AddItemToArray(arr, t);
        }
        print_json(o);
    } else {
        printf("checkpoint: %s\n", dir);
        print_config(&cfg);
        printf("  weights: %d tensors loaded, rms %.4g\n", model_num_tensors(m), rms);
        if (ts) {
            cJSON *step = cJSON_GetObjectItem(ts, "step"), *bytes = cJSON_GetObjectItem(ts, "bytes_seen");
            if (cJSON_IsNumber(step) && cJSON_IsString(bytes))
                printf("  trained: step %d, %s bytes seen\n", step->valueint, bytes->valuestring);
            print_members("options", cJSON_GetObjectItem(ts, "options"));
            print_members("optimizer", cJSON_GetObjectItem(ts, "optimizer"));
        } else {
            printf("  trained: no trainer_state.json (weights only)\n");
        }
        if (isfinite(train_bpb) || isfinite(val_bpb)) {
            printf("  final:");
            if (isfinite(train_bpb)) printf(" train %.4f bpb (last logged step)", train_bpb);
            if (isfinite(val_bpb)) printf("%s validation %.4f bpb (last validation)", isfinite(train_bpb) ? "," : "", val_bpb);
            printf("\n");
        }
    }
    cJSON_Delete(ts);
    model_free(m);
    be->destroy(be);
    return 0;
}
