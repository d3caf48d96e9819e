/* `bytelm bench WHAT`: runs one benchmark, or all of them. Each benchmark is a function
 * int bench_NAME(int argc, char **argv) (argv[0] is its name) in the module it measures; adding
 * one is one line in BENCHES below. */
#include <stdio.h>
#include <string.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/cli/commands.h"

#ifdef BYTELM_CUDA
#define BENCHES_CUDA(X) X(kernels, "every CUDA kernel against its roofline (copy bandwidth, SFU rate)")
#else
#define BENCHES_CUDA(X)
#endif
#define BENCHES(X) \
    X(loader, "corpus decoding on one core (GB/s against the 1 GB/s bar) and loader_next batches/s") \
    X(train, "training steps: bytes/s, MFU against the measured matmul rate, peak memory") \
    X(generate, "recurrent generation bytes/s at batch 1 and 64 against the weight-bandwidth limit") \
    BENCHES_CUDA(X)

#define DECLARE_BENCH(name, what) int bench_##name(int argc, char **argv);
BENCHES(DECLARE_BENCH)

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} Bench;

/* The benchmarks this build and machine cannot run, one line each: `bench all` runs the rest and
 * says what it left out. */
static const char *const SKIPPED_NO_CUDA[] = {
#ifndef BYTELM_CUDA
    "kernels",
#endif
    NULL};

#define BENCH_ENTRY(name, what) {#name, bench_##name, what},
static const Bench BENCH_TABLE[] = {BENCHES(BENCH_ENTRY){NULL, NULL, NULL}};

static void usage(FILE *f)
{
    fprintf(f, "usage: bytelm bench WHAT [options]   (bytelm bench WHAT --help for its options)\n\n"
               "Benchmarks print a table (or --json, one object per line) with ratios against a bar or a\n"
               "roofline and against a reference measured in the same run.\n\nWHAT:\n");
    for (size_t i = 0; BENCH_TABLE[i].name; i++) fprintf(f, "  %-10s %s\n", BENCH_TABLE[i].name, BENCH_TABLE[i].what);
    fprintf(f, "  %-10s every benchmark above with its defaults (accepts --json); those this build\n"
               "             or machine cannot run (kernels without CUDA or a GPU) are skipped, named\n", "all");
#ifndef BYTELM_CUDA
    fprintf(f, "\n(kernels: not in this build, which has no CUDA)\n");
#endif
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *what = argv[1];
    if (!strcmp(what, "--help") || !strcmp(what, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(what, "all")) {
        int json = 0;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--json")) json = 1;
            else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                usage(stdout);
                return 0;
            } else {
                return cmd_usage_error("bench all", "bench all takes only --json");
            }
        }
        int worst = 0;
        for (size_t i = 0; BENCH_TABLE[i].name; i++) {
            BlErr e = {{0}};
            /* the GPU benchmarks need a GPU: without one they are skipped, with the reason */
            if (!strcmp(BENCH_TABLE[i].name, "kernels") && backend_check("cuda", 1, &e)) {
                if (json) printf("{\"bench\":\"kernels\",\"skipped\":true}\n");
                else printf("bench kernels: skipped (%s)\n", e.msg);
            } else {
                char *args[] = {(char *)BENCH_TABLE[i].name, json ? (char *)"--json" : NULL, NULL};
                int rc = BENCH_TABLE[i].run(json ? 2 : 1, args);
                if (rc > worst) worst = rc;
            }
            if (!json && BENCH_TABLE[i + 1].name) putchar('\n');
        }
        for (size_t i = 0; SKIPPED_NO_CUDA[i]; i++) {
            if (json) printf("{\"bench\":\"%s\",\"skipped\":true}\n", SKIPPED_NO_CUDA[i]);
            else printf("\nbench %s: skipped (this bytelm was built without CUDA)\n", SKIPPED_NO_CUDA[i]);
        }
        return worst;
    }
    for (size_t i = 0; BENCH_TABLE[i].name; i++)
        if (!strcmp(what, BENCH_TABLE[i].name)) return BENCH_TABLE[i].run(argc - 1, argv + 1);
    char msg[300];
    snprintf(msg, sizeof msg, "unknown benchmark '%s'", what);
    return cmd_usage_error("bench", msg);
}
