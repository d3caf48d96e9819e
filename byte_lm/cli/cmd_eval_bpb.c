/* `bytelm eval bpb`: exact bits per byte (and per UTF-8 character) of a checkpoint on files and
 * corpora, read with SeqReader, scored in chunks with the recurrent state carried across them. */
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <string.h>

#include "eval/bpb.h"
#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/base/progress.h"
#include "corpus/loader.h"
#include "corpus/source.h"
#include "byte_lm/cli/eval_cli.h"

#define READ_BUF (1 << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bytelm eval bpb --ckpt DIR [options] PATH...\n"
            "\n"
            "Bits per byte = mean cross-entropy (nats) / ln 2 over every byte of each PATH after its\n"
            "first: the first byte has no context and is not scored. The model's recurrent state is\n"
            "carried from chunk to chunk, so every byte is scored with its whole left context in\n"
            "constant memory; the result does not depend on --chunk. Bits per character divides the\n"
            "same bits by the UTF-8 characters (utf8proc) that have a scored byte; an invalid byte\n"
            "counts as one character. Each PATH is scored from a fresh state; the total is over all.\n"
            "\n"
            "PATH is a plain file, a .zst file, a seekable shard or a prepared corpus directory;\n"
            "- (stdin) or a pipe such as <(cmd) is read whole (at most 1 GiB), then scored.\n"
            "\n"
            "  --ckpt DIR          checkpoint (or run directory)\n"
            "  --split train|val   which part of a corpus directory (default val)\n"
            "  --chunk N           bytes per model call (default 4096)\n"
            "  --device cpu|cuda   backend (default cpu)\n"
            "  --precision P       fp32 or bf16 (default bf16 on cuda, fp32 on cpu)\n"
            "  --threads N         CPU threads (default: all cores)\n"
            "  --json              print the results as JSON on stdout\n"
            "  -q, --quiet         no progress on stderr\n"
            "  -h, --help          this help\n"
            "\n"
            "This differs from train's validation, which averages random windows of the val split,\n"
            "each read from a fresh state (their first bytes have little context): on the same\n"
            "split eval bpb reads lower.\n");
}

typedef struct {
    const char *path;
    BpbTally t;
} FileResult;

/* A pipe is read whole into memory, at most this much: it cannot be sized or read twice. */
#define MAX_PIPE_BYTES ((size_t)1 << 30)

/* Scores "-" (stdin) or a FIFO such as <(...): read to its end (bounded), decoded when it is
 * zstd data, then scored as one file. */
static int score_pipe(BpbScorer *sc, const char *path, const char *label, BpbTally *out, BlErr *e)
{
    char *raw;
    size_t n;
    if (file_read_all(path, MAX_PIPE_BYTES, FILE_PIPE_OK, &raw, &n, e)) return -1;
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    uint8_t *data = (uint8_t *)raw;
    if (zstd_magic_at(data, n)) {
        int rc = zstd_decode_mem(data, n, MAX_PIPE_BYTES, name, &data, &n, e);
        free(raw);
        if (rc) return -1;
    }
    Progress prog;
    progress_init(&prog, label, n);
    bpb_begin(sc);
    for (size_t at = 0; at < n; at += READ_BUF) bpb_feed(sc, data + at, n - at < READ_BUF ? n - at : READ_BUF);
    free(data);
    bpb_end(sc, out);
    char extra[96] = "";
    if (out->scored) snprintf(extra, sizeof extra, "%.4f bits/byte", bpb_bits_per_byte(out));
    progress_finish(&prog, n, extra);
    return 0;
}

/* Scores one source into out; the reader's own errors name the file and offset. */
static int score_path(BpbScorer *sc, const char *path, const char *split, uint8_t *buf,
                      const char *label, int quiet, BpbTally *out, BlErr *e)
{
    if (file_is_pipe(path)) return score_pipe(sc, path, label, out, e);
    SeqReader *rd;
    if (seqreader_open(&rd, path, split, e)) return -1;
    Progress prog;
    progress_init(&prog, label, seqreader_total_bytes(rd));
    prog.quiet = quiet;
    bpb_begin(sc);
    long long n;
    uint64_t done = 0;
    char extra[96];
    while ((n = seqreader_read(rd, buf, READ_BUF, e)) > 0) {
        bpb_feed(sc, buf, (size_t)n);
        done += (uint64_t)n;
        BpbTally t = bpb_progress(sc);
        extra[0] = 0;
        if (t.scored && isfinite(t.nats)) snprintf(extra, sizeof extra, "%.4f bits/byte", bpb_bits_per_byte(&t));
        progress_update(&prog, done, extra);
    }
    seqreader_close(rd);
    if (n < 0) return -1;
    bpb_end(sc, out);
    /* a NaN or infinite loss is no measurement: the weights or their sums overflowed */
    if (!isfinite(out->nats))
        return bl_fail(e, path, "the model's loss is not finite (%s): no bits per byte", isnan(out->nats) ? "NaN" : "infinite");
    extra[0] = 0;
    if (out->scored) snprintf(extra, sizeof extra, "%.4f bits/byte", bpb_bits_per_byte(out));
    progress_finish(&prog, done, extra);
    return 0;
}

static cJSON *tally_json(const char *path, const BpbTally *t)
{
    cJSON *o = cJSON_CreateObject();
    if (path) cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "bytes", (double)t->bytes);
    cJSON_AddNumberToObject(o, "scored_bytes", (double)t->scored);
    cJSON_AddNumberToObject(o, "characters", (double)t->chars);
    cJSON_AddNumberToObject(o, "bits", bpb_bits(t));
    double bpb = bpb_bits_per_byte(t), bpc = bpb_bits_per_char(t);
    if (isnan(bpb)) cJSON_AddNullToObject(o, "bits_per_byte");
    else cJSON_AddNumberToObject(o, "bits_per_byte", bpb);
    if (isnan(bpc)) cJSON_AddNullToObject(o, "bits_per_char");
    else cJSON_AddNumberToObject(o, "bits_per_char", bpc);
    return o;
}

static void print_row(const char *name, const BpbTally *t)
{
    char bpb[16] = "-", bpc[16] = "-";
    if (t->scored) snprintf(bpb, sizeof bpb, "%.4f", bpb_bits_per_byte(t));
    if (t->chars) snprintf(bpc, sizeof bpc, "%.4f", bpb_bits_per_char(t));
    printf("%-36s %14llu %14llu %14llu %10s %10s\n", name, (unsigned long long)t->bytes,
           (unsigned long long)t->scored, (unsigned long long)t->chars, bpb, bpc);
}

static void print_results(const char *ckpt, int chunk, const FileResult *res, int n,
                          const BpbTally *total, int json)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "checkpoint", ckpt);
        cJSON_AddNumberToObject(o, "chunk", chunk);
        cJSON_AddStringToObject(o, "note", "each file read once, front to back, every byte scored with its whole left "
                                           "context; the first byte has no context and is not scored");
        cJSON *files = cJSON_AddArrayToObject(o, "files");
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(files, tally_json(res[i].path, &res[i].t));
        cJSON_AddItemToObject(o, "total", tally_json(NULL, total));
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
        return;
    }
    printf("%-36s %14s %14s %14s %10s %10s\n", "file", "bytes", "scored", "characters",
           "bits/byte", "bits/char");
    for (int i = 0; i < n; i++) print_row(res[i].path, &res[i].t);
    if (n > 1) print_row("total", total);
    printf("(each file read once, front to back, every byte scored with its whole left context;\n"
           " the first byte has no context and is not scored. train's validation is a mean over\n"
           " random windows, each read from a fresh state, so it reads higher)\n");
}

int eval_cmd_bpb(int argc, char **argv)
{
    const char *ckpt = NULL, *device = "cpu", *split = "val", *precision = NULL;
    int chunk = 4096, threads = 0, json = 0, quiet = 0;
    enum { O_CKPT = 256, O_SPLIT, O_CHUNK, O_DEVICE, O_THREADS, O_JSON, O_HELP, O_PREC };
    static const struct option opts[] = {
        {"ckpt", 1, 0, O_CKPT},       {"split", 1, 0, O_SPLIT}, {"chunk", 1, 0, O_CHUNK},
        {"device", 1, 0, O_DEVICE},   {"threads", 1, 0, O_THREADS}, {"json", 0, 0, O_JSON},
        {"help", 0, 0, O_HELP},       {"quiet", 0, 0, 'q'}, {"precision", 1, 0, O_PREC},
        {0, 0, 0, 0}};
    int c, rc = 0;
    const char *E = "eval bpb";
    optind = 1;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        switch (c) {
        case O_CKPT: ckpt = optarg; break;
        case O_SPLIT:
            if (strcmp(optarg, "train") && strcmp(optarg, "val"))
                return cmd_usage_error(E, "--split must be train or val");
            split = optarg;
            break;
        case O_CHUNK: rc = cli_int(E, "--chunk", optarg, 1, 1 << 24, &chunk); break;
        case O_DEVICE: rc = cli_device(E, optarg), device = optarg; break;
        case O_THREADS: rc = cli_int(E, "--threads", optarg, 1, 4096, &threads); break;
        case O_JSON: json = 1; break;
        case O_PREC: rc = cli_precision(E, optarg), precision = optarg; break;
        case 'q': quiet = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default: return cli_getopt_error(E, c, argv);
        }
    }
    if (rc) return rc;
    if (!ckpt) return cmd_usage_error("eval bpb", "--ckpt DIR is required");
    if (optind >= argc) return cmd_usage_error("eval bpb", "expected at least one PATH");

    BlErr e;
    Backend *be;
    Model *m;
    if (eval_load_model(ckpt, device, threads, precision, &be, &m, &e)) return cmd_error(e.msg);
    int n = argc - optind;
    FileResult *res = bl_calloc((size_t)n, sizeof *res);
    BpbTally total = {0};
    BpbScorer *sc = bpb_scorer_create(m, chunk);
    uint8_t *buf = bl_malloc(READ_BUF);
    for (int i = 0; i < n && !rc; i++) {
        char label[32];
        snprintf(label, sizeof label, "bpb %d/%d", i + 1, n);
        res[i].path = argv[optind + i];
        if (score_path(sc, res[i].path, split, buf, label, quiet, &res[i].t, &e)) rc = cmd_error(e.msg);
        else bpb_tally_add(&total, &res[i].t);
    }
    if (!rc) print_results(ckpt, chunk, res, n, &total, json);
    free(buf);
    free(res);
    bpb_scorer_free(sc);
    eval_close_model(be, m);
    return rc;
}
