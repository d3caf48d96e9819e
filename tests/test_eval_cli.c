/* `bytelm eval` through the binary: bpb of a plain file, its .zst and a corpus's splits equals
 * the library's exact figure whatever --chunk; tasks and memory commands end to end (training
 * text, training, checkpoint, scoring); usage and runtime errors exit 2 and 1. */
#include <cJSON.h>
#include <sys/wait.h>
#include <zstd.h>

#include "byte_lm/checkpoint/checkpoint.h"
#include "eval/bpb.h"
#include "eval/words.h"
#include "tests/test_cli_util.h"

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* A checkpoint of a tiny model trained for a few steps on the text (so its bpb is far from 8
 * and any mis-scored byte would show). */
static Model *make_checkpoint(Backend *be, const char *dir, const uint8_t *text, size_t n)
{
    ModelConfig c;
    config_default(&c, 32, 2);
    BlErr e;
    Model *m;
    ck_assert_int_eq(model_create(&m, &c, be, &e), 0);
    model_init_params(m, 3);
    TrainerState ts;
    memset(&ts, 0, sizeof ts);
    optim_config_default(&ts.optim);
    ts.optim.lr = 5e-3f;
    ts.optim.warmup_steps = 5;
    ts.optim.total_steps = 60;
    ts.B = 8;
    ts.L = 48;
    Optimizer opt;
    optimizer_init(&opt, m, &ts.optim);
    uint8_t batch[8 * 49];
    uint64_t s = 1;
    for (ts.step = 0; ts.step < ts.optim.total_steps;) {
        for (int b = 0; b < 8; b++) memcpy(batch + b * 49, text + tu_next(&s) % (n - 49), 49);
        model_zero_grads(m);
        model_forward_backward(m, batch, 8, 48, 1.0f);
        optimizer_step(&opt, m, NULL);
        ts.step++;
    }
    ck_assert_msg(checkpoint_save(dir, m, &opt, &ts, &e) == 0, "%s", e.msg);
    optimizer_free(&opt, m);
    return m;
}

static double library_bpb(Model *m, const uint8_t *p, size_t n)
{
    BpbScorer *sc = bpb_scorer_create(m, 4096);
    bpb_feed(sc, p, n);
    BpbTally t;
    bpb_end(sc, &t);
    bpb_scorer_free(sc);
    return bpb_bits_per_byte(&t);
}

static double json_num(const cJSON *o, const char *path0, int idx, const char *key)
{
    const cJSON *a = cJSON_GetObjectItem(o, path0);
    if (idx >= 0) a = cJSON_GetArrayItem(a, idx);
    const cJSON *v = cJSON_GetObjectItem(a, key);
    ck_assert_msg(cJSON_IsNumber(v), "no number %s[%d].%s", path0, idx, key);
    return v->valuedouble;
}

START_TEST(test_bpb_cli)
{
    char *dir = tu_tmpdir("evalcli");
    char ckpt[600], txt[600], zst[600], corpus[600], cmd[4096], err[4096];
    static char out[1 << 16];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt", dir);
    snprintf(txt, sizeof txt, "%s/text.txt", dir);
    snprintf(zst, sizeof zst, "%s/text.txt.zst", dir);
    snprintf(corpus, sizeof corpus, "%s/corpus", dir);

    /* text: words with some multi-byte characters */
    const char *words[] = {"the", "quick", "brown", "fox", "jumps", "über", "naïve", "café", "λόγος", "∑"};
    char text[6000];
    size_t n = 0;
    uint64_t s = 9;
    while (n < sizeof text - 16) n += (size_t)sprintf(text + n, "%s ", words[tu_next(&s) % 10]);
    write_bytes(txt, text, n);
    size_t zcap = ZSTD_compressBound(n);
    void *z = malloc(zcap);
    size_t zn = ZSTD_compress(z, zcap, text, n, 3);
    ck_assert(!ZSTD_isError(zn));
    write_bytes(zst, z, zn);
    free(z);

    Backend *be = backend_cpu_create(1);
    Model *m = make_checkpoint(be, ckpt, (const uint8_t *)text, n);
    double want = library_bpb(m, (const uint8_t *)text, n);
    printf("library: %.6f bits/byte over %zu bytes\n", want, n - 1);
    ck_assert(want < 5.0);

    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s --chunk 7 --threads 1 --json %s %s", tu_bytelm(), ckpt,
             txt, zst);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    double got = json_num(o, "files", 0, "bits_per_byte"), got_z = json_num(o, "files", 1, "bits_per_byte");
    printf("bytelm eval bpb --chunk 7: %.6f (plain), %.6f (.zst), total %.6f\n", got, got_z,
           json_num(o, "total", -1, "bits_per_byte"));
    ck_assert(fabs(got - want) < 1e-5);
    ck_assert(fabs(got_z - want) < 1e-5);
    ck_assert_int_eq((int)json_num(o, "files", 0, "bytes"), (int)n);
    ck_assert_int_eq((int)json_num(o, "files", 0, "scored_bytes"), (int)n - 1);
    ck_assert_int_eq((int)json_num(o, "total", -1, "scored_bytes"), 2 * ((int)n - 1));
    ck_assert(fabs(json_num(o, "total", -1, "bits_per_byte") - want) < 1e-5);
    double chars = json_num(o, "files", 0, "characters");
    ck_assert(chars < n - 1 && chars > 0.8 * n); /* multi-byte characters counted once */
    ck_assert(fabs(json_num(o, "files", 0, "bits_per_char") - got * (n - 1) / chars) < 1e-4);
    cJSON_Delete(o);

    /* the table, with a chunk larger than the file */
    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s --chunk 100000 --threads 1 %s", tu_bytelm(), ckpt, txt);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(out, "bits/byte"));
    ck_assert_ptr_nonnull(strstr(out, "first byte"));
    char figure[32];
    snprintf(figure, sizeof figure, "%.4f", want);
    ck_assert_msg(strstr(out, figure) != NULL, "%s not in\n%s", figure, out);

    /* a corpus directory: the two splits together hold the file's bytes */
    snprintf(cmd, sizeof cmd, "%s prepare %s -o %s --val-fraction 0.25 -q", tu_bytelm(), txt, corpus);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    double split_bytes[2];
    const char *splits[2] = {"train", "val"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s --split %s --threads 1 --json %s", tu_bytelm(),
                 ckpt, splits[k], corpus);
        ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
        o = cJSON_Parse(out);
        split_bytes[k] = json_num(o, "files", 0, "bytes");
        double bpb = json_num(o, "files", 0, "bits_per_byte");
        /* single-document corpus: val is the document's tail, train its head */
        size_t off = k == 0 ? 0 : n - (size_t)split_bytes[1];
        double lib = library_bpb(m, (const uint8_t *)text + off, (size_t)split_bytes[k]);
        printf("corpus %s split: %.0f bytes, %.6f bits/byte (library %.6f)\n", splits[k],
               split_bytes[k], bpb, lib);
        ck_assert(fabs(bpb - lib) < 1e-5);
        cJSON_Delete(o);
    }
    ck_assert_int_eq((int)(split_bytes[0] + split_bytes[1]), (int)n);

    /* usage errors exit 2; runtime errors exit 1 with one "bytelm: FILE: ..." line */
    snprintf(cmd, sizeof cmd, "%s eval bpb %s", tu_bytelm(), txt);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s --chunk 0 %s", tu_bytelm(), ckpt, txt);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s --split test %s", tu_bytelm(), ckpt, txt);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s eval frobnicate", tu_bytelm());
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s %s/missing.txt", tu_bytelm(), ckpt, dir);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(!strncmp(err, "bytelm: ", 8) && strstr(err, "missing.txt"), "stderr: %s", err);
    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s/nockpt %s", tu_bytelm(), dir, txt);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(!strncmp(err, "bytelm: ", 8), "stderr: %s", err);

    model_free(m);
    be->destroy(be);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}
END_TEST

/* tasks: training text has only training words; a checkpoint is scored on held-out words and the
 * JSON says so. memory: train through the CLI, save, and the saved model scores the same. */
START_TEST(test_tasks_cli)
{
    char *dir = tu_tmpdir("evaltasks");
    char path[600], cmd[4096], err[4096];
    static char out[1 << 16];
    snprintf(path, sizeof path, "%s/reverse.txt", dir);
    snprintf(cmd, sizeof cmd,
             "%s eval tasks --words tests/data/words.txt --task reverse,swap --write-train %s "
             "--examples 2000", tu_bytelm(), path);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[256], word[64];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        char a, b;
        ck_assert(sscanf(line, "reverse %63s =", word) == 1 ||
                  sscanf(line, "swap %c %c %63s =", &a, &b, word) == 3);
        ck_assert_msg(!word_is_held_out(word, 10), "held-out word in training text: %s", line);
    }
    fclose(f);
    ck_assert_int_eq(lines, 2000);

    /* the file appears whole or not at all: killed while writing, the old FILE is still there;
     * an output naming the word list is a usage error that leaves it alone */
    char keep[700], words[700];
    snprintf(keep, sizeof keep, "%s/keep.txt", dir);
    snprintf(words, sizeof words, "%s/words.txt", dir);
    tu_sh_ok("printf 'keep me\\n' > %s && cp tests/data/words.txt %s", keep, words);
    tu_sh_ok("{ %s eval tasks --words %s --task reverse --write-train %s --examples 100000000 & "
             "pid=$!; sleep 1; kill -9 $pid; wait $pid; } 2>/dev/null; true", tu_bytelm(), words, keep);
    char *kept = tu_slurp(keep, NULL);
    ck_assert_str_eq(kept, "keep me\n");
    free(kept);
    snprintf(cmd, sizeof cmd, "%s eval tasks --words %s --task reverse --write-train %s", tu_bytelm(), words, words);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "--words"), "%s", err);
    snprintf(cmd, sizeof cmd, "cmp -s tests/data/words.txt %s", words);
    ck_assert_int_eq(tu_sh(cmd), 0);

    /* memory: a short selective-copying instance trained by the CLI, saved, then reloaded */
    const char *task = "--task selective-copy --length 4 --tokens 1 --vocab 4 --n 50 --threads 1";
    snprintf(cmd, sizeof cmd,
             "%s eval memory %s --train --config configs/tiny.json --steps 300 -B 16 --out %s/mem --json",
             tu_bytelm(), task, dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    double trained = json_num(o, "results", 0, "exact");
    cJSON_Delete(o);
    snprintf(cmd, sizeof cmd, "%s eval memory %s --ckpt %s/mem --json", tu_bytelm(), task, dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    o = cJSON_Parse(out);
    double reloaded = json_num(o, "results", 0, "exact");
    cJSON_Delete(o);
    printf("memory CLI: selective copying exact %.2f after training, %.2f from the checkpoint\n",
           trained, reloaded);
    ck_assert(trained == reloaded);
    ck_assert(trained > 0.5);

    /* the character tasks on that checkpoint: scored on held-out words, reported as such */
    snprintf(cmd, sizeof cmd,
             "%s eval tasks --ckpt %s/mem --words tests/data/words.txt --task all --held-out --n 5 "
             "--threads 1 --json", tu_bytelm(), dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    o = cJSON_Parse(out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "results")), 7);
    const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "results"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(r0, "words")->valuestring, "held-out");
    ck_assert_int_eq((int)json_num(o, "results", 0, "n"), 5);
    cJSON_Delete(o);

    /* usage and runtime errors */
    snprintf(cmd, sizeof cmd, "%s eval tasks --words tests/data/words.txt --task reverse", tu_bytelm());
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2); /* no mode */
    snprintf(cmd, sizeof cmd, "%s eval tasks --words tests/data/words.txt --task upend --ckpt %s/mem", tu_bytelm(), dir);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s eval memory --task induction --vocab 40 --ckpt %s/mem", tu_bytelm(), dir);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s eval tasks --words %s/none.txt --task reverse --ckpt %s/mem", tu_bytelm(), dir, dir);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(!strncmp(err, "bytelm: ", 8) && strstr(err, "none.txt"), "stderr: %s", err);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_bpb_cli);
    tcase_add_test(tc, test_tasks_cli);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
