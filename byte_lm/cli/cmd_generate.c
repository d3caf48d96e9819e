/* `bytelm generate`: loads a checkpoint (bl_model_open), reads the prompt, and streams the
 * continuation: one stream of text through the public API's generation session (bl_gen,
 * include/bytelm.h), a batch of streams or JSON through generate.c's engine directly (the API
 * makes one stream at a time; a batch runs its streams together). */
#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/generate/generate.h"
#include "byte_lm/generate/stop_match.h"
#include "byte_lm/base/progress.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const uint8_t *x, size_t n)
{
    if (n == 0) return; /* an empty prompt: b->p may still be NULL, which memcpy must not see */
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        uint8_t *p = bl_realloc(b->p, b->cap);
        BL_CHECK(p);
        b->p = p;
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
}

/* A prompt is at most this long: stdin or a pipe without end (or /dev/zero) must not fill memory. */
#define MAX_PROMPT_BYTES ((size_t)1 << 20)

/* Reads a whole prompt file, "-" or a pipe (bounded by MAX_PROMPT_BYTES) into out. */
static int read_all(const char *path, Buf *out, BlErr *e)
{
    char *text;
    size_t n;
    if (file_read_all(path, MAX_PROMPT_BYTES, FILE_PIPE_OK, &text, &n, e)) return -1;
    buf_add(out, (const uint8_t *)text, n);
    free(text);
    return 0;
}

static int read_prompt(const char *text, const char *file, Buf *out, BlErr *e)
{
    if (text) {
        buf_add(out, (const uint8_t *)text, strlen(text));
        return 0;
    }
    if (!file && isatty(STDIN_FILENO)) return 0;
    return read_all(file ? file : "-", out, e);
}

/* Stream 0's characters go to stdout as they are made: one write and flush per character. */
static void sink_stdout(void *ctx, const uint8_t *bytes, size_t n)
{
    (void)ctx;
    fwrite(bytes, 1, n, stdout);
    fflush(stdout);
}

static void sink_buf(void *ctx, const uint8_t *bytes, size_t n)
{
    buf_add(ctx, bytes, n);
}

/* A sample's raw bytes as a JSON string literal: decoded in safe mode first (a JSON string
 * cannot hold invalid UTF-8, whatever --utf8 was), then escaped by hand because cJSON's strings
 * stop at the first NUL and a model may well generate U+0000. Returns the replacements made. */
static long json_text(const Buf *raw, Buf *lit)
{
    Buf text = {0};
    Utf8Stream s;
    utf8_stream_init(&s, UTF8_SAFE, sink_buf, &text);
    utf8_stream_write(&s, raw->p, raw->n);
    utf8_stream_finish(&s);
    buf_add(lit, (const uint8_t *)"\"", 1);
    for (size_t i = 0; i < text.n; i++) {
        uint8_t c = text.p[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            buf_add(lit, (const uint8_t *)esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            buf_add(lit, (const uint8_t *)esc, 6);
        } else {
            buf_add(lit, &c, 1);
        }
    }
    buf_add(lit, (const uint8_t *)"\"", 2); /* closing quote and NUL */
    free(text.p);
    return s.replacements;
}

#define MAX_STOPS 32

/* --stop STR (repeatable), in the order given */
typedef struct {
    const char *s[MAX_STOPS + 1]; /* + "\n" for --stop-at-newline */
    int n;
} StopList;

typedef struct {
    const char *ckpt, *prompt, *prompt_file, *device, *precision;
    long n;
    int threads, json, seed_given, quiet, echo, stop_nl;
    StopList stops;
    GenOptions g;
} Args;

/* One stream of text through bl_gen: written to stdout as it comes (after the prompt with
 * --echo). Returns 0, or -1 with e set (the model's logits not finite); *t_prefill and *t_gen
 * get the two phases' seconds, *made the bytes generated. */
static int run_api(const Args *a, bl_model *bm, const Buf *prompt, double *t_prefill, double *t_gen,
                   long *made, BlErr *e)
{
    bl_gen_opts o;
    bl_gen_opts_init(&o);
    o.temperature = a->g.sampler.temperature;
    o.top_k = a->g.sampler.top_k;
    o.top_p = a->g.sampler.top_p;
    o.seed = a->g.seed;
    o.utf8 = a->g.utf8 == UTF8_STRICT ? BL_UTF8_STRICT : a->g.utf8 == UTF8_OFF ? BL_UTF8_OFF : BL_UTF8_SAFE;
    o.max_bytes = a->n;
    o.repetition_penalty = a->g.sampler.repetition_penalty;
    o.repetition_window = a->g.sampler.repetition_window;
    o.stop = a->stops.s;
    o.n_stop = a->stops.n;
    bl_error err;
    bl_gen *g = bl_gen_open(bm, &o, &err);
    BL_CHECK(g); /* the options were checked when parsed */
    if (a->echo) fwrite(prompt->p, 1, prompt->n, stdout);
    double t0 = now_seconds();
    bl_gen_prompt(g, prompt->p, prompt->n, &err);
    *t_prefill = now_seconds() - t0;
    t0 = now_seconds();
    char piece[256];
    size_t n;
    int rc = 0;
    while (a->n > 0 && (rc = bl_gen_next(g, piece, sizeof piece, &n, &err)) > 0) {
        fwrite(piece, 1, n, stdout);
        fflush(stdout);
    }
    *t_gen = now_seconds() - t0;
    *made = bl_gen_produced(g);
    bl_gen_close(g);
    /* on a terminal, end the line for the prompt's sake */
    if (isatty(STDOUT_FILENO)) printf("\n");
    if (rc < 0) return bl_fail(e, NULL, "%s", err.message);
    return 0;
}

static void print_json(const Args *a, const char *dir, const char *device, const Buf *prompt,
                       Buf *raw, const int *stopped, long made, double t_prefill, double t_gen)
{
    const GenOptions *g = &a->g;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "checkpoint", dir);
    cJSON_AddStringToObject(o, "device", device);
    cJSON_AddNumberToObject(o, "prompt_bytes", (double)prompt->n);
    cJSON_AddNumberToObject(o, "bytes", (double)a->n);
    cJSON_AddNumberToObject(o, "batch", g->batch);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)g->seed);
    cJSON_AddRawToObject(o, "seed", seed); /* exact: may exceed a double's 53 bits */
    cJSON_AddNumberToObject(o, "temperature", g->sampler.temperature);
    cJSON_AddNumberToObject(o, "top_k", g->sampler.top_k);
    cJSON_AddNumberToObject(o, "top_p", g->sampler.top_p);
    cJSON_AddNumberToObject(o, "repetition_penalty", g->sampler.repetition_penalty);
    cJSON_AddNumberToObject(o, "repetition_window", g->sampler.repetition_window);
    cJSON *stops = cJSON_AddArrayToObject(o, "stop");
    for (int i = 0; i < a->stops.n; i++) cJSON_AddItemToArray(stops, cJSON_CreateString(a->stops.s[i]));
    cJSON_AddBoolToObject(o, "echo", a->echo);
    cJSON_AddStringToObject(o, "utf8", utf8_mode_name(g->utf8));
    cJSON_AddNumberToObject(o, "prefill_seconds", t_prefill);
    cJSON_AddNumberToObject(o, "generate_seconds", t_gen);
    cJSON_AddNumberToObject(o, "bytes_per_second", t_gen > 0 ? (double)made / t_gen : 0);
    cJSON *arr = cJSON_AddArrayToObject(o, "samples");
    for (int b = 0; b < g->batch; b++) {
        Buf lit = {0};
        long repl = json_text(&raw[b], &lit);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddRawToObject(s, "text", (const char *)lit.p);
        cJSON_AddNumberToObject(s, "replacements", (double)repl);
        cJSON_AddNumberToObject(s, "bytes", (double)(raw[b].n - (a->echo ? prompt->n : 0)));
        cJSON_AddBoolToObject(s, "stopped", stopped[b]);
        if (g->utf8 == UTF8_OFF) { /* raw bytes were asked for: give them exactly */
            char *hex = bl_malloc(raw[b].n * 2 + 1);
            for (size_t i = 0; i < raw[b].n; i++) snprintf(hex + 2 * i, 3, "%02x", raw[b].p[i]);
            hex[raw[b].n * 2] = 0;
            cJSON_AddStringToObject(s, "hex", hex);
            free(hex);
        }
        cJSON_AddItemToArray(arr, s);
        free(lit.p);
    }
    char *js = cJSON_PrintUnformatted(o);
    printf("%s\n", js);
    free(js);
    cJSON_Delete(o);
}

/* Generates with stream 0 going to stdout live (text mode) and everything else kept in raw[]
 * for printing afterwards (each after the prompt with --echo); a stream ends at n bytes or when
 * its output ends with a stop string (stopped[b] = 1), the batch when all have ended. Returns
 * the generation time; *made is the bytes kept over all streams, *bad_at the first step whose
 * logits were not finite (generation stops there), else -1. */
static double run(const Args *a, Generator *g, const Buf *prompt, Buf *raw, int *stopped,
                  long *made, long *bad_at)
{
    int B = a->g.batch, live_done = 0, left = B;
    Utf8Stream live;
    utf8_stream_init(&live, a->g.utf8, sink_stdout, NULL);
    if (!a->json && B > 1) printf("--- sample 1 ---\n");
    if (!a->json && a->echo) fwrite(prompt->p, 1, prompt->n, stdout), fflush(stdout);
    StopMatch *sm = bl_calloc((size_t)B, sizeof *sm);
    for (int b = 0; b < B; b++) {
        stop_match_init(&sm[b], a->stops.s, a->stops.n);
        if (a->echo && (a->json || b > 0)) buf_add(&raw[b], prompt->p, prompt->n);
    }
    uint8_t *bytes = bl_malloc((size_t)B);
    double t0 = now_seconds();
    *bad_at = -1;
    *made = 0;
    for (long t = 0; t < a->n && left > 0; t++) {
        generator_step(g, bytes);
        if (!generator_logits_finite(g)) {
            *bad_at = t;
            break;
        }
        for (int b = 0; b < B; b++) {
            if (stopped[b]) continue;
            if (b == 0 && !a->json) utf8_stream_put(&live, bytes[0]);
            else buf_add(&raw[b], &bytes[b], 1);
            ++*made;
            if (stop_match_push(&sm[b], bytes[b])) stopped[b] = 1, left--;
        }
        if (stopped[0] && !live_done && !a->json) utf8_stream_finish(&live), live_done = 1;
    }
    double dt = now_seconds() - t0;
    free(bytes);
    for (int b = 0; b < B; b++) stop_match_free(&sm[b]);
    free(sm);
    if (!a->json) {
        if (!live_done) utf8_stream_finish(&live);
        /* batch 1 prints exactly the text; on a terminal, end the line for the prompt's sake */
        if (B > 1 || isatty(STDOUT_FILENO)) printf("\n");
        for (int b = 1; b < B; b++) {
            printf("--- sample %d ---\n", b + 1);
            size_t skip = a->echo ? prompt->n : 0; /* the prompt is printed as given */
            fwrite(raw[b].p, 1, skip, stdout);
            Utf8Stream s;
            utf8_stream_init(&s, a->g.utf8, sink_stdout, NULL);
            utf8_stream_write(&s, raw[b].p + skip, raw[b].n - skip);
            utf8_stream_finish(&s);
            printf("\n");
        }
        fflush(stdout);
    }
    return dt;
}

/* --stop STR: appended to the list (at most MAX_STOPS, each non-empty). */
static int parse_stop(const CliOpt *o, const char *cmd, const char *arg)
{
    StopList *l = o->to;
    if (!arg[0]) return cmd_usage_error(cmd, "--stop needs a non-empty string");
    if (l->n == MAX_STOPS) {
        char msg[80];
        snprintf(msg, sizeof msg, "at most %d --stop strings", MAX_STOPS);
        return cmd_usage_error(cmd, msg);
    }
    l->s[l->n++] = arg;
    return 0;
}

/* --utf8 MODE: its own words and message. */
static int parse_utf8(const CliOpt *o, const char *cmd, const char *arg)
{
    if (!utf8_mode_parse(arg, o->to)) return 0;
    char msg[120];
    snprintf(msg, sizeof msg, "--utf8 must be safe, strict or off, not '%.40s'", arg);
    return cmd_usage_error(cmd, msg);
}

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm generate --ckpt DIR -n BYTES [options]\n"
               "\n"
               "Continues a prompt byte by byte. DIR is a checkpoint or run directory. The prompt is\n"
               "--prompt TEXT, --prompt-file F ('-' = stdin), or stdin when neither is given and stdin\n"
               "is not a terminal; otherwise it is empty, and generation starts from a newline.\n"
               "The prompt is not repeated in the output unless --echo is given.\n"
               "\n");
    cli_print_options(f, rows, 0, 19);
}

/* Parses argv into a; returns -1 when done, else the exit status (0 for --help, 2 on error). */
static int parse_args(int argc, char **argv, Args *a)
{
    enum { GIVEN_SEED = 1, GIVEN_WINDOW = 2 };
    int greedy = 0;
    unsigned given = 0;
    const CliOpt rows[] = {
        {"ckpt", 0, CLI_STRING, &a->ckpt, .arg = "DIR", .help = "checkpoint (or run directory holding checkpoint/)"},
        {"prompt", 0, CLI_STRING, &a->prompt, .arg = "TEXT", .help = "prompt bytes"},
        {"prompt-file", 0, CLI_STRING, &a->prompt_file, .arg = "F",
         .help = "read the prompt from F (a file, - or a pipe; at most 1 MiB)"},
        {"bytes", 'n', CLI_LONG, &a->n, 0, 1L << 40, .label = "-n", .arg = "N",
         .help = "bytes to generate per sample (required)"},
        {"temperature", 0, CLI_FLOAT, &a->g.sampler.temperature, 0, 1e6, .arg = "T",
         .help = "softmax temperature (default 1.0; 0 = greedy)"},
        {"greedy", 0, CLI_FLAG, &greedy, .help = "always the most likely byte (same as --temperature 0)"},
        {"top-k", 0, CLI_INT, &a->g.sampler.top_k, 0, 256, .arg = "K",
         .help = "sample among the K most likely bytes (default 0 = all)"},
        {"top-p", 0, CLI_FLOAT, &a->g.sampler.top_p, 0, 1, .lo_open = 1, .arg = "P",
         .help = "sample among the most likely bytes holding mass P (default 1)"},
        {"repetition-penalty", 0, CLI_FLOAT, &a->g.sampler.repetition_penalty, 0, 1e6,
         .lo_open = 1, .arg = "X",
         .help = "divide the logit of each byte seen in the last\n"
                 "--repetition-window bytes by X when positive, multiply it\n"
                 "when not (default 1 = off; 1.1 to 1.3 discourage loops)"},
        {"repetition-window", 0, CLI_INT, &a->g.sampler.repetition_window, 0,
         BL_MAX_REPETITION_WINDOW, .given = GIVEN_WINDOW, .arg = "N",
         .help = "bytes of prompt and output the penalty looks back over\n"
                 "(default 64)"},
        {"stop", 0, CLI_CALL, &a->stops, .parse = parse_stop, .arg = "STR",
         .help = "end a sample once its output ends with STR (repeatable;\n"
                 "STR is part of the output)"},
        {"stop-at-newline", 0, CLI_FLAG, &a->stop_nl, .help = "end a sample at its first newline (same as --stop '\\n')"},
        {"echo", 0, CLI_FLAG, &a->echo, .help = "write the prompt before the continuation"},
        {"seed", 0, CLI_U64, &a->g.seed, .given = GIVEN_SEED, .arg = "S",
         .help = "random seed (default: from the clock; printed at the end)"},
        {"batch", 0, CLI_INT, &a->g.batch, 1, 1 << 16, .arg = "N",
         .help = "N independent samples, generated together (default 1);\n"
                 "printed one after another, each after a line\n"
                 "\"--- sample i ---\" and followed by a newline"},
        {"utf8", 0, CLI_CALL, &a->g.utf8, .parse = parse_utf8, .arg = "MODE",
         .help = "safe (default): print only whole valid characters, invalid\n"
                 "bytes and a cut-off last character become U+FFFD;\n"
                 "strict: never sample a byte that breaks UTF-8, and end on a\n"
                 "whole character within N bytes; off: raw bytes"},
        {"device", 0, CLI_DEVICE, &a->device, .arg = "cpu|cuda", .help = "backend (default cpu)"},
        {"precision", 0, CLI_PRECISION, &a->precision, .arg = "P",
         .help = "fp32 or bf16 (bf16 weights and activations, fp32 states and\n"
                 "sums); default bf16 on cuda, fp32 on cpu"},
        {"threads", 0, CLI_INT, &a->threads, 1, 4096, .arg = "N", .help = "CPU threads (default: all cores)"},
        {"json", 0, CLI_FLAG, &a->json,
         .help = "print one JSON object (texts, timings, options) on stdout;\n"
                 "texts are always valid UTF-8 (safe decoding), and with\n"
                 "--utf8 off each sample also has \"hex\", its raw bytes"},
        {"quiet", 'q', CLI_FLAG, &a->quiet, .help = "no timing line on stderr at the end"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int rc = cli_parse_options("generate", rows, &given, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    a->seed_given = (given & GIVEN_SEED) != 0;
    if (optind < argc) return cmd_usage_error("generate", "unexpected argument");
    if (!a->ckpt) return cmd_usage_error("generate", "--ckpt is required");
    if (a->n < 0) return cmd_usage_error("generate", "-n BYTES is required");
    if (a->prompt && a->prompt_file) return cmd_usage_error("generate", "give --prompt or --prompt-file, not both");
    if (greedy) a->g.sampler.temperature = 0;
    if (!(given & GIVEN_WINDOW)) a->g.sampler.repetition_window = 64;
    if (a->stop_nl) a->stops.s[a->stops.n++] = "\n";
    return -1;
}

int cmd_generate(int argc, char **argv)
{
    Args a = {.n = -1, .device = "cpu"};
    gen_options_default(&a.g);
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    rc = 0;
    if (!a.seed_given) a.g.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    a.g.max_bytes = a.n;

    BlErr e;
    Buf prompt = {0};
    if (read_prompt(a.prompt, a.prompt_file, &prompt, &e)) return cmd_error(e.msg);
    bl_error err;
    bl_open_opts how = {a.device, a.threads, 0, a.precision};
    bl_model *bm = bl_model_open(a.ckpt, &how, &err);
    if (!bm) {
        free(prompt.p);
        return cmd_error(err.message);
    }
    Backend *be = bm->be;
    const char *dir = bm->dir;
    double t_prefill, t_gen;
    long made = 0;
    Buf *raw = NULL;
    int *stopped = NULL;
    Generator *g = NULL;
    if (a.g.batch == 1 && !a.json) {
        rc = run_api(&a, bm, &prompt, &t_prefill, &t_gen, &made, &e) ? 1 : 0;
    } else {
        g = generator_create(bm->m, &a.g);
        double t0 = now_seconds();
        generator_prefill(g, prompt.p, prompt.n);
        be->sync(be);
        t_prefill = now_seconds() - t0;
        raw = bl_calloc((size_t)a.g.batch, sizeof(Buf));
        stopped = bl_calloc((size_t)a.g.batch, sizeof(int));
        long bad_at;
        t_gen = run(&a, g, &prompt, raw, stopped, &made, &bad_at);
        if (bad_at >= 0) {
            bl_fail(&e, dir, "the model's logits are not finite at output byte %ld (the weights overflow)", bad_at);
            rc = 1;
        } else if (a.json) {
            print_json(&a, dir, be->name, &prompt, raw, stopped, made, t_prefill, t_gen);
        }
    }
    if (!rc && !a.json && !a.quiet) {
        fprintf(stderr, "bytelm generate: %ld bytes in %d sample%s in %.3f s (%.0f bytes/s), prompt %zu bytes in %.3f s, seed %llu\n",
                made, a.g.batch, a.g.batch > 1 ? "s" : "", t_gen, t_gen > 0 ? (double)made / t_gen : 0.0,
                prompt.n, t_prefill, (unsigned long long)a.g.seed);
    }
    for (int b = 0; raw && b < a.g.batch; b++) free(raw[b].p);
    free(raw);
    free(stopped);
    if (rc) fflush(stdout), cmd_error(e.msg);
    else if (fflush(stdout) || ferror(stdout)) rc = bl_fail_errno(&e, "<stdout>", "write error"), cmd_error(e.msg);
    free(prompt.p);
    if (g) generator_free(g);
    bl_model_close(bm);
    return rc ? 1 : 0;
}
