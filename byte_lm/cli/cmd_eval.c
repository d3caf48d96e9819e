/* `bytelm eval`: bits-per-byte of files and corpora, character tasks, synthetic memory tasks,
 * the CUTE benchmark. */
#include <stdio.h>
#include <string.h>

#include "byte_lm/cli/commands.h"
#include "byte_lm/cli/eval_cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bytelm eval bpb --ckpt DIR [options] PATH...\n"
            "       bytelm eval tasks --words FILE --task T[,T...] (--ckpt DIR | --train ... | --write-train FILE)\n"
            "       bytelm eval memory --task selective-copy|induction (--ckpt DIR | --train ... | --write-train FILE)\n"
            "       bytelm eval cute --ckpt DIR --data DIR [--task all|T,...] [--shots 4|0]\n"
            "\n"
            "  bpb      exact bits per byte and per UTF-8 character of files or corpora, every byte\n"
            "           scored with its whole left context\n"
            "  tasks    CUTE-style character tasks on a word list (spell, spell-inverse, reverse,\n"
            "           contains, insert, delete, swap): few-shot, greedy, exact match\n"
            "  memory   the Mamba paper's selective copying and induction heads\n"
            "  cute     the CUTE benchmark's 14 tasks from its own files, with published accuracies\n"
            "\n"
            "bytelm eval SUBCOMMAND --help for the options of each.\n");
}

int cmd_eval(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "bpb")) return eval_cmd_bpb(argc - 1, argv + 1);
    if (!strcmp(sub, "tasks") || !strcmp(sub, "memory")) return eval_cmd_tasks(argc - 1, argv + 1);
    if (!strcmp(sub, "cute")) return eval_cmd_cute(argc - 1, argv + 1);
    char msg[200];
    snprintf(msg, sizeof msg, "unknown subcommand '%.100s' (expected bpb, tasks, memory or cute)", sub);
    return cmd_usage_error("eval", msg);
}
