/* `bytelm prepare`: the command line of prepare_corpus. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/base/json_out.h"
#include "corpus/prepare.h"

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm prepare IN... -o DIR [options]\n"
               "\n"
               "Turns text into a corpus directory for train and eval: DIR/train-NNNNN.zst, DIR/val-NNNNN.zst\n"
               "(zstd seekable format: any zstd -d reads them) and DIR/corpus.json (sizes, checksums, options).\n"
               "\n"
               "IN is a file, a directory (walked recursively in sorted order; names starting with '.' are\n"
               "skipped) or - for stdin. Each file is one document; stdin is one document. Documents are\n"
               "concatenated as they are, in input order. The validation split takes whole documents\n"
               "(chosen by a hash of --seed and the document's path), or the tail of the only document.\n"
               "DIR is built as DIR.tmp-PID and replaces DIR only when everything succeeded; an existing DIR\n"
               "is replaced only if it is empty or holds nothing but corpus.json and the shards it lists.\n"
               "\n"
               "options:\n");
    cli_print_options(f, rows, 0, 23);
    fprintf(f, "\n"
               "SIZE is bytes with an optional unit: K, M, G (or KiB, MiB, GiB) are powers of 1024; KB, MB,\n"
               "GB powers of 1000.\n");
}

/* prepare's values are checked with messages of their own ("OPT must be ..."), which the
 * callbacks below keep; prepare_check_options checks the combinations afterwards. */
static int val_fraction(const CliOpt *o, const char *cmd, const char *arg)
{
    if (!cli_parse_double(arg, o->lo, o->hi, o->lo_open, o->to)) return 0;
    return cmd_usage_error(cmd, "--val-fraction must be a number in (0, 0.5]");
}

static int frame_size(const CliOpt *o, const char *cmd, const char *arg)
{
    return parse_size(arg, o->to) ? cmd_usage_error(cmd, "--frame-size must be a size such as 1MiB") : 0;
}

static int shard_size(const CliOpt *o, const char *cmd, const char *arg)
{
    return parse_size(arg, o->to) ? cmd_usage_error(cmd, "--shard-size must be a size such as 1GiB") : 0;
}

/* A level out of range becomes 0, which prepare_check_options refuses with its own message. */
static int level(const CliOpt *o, const char *cmd, const char *arg)
{
    long l;
    *(int *)o->to = cli_parse_long(arg, (long)o->lo, (long)o->hi, &l) ? 0 : (int)l;
    return 0;
}

static int on_invalid(const CliOpt *o, const char *cmd, const char *arg)
{
    InvalidMode *m = o->to;
    if (!strcmp(arg, "error")) *m = INVALID_ERROR;
    else if (!strcmp(arg, "replace")) *m = INVALID_REPLACE;
    else if (!strcmp(arg, "keep")) *m = INVALID_KEEP;
    else return cmd_usage_error(cmd, "--on-invalid must be error, replace or keep");
    return 0;
}

static int normalize(const CliOpt *o, const char *cmd, const char *arg)
{
    NormalizeMode *n = o->to;
    if (!strcmp(arg, "none")) *n = NORMALIZE_NONE;
    else if (!strcmp(arg, "nfc")) *n = NORMALIZE_NFC;
    else if (!strcmp(arg, "nfkc")) *n = NORMALIZE_NFKC;
    else return cmd_usage_error(cmd, "--normalize must be none, nfc or nfkc");
    return 0;
}

/* --seed: any unsigned 64-bit number, decimal, hex (0x) or octal (0). */
static int seed(const CliOpt *o, const char *cmd, const char *arg)
{
    char *end;
    *(uint64_t *)o->to = strtoull(arg, &end, 0);
    if (!*arg || *end || *arg == '-') return cmd_usage_error(cmd, "--seed must be an integer");
    return 0;
}

static void print_result(const char *dir, const PrepareResult *r, int json)
{
    uint64_t decoded = r->train_bytes + r->val_bytes;
    double ratio = r->file_bytes ? (double)decoded / (double)r->file_bytes : 0;
    if (json) {
        printf("{\"corpus\":");
        json_put_string(stdout, dir);
        printf(",\"input_bytes\":%" PRIu64 ",\"documents\":%" PRIu64 ",\"train_bytes\":%" PRIu64
               ",\"val_bytes\":%" PRIu64 ",\"train_documents\":%" PRIu64 ",\"val_documents\":%" PRIu64
               ",\"train_shards\":%d,\"val_shards\":%d,\"file_bytes\":%" PRIu64 ",\"ratio\":%.4f,\"replaced_bytes\":%" PRIu64
               ",\"empty_documents_skipped\":%" PRIu64 ",\"seconds\":%.3f}\n",
               r->input_bytes, r->documents, r->train_bytes, r->val_bytes, r->train_documents, r->val_documents,
               r->train_shards, r->val_shards, r->file_bytes, ratio, r->replaced, r->empty_skipped, r->seconds);
        return;
    }
    printf("prepared %s: %" PRIu64 " documents, %" PRIu64 " input bytes in %.1f s\n", dir, r->documents, r->input_bytes,
           r->seconds);
    printf("  train  %14" PRIu64 " bytes  %8" PRIu64 " documents  %d shards\n", r->train_bytes, r->train_documents,
           r->train_shards);
    printf("  val    %14" PRIu64 " bytes  %8" PRIu64 " documents  %d shards\n", r->val_bytes, r->val_documents,
           r->val_shards);
    printf("  disk   %14" PRIu64 " bytes  (%.2fx)\n", r->file_bytes, ratio);
    if (r->replaced) printf("  %" PRIu64 " invalid bytes replaced by U+FFFD\n", r->replaced);
    if (r->empty_skipped) printf("  %" PRIu64 " empty documents skipped\n", r->empty_skipped);
}

int cmd_prepare(int argc, char **argv)
{
    PrepareOptions o;
    prepare_default_options(&o);
    const char *out = NULL;
    int json = 0, quiet = 0;
    char level_help[64];
    snprintf(level_help, sizeof level_help, "zstd level, %d..%d (3)", PREPARE_MIN_LEVEL, PREPARE_MAX_LEVEL);
    const CliOpt rows[] = {
        {"output", 'o', CLI_STRING, &out, .arg = "DIR", .help = "output directory (required)"},
        {"val-fraction", 0, CLI_CALL, &o.val_fraction, 0, 0.5, .lo_open = 1, .parse = val_fraction, .arg = "F",
         .help = "share of the bytes held out for validation, in (0, 0.5] (0.005)"},
        {"frame-size", 0, CLI_CALL, &o.frame_size, .parse = frame_size, .arg = "SIZE",
         .help = "decoded bytes per zstd frame: the unit of random access (1MiB)"},
        {"shard-size", 0, CLI_CALL, &o.shard_size, .parse = shard_size, .arg = "SIZE",
         .help = "decoded bytes per shard file, a multiple of the frame size (1GiB)"},
        {"level", 0, CLI_CALL, &o.level, PREPARE_MIN_LEVEL, PREPARE_MAX_LEVEL, .parse = level, .arg = "N",
         .help = level_help},
        {"on-invalid", 0, CLI_CALL, &o.on_invalid, .parse = on_invalid, .arg = "MODE",
         .help = "invalid UTF-8: error (stop, naming file and offset), replace\n"
                 "(each bad byte becomes U+FFFD) or keep (bytes as they are) (error)"},
        {"normalize", 0, CLI_CALL, &o.normalize, .parse = normalize, .arg = "FORM",
         .help = "none, nfc or nfkc (none)"},
        {"seed", 0, CLI_CALL, &o.seed, .parse = seed, .arg = "S", .help = "seed of the train/val split (0)"},
        {"json", 0, CLI_FLAG, &json, .help = "print the result as JSON on stdout"},
        {"quiet", 'q', CLI_FLAG, &quiet, .help = "no progress on stderr"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int rc = cli_parse_options("prepare", rows, NULL, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    if (quiet) o.progress = 0;
    /* getopt_long moved the inputs, in their order, behind the options */
    const char **inputs = (const char **)(argv + optind);
    int ninputs = argc - optind;
    BlErr e = {{0}};
    if (!out || !*out) rc = cmd_usage_error("prepare", "-o DIR is required");
    else if (ninputs == 0) rc = cmd_usage_error("prepare", "no inputs (files, directories or - for stdin)");
    else if (prepare_check_options(&o, &e)) rc = cmd_usage_error("prepare", e.msg);
    else {
        PrepareResult r;
        rc = prepare_corpus(inputs, ninputs, out, &o, &r, &e) ? cmd_error(e.msg) : 0;
        if (!rc) print_result(out, &r, json);
    }
    return rc;
}
