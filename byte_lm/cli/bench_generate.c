/* `bytelm bench generate`: bytes per second of recurrent generation at batch 1 and batch 64, and
 * the fraction of the weight-bandwidth limit: each step must read every weight once (4 bytes
 * each in fp32, 2 in bf16), so a step can take no less than weight bytes / memory bandwidth (the copy and read rates are measured in
 * the same run through the backend). */
#include <string.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/generate/generate.h"
#include "byte_lm/base/json_out.h"
#include "byte_lm/base/progress.h"

/* Bytes moved per second by a large device-to-device copy, counting reads and writes
 * (read_only 0), or read per second by a large reduction (read_only 1). The best of several
 * repetitions: the rate the memory can sustain, not what a busy moment left of it. */
static double memory_rate(Backend *be, int read_only)
{
    size_t n = be->kind == BACKEND_CPU ? (size_t)64 << 20 : (size_t)1 << 30;
    void *a = be->alloc(be, n), *b = be->alloc(be, n);
    be->zero(be, a, n);
    be->copy(be, b, a, n);
    be->sync(be);
    double best = 1e30, sink = 0;
    for (int i = 0; i < 10; i++) {
        double t0 = now_seconds();
        if (read_only)
            sink += be->sumsq(be, i & 1 ? a : b, n / sizeof(float));
        else
            be->copy(be, i & 1 ? a : b, i & 1 ? b : a, n);
        be->sync(be);
        double dt = now_seconds() - t0;
        best = dt < best ? dt : best;
    }
    be->free(be, a);
    be->free(be, b);
    BL_CHECK(sink == 0); /* the buffers are zeros; the check keeps the reductions alive */
    return (read_only ? 1.0 : 2.0) * (double)n / best;
}

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm bench generate [options]\n"
               "Times recurrent generation (greedy, random weights) at batch 1 and 64 against the\n"
               "weight-bandwidth limit, after a 16-byte prompt.\n\n");
    cli_print_options(f, rows, 0, 19);
}

int bench_generate(int argc, char **argv)
{
    const char *config = NULL, *device = "cpu", *precision = NULL;
    int n = 256, threads = 0, json = 0, only_batch = 0, ahead = 0;
    const CliOpt rows[] = {
        {"config", 0, CLI_STRING, &config, .arg = "FILE",
         .help = "model config (default configs/tiny.json on cpu, configs/small.json\n"
                 "on cuda)"},
        {"device", 0, CLI_DEVICE, &device, .arg = "cpu|cuda", .help = "backend (default cpu)"},
        {"precision", 0, CLI_PRECISION, &precision, .arg = "P",
         .help = "fp32 or bf16 weights (bf16: fp32 states and sums); default\n"
                 "bf16 on cuda, fp32 on cpu"},
        {NULL, 'n', CLI_INT, &n, 1, 1 << 30, .arg = "BYTES", .help = "steps timed (default 256)"},
        {"batch", 0, CLI_INT, &only_batch, 1, 1 << 16, .arg = "N",
         .help = "time batch N only (default: batch 1, then 64)"},
        {"ahead", 0, CLI_INT, &ahead, 1, 1 << 10, .arg = "N",
         .help = "steps run per trip to the device (default: 8 on cuda, 1 on cpu)"},
        {"threads", 0, CLI_INT, &threads, 1, 4096, .arg = "N", .help = "CPU threads (default: all cores)"},
        {"json", 0, CLI_FLAG, &json, .help = "print one JSON object per batch on stdout"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int rc = cli_parse_options("bench generate", rows, NULL, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    if (!config) config = strcmp(device, "cpu") ? "configs/small.json" : "configs/tiny.json";
    BlErr e;
    ModelConfig cfg;
    if (config_load(&cfg, config, &e)) return cmd_error(e.msg);
    Backend *be = backend_by_name(device, threads, &e);
    if (!be) return cmd_error(e.msg);
    Model *m;
    if (model_create(&m, &cfg, be, &e)) return be->destroy(be), cmd_error(e.msg);
    model_init_params(m, 1);
    Precision prec;
    precision_for(be, precision, &prec); /* the name was checked when parsed */
    model_set_precision(m, prec);
    /* A step reads every weight once. The limit takes the faster of the two measured rates:
     * on a GPU they agree, but a CPU reads faster than it copies (each write also costs a
     * read), so the copy rate alone would set a limit a step can beat. */
    double copy_bw = memory_rate(be, 0), read_bw = memory_rate(be, 1);
    double bw = copy_bw > read_bw ? copy_bw : read_bw;
    double weight_bytes = (double)config_num_params(&cfg) * (prec == PREC_BF16 ? 2 : 4);
    double limit_step = weight_bytes / bw; /* seconds per step, any batch */
    if (!json)
        printf("bench generate: %s on %s, %s, %.2f M parameters (%.1f MB of weights), copy %.1f "
               "GB/s, read %.1f GB/s\n  %-6s %14s %14s %14s %10s\n",
               config, be->name, precision_name(prec), config_num_params(&cfg) / 1e6, weight_bytes / 1e6,
               copy_bw / 1e9, read_bw / 1e9, "batch", "bytes/s", "ms/step", "limit ms", "frac");
    int batches[] = {only_batch ? only_batch : 1, 64};
    for (int k = 0; k < (only_batch ? 1 : 2); k++) {
        GenOptions o;
        gen_options_default(&o);
        o.sampler.temperature = 0;
        o.batch = batches[k];
        o.ahead = ahead;
        Generator *g = generator_create(m, &o);
        const char *prompt = "Bytes in, bytes ";
        generator_prefill(g, (const uint8_t *)prompt, strlen(prompt));
        /* warm-up: first launches, allocations, and the recordings (a trip's is made on its
         * second run) */
        generator_run(g, 3 * (long)(ahead ? ahead : GEN_AHEAD), NULL);
        be->sync(be);
        double t0 = now_seconds();
        generator_run(g, n, NULL);
        be->sync(be);
        double step = (now_seconds() - t0) / n;
        double bps = batches[k] / step;
        if (json) {
            printf("{\"bench\":\"generate\",\"config\":");
            json_put_string(stdout, config);
            printf(",\"device\":\"%s\",\"precision\":\"%s\",\"batch\":%d,"
                   "\"bytes_per_s\":%.1f,\"step_s\":%.6g,\"limit_step_s\":%.6g,\"frac\":%.4f,"
                   "\"copy_bytes_per_s\":%.4g,\"read_bytes_per_s\":%.4g,\"recorded\":%s}\n",
                   be->name, precision_name(prec), batches[k], bps, step, limit_step, limit_step / step,
                   copy_bw, read_bw, generator_step_recorded(g) ? "true" : "false");
        } else
            printf("  %-6d %14.1f %14.4f %14.4f %10.3f %s\n", batches[k], bps, step * 1e3,
                   limit_step * 1e3, limit_step / step,
                   generator_step_recorded(g) ? "(replayed graph)" : "");
        generator_free(g);
    }
    model_free(m);
    be->destroy(be);
    return 0;
}
