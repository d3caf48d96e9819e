/* Bad inputs, through the binary and in process.
 *
 * The table: each row runs `bytelm` on one kind of bad input (a missing file, a directory for a
 * file, an empty file, damaged shards, invalid UTF-8, mismatched checkpoints, absurd configs, a
 * FIFO or device where a file belongs, a directory prepare or train must not replace, options a
 * resume refuses, out-of-range fields of trainer_state.json and corpus.json, NaN or infinite
 * weights and optimizer moments, trainer settings whose steps would be NaN (eval_batches 0,
 * beta1 1), --device cuda without a GPU, a B x L beyond the machine's memory, and usage
 * mistakes: non-finite or out-of-range numbers such as --lr nan, trailing junk, misspelt options,
 * options without their value, unknown devices) and checks the promise of README.md's command
 * line section: exit status 1 (2 for usage errors), no signal, stderr one line
 * "bytelm: FILE: what (offset N)" naming the file and, where there is one, the offset; and no
 * partial output (the output directory absent or untouched, no half-written checkpoint). The
 * table is printed with PASS or the reason per row; tests/README.md lists every row and its
 * behaviour. Pipes where they make sense (eval bpb, a prompt) are read whole: tests/test_pipes.c.
 * The fuzz targets' seeds and past crash inputs are replayed by tests/test_fuzz_regressions.c. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/format/safetensors.h"
#include "tests/bad_input_rows.h"
#include "tests/test_cli_util.h"

/* ---- files ---- */

static void put_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Sets the value of the nth (from 1) "key" in the JSON file at path to the literal value,
 * whatever the file's layout (the value ends at the next ',', '}' or newline). */
static void set_nth_field(const char *path, const char *key, int nth, const char *value)
{
    size_t n;
    char *s = tu_slurp(path, &n), quoted[128];
    ck_assert_ptr_nonnull(s);
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    char *at = strstr(s, quoted);
    for (int k = 1; k < nth && at; k++) at = strstr(at + 1, quoted);
    ck_assert_msg(at != NULL, "%s: no %s", path, quoted);
    char *v = strchr(at, ':') + 1;
    while (*v == ' ' || *v == '\t') v++;
    char *end = v + strcspn(v, ",}\n");
    FILE *f = fopen(path, "wb");
    fwrite(s, 1, (size_t)(v - s), f);
    fputs(value, f);
    fputs(end, f);
    fclose(f);
    free(s);
}

static void set_field(const char *path, const char *key, const char *value)
{
    set_nth_field(path, key, 1, value);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of the seek table entry of frame i of a seekable shard, and the frame's file offset. */
static void seek_entry(const uint8_t *d, size_t n, uint32_t i, size_t *entry, uint64_t *coff)
{
    uint32_t frames = le32(d + n - 9);
    ck_assert_uint_lt(i, frames);
    ck_assert_uint_eq(d[n - 5] & 0x80, 0); /* bytelm writes 8-byte entries */
    size_t table = n - 9 - (size_t)frames * 8;
    *entry = table + (size_t)i * 8;
    *coff = 0;
    for (uint32_t k = 0; k < i; k++) *coff += le32(d + table + (size_t)k * 8);
}

/* Replaces every occurrence of from by to in the file at path. */
static void replace_text(const char *path, const char *from, const char *to)
{
    size_t n;
    char *s = tu_slurp(path, &n), *at = s, *hit;
    ck_assert_ptr_nonnull(s);
    FILE *f = fopen(path, "wb");
    while ((hit = strstr(at, from))) {
        fwrite(at, 1, (size_t)(hit - at), f);
        fputs(to, f);
        at = hit + strlen(from);
    }
    fputs(at, f);
    fclose(f);
    free(s);
}

/* T/dst: a copy of T/src with the JSON field key of T/dst/file set to value. */
static void variant(const char *T, const char *src, const char *dst, const char *file, const char *key,
                    const char *value)
{
    char p[1024];
    tu_sh_ok("cp -r %s/%s %s/%s", T, src, T, dst);
    snprintf(p, sizeof p, "%s/%s/%s", T, dst, file);
    set_field(p, key, value);
}

/* Overwrites element 0 of tensor `name` (F32) in a safetensors file with the float v. */
static void poison_tensor(const char *path, const char *name, float v)
{
    SafeTensors *st;
    BlErr e;
    ck_assert_msg(st_read(&st, path, &e) == 0, "%s", e.msg);
    const StTensor *t = st_find(st, name);
    ck_assert_msg(t != NULL, "%s: no %s", path, name);
    uint64_t off = t->file_offset;
    st_free(st);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, &v, 4, (off_t)off), 4);
    close(fd);
}

/* The scratch directory's inputs: text, damaged text, a corpus with damaged copies of its shard,
 * a one-step checkpoint with damaged copies, and bad configs. Returns the file offset of frame 2
 * of the corrupted shard (where its error must point). */
static uint64_t make_inputs(const char *T)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/text.txt", T);
    FILE *f = fopen(p, "w");
    const char *words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog"};
    uint64_t s = 7;
    for (int i = 0; i < 3000; i++) fprintf(f, "%s%s", words[tu_next(&s) % 8], i % 10 == 9 ? ".\n" : " ");
    fclose(f);
    char bad[200];
    int k = 0;
    for (int i = 0; i < 10; i++) k += sprintf(bad + k, "hello world\n");
    memcpy(bad + k, "caf\xc3 oops", 9); /* 0xC3 at offset 123 starts no valid character */
    snprintf(p, sizeof p, "%s/bad.txt", T);
    put_bytes(p, bad, (size_t)k + 9);
    uint8_t bin[1024];
    for (int i = 0; i < 1024; i++) bin[i] = (uint8_t)i; /* 0x80 at offset 128 is the first invalid */
    snprintf(p, sizeof p, "%s/bin.dat", T);
    put_bytes(p, bin, sizeof bin);
    snprintf(p, sizeof p, "%s/empty.txt", T);
    put_bytes(p, "", 0);
    snprintf(p, sizeof p, "%s/adir", T);
    ck_assert_int_eq(mkdir(p, 0755), 0);

    const char *B = tu_bytelm();
    tu_sh_ok("%s prepare %s/text.txt -o %s/corp --frame-size 1KiB -q >/dev/null", B, T, T);
    tu_sh_ok("cp -r %s/corp %s/corp_exist && cp -r %s/corp %s/corp_trunc", T, T, T, T);
    tu_sh_ok("truncate -s -5 %s/corp_trunc/train-00000.zst", T);
    /* lone shards: one with a byte of frame 2 flipped, one whose table misstates frame 1's size */
    size_t n;
    snprintf(p, sizeof p, "%s/corp/train-00000.zst", T);
    uint8_t *d = (uint8_t *)tu_slurp(p, &n);
    ck_assert_ptr_nonnull(d);
    size_t entry;
    uint64_t coff2, coff1;
    seek_entry(d, n, 2, &entry, &coff2);
    uint8_t *c = malloc(n);
    memcpy(c, d, n);
    c[coff2 + le32(d + entry) / 2] ^= 0x55;
    snprintf(p, sizeof p, "%s/frame.zst", T);
    put_bytes(p, c, n);
    /* every frame damaged, for train, whose random windows could miss a single bad frame */
    uint32_t frames = le32(d + n - 9);
    for (uint32_t i = 0; i < frames; i++) {
        uint64_t coff;
        seek_entry(d, n, i, &entry, &coff);
        c[coff + le32(d + entry) / 2] ^= 0x55;
    }
    snprintf(p, sizeof p, "%s/frames.zst", T);
    put_bytes(p, c, n);
    memcpy(c, d, n);
    seek_entry(d, n, 1, &entry, &coff1);
    uint32_t cs = le32(c + entry) + 1;
    memcpy(c + entry, &cs, 4);
    snprintf(p, sizeof p, "%s/table.zst", T);
    put_bytes(p, c, n);
    free(c);
    free(d);

    tu_sh_ok("%s train --config configs/tiny.json --data %s/text.txt --out %s/run -B 2 -L 32 --steps 1 --threads 1 "
       "2>/dev/null",
       B, T, T);
    tu_sh_ok("cp -r %s/run %s/run_shape && cp -r %s/run %s/run_state", T, T, T, T);
    snprintf(p, sizeof p, "%s/run_shape/checkpoint/config.json", T);
    set_field(p, "state_size", "8");
    snprintf(p, sizeof p, "%s/run_state/checkpoint/trainer_state.json", T);
    set_field(p, "accum", "1e10");
    /* non-finite numbers where finite ones must be, and settings whose steps would be NaN */
    tu_sh_ok("cp -r %s/run %s/run_nan && cp -r %s/run %s/run_inf && cp -r %s/run %s/run_moment", T, T, T, T, T, T);
    tu_sh_ok("cp -r %s/run %s/run_evalb && cp -r %s/run %s/run_beta1", T, T, T, T);
    snprintf(p, sizeof p, "%s/run_nan/checkpoint/model.safetensors", T);
    poison_tensor(p, "backbone.embeddings.weight", NAN);
    snprintf(p, sizeof p, "%s/run_inf/checkpoint/model.safetensors", T);
    poison_tensor(p, "backbone.layers.1.mixer.out_proj.weight", -INFINITY);
    snprintf(p, sizeof p, "%s/run_moment/checkpoint/optimizer.safetensors", T);
    poison_tensor(p, "exp_avg_sq.backbone.norm_f.weight", NAN);
    snprintf(p, sizeof p, "%s/run_evalb/checkpoint/trainer_state.json", T);
    set_field(p, "eval_batches", "0");
    snprintf(p, sizeof p, "%s/run_beta1/checkpoint/trainer_state.json", T);
    set_field(p, "beta1", "1");

    /* directories prepare must not replace: a corpus with a note or a subdirectory beside its
     * files, and one whose corpus.json only says "format" */
    tu_sh_ok("cp -r %s/corp %s/corp_notes && echo keep > %s/corp_notes/notes.txt", T, T, T);
    tu_sh_ok("cp -r %s/corp %s/corp_sub && mkdir %s/corp_sub/mine && echo keep > %s/corp_sub/mine/a.txt", T, T, T, T);
    tu_sh_ok("mkdir %s/fake_corp && echo '{\"format\":\"bytelm-corpus\"}' > %s/fake_corp/corpus.json && echo keep > "
       "%s/fake_corp/notes.txt", T, T, T);

    /* a run directory with a file of the user's in it, for --force */
    tu_sh_ok("cp -r %s/run %s/run_user && echo keep > %s/run_user/notes.txt", T, T, T);

    /* out-of-range fields of trainer_state.json and corpus.json */
    static const char *const ts_fields[][3] = {
        {"ts_batch_neg", "next_batch", "\"-1\""},       {"ts_batch_big", "next_batch", "\"9007199254740993\""},
        {"ts_bytes", "bytes_seen", "\"1e3\""},          {"ts_seed", "seed", "\"18446744073709551616\""},
        {"ts_step", "step", "-1"},                      {"ts_B", "batch", "2.5"},
        {"ts_evalb", "eval_batches", "0"},              {"ts_total", "total_steps", "0"},
        {"ts_lr", "lr", "0"},                           {"ts_eps", "eps", "0"},
        {"ts_beta2", "beta2", "1"},                     {"ts_elapsed", "elapsed_seconds", "1e999"},
        {"ts_data", "data", "\"\""},                     {"ts_L", "seq_len", "0"},
        {"ts_evale", "eval_every", "-5"},               {"ts_ckpte", "ckpt_every", "1e12"},
        {"ts_optstep", "optimizer_step", "0.5"},        {"ts_warmup", "warmup_steps", "-1"},
        {"ts_minlr", "min_lr_ratio", "2"},              {"ts_beta1", "beta1", "-0.1"},
        {"ts_wd", "weight_decay", "1e9"},               {"ts_clip", "clip", "-1"},
        {"ts_val", "val", "\"\""}, /* made too long below */
        {"ts_oseed", "step", "1"},  /* its options.seed is set below */
    };
    for (size_t i = 0; i < sizeof ts_fields / sizeof ts_fields[0]; i++)
        variant(T, "run", ts_fields[i][0], "checkpoint/trainer_state.json", ts_fields[i][1], ts_fields[i][2]);
    snprintf(p, sizeof p, "%s/ts_oseed/checkpoint/trainer_state.json", T);
    set_nth_field(p, "seed", 2, "\"-7\"");
    {
        char longval[1200];
        memset(longval, 'a', sizeof longval);
        longval[0] = '"', longval[1100] = '"', longval[1101] = 0;
        snprintf(p, sizeof p, "%s/ts_val/checkpoint/trainer_state.json", T);
        set_field(p, "val", longval);
    }
    variant(T, "corp", "cj_version", "corpus.json", "version", "2");
    variant(T, "corp", "cj_docs", "corpus.json", "documents", "1.5");
    variant(T, "corp", "cj_fnv", "corpus.json", "format", "\"bytelm-corpus\"");
    snprintf(p, sizeof p, "%s/cj_fnv/corpus.json", T);
    set_nth_field(p, "fnv1a64", 2, "\"xyz\""); /* the first is "checksum"'s value */
    variant(T, "corp", "cj_name", "corpus.json", "file", "\"../text.txt\"");
    variant(T, "corp", "cj_frames", "corpus.json", "frames", "1000000");
    variant(T, "corp", "cj_filebytes", "corpus.json", "file_bytes", "1");
    variant(T, "corp", "cj_framesize", "corpus.json", "frame_size", "0");
    variant(T, "corp", "cj_bytes", "corpus.json", "bytes", "-1");
    variant(T, "corp", "cj_twice", "corpus.json", "format", "\"bytelm-corpus\"");
    snprintf(p, sizeof p, "%s/cj_twice/corpus.json", T);
    replace_text(p, "val-00000.zst", "train-00000.zst");

    /* FIFOs where files belong: opening one for reading blocks until a writer comes, so each must
     * be refused before it is opened (none of these directories is digested: that would open
     * the FIFO) */
    tu_sh_ok("mkfifo %s/fifo", T);
    tu_sh_ok("cp -r %s/corp %s/corp_fifo && rm %s/corp_fifo/train-00000.zst && mkfifo %s/corp_fifo/train-00000.zst", T, T,
       T, T);
    const char *ckpt_files[] = {"config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"};
    for (int i = 0; i < 4; i++)
        tu_sh_ok("cp -r %s/run %s/run_fifo%d && rm %s/run_fifo%d/checkpoint/%s && mkfifo %s/run_fifo%d/checkpoint/%s", T, T,
           i, T, i, ckpt_files[i], T, i, ckpt_files[i]);

    /* configs: name, hidden_size, num_hidden_layers, state_size, expand, time_step_rank */
    const char *cfgs[][6] = {
        {"neg.json", "-4", "2", "16", "2", "4"},
        {"huge.json", "1000000000", "2", "16", "2", "4"},
        {"frac.json", "64", "1e300", "16", "2", "4"},
        {"absurd.json", "65536", "1024", "256", "16", "65536"}, /* 3.5e14 parameters: over the 2^40 check */
        {"big.json", "32768", "8", "16", "2", "2048"}, /* 5.4e10: valid, but 215 GB of weights alone */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", T, cfgs[i][0]);
        f = fopen(p, "w");
        fprintf(f,
                "{\"model_type\": \"mamba\", \"vocab_size\": 256, \"hidden_size\": %s, \"num_hidden_layers\": %s,\n"
                " \"state_size\": %s, \"expand\": %s, \"conv_kernel\": 4, \"time_step_rank\": %s, \"use_bias\": false}\n",
                cfgs[i][1], cfgs[i][2], cfgs[i][3], cfgs[i][4], cfgs[i][5]);
        fclose(f);
    }
    return coff2;
}

START_TEST(bad_input_table)
{
    char *T = tu_tmpdir("badin");
    uint64_t frame2 = make_inputs(T);
    const char *tiny = "configs/tiny.json";
    /* with a GPU the --device cuda rows would train: they are about machines without one */
    int have_gpu = access("/proc/driver/nvidia/version", F_OK) == 0;
#define TRAIN_ON(data, out) "train", "--config", tiny, "--data", data, "--out", out, "-B", "2", "-L", "32", "--steps", "2", "--threads", "1"
    const Row rows[] = {
        {"missing file (info)", {"info", "%T/nope.json"}, 1, "%T/nope.json", "No such file", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"missing file (prepare)", {"prepare", "%T/nope.txt", "-o", "%T/out_missing", "-q"}, 1, "%T/nope.txt", "No such file", OFF_UNCHECKED, 0, "%T/out_missing", NULL, 0, 0},
        {"missing data (train)", {TRAIN_ON("%T/nope.txt", "%T/r_missing")}, 1, "%T/nope.txt", "No such file", OFF_UNCHECKED, 0, "%T/r_missing", NULL, 0, 0},
        {"missing prompt file (generate)", {"generate", "--ckpt", "%T/run", "-n", "4", "--prompt-file", "%T/nope.txt"}, 1, "%T/nope.txt", NULL, OFF_UNCHECKED, 0, NULL, "%T/run", 0, 0},
        {"missing file (eval bpb)", {"eval", "bpb", "--ckpt", "%T/run", "%T/nope.txt"}, 1, "%T/nope.txt", NULL, OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"directory for a checkpoint (info)", {"info", "%T/adir"}, 1, "%T/adir", "not a checkpoint", OFF_UNCHECKED, 0, NULL, "%T/adir", 0, 0},
        {"directory for a config (train)", {"train", "--config", "%T/adir", "--data", "%T/text.txt", "--out", "%T/r_dircfg"}, 1, "%T/adir", "not a config file", OFF_UNCHECKED, 0, "%T/r_dircfg", NULL, 0, 0},
        {"directory for data (train)", {TRAIN_ON("%T/adir", "%T/r_dirdata")}, 1, "%T/adir", "corpus.json", OFF_UNCHECKED, 0, "%T/r_dirdata", NULL, 0, 0},
        {"directory for a checkpoint (generate)", {"generate", "--ckpt", "%T/adir", "-n", "4", "--prompt", "x"}, 1, "%T/adir", NULL, OFF_UNCHECKED, 0, NULL, "%T/adir", 0, 0},
        {"empty file for a config (info)", {"info", "%T/empty.txt"}, 1, "%T/empty.txt", "invalid JSON", 0, 0, NULL, NULL, 0, 0},
        {"empty file (prepare)", {"prepare", "%T/empty.txt", "-o", "%T/out_empty", "-q"}, 1, "%T/empty.txt", "empty", OFF_UNCHECKED, 0, "%T/out_empty", NULL, 0, 0},
        {"empty data file (train)", {TRAIN_ON("%T/empty.txt", "%T/r_empty")}, 1, "%T/empty.txt", "too short", 0, 0, "%T/r_empty", NULL, 0, 0},
        {"truncated shard in a corpus (train)", {TRAIN_ON("%T/corp_trunc", "%T/r_trunc")}, 1, "%T/corp_trunc/train-00000.zst", "truncated", OFF_ANY, 0, "%T/r_trunc/checkpoint", "%T/corp_trunc", 0, 0},
        {"corrupt zstd frame 2 (eval bpb, sequential)", {"eval", "bpb", "--ckpt", "%T/run", "%T/frame.zst"}, 1, "%T/frame.zst", "corrupt zstd frame 2", (long long)frame2, 0, NULL, NULL, 0, 0},
        {"corrupt zstd frames (train)", {TRAIN_ON("%T/frames.zst", "%T/r_frame")}, 1, "%T/frames.zst", "corrupt zstd frame", OFF_ANY, 1, "%T/r_frame/checkpoint", NULL, 0, 0},
        {"wrong seek table (eval bpb)", {"eval", "bpb", "--ckpt", "%T/run", "%T/table.zst"}, 1, "%T/table.zst", "seek table", OFF_ANY, 0, NULL, NULL, 0, 0},
        {"wrong seek table (train)", {TRAIN_ON("%T/table.zst", "%T/r_table")}, 1, "%T/table.zst", "seek table", OFF_ANY, 0, "%T/r_table", NULL, 0, 0},
        {"invalid UTF-8 at 123 (prepare)", {"prepare", "%T/bad.txt", "-o", "%T/out_bad", "-q"}, 1, "%T/bad.txt", "invalid UTF-8", 123, 0, "%T/out_bad", NULL, 0, 0},
        {"invalid UTF-8 over an existing corpus (prepare)", {"prepare", "%T/bad.txt", "-o", "%T/corp_exist", "-q"}, 1, "%T/bad.txt", "invalid UTF-8", 123, 0, NULL, "%T/corp_exist", 0, 0},
        {"binary data (prepare, --on-invalid error)", {"prepare", "%T/bin.dat", "-o", "%T/out_bin", "-q"}, 1, "%T/bin.dat", "invalid UTF-8", 128, 0, "%T/out_bin", NULL, 0, 0},
        {"checkpoint shapes != config.json (info)", {"info", "%T/run_shape"}, 1, "%T/run_shape/checkpoint/model.safetensors", "expected shape", OFF_ANY, 0, NULL, "%T/run_shape", 0, 0},
        {"checkpoint shapes != config.json (train --resume)", {"train", "--resume", "%T/run_shape", "--threads", "1"}, 1, "%T/run_shape/checkpoint/model.safetensors", "expected shape", OFF_ANY, 0, NULL, "%T/run_shape", 0, 0},
        {"checkpoint shapes != config.json (generate)", {"generate", "--ckpt", "%T/run_shape", "-n", "4", "--prompt", "x"}, 1, "%T/run_shape/checkpoint/model.safetensors", "expected shape", OFF_ANY, 0, NULL, "%T/run_shape", 0, 0},
        {"trainer_state.json accum 1e10 (train --resume)", {"train", "--resume", "%T/run_state", "--threads", "1"}, 1, "%T/run_state/checkpoint/trainer_state.json", NULL, OFF_UNCHECKED, 0, NULL, "%T/run_state", 0, 0},
        {"config hidden_size -4 (info)", {"info", "%T/neg.json"}, 1, "%T/neg.json", "hidden_size", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"config hidden_size -4 (train)", {"train", "--config", "%T/neg.json", "--data", "%T/text.txt", "--out", "%T/r_neg"}, 1, "%T/neg.json", "hidden_size", OFF_UNCHECKED, 0, "%T/r_neg", NULL, 0, 0},
        {"config hidden_size 1e9 (info)", {"info", "%T/huge.json"}, 1, "%T/huge.json", "hidden_size", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"config hidden_size 1e9 (train)", {"train", "--config", "%T/huge.json", "--data", "%T/text.txt", "--out", "%T/r_huge"}, 1, "%T/huge.json", "hidden_size", OFF_UNCHECKED, 0, "%T/r_huge", NULL, 0, 0},
        {"config num_hidden_layers 1e300 (train)", {"train", "--config", "%T/frac.json", "--data", "%T/text.txt", "--out", "%T/r_frac"}, 1, "%T/frac.json", "num_hidden_layers", OFF_UNCHECKED, 0, "%T/r_frac", NULL, 0, 0},
        {"config of 3.5e14 parameters (info)", {"info", "%T/absurd.json"}, 1, "%T/absurd.json", "parameter count", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"config of 5.4e10 parameters (train)", {"train", "--config", "%T/big.json", "--data", "%T/text.txt", "--out", "%T/r_big", "-B", "1", "-L", "8", "--threads", "1"}, 1, "%T/big.json", NULL, OFF_UNCHECKED, 0, "%T/r_big", NULL, 1, 0},
        {"FIFO for data (train)", {TRAIN_ON("%T/fifo", "%T/r_fifo")}, 1, "%T/fifo", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, "%T/r_fifo", NULL, 0, 0},
        {"FIFO for --val (train)", {TRAIN_ON("%T/text.txt", "%T/r_fifoval"), "--val", "%T/fifo"}, 1, "%T/fifo", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, "%T/r_fifoval", NULL, 0, 0},
        {"FIFO for a shard of a corpus (train)", {TRAIN_ON("%T/corp_fifo", "%T/r_fifoshard")}, 1, "%T/corp_fifo/train-00000.zst", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, "%T/r_fifoshard", NULL, 0, 0},
        {"FIFO for a shard of a corpus (eval bpb)", {"eval", "bpb", "--ckpt", "%T/run", "--split", "train", "%T/corp_fifo"}, 1, "%T/corp_fifo/train-00000.zst", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"character device for data (eval bpb)", {"eval", "bpb", "--ckpt", "%T/run", "/dev/zero"}, 1, "/dev/zero", "not a regular file (a character device)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"character device for data (train)", {TRAIN_ON("/dev/zero", "%T/r_zero")}, 1, "/dev/zero", "not a regular file (a character device)", OFF_UNCHECKED, 0, "%T/r_zero", NULL, 0, 0},
        {"FIFO for a config (train)", {"train", "--config", "%T/fifo", "--data", "%T/text.txt", "--out", "%T/r_fifocfg"}, 1, "%T/fifo", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, "%T/r_fifocfg", NULL, 0, 0},
        {"FIFO config.json in a checkpoint (info)", {"info", "%T/run_fifo0"}, 1, "%T/run_fifo0/checkpoint/config.json", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"FIFO model.safetensors (generate)", {"generate", "--ckpt", "%T/run_fifo1", "-n", "4", "--prompt", "x"}, 1, "%T/run_fifo1/checkpoint/model.safetensors", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"FIFO model.safetensors (eval bpb)", {"eval", "bpb", "--ckpt", "%T/run_fifo1", "%T/text.txt"}, 1, "%T/run_fifo1/checkpoint/model.safetensors", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"FIFO optimizer.safetensors (train --resume)", {"train", "--resume", "%T/run_fifo2", "--threads", "1", "--steps", "3"}, 1, "%T/run_fifo2/checkpoint/optimizer.safetensors", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"FIFO trainer_state.json (train --resume)", {"train", "--resume", "%T/run_fifo3", "--threads", "1", "--steps", "3"}, 1, "%T/run_fifo3/checkpoint/trainer_state.json", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"FIFO trainer_state.json (info)", {"info", "%T/run_fifo3"}, 1, "%T/run_fifo3/checkpoint/trainer_state.json", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"FIFO as an input (prepare)", {"prepare", "%T/fifo", "-o", "%T/out_fifo", "-q"}, 1, "%T/fifo", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, "%T/out_fifo", NULL, 0, 0},
        {"/dev/zero for a prompt file (generate)", {"generate", "--ckpt", "%T/run", "-n", "4", "--prompt-file", "/dev/zero"}, 1, "/dev/zero", "not a regular file (a character device)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"FIFO for a words file (eval tasks)", {"eval", "tasks", "--ckpt", "%T/run", "--words", "%T/fifo", "--task", "reverse"}, 1, "%T/fifo", "not a regular file (a FIFO)", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"notes beside a corpus (prepare -o)", {"prepare", "%T/text.txt", "-o", "%T/corp_notes", "-q"}, 1, "%T/corp_notes/notes.txt", "refusing to replace", OFF_UNCHECKED, 0, NULL, "%T/corp_notes", 0, 0},
        {"a subdirectory in a corpus (prepare -o)", {"prepare", "%T/text.txt", "-o", "%T/corp_sub", "-q"}, 1, "%T/corp_sub/mine", "refusing to replace", OFF_UNCHECKED, 0, NULL, "%T/corp_sub", 0, 0},
        {"corpus.json of only \"format\" (prepare -o)", {"prepare", "%T/text.txt", "-o", "%T/fake_corp", "-q"}, 1, "%T/fake_corp", "is not a bytelm corpus", OFF_UNCHECKED, 0, NULL, "%T/fake_corp", 0, 0},
        {"existing run (train --out, no --resume or --force)", {TRAIN_ON("%T/text.txt", "%T/run")}, 1, "%T/run", "use --resume to continue it or --force to replace it", OFF_UNCHECKED, 0, NULL, "%T/run", 0, 0},
        {"existing run with a note of the user's (train --force)", {TRAIN_ON("%T/text.txt", "%T/run_user"), "--force"}, 1, "%T/run_user", "holds notes.txt, which is not part of a bytelm run", OFF_UNCHECKED, 0, NULL, "%T/run_user", 0, 0},
#define RESUME_ROW(what, ...) {what, {"train", "--resume", "%T/run", "--threads", "1", "--steps", "3", __VA_ARGS__}, 2, NULL, "differs from the run's", OFF_UNCHECKED, 0, NULL, "%T/run", 0, 0}
        RESUME_ROW("usage: train --resume with another -B", "-B", "4"),
        RESUME_ROW("usage: train --resume with another -L", "-L", "64"),
        RESUME_ROW("usage: train --resume with another --accum", "--accum", "2"),
        RESUME_ROW("usage: train --resume with another --seed", "--seed", "5"),
        RESUME_ROW("usage: train --resume with another --data", "--data", "%T/bad.txt"),
        RESUME_ROW("usage: train --resume with another --val", "--val", "%T/text.txt"),
        RESUME_ROW("usage: train --resume with another --precision", "--precision", "bf16"),
#undef RESUME_ROW
        {"usage: train --resume with another --config", {"train", "--resume", "%T/run", "--threads", "1", "--steps", "3", "--config", "configs/small.json"}, 2, NULL, "describes another model than the run's", OFF_UNCHECKED, 0, NULL, "%T/run", 0, 0},
#define TS_ROW(what, dir, says) {what, {"train", "--resume", "%T/" dir, "--threads", "1", "--steps", "3"}, 1, "%T/" dir "/checkpoint/trainer_state.json", says, OFF_UNCHECKED, 0, NULL, "%T/" dir, 0, 0}
        TS_ROW("trainer_state.json next_batch \"-1\"", "ts_batch_neg", "field 'loader.next_batch' is not an unsigned integer"),
        TS_ROW("trainer_state.json next_batch 2^53+1", "ts_batch_big", "field 'loader.next_batch' out of range"),
        TS_ROW("trainer_state.json bytes_seen \"1e3\"", "ts_bytes", "field 'bytes_seen' is not an unsigned integer"),
        TS_ROW("trainer_state.json loader seed 2^64", "ts_seed", "field 'loader.seed' out of range"),
        TS_ROW("trainer_state.json step -1", "ts_step", "field 'step' out of range"),
        TS_ROW("trainer_state.json batch 2.5", "ts_B", "field 'batch' is not a whole number"),
        TS_ROW("trainer_state.json eval_batches 0", "ts_evalb", "field 'eval_batches' out of range"),
        TS_ROW("trainer_state.json total_steps 0", "ts_total", "field 'total_steps' out of range"),
        TS_ROW("trainer_state.json lr 0", "ts_lr", "field 'lr' out of range"),
        TS_ROW("trainer_state.json eps 0", "ts_eps", "field 'eps' out of range"),
        TS_ROW("trainer_state.json beta2 1", "ts_beta2", "field 'beta2' out of range"),
        TS_ROW("trainer_state.json elapsed_seconds 1e999", "ts_elapsed", "field 'elapsed_seconds' out of range"),
        TS_ROW("trainer_state.json data \"\"", "ts_data", "field 'data' is empty"),
        TS_ROW("trainer_state.json seq_len 0", "ts_L", "field 'seq_len' out of range"),
        TS_ROW("trainer_state.json eval_every -5", "ts_evale", "field 'eval_every' out of range"),
        TS_ROW("trainer_state.json ckpt_every 1e12", "ts_ckpte", "field 'ckpt_every' out of range"),
        TS_ROW("trainer_state.json optimizer_step 0.5", "ts_optstep", "field 'optimizer_step' is not a whole number"),
        TS_ROW("trainer_state.json warmup_steps -1", "ts_warmup", "field 'warmup_steps' out of range"),
        TS_ROW("trainer_state.json min_lr_ratio 2", "ts_minlr", "field 'min_lr_ratio' out of range"),
        TS_ROW("trainer_state.json beta1 -0.1", "ts_beta1", "field 'beta1' out of range"),
        TS_ROW("trainer_state.json weight_decay 1e9", "ts_wd", "field 'weight_decay' out of range"),
        TS_ROW("trainer_state.json clip -1", "ts_clip", "field 'clip' out of range"),
        TS_ROW("trainer_state.json val of 1099 bytes", "ts_val", "field 'val' is too long"),
        TS_ROW("trainer_state.json options seed \"-7\"", "ts_oseed", "field 'options.seed' is not an unsigned integer"),
#undef TS_ROW
#define CJ_ROW(what, dir, says) {what, {TRAIN_ON("%T/" dir, "%T/r_" dir)}, 1, "%T/" dir "/corpus.json", says, OFF_ANY, 0, "%T/r_" dir, "%T/" dir, 0, 0}
        CJ_ROW("corpus.json frames > bytes (train)", "cj_frames", "\"frames\" 1000000 out of range"),
        CJ_ROW("corpus.json file_bytes 1 (train)", "cj_filebytes", "\"file_bytes\" 1 too small"),
        CJ_ROW("corpus.json frame_size 0 (train)", "cj_framesize", "\"frame_size\" must be"),
        CJ_ROW("corpus.json bytes -1 (train)", "cj_bytes", "\"bytes\" must be a non-negative integer"),
        CJ_ROW("corpus.json lists a shard twice (train)", "cj_twice", "shard train-00000.zst is listed twice"),
        CJ_ROW("corpus.json version 2 (train)", "cj_version", "unsupported corpus version 2"),
        CJ_ROW("corpus.json documents 1.5 (train)", "cj_docs", "\"documents\" must be a non-negative integer"),
        CJ_ROW("corpus.json fnv1a64 \"xyz\" (train)", "cj_fnv", "\"fnv1a64\" must be 16 hex digits"),
        CJ_ROW("corpus.json shard file ../text.txt (train)", "cj_name", "bad shard file name"),
#undef CJ_ROW
        {"usage: prepare without -o", {"prepare", "%T/text.txt"}, 2, NULL, "-o DIR", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train -B zero", {"train", "--config", tiny, "--data", "%T/text.txt", "-B", "zero"}, 2, NULL, "--batch", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: generate without -n", {"generate", "--ckpt", "%T/run"}, 2, NULL, "-n", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: info without a path", {"info"}, 2, NULL, NULL, OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"-B 4096 -L 65536: more memory than the machine (train)", {"train", "--config", tiny, "--data", "%T/text.txt", "--out", "%T/r_rows", "-B", "4096", "-L", "65536", "--threads", "1"}, 1, "configs/tiny.json", "more than this machine", OFF_UNCHECKED, 0, "%T/r_rows", NULL, 0, 0},
        {"NaN in the weights (generate)", {"generate", "--ckpt", "%T/run_nan", "-n", "4", "--prompt", "x"}, 1, "%T/run_nan/checkpoint/model.safetensors", "backbone.embeddings.weight: element 0 is NaN", OFF_ANY, 0, NULL, "%T/run_nan", 0, 0},
        {"NaN in the weights (eval bpb)", {"eval", "bpb", "--ckpt", "%T/run_nan", "%T/text.txt"}, 1, "%T/run_nan/checkpoint/model.safetensors", "is NaN", OFF_ANY, 0, NULL, NULL, 0, 0},
        {"NaN in the weights (info --json)", {"info", "--json", "%T/run_nan"}, 1, "%T/run_nan/checkpoint/model.safetensors", "is NaN", OFF_ANY, 0, NULL, NULL, 0, 0},
        {"-inf in the weights (train --resume)", {"train", "--resume", "%T/run_inf", "--threads", "1"}, 1, "%T/run_inf/checkpoint/model.safetensors", "out_proj.weight: element 0 is infinite", OFF_ANY, 0, NULL, "%T/run_inf", 0, 0},
        {"NaN optimizer moment (train --resume)", {"train", "--resume", "%T/run_moment", "--threads", "1"}, 1, "%T/run_moment/checkpoint/optimizer.safetensors", "exp_avg_sq.backbone.norm_f.weight: element 0 is NaN", OFF_ANY, 0, NULL, "%T/run_moment", 0, 0},
        {"trainer_state.json eval_batches 0 (train --resume)", {"train", "--resume", "%T/run_evalb", "--threads", "1", "--steps", "3"}, 1, "%T/run_evalb/checkpoint/trainer_state.json", "eval_batches", OFF_UNCHECKED, 0, NULL, "%T/run_evalb", 0, 0},
        {"trainer_state.json beta1 1 (train --resume)", {"train", "--resume", "%T/run_beta1", "--threads", "1", "--steps", "3"}, 1, "%T/run_beta1/checkpoint/trainer_state.json", "beta1", OFF_UNCHECKED, 0, NULL, "%T/run_beta1", 0, 0},
        {"--device cuda without a GPU (train)", {TRAIN_ON("%T/text.txt", "%T/r_cuda"), "--device", "cuda"}, 1, "--device cuda", "use --device cpu", OFF_UNCHECKED, 0, "%T/r_cuda", NULL, 0, have_gpu},
        {"--device cuda without a GPU (generate)", {"generate", "--ckpt", "%T/run", "-n", "4", "--prompt", "x", "--device", "cuda"}, 1, "--device cuda", "use --device cpu", OFF_UNCHECKED, 0, NULL, NULL, 0, have_gpu},
        {"usage: train --lr nan", {"train", "--config", tiny, "--data", "%T/text.txt", "--lr", "nan"}, 2, NULL, "--lr must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --lr inf", {"train", "--config", tiny, "--data", "%T/text.txt", "--lr", "inf"}, 2, NULL, "--lr must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --lr 1e999 (overflow)", {"train", "--config", tiny, "--data", "%T/text.txt", "--lr", "1e999"}, 2, NULL, "--lr must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --weight-decay nan", {"train", "--config", tiny, "--data", "%T/text.txt", "--weight-decay", "nan"}, 2, NULL, "--weight-decay must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --min-lr-ratio nan", {"train", "--config", tiny, "--data", "%T/text.txt", "--min-lr-ratio", "nan"}, 2, NULL, "--min-lr-ratio must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --clip nan", {"train", "--config", tiny, "--data", "%T/text.txt", "--clip", "nan"}, 2, NULL, "--clip must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --time-budget nan", {"train", "--config", tiny, "--data", "%T/text.txt", "--time-budget", "nan"}, 2, NULL, "--time-budget must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --steps 5x (trailing junk)", {"train", "--config", tiny, "--data", "%T/text.txt", "--steps", "5x"}, 2, NULL, "--steps must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --lr without a value", {"train", "--config", tiny, "--data", "%T/text.txt", "--lr"}, 2, NULL, "option '--lr' needs a value", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: train --device foo", {"train", "--config", tiny, "--data", "%T/text.txt", "--device", "foo"}, 2, NULL, "--device must be cpu or cuda", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: generate --temprature (misspelt)", {"generate", "--ckpt", "%T/run", "-n", "4", "--temprature", "1"}, 2, NULL, "unknown option '--temprature'", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: generate --temperature nan", {"generate", "--ckpt", "%T/run", "-n", "4", "--temperature", "nan"}, 2, NULL, "--temperature must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: generate --top-p inf", {"generate", "--ckpt", "%T/run", "-n", "4", "--top-p", "inf"}, 2, NULL, "--top-p must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: eval bpb --chunk without a value", {"eval", "bpb", "--ckpt", "%T/run", "--chunk"}, 2, NULL, "option '--chunk' needs a value", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: eval tasks --lr nan", {"eval", "tasks", "--words", "%T/text.txt", "--task", "spell", "--lr", "nan"}, 2, NULL, "--lr must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: eval bpb --device foo", {"eval", "bpb", "--ckpt", "%T/run", "--device", "foo", "%T/text.txt"}, 2, NULL, "--device must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: info --frobnicate", {"info", "--frobnicate", "%T/run"}, 2, NULL, "unknown option '--frobnicate'", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: bench train -B nan", {"bench", "train", "-B", "nan"}, 2, NULL, "-B must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: bench generate -n 10x", {"bench", "generate", "-n", "10x"}, 2, NULL, "-n must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: bench loader --seconds nan", {"bench", "loader", "--seconds", "nan"}, 2, NULL, "--seconds must be", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
        {"usage: prepare -o without a value", {"prepare", "%T/text.txt", "-o"}, 2, NULL, "option '-o' needs a value", OFF_UNCHECKED, 0, NULL, NULL, 0, 0},
    };
#undef TRAIN_ON
    int nrows = (int)(sizeof rows / sizeof rows[0]), failed = 0;
    printf("bad inputs through %s:\n", tu_bytelm());
    for (int i = 0; i < nrows; i++) {
        char why[1200], line[1200];
        if (rows[i].skip) {
            printf("%2d %-50s SKIP (not on this machine)\n", i + 1, rows[i].what);
            continue;
        }
        const char *bad = check_row(&rows[i], T, why, sizeof why, line, sizeof line);
        printf("%2d %-50s %s%s\n     stderr: %s\n", i + 1, rows[i].what, bad ? "FAIL: " : "PASS", bad ? bad : "",
               line);
        failed += bad != NULL;
    }
    printf("bad inputs: %d of %d rows pass\n", nrows - failed, nrows);
    fflush(stdout);
    ck_assert_msg(failed == 0, "%d of %d bad-input rows failed (table above)", failed, nrows);
    tu_sh_ok("rm -rf %s", T);
    free(T);
}
END_TEST

/* The binary-data case that must work: --on-invalid keep takes any bytes. */
START_TEST(binary_data_kept)
{
    char *T = tu_tmpdir("badin-keep"), p[1024];
    uint8_t bin[1024];
    for (int i = 0; i < 1024; i++) bin[i] = (uint8_t)(i * 7);
    snprintf(p, sizeof p, "%s/bin.dat", T);
    put_bytes(p, bin, sizeof bin);
    const char *args[] = {"prepare", "%T/bin.dat", "-o", "%T/corp", "-q", "--on-invalid", "keep", "--json", NULL};
    RunResult r = run_bytelm(T, args, 0);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "prepare --on-invalid keep: %s", r.err);
    free(r.err);
    snprintf(p, sizeof p, "%s/stdout.txt", T);
    char *out = tu_slurp(p, NULL);
    ck_assert_msg(strstr(out, "\"input_bytes\":1024") != NULL, "%s", out);
    free(out);
    /* and every byte comes back, train + val in order */
    tu_sh_ok("cd %s && zstd -q -d -c corp/train-00000.zst corp/val-00000.zst > back.dat && cmp -s back.dat bin.dat", T);
    tu_sh_ok("rm -rf %s", T);
    free(T);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bad-inputs");
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 300);
    tcase_add_test(cli, bad_input_table);
    tcase_add_test(cli, binary_data_kept);
    suite_add_tcase(s, cli);
    return tu_run(s);
}
