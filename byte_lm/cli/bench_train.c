/* `bytelm bench train`: training throughput of a config on a backend — bytes/s, model FLOP
 * utilisation (6 x params x bytes/s over the matmul rate measured in the same run) and peak
 * memory. Batches are random bytes drawn on the host, so the loader is not part of it (`bytelm
 * bench loader` measures that). */
#include <math.h>
#include <string.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/base/json_out.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "byte_lm/base/progress.h"
#include "byte_lm/base/rng.h"

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm bench train [options]\n"
               "Times full training steps (forward, backward, AdamW) on random bytes.\n"
               "MFU is against the matmul rate measured in the same run, in the same precision.\n\n");
    cli_print_options(f, rows, 0, 19);
}

/* --recompute: -1 auto, 1 on, 0 off (model_set_recompute's words). */
static int parse_recompute(const CliOpt *o, const char *cmd, const char *arg)
{
    int *r = o->to;
    if (!strcmp(arg, "auto")) *r = -1;
    else if (!strcmp(arg, "on")) *r = 1;
    else if (!strcmp(arg, "off")) *r = 0;
    else return cmd_usage_error(cmd, "--recompute must be auto, on or off");
    return 0;
}

int bench_train(int argc, char **argv)
{
    const char *config = NULL, *device = "cpu", *precision = NULL;
    int recompute = -1;
    int B = 0, L = 0, steps = 5, threads = 0, json = 0;
    const CliOpt rows[] = {
        {"config", 0, CLI_STRING, &config, .arg = "FILE",
         .help = "model config (default configs/tiny.json on cpu, configs/small.json\n"
                 "on cuda)"},
        {"device", 0, CLI_DEVICE, &device, .arg = "cpu|cuda", .help = "backend (default cpu)"},
        {NULL, 'B', CLI_INT, &B, 1, TS_MAX_BATCH, .arg = "N", .help = "windows per step (default 8 on cpu, 16 on cuda)"},
        {NULL, 'L', CLI_INT, &L, 1, TS_MAX_SEQ_LEN, .arg = "N", .help = "bytes per window (default 512 on cpu, 2048 on cuda)"},
        {"precision", 0, CLI_PRECISION, &precision, .arg = "P",
         .help = "fp32 or bf16 (default bf16 on cuda, fp32 on cpu)"},
        {"recompute", 0, CLI_CALL, &recompute, .parse = parse_recompute, .arg = "auto|on|off",
         .help = "whether bf16's backward makes the scan's tensors again or the\n"
                 "forward keeps them (default auto: kept when they fit)"},
        {"steps", 0, CLI_INT, &steps, 1, 64, .arg = "N", .help = "steps timed after 2 warm-up steps (default 5)"},
        {"threads", 0, CLI_INT, &threads, 1, 4096, .arg = "N", .help = "CPU threads (default: all cores)"},
        {"json", 0, CLI_FLAG, &json, .help = "print one JSON object on stdout"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int rc = cli_parse_options("bench train", rows, NULL, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    int gpu = strcmp(device, "cpu") != 0;
    if (!config) config = gpu ? "configs/small.json" : "configs/tiny.json";
    if (B <= 0) B = gpu ? 16 : 8;
    if (L <= 0) L = gpu ? 2048 : 512;
    if (steps <= 0) return cmd_usage_error("bench train", "--steps must be positive");

    BlErr e;
    ModelConfig cfg;
    if (config_load(&cfg, config, &e)) return cmd_error(e.msg);
    Backend *be = backend_by_name(device, threads, &e);
    if (!be) return cmd_error(e.msg);
    Model *m;
    if (model_create(&m, &cfg, be, &e)) return be->destroy(be), cmd_error(e.msg);
    Precision prec;
    precision_for(be, precision, &prec); /* the name was checked when parsed */
    model_set_precision(m, prec);
    model_set_recompute(m, recompute);
    model_init_params(m, 1);
    OptimConfig oc;
    optim_config_default(&oc);
    oc.warmup_steps = 0;
    Optimizer opt;
    optimizer_init(&opt, m, &oc);
    uint8_t *batch = bl_malloc((size_t)B * (L + 1));
    Rng r = rng_stream(7, 3);
    double times[64];
    if (steps > 64) steps = 64;
    float loss = 0;
    for (int s = -2; s < steps; s++) {
        for (size_t i = 0; i < (size_t)B * (L + 1); i++) batch[i] = (uint8_t)rng_u64(&r);
        double t0 = now_seconds();
        model_zero_grads(m);
        loss = model_forward_backward(m, batch, B, L, 1.0f);
        optimizer_step(&opt, m, NULL);
        be->sync(be);
        if (s >= 0) times[s] = now_seconds() - t0;
    }
    /* median step time: robust to one slow step */
    for (int i = 1; i < steps; i++)
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double t = times[j];
            times[j] = times[j - 1], times[j - 1] = t;
        }
    double step_s = times[steps / 2];
    double bps = (double)B * L / step_s;
    long long params = config_num_params(&cfg);
    double flops = 6.0 * (double)params * bps;
    double peak = be->matmul_peak_flops(be, prec == PREC_BF16);
    double mem = (double)be->mem_peak_bytes(be);
    if (json) {
        printf("{\"bench\":\"train\",\"config\":");
        json_put_string(stdout, config);
        printf(",\"device\":\"%s\",\"precision\":\"%s\",\"params\":%lld,\"B\":%d,"
               "\"L\":%d,\"step_s\":%.6f,\"bytes_per_s\":%.1f,\"model_flops\":%.4g,"
               "\"matmul_peak_flops\":%.4g,\"mfu\":%.4f,\"%s\":%.0f,\"activation_bytes\":%zu,"
               "\"recompute\":%s,\"loss\":",
               be->name, precision_name(prec), params, B, L, step_s, bps, flops, peak, flops / peak,
               "peak_mem_bytes", mem,
               model_activation_bytes(m), model_recomputes(m) ? "true" : "false");
        json_put_number(stdout, "%.4f", loss);
        printf("}\n");
    } else {
        printf("bench train: %s on %s in %s, %.2f M parameters, B=%d L=%d\n", config, be->name,
               precision_name(prec), params / 1e6, B, L);
        printf("  %-28s %12.4f s (median of %d)\n", "step time", step_s, steps);
        printf("  %-28s %12.1f\n", "bytes/s", bps);
        printf("  %-28s %12.3f TFLOP/s\n", "model FLOP/s (6*P*bytes/s)", flops / 1e12);
        printf("  %-28s %12.3f TFLOP/s (%s)\n", "measured matmul rate", peak / 1e12,
               be->kind == BACKEND_CPU ? "fp32 sgemm" : precision_name(prec));
        printf("  %-28s %12.1f %%\n", "MFU", 100.0 * flops / peak);
        printf("  %-28s %12.2f GiB (%s)\n", "peak memory", mem / (1 << 30), "the backend's count");
        printf("  %-28s %12.2f GiB%s\n", "activation arena", model_activation_bytes(m) / (double)(1 << 30),
               model_recomputes(m) ? " (the scan's tensors recomputed)" : "");
    }
    free(batch);
    optimizer_free(&opt, m);
    model_free(m);
    be->destroy(be);
    return 0;
}
