/* `bytelm prepare`: the command line of prepare_corpus. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/base/json_out.h"
#include "corpus/prepare.h"

static const char HELP[] =
    "usage: bytelm prepare IN... -o DIR [options]\n"
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
    "options:\n"
    "  -o, --output DIR        output directory (required)\n"
    "  --val-fraction F        share of the bytes held out for validation, in (0, 0.5] (0.005)\n"
    "  --frame-size SIZE       decoded bytes per zstd frame: the unit of random access (1MiB)\n"
    "  --shard-size SIZE       decoded bytes per shard file, a multiple of the frame size (1GiB)\n"
    "  --level N               zstd level, 1..19 (3)\n"
    "  --on-invalid MODE       invalid UTF-8: error (stop, naming file and offset), replace\n"
    "                          (each bad byte becomes U+FFFD) or keep (bytes as they are) (error)\n"
    "  --normalize FORM        none, nfc or nfkc (none)\n"
    "  --seed S                seed of the train/val split (0)\n"
    "  --json                  print the result as JSON on stdout\n"
    "  -q, --quiet             no progress on stderr\n"
    "  -h, --help              this help\n"
    "\n"
    "SIZE is bytes with an optional unit: K, M, G (or KiB, MiB, GiB) are powers of 1024; KB, MB,\n"
    "GB powers of 1000.\n";

/* The value of option argv[*i] (either "--opt=value" or the next argument), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (!strncmp(a, name, n) && a[n] == '=') return a + n + 1;
    if (strcmp(a, name)) return NULL;
    if (*i + 1 >= argc) return "";
    return argv[++*i];
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
    const char *out = NULL, *v;
    int json = 0, ninputs = 0, only_inputs = 0;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    char msg[600];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        static const char *const takes[] = {"-o", "--output", "--val-fraction", "--frame-size", "--shard-size",
                                            "--level", "--on-invalid", "--normalize", "--seed"};
        for (size_t k = 0; !only_inputs && i + 1 == argc && k < sizeof takes / sizeof takes[0]; k++)
            if (!strcmp(a, takes[k])) {
                snprintf(msg, sizeof msg, "option '%s' needs a value", a);
                free(inputs);
                return cmd_usage_error("prepare", msg);
            }
        if (only_inputs || a[0] != '-' || !strcmp(a, "-")) {
            inputs[ninputs++] = a;
        } else if (!strcmp(a, "--")) {
            only_inputs = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            free(inputs);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.progress = 0;
        } else if ((v = opt_value(argc, argv, &i, "-o")) || (v = opt_value(argc, argv, &i, "--output"))) {
            out = v;
        } else if ((v = opt_value(argc, argv, &i, "--val-fraction"))) {
            if (cli_parse_double(v, 0, 0.5, 1, &o.val_fraction)) {
                free(inputs);
                return cmd_usage_error("prepare", "--val-fraction must be a number in (0, 0.5]");
            }
        } else if ((v = opt_value(argc, argv, &i, "--frame-size"))) {
            if (parse_size(v, &o.frame_size)) {
                free(inputs);
                return cmd_usage_error("prepare", "--frame-size must be a size such as 1MiB");
            }
        } else if ((v = opt_value(argc, argv, &i, "--shard-size"))) {
            if (parse_size(v, &o.shard_size)) {
                free(inputs);
                return cmd_usage_error("prepare", "--shard-size must be a size such as 1GiB");
            }
        } else if ((v = opt_value(argc, argv, &i, "--level"))) {
            long l;
            o.level = cli_parse_long(v, 1, 19, &l) ? 0 : (int)l;
        } else if ((v = opt_value(argc, argv, &i, "--on-invalid"))) {
            if (!strcmp(v, "error")) o.on_invalid = INVALID_ERROR;
            else if (!strcmp(v, "replace")) o.on_invalid = INVALID_REPLACE;
            else if (!strcmp(v, "keep")) o.on_invalid = INVALID_KEEP;
            else {
                free(inputs);
                return cmd_usage_error("prepare", "--on-invalid must be error, replace or keep");
            }
        } else if ((v = opt_value(argc, argv, &i, "--normalize"))) {
            if (!strcmp(v, "none")) o.normalize = NORMALIZE_NONE;
            else if (!strcmp(v, "nfc")) o.normalize = NORMALIZE_NFC;
            else if (!strcmp(v, "nfkc")) o.normalize = NORMALIZE_NFKC;
            else {
                free(inputs);
                return cmd_usage_error("prepare", "--normalize must be none, nfc or nfkc");
            }
        } else if ((v = opt_value(argc, argv, &i, "--seed"))) {
            char *end;
            o.seed = strtoull(v, &end, 0);
            if (!*v || *end || *v == '-') {
                free(inputs);
                return cmd_usage_error("prepare", "--seed must be an integer");
            }
        } else {
            snprintf(msg, sizeof msg, "unknown option '%s'", a);
            free(inputs);
            return cmd_usage_error("prepare", msg);
        }
    }
    BlErr e = {{0}};
    int rc;
    if (!out || !*out) rc = cmd_usage_error("prepare", "-o DIR is required");
    else if (ninputs == 0) rc = cmd_usage_error("prepare", "no inputs (files, directories or - for stdin)");
    else if (prepare_check_options(&o, &e)) rc = cmd_usage_error("prepare", e.msg);
    else {
        PrepareResult r;
        rc = prepare_corpus(inputs, ninputs, out, &o, &r, &e) ? cmd_error(e.msg) : 0;
        if (!rc) print_result(out, &r, json);
    }
    free(inputs);
    return rc;
}
