/* bytelm: tokenizer-free byte-level language models. Dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "byte_lm/cli/commands.h"
#include "byte_lm/cli/version.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} Command;

static const Command COMMANDS[] = {
    /* one line per subcommand, in the order --help lists them */
    {"prepare", cmd_prepare, "turn text files into a corpus of seekable zstd shards"},
    {"train", cmd_train, "train a model on bytes (CPU or CUDA)"},
    {"eval", cmd_eval, "bits per byte/character of files and corpora; character and memory tasks"},
    {"generate", cmd_generate, "continue a prompt byte by byte (sampling, UTF-8-safe output)"},
    {"bench", cmd_bench, "benchmarks with ratios against a bar or roofline (bytelm bench all)"},
    {"info", cmd_info, "describe and check a checkpoint or config"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bytelm COMMAND [options]   (bytelm COMMAND --help for details)\n"
               "       bytelm --version   (-V: version, build, backends, libraries)\n\ncommands:\n");
    for (size_t i = 0; COMMANDS[i].name; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].what);
}

int cmd_error(const char *msg)
{
    /* every failure fills its message; an empty one would print a bare "bytelm: " */
    fprintf(stderr, "bytelm: %s\n", msg && *msg ? msg : "internal error: a failure left no message");
    return 1;
}

int cmd_usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "bytelm %s: %s (see bytelm %s --help)\n", cmd, msg, cmd);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        version_print(stdout);
        return 0;
    }
    for (size_t i = 0; COMMANDS[i].name; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "bytelm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
