/* `bytelm eval bpb`: exact bits per byte (and per UTF-8 character) of a checkpoint on files and
 * corpora, read with SeqReader and scored through the public API's scoring session (bl_score,
 * include/bytelm.h), so the command and a program linking libbytelm give the same bits. */
#include <cJSON.h>
#include <math.h>
#include <string.h>

#include "include/bytelm.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/base/progress.h"
#include "corpus/loader.h"
#include "corpus/source.h"
#include "byte_lm/cli/eval_cli.h"

#define READ_BUF (1 << 20)

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm eval bpb --ckpt DIR [options] PATH...\n"
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
               "\n");
    cli_print_options(f, rows, 0, 19);
    fprintf(f, "\n"
               "This differs from train's validation, which averages random windows of the val split,\n"
               "each read from a fresh state (their first bytes have little context): on the same\n"
               "split eval bpb reads lower.\n");
}

/* --split: a corpus directory's train or val part. */
static int parse_split(const CliOpt *o, const char *cmd, const char *arg)
{
    if (strcmp(arg, "train") && strcmp(arg, "val")) return cmd_usage_error(cmd, "--split must be train or val");
    *(const char **)o->to = arg;
    return 0;
}

typedef struct {
    const char *path;
    bl_score_result t;
} FileResult;

/* Ends the stream's scoring into out. A NaN or infinite loss is no measurement (the weights or
 * their sums overflowed): an error naming the file, not a figure. */
static int finish(bl_score *sc, const char *path, Progress *prog, uint64_t done, bl_score_result *out,
                  BlErr *e)
{
    if (bl_score_finish(sc, out, NULL))
        return bl_fail(e, path, "the model's loss is not finite (%s): no bits per byte",
                       isnan(out->bits) ? "NaN" : "infinite");
    char extra[96] = "";
    if (out->scored) snprintf(extra, sizeof extra, "%.4f bits/byte", out->bits_per_byte);
    progress_finish(prog, done, extra);
    return 0;
}

/* sum += t, the per-byte and per-character figures of the sum recomputed */
static void add_result(bl_score_result *sum, const bl_score_result *t)
{
    sum->bytes += t->bytes;
    sum->scored += t->scored;
    sum->chars += t->chars;
    sum->bits += t->bits;
    sum->bits_per_byte = sum->scored ? sum->bits / (double)sum->scored : NAN;
    sum->bits_per_char = sum->chars ? sum->bits / (double)sum->chars : NAN;
}

/* A pipe is read whole into memory, at most this much: it cannot be sized or read twice. */
#define MAX_PIPE_BYTES ((size_t)1 << 30)

/* Scores "-" (stdin) or a FIFO such as <(...): read to its end (bounded), decoded when it is
 * zstd data, then scored as one file. */
static int score_pipe(bl_score *sc, const char *path, const char *label, bl_score_result *out, BlErr *e)
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
    for (size_t at = 0; at < n; at += READ_BUF) bl_score_feed(sc, data + at, n - at < READ_BUF ? n - at : READ_BUF, NULL, NULL);
    free(data);
    return finish(sc, name, &prog, n, out, e);
}

/* Scores one source into out; the reader's own errors name the file and offset. */
static int score_path(bl_score *sc, const char *path, const char *split, uint8_t *buf,
                      const char *label, int quiet, bl_score_result *out, BlErr *e)
{
    if (file_is_pipe(path)) return score_pipe(sc, path, label, out, e);
    SeqReader *rd;
    if (seqreader_open(&rd, path, split, e)) return -1;
    Progress prog;
    progress_init(&prog, label, seqreader_total_bytes(rd));
    prog.quiet = quiet;
    long long n;
    uint64_t done = 0;
    char extra[96];
    while ((n = seqreader_read(rd, buf, READ_BUF, e)) > 0) {
        bl_score_feed(sc, buf, (size_t)n, NULL, NULL);
        done += (uint64_t)n;
        bl_score_result t;
        bl_score_progress(sc, &t);
        extra[0] = 0;
        if (t.scored && isfinite(t.bits)) snprintf(extra, sizeof extra, "%.4f bits/byte", t.bits_per_byte);
        progress_update(&prog, done, extra);
    }
    seqreader_close(rd);
    if (n < 0) {
        bl_score_finish(sc, out, NULL); /* the next file starts a fresh stream */
        return -1;
    }
    return finish(sc, path, &prog, done, out, e);
}

static cJSON *tally_json(const char *path, const bl_score_result *t)
{
    cJSON *o = cJSON_CreateObject();
    if (path) cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "bytes", (double)t->bytes);
    cJSON_AddNumberToObject(o, "scored_bytes", (double)t->scored);
    cJSON_AddNumberToObject(o, "characters", (double)t->chars);
    cJSON_AddNumberToObject(o, "bits", t->bits);
    double bpb = t->bits_per_byte, bpc = t->bits_per_char;
    if (isnan(bpb)) cJSON_AddNullToObject(o, "bits_per_byte");
    else cJSON_AddNumberToObject(o, "bits_per_byte", bpb);
    if (isnan(bpc)) cJSON_AddNullToObject(o, "bits_per_char");
    else cJSON_AddNumberToObject(o, "bits_per_char", bpc);
    return o;
}

static void print_row(const char *name, const bl_score_result *t)
{
    char bpb[16] = "-", bpc[16] = "-";
    if (t->scored) snprintf(bpb, sizeof bpb, "%.4f", t->bits_per_byte);
    if (t->chars) snprintf(bpc, sizeof bpc, "%.4f", t->bits_per_char);
    printf("%-36s %14llu %14llu %14llu %10s %10s\n", name, (unsigned long long)t->bytes,
           (unsigned long long)t->scored, (unsigned long long)t->chars, bpb, bpc);
}

static void print_results(const char *ckpt, int chunk, const FileResult *res, int n,
                          const bl_score_result *total, int json)
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
    const CliOpt rows[] = {
        {"ckpt", 0, CLI_STRING, &ckpt, .arg = "DIR", .help = "checkpoint (or run directory)"},
        {"split", 0, CLI_CALL, &split, .parse = parse_split, .arg = "train|val",
         .help = "which part of a corpus directory (default val)"},
        {"chunk", 0, CLI_INT, &chunk, 1, 1 << 24, .arg = "N", .help = "bytes per model call (default 4096)"},
        {"device", 0, CLI_DEVICE, &device, .arg = "cpu|cuda", .help = "backend (default cpu)"},
        {"precision", 0, CLI_PRECISION, &precision, .arg = "P",
         .help = "fp32 or bf16 (default bf16 on cuda, fp32 on cpu)"},
        {"threads", 0, CLI_INT, &threads, 1, 4096, .arg = "N", .help = "CPU threads (default: all cores)"},
        {"json", 0, CLI_FLAG, &json, .help = "print the results as JSON on stdout"},
        {"quiet", 'q', CLI_FLAG, &quiet, .help = "no progress on stderr"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int rc = cli_parse_options("eval bpb", rows, NULL, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    if (!ckpt) return cmd_usage_error("eval bpb", "--ckpt DIR is required");
    if (optind >= argc) return cmd_usage_error("eval bpb", "expected at least one PATH");

    BlErr e;
    bl_error err;
    bl_open_opts how = {device, threads, 0, precision};
    bl_model *m = bl_model_open(ckpt, &how, &err);
    if (!m) return cmd_error(err.message);
    int n = argc - optind;
    FileResult *res = bl_calloc((size_t)n, sizeof *res);
    bl_score_result total = {0};
    bl_score *sc = bl_score_open(m, (size_t)chunk, &err);
    BL_CHECK(sc);
    uint8_t *buf = bl_malloc(READ_BUF);
    for (int i = 0; i < n && !rc; i++) {
        char label[32];
        snprintf(label, sizeof label, "bpb %d/%d", i + 1, n);
        res[i].path = argv[optind + i];
        if (score_path(sc, res[i].path, split, buf, label, quiet, &res[i].t, &e)) rc = cmd_error(e.msg);
        else add_result(&total, &res[i].t);
    }
    if (!rc) print_results(ckpt, chunk, res, n, &total, json);
    free(buf);
    free(res);
    bl_score_close(sc);
    bl_model_close(m);
    return rc;
}
