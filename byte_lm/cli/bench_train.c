/* `bytelm bench train`: training throughput of a config on a backend — bytes/s, model FLOP
 * utilisation (6 x params x bytes/s over the matmul rate measured in the same run) and peak
 * memory. Batches are random bytes drawn on the host, so the loader is not part of it (`bytelm
 * bench loader` measures that). */
#include <getopt.h>
#include <math.h>
#include <string.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/base/json_out.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "byte_lm/base/progress.h"
#include "byte_lm/base/rng.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: bytelm bench train [--config FILE] [--device cpu|cuda] [-B N] [-L N]\n"
               "                          [--precision fp32|bf16] [--recompute auto|on|off]\n"
               "                          [--steps N] [--threads N] [--json] [-h]\n"
               "Times full training steps (forward, backward, AdamW) on random bytes.\n"
               "MFU is against the matmul rate measured in the same run, in the same precision\n"
               "(default bf16 on cuda, fp32 on cpu). --recompute: whether bf16's backward makes\n"
               "the scan's tensors again or the forward keeps them (auto: kept when they fit).\n"
               "Defaults: configs/tiny.json on the CPU (B=8, L=512), configs/small.json on CUDA\n"
               "(B=16, L=2048); 2 warm-up steps, then --steps (default 5) timed.\n");
}

int bench_train(int argc, char **argv)
{
    const char *config = NULL, *device = "cpu", *precision = NULL;
    int recompute = -1;
    int B = 0, L = 0, steps = 5, threads = 0, json = 0;
    static const struct option opts[] = {{"config", 1, 0, 'c'}, {"device", 1, 0, 'd'},
                                         {"steps", 1, 0, 's'}, {"threads", 1, 0, 't'},
                                         {"precision", 1, 0, 'p'}, {"recompute", 1, 0, 'r'},
                                         {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c, rc = 0;
    const char *C = "bench train";
    optind = 1;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, ":B:L:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': rc = cli_device(C, optarg), device = optarg; break;
        case 'B': rc = cli_int(C, "-B", optarg, 1, 1 << 16, &B); break;
        case 'L': rc = cli_int(C, "-L", optarg, 1, 1 << 24, &L); break;
        case 's': rc = cli_int(C, "--steps", optarg, 1, 64, &steps); break;
        case 't': rc = cli_int(C, "--threads", optarg, 1, 4096, &threads); break;
        case 'j': json = 1; break;
        case 'p': rc = cli_precision(C, optarg), precision = optarg; break;
        case 'r':
            if (!strcmp(optarg, "auto")) recompute = -1;
            else if (!strcmp(optarg, "on")) recompute = 1;
            else if (!strcmp(optarg, "off")) recompute = 0;
            else return cmd_usage_error(C, "--recompute must be auto, on or off");
            break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error(C, c, argv);
        }
    }
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
