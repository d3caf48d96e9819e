/* `bytelm info PATH`: what a checkpoint (bytelm's or transformers' save_pretrained) or a config
 * file holds, checked the way train/eval/generate would load it. */
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "cli_parse.h"
#include "commands.h"
#include "safetensors.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: bytelm info [--json] [--dump-logits FILE [--text STR]] PATH\n\n"
               "PATH is a checkpoint directory (config.json + model.safetensors), a run directory,\n"
               "or a config JSON file. The weights are loaded and every tensor's shape is checked.\n"
               "--dump-logits writes the model's logits for STR's bytes (input_bytes U8 [1, T],\n"
               "logits F32 [1, T, 256]) to a safetensors FILE, for comparing with other\n"
               "implementations (tests/ref/make_fixtures.py --check-bytelm).\n");
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

int cmd_info(int argc, char **argv)
{
    int json = 0;
    const char *dump = NULL, *text = "Byte-level models read UTF-8: na\xc3\xafve caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\x99\x82.";
    static const struct option opts[] = {{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'},
                                         {"dump-logits", 1, 0, 'd'}, {"text", 1, 0, 't'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'j') json = 1;
        else if (c == 'd') dump = optarg;
        else if (c == 't') text = optarg;
        else if (c == 'h') return usage(stdout), 0;
        else return cli_getopt_error("info", c, argv);
    }
    if (optind != argc - 1) return cmd_usage_error("info", "expected one PATH");
    const char *path = argv[optind];
    BlErr e;
    struct stat st;
    if (stat(path, &st) != 0) return bl_fail_errno(&e, path, "cannot open"), cmd_error(e.msg);

    ModelConfig cfg;
    if (!S_ISDIR(st.st_mode)) {
        if (config_load(&cfg, path, &e)) return cmd_error(e.msg);
        if (json)
            printf("{\"config\":\"%s\",\"parameters\":%lld,\"hidden_size\":%d,\"num_hidden_layers\":%d}\n",
                   path, config_num_params(&cfg), cfg.hidden_size, cfg.num_hidden_layers);
        else
            print_config(&cfg);
        return 0;
    }

    char dir[4096];
    if (checkpoint_resolve(path, dir, sizeof dir, &e)) return cmd_error(e.msg);
    if (checkpoint_load_config(dir, &cfg, &e)) return cmd_error(e.msg);
    Backend *be = backend_cpu_create(1);
    Model *m;
    if (model_create(&m, &cfg, be, &e)) return be->destroy(be), cmd_error(e.msg);
    int rc = checkpoint_load_weights(dir, m, &e);
    if (rc) {
        model_free(m);
        be->destroy(be);
        return cmd_error(e.msg);
    }
    if (dump && dump_logits(m, text, dump, &e)) rc = -1;
    if (rc) {
        model_free(m);
        be->destroy(be);
        return cmd_error(e.msg);
    }
    /* weight statistics confirm the values loaded, not only the shapes */
    double ss = be->sumsq(be, model_params(m), model_num_params(m));
    char ts_path[4200];
    snprintf(ts_path, sizeof ts_path, "%s/trainer_state.json", dir);
    int has_ts = stat(ts_path, &st) == 0;
    if (json) {
        printf("{\"checkpoint\":\"%s\",\"parameters\":%lld,\"hidden_size\":%d,\"num_hidden_layers\":%d,"
               "\"state_size\":%d,\"weights_rms\":%.6g,\"trainer_state\":%s,\"tensors\":[",
               dir, config_num_params(&cfg), cfg.hidden_size, cfg.num_hidden_layers,
               cfg.state_size, sqrt(ss / config_num_params(&cfg)), has_ts ? "true" : "false");
        for (int i = 0; i < model_num_tensors(m); i++) {
            const ParamInfo *p = model_tensor(m, i);
            printf("%s{\"name\":\"%s\",\"shape\":[", i ? "," : "", p->name);
            for (int k = 0; k < p->ndim; k++) printf("%s%lld", k ? "," : "", (long long)p->shape[k]);
            printf("]}");
        }
        printf("]}\n");
    } else {
        printf("checkpoint: %s\n", dir);
        print_config(&cfg);
        printf("  weights: %d tensors loaded, rms %.4g\n", model_num_tensors(m),
               sqrt(ss / config_num_params(&cfg)));
        if (has_ts) {
            FILE *f = fopen(ts_path, "r");
            char buf[8192];
            size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            if (f) fclose(f);
            buf[n] = 0;
            cJSON *o = cJSON_Parse(buf);
            cJSON *step = o ? cJSON_GetObjectItem(o, "step") : NULL;
            cJSON *bytes = o ? cJSON_GetObjectItem(o, "bytes_seen") : NULL;
            if (cJSON_IsNumber(step) && cJSON_IsString(bytes))
                printf("  trained: step %d, %s bytes seen\n", step->valueint, bytes->valuestring);
            cJSON_Delete(o);
        } else {
            printf("  trained: no trainer_state.json (weights only)\n");
        }
    }
    model_free(m);
    be->destroy(be);
    return 0;
}
