/* `bytelm bench loader`: is the corpus path fast enough not to hold training back?
 *
 * Measures, on the same data: zstd decoding of every frame on one core (against the 1 GB/s bar,
 * with one-core memcpy as the reference ceiling), and loader_next batches/s with the default
 * options and with no frame cache (every window decodes its frames: a corpus far larger than
 * the cache). Without --data it generates a corpus of synthetic text in a temporary directory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/base/json_out.h"
#include "byte_lm/base/progress.h"
#include "corpus/loader.h"
#include "corpus/outdir.h"
#include "corpus/prepare.h"
#include "corpus/shard_set.h"
#include "corpus/source.h"
#include "corpus/synth_text.h"

#define BAR_GBPS 1.0

int bench_loader(int argc, char **argv);

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm bench loader [options]\n"
               "\n"
               "Decode speed of the corpus on one core (every frame of train and val; bar: 1 GB/s) with\n"
               "memcpy as the one-core reference, and loader_next batches/s with the default options and\n"
               "with no frame cache.\n\n");
    cli_print_options(f, rows, 0, 19);
}

typedef struct {
    uint64_t bytes;  /* decoded bytes in one pass */
    uint64_t frames;
    uint64_t file_bytes;
    double gbps;
} DecodeResult;

/* Decodes every frame of the set, as many passes as fit in `seconds`, on this thread only. */
static int decode_set(const ShardSet *s, double seconds, DecodeResult *r, BlErr *e)
{
    FrameDecoder d;
    framedec_init(&d);
    uint8_t *buf = bl_malloc(s->max_frame ? s->max_frame : 1);
    double t0 = now_seconds(), t;
    uint64_t done = 0;
    int rc = 0;
    do {
        for (uint64_t f = 0; f < s->nframes && !rc; f++) rc = shardset_decode(s, f, buf, &d, e);
        done += s->total;
        t = now_seconds();
    } while (!rc && t - t0 < seconds);
    free(buf);
    framedec_free(&d);
    r->bytes += s->total;
    r->frames += s->nframes;
    for (int i = 0; i < s->nshards; i++) r->file_bytes += s->shards[i].file_size;
    r->gbps = done / (t - t0) / 1e9;
    return rc;
}

/* Decode speed of a plain .zst, streaming. */
static int decode_zstd(const char *path, double seconds, DecodeResult *r, BlErr *e)
{
    uint8_t *buf = bl_malloc((size_t)1 << 20);
    double t0 = now_seconds(), t = t0;
    uint64_t done = 0, one = 0;
    int rc = 0;
    do {
        ZstdStream z;
        if (zstream_open(&z, path, e)) {
            rc = -1;
            break;
        }
        long long k;
        one = 0;
        while ((k = zstream_read(&z, buf, (size_t)1 << 20, e)) > 0) one += (uint64_t)k;
        r->file_bytes = z.in_base + z.in.size;
        zstream_close(&z);
        if (k < 0) rc = -1;
        done += one;
        t = now_seconds();
    } while (!rc && t - t0 < seconds);
    free(buf);
    r->bytes = one;
    r->gbps = done / (t - t0) / 1e9;
    return rc;
}

static int measure_decode(const char *path, double seconds, DecodeResult *r, int *compressed, BlErr *e)
{
    memset(r, 0, sizeof *r);
    *compressed = 1;
    SourceKind kind;
    if (source_probe(path, &kind, e)) return -1;
    if (kind == SOURCE_PLAIN) {
        *compressed = 0;
        return 0;
    }
    if (kind == SOURCE_ZSTD) return decode_zstd(path, seconds, r, e);
    const char *splits[] = {"train", "val"};
    double secs_total = 0, bytes_total = 0;
    for (int i = 0; i < (kind == SOURCE_CORPUS_DIR ? 2 : 1); i++) {
        ShardSet s;
        int rc = kind == SOURCE_CORPUS_DIR ? shardset_open_dir(&s, path, splits[i], e) : shardset_open_file(&s, path, e);
        if (rc) return -1;
        DecodeResult one = {0};
        double share = seconds * (i == 0 && kind == SOURCE_CORPUS_DIR ? 0.8 : kind == SOURCE_CORPUS_DIR ? 0.2 : 1.0);
        rc = decode_set(&s, share, &one, e);
        shardset_close(&s);
        if (rc) return -1;
        r->bytes += one.bytes, r->frames += one.frames, r->file_bytes += one.file_bytes;
        secs_total += (double)one.bytes / (one.gbps * 1e9);
        bytes_total += (double)one.bytes;
    }
    r->gbps = bytes_total / secs_total / 1e9; /* the whole corpus once, at each split's rate */
    return 0;
}

/* One-core memcpy bandwidth over 64 MiB buffers: the ceiling any decoder could reach. */
static double memcpy_gbps(double seconds)
{
    size_t n = (size_t)64 << 20;
    uint8_t *a = bl_malloc(n), *b = bl_malloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double t0 = now_seconds(), t;
    uint64_t done = 0;
    do {
        memcpy(b, a, n);
        a[done % n] ^= b[(done + 7) % n]; /* keeps the copies from being optimized away */
        done += n;
        t = now_seconds();
    } while (t - t0 < seconds);
    free(a);
    free(b);
    return done / (t - t0) / 1e9;
}

static int measure_loader(const char *path, int B, int L, const LoaderOptions *o, double seconds, double *bps, BlErr *e)
{
    Loader *ld;
    if (loader_open_opts(&ld, path, "train", B, L, 1, o, e)) return -1;
    uint8_t *batch = bl_malloc((size_t)B * ((size_t)L + 1));
    int rc = loader_next(ld, batch, e); /* warm-up: threads started, first frames decoded */
    double t0 = now_seconds(), t = t0;
    uint64_t n = 0;
    while (!rc && t - t0 < seconds) {
        rc = loader_next(ld, batch, e);
        n++;
        t = now_seconds();
    }
    free(batch);
    loader_close(ld);
    *bps = n / (t - t0);
    return rc;
}

/* Builds the default benchmark corpus in dir: 64 MiB of synthetic text prepared with defaults. */
static int generate(const char *dir, char *corpus, size_t cap, BlErr *e)
{
    char text[4200];
    snprintf(text, sizeof text, "%s/text.txt", dir);
    snprintf(corpus, cap, "%s/corpus", dir);
    if (synth_text_write(text, (uint64_t)64 << 20, 42, e)) return -1;
    PrepareOptions o;
    prepare_default_options(&o);
    o.progress = 0;
    PrepareResult r;
    const char *in[] = {text};
    int rc = prepare_corpus(in, 1, corpus, &o, &r, e);
    unlink(text);
    return rc;
}

int bench_loader(int argc, char **argv)
{
    const char *data = NULL;
    int B = 8, L = 8192, json = 0, quiet = 0;
    double seconds = 1.5;
    const char *C = "bench loader";
    const CliOpt rows[] = {
        {"data", 0, CLI_STRING, &data, .arg = "PATH",
         .help = "a corpus directory, a seekable shard or a plain .zst (default:\n"
                 "a 64 MiB corpus of synthetic text, generated and removed afterwards)"},
        {NULL, 'B', CLI_INT, &B, 1, TS_MAX_BATCH, .arg = "N", .help = "windows per batch (default 8)"},
        {NULL, 'L', CLI_INT, &L, 1, 1 << 26, .arg = "N", .help = "bytes per window (default 8192)"},
        {"seconds", 0, CLI_DOUBLE, &seconds, 0, 1e6, .lo_open = 1, .arg = "S",
         .help = "time per measurement (default 1.5)"},
        {"json", 0, CLI_FLAG, &json, .help = "print one JSON object on stdout"},
        {"quiet", 'q', CLI_FLAG, &quiet, .help = "no note on stderr while the corpus is generated"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int st = cli_parse_options(C, rows, NULL, argc, argv);
    if (st == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (st) return st;
    if ((st = cli_no_positionals(C, optind, argc, argv))) return st;
    BlErr e = {{0}};
    char tmp[4096] = "", corpus[4300];
    if (!data) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/bytelm-bench-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp)) return cmd_error("bench loader: cannot create a temporary directory");
        if (!json && !quiet) fprintf(stderr, "bench loader: generating 64 MiB of synthetic text in %s\n", tmp);
        if (generate(tmp, corpus, sizeof corpus, &e)) {
            outdir_remove(corpus);
            rmdir(tmp);
            return cmd_error(e.msg);
        }
        data = corpus;
    }
    DecodeResult d;
    int compressed = 0;
    double mc = 0, bps = 0, bps_cold = 0;
    int rc = measure_decode(data, seconds, &d, &compressed, &e);
    if (!rc) mc = memcpy_gbps(seconds / 3);
    LoaderOptions o, cold;
    loader_default_options(&o);
    cold = o;
    cold.cache_bytes = 0; /* two frames per thread: every window decodes what it touches */
    if (!rc) rc = measure_loader(data, B, L, &o, seconds, &bps, &e);
    if (!rc) rc = measure_loader(data, B, L, &cold, seconds, &bps_cold, &e);
    if (tmp[0]) {
        outdir_remove(corpus);
        rmdir(tmp);
    }
    if (rc) return cmd_error(e.msg);
    double win = (double)B * (L + 1);
    if (json) {
        printf("{\"bench\":\"loader\",\"data\":");
        json_put_string(stdout, tmp[0] ? "generated" : data);
        printf(",\"generated\":%s,\"decoded_bytes\":%" PRIu64 ",\"frames\":%" PRIu64
               ",\"file_bytes\":%" PRIu64 ",\"decode_gbps\":%.4f,\"bar_gbps\":%.1f,\"decode_ratio\":%.4f,\"memcpy_gbps\":%.3f"
               ",\"B\":%d,\"L\":%d,\"threads\":%d,\"batches_per_s\":%.2f,\"batches_per_s_no_cache\":%.2f}\n",
               tmp[0] ? "true" : "false", d.bytes, d.frames, d.file_bytes,
               compressed ? d.gbps : 0.0, BAR_GBPS, compressed ? d.gbps / BAR_GBPS : 0.0, mc, B, L, o.threads, bps,
               bps_cold);
        return 0;
    }
    printf("bench loader: %s", tmp[0] ? "generated synthetic text" : data);
    if (compressed)
        printf(", %.1f MiB decoded in %" PRIu64 " frames, %.2fx compressed", (double)d.bytes / 1048576.0, d.frames,
               d.file_bytes ? (double)d.bytes / (double)d.file_bytes : 0.0);
    printf("\n%-38s %14s %12s %8s\n", "what", "value", "bar", "ratio");
    if (compressed)
        printf("%-38s %9.3f GB/s %7.2f GB/s %7.2fx\n", "zstd decode, 1 core", d.gbps, BAR_GBPS, d.gbps / BAR_GBPS);
    else printf("%-38s %14s\n", "zstd decode, 1 core", "(not compressed)");
    if (mc > 0) printf("%-38s %9.3f GB/s %12s %7.2fx\n", "memcpy, 1 core (reference)", mc, "", compressed ? d.gbps / mc : 0);
    char what[80];
    snprintf(what, sizeof what, "loader_next B=%d L=%d, %d threads", B, L, o.threads);
    printf("%-38s %7.1f batch/s %7.1f MB/s of windows\n", what, bps, bps * win / 1e6);
    printf("%-38s %7.1f batch/s %7.1f MB/s of windows\n", "  same, no frame cache", bps_cold, bps_cold * win / 1e6);
    return 0;
}
