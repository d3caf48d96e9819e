/* `bytelm generate` (the binary named by $BYTELM, as `make test` sets it) against the engine on
 * random tiny models: JSON and text output, prompt sources, raw bytes, batches, strict UTF-8,
 * the stop, echo and repetition-penalty options, and the usage errors. */
#include <cJSON.h>
#include <ctype.h>
#include <sys/wait.h>

#include "byte_lm/checkpoint/checkpoint.h"
#include "tests/test_generate_util.h"

typedef struct {
    int status;
    char *out; /* stdout, NUL-terminated */
    size_t n;
    char err[1024];
} Run;

/* Runs `$BYTELM generate ARGS` through the shell (stdin from /dev/null unless ARGS redirects). */
static Run run_cli(const char *args)
{
    const char *bin = getenv("BYTELM");
    ck_assert_msg(bin && access(bin, X_OK) == 0, "set BYTELM to the bytelm binary (make test does)");
    char errpath[] = "/tmp/bytelm-gen-err-XXXXXX";
    int fd = mkstemp(errpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s generate %s 2>%s", bin, args, errpath);
    if (!strstr(args, "<")) strncat(cmd, " </dev/null", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    Run r = {0};
    size_t cap = 1 << 16;
    r.out = malloc(cap);
    size_t got;
    while ((got = fread(r.out + r.n, 1, cap - r.n - 1, p)) > 0) {
        r.n += got;
        if (cap - r.n < 2) r.out = realloc(r.out, cap *= 2);
    }
    r.out[r.n] = 0;
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *f = fopen(errpath, "r");
    size_t ne = fread(r.err, 1, sizeof r.err - 1, f);
    r.err[ne] = 0;
    fclose(f);
    unlink(errpath);
    return r;
}

typedef struct {
    char *p;
    long n;
} Text;

static void text_append(void *ctx, const uint8_t *b, size_t k)
{
    Text *t = ctx;
    memcpy(t->p + t->n, b, k);
    t->n += (long)k;
}

/* Safe-mode text of raw bytes, as the CLI prints it (NUL-terminated; at most 3 bytes per input
 * byte). */
static Text as_text(const uint8_t *raw, long n)
{
    Text t = {malloc((size_t)n * 3 + 1), 0};
    Utf8Stream s;
    utf8_stream_init(&s, UTF8_SAFE, text_append, &t);
    utf8_stream_write(&s, raw, (size_t)n);
    utf8_stream_finish(&s);
    t.p[t.n] = 0;
    return t;
}

/* A checkpoint of the tiny model inside a run directory, as training leaves it. */
static char *save_run(Tiny *t)
{
    char *run = tu_tmpdir("gen-cli"), ck[600];
    snprintf(ck, sizeof ck, "%s/checkpoint", run);
    BlErr e;
    ck_assert_msg(checkpoint_save(ck, t->m, NULL, NULL, &e) == 0, "%s", e.msg);
    return run;
}

START_TEST(test_cli_matches_engine)
{
    Tiny t = tiny(7);
    char *run = save_run(&t);
    long n = 50;
    GenOptions o;
    gen_options_default(&o);
    o.sampler.temperature = 0;
    uint8_t *want = generate(t.m, &o, "The cat", n);
    Text text = as_text(want, n);

    char args[1024];
    snprintf(args, sizeof args, "--ckpt %s --prompt 'The cat' -n %ld --greedy --threads 2 --json", run, n);
    Run r = run_cli(args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cJSON *js = cJSON_Parse(r.out);
    ck_assert_ptr_nonnull(js);
    cJSON *samples = cJSON_GetObjectItem(js, "samples");
    ck_assert_int_eq(cJSON_GetArraySize(samples), 1);
    const char *got = cJSON_GetObjectItem(cJSON_GetArrayItem(samples, 0), "text")->valuestring;
    ck_assert_str_eq(got, text.p);
    ck_assert_int_eq((int)cJSON_GetObjectItem(js, "bytes")->valuedouble, n);
    ck_assert_str_eq(cJSON_GetObjectItem(js, "utf8")->valuestring, "safe");
    cJSON_Delete(js);
    free(r.out);

    /* the same prompt from a file, from stdin, and plain text output */
    char pf[700];
    snprintf(pf, sizeof pf, "%s/prompt.txt", run);
    FILE *f = fopen(pf, "w");
    fputs("The cat", f);
    fclose(f);
    const char *forms[] = {"--prompt-file %s/prompt.txt", "< %s/prompt.txt", "--prompt-file - < %s/prompt.txt"};
    for (int i = 0; i < 3; i++) {
        char src[800];
        snprintf(src, sizeof src, forms[i], run);
        snprintf(args, sizeof args, "--ckpt %s/checkpoint -n %ld --temperature 0 --threads 2 %s", run, n, src);
        r = run_cli(args);
        ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
        ck_assert_msg(r.n == (size_t)text.n && !memcmp(r.out, text.p, (size_t)text.n), "prompt form %d", i);
        free(r.out);
    }
    free(text.p);
    free(want);
    free(run);
    tiny_free(&t);
}
END_TEST

/* --json with --utf8 off: "hex" is the raw bytes exactly (NUL and control bytes included), "text"
 * their safe decoding. */
START_TEST(test_cli_json_raw_bytes)
{
    Tiny t = tiny(7);
    char *run = save_run(&t);
    long n = 80;
    GenOptions o;
    gen_options_default(&o);
    o.seed = 4;
    o.sampler.temperature = 3.0f;
    uint8_t *want = generate(t.m, &o, "q", n);
    char args[1024];
    snprintf(args, sizeof args, "--ckpt %s --prompt q -n %ld --seed 4 --temperature 3 --utf8 off --json --threads 2",
             run, n);
    Run r = run_cli(args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cJSON *js = cJSON_Parse(r.out);
    ck_assert_ptr_nonnull(js);
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(js, "samples"), 0);
    const char *hex = cJSON_GetObjectItem(s0, "hex")->valuestring;
    ck_assert_uint_eq(strlen(hex), 2 * (size_t)n);
    int controls = 0;
    for (long i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        ck_assert_uint_eq(v, want[i]);
        controls += want[i] < 0x20;
    }
    Text text = as_text(want, n);
    ck_assert_str_eq(cJSON_GetObjectItem(s0, "text")->valuestring, text.p);
    ck_assert_int_gt(cJSON_GetObjectItem(s0, "replacements")->valueint, 0);
    ck_assert_int_gt(controls, 0); /* the escaping was exercised */
    printf("cli json: %ld raw bytes with %d control bytes round-trip\n", n, controls);
    cJSON_Delete(js);
    free(text.p), free(r.out), free(want), free(run);
    tiny_free(&t);
}
END_TEST

/* --batch: samples one after another under "--- sample i ---" lines, each equal to the engine's;
 * strict text is valid UTF-8. */
START_TEST(test_cli_batch_strict)
{
    Tiny t = tiny(8);
    char *run = save_run(&t);
    long n = 30;
    int B = 3;
    GenOptions o;
    gen_options_default(&o);
    o.batch = B;
    o.seed = 9;
    o.utf8 = UTF8_STRICT;
    o.max_bytes = n;
    uint8_t *want = generate(t.m, &o, "x", n);
    char args[1024];
    snprintf(args, sizeof args, "--ckpt %s --prompt x -n %ld --batch %d --seed 9 --utf8 strict --threads 2",
             run, n, B);
    Run r = run_cli(args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert(valid_utf8((const uint8_t *)r.out, (long)r.n));
    char expect[4096];
    size_t k = 0;
    for (int b = 0; b < B; b++) {
        k += (size_t)snprintf(expect + k, sizeof expect - k, "--- sample %d ---\n", b + 1);
        memcpy(expect + k, want + (size_t)b * n, (size_t)n);
        k += (size_t)n;
        expect[k++] = '\n';
    }
    ck_assert_uint_eq(r.n, k);
    ck_assert_mem_eq(r.out, expect, k);
    ck_assert_ptr_nonnull(strstr(r.err, "seed 9"));
    free(r.out);
    free(want);
    free(run);
    tiny_free(&t);
}
END_TEST

/* The end of the first occurrence of stop in x[0..n), or n when there is none. */
static long stop_end(const uint8_t *x, long n, const char *stop)
{
    size_t k = strlen(stop);
    for (long i = 0; i + (long)k <= n; i++)
        if (!memcmp(x + i, stop, k)) return i + (long)k;
    return n;
}

/* --stop, --stop-at-newline and --echo against the engine's bytes: one stream (the API path)
 * and a batch in JSON (the engine path), where each sample stops on its own. */
START_TEST(test_cli_stop_and_echo)
{
    Tiny t = tiny(7);
    char *run = save_run(&t);
    long n = 200;
    GenOptions o;
    gen_options_default(&o);
    o.sampler.temperature = 0;
    uint8_t *want = generate(t.m, &o, "The cat", n);
    /* a stop string from the text itself: two letters well inside it */
    long p = 20;
    while (p + 1 < n && !(isalnum(want[p]) && isalnum(want[p + 1]))) p++;
    ck_assert_msg(p + 1 < n, "no two letters in a row to stop on");
    char stop[3] = {(char)want[p], (char)want[p + 1], 0};
    long end = stop_end(want, n, stop), nl_end = stop_end(want, n, "\n");
    printf("cli stop: '%s' ends the text at byte %ld of %ld; a newline at %ld\n", stop, end, n, nl_end);

    char args[1024];
    snprintf(args, sizeof args, "--ckpt %s --prompt 'The cat' -n %ld --greedy --threads 2 --stop '%s' --stop zzzq",
             run, n, stop);
    Run r = run_cli(args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    Text text = as_text(want, end);
    ck_assert_uint_eq(r.n, (size_t)text.n);
    ck_assert_mem_eq(r.out, text.p, r.n);
    free(r.out), free(text.p);

    snprintf(args, sizeof args, "--ckpt %s --prompt 'The cat' -n %ld --greedy --threads 2 --stop-at-newline --echo",
             run, n);
    r = run_cli(args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    text = as_text(want, nl_end);
    ck_assert_uint_eq(r.n, 7 + (size_t)text.n);
    ck_assert_mem_eq(r.out, "The cat", 7);
    ck_assert_mem_eq(r.out + 7, text.p, (size_t)text.n);
    free(r.out), free(text.p);

    /* a batch of two in JSON: stream 0 as above; stream 1 samples (another text) */
    snprintf(args, sizeof args, "--ckpt %s --prompt 'The cat' -n %ld --greedy --batch 2 --threads 2 --stop '%s' --echo --json",
             run, n, stop);
    r = run_cli(args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cJSON *js = cJSON_Parse(r.out);
    ck_assert_ptr_nonnull(js);
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(js, "samples"), 0);
    text = as_text(want, end);
    char *with_prompt = malloc((size_t)text.n + 8);
    memcpy(with_prompt, "The cat", 7);
    memcpy(with_prompt + 7, text.p, (size_t)text.n + 1);
    ck_assert_str_eq(cJSON_GetObjectItem(s0, "text")->valuestring, with_prompt);
    ck_assert_int_eq(cJSON_GetObjectItem(s0, "bytes")->valueint, (int)end);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(s0, "stopped")) == (end < n));
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(js, "stop"), 0)->valuestring, stop);
    cJSON_Delete(js);
    free(with_prompt), free(text.p), free(r.out), free(want), free(run);
    tiny_free(&t);
}
END_TEST

/* --repetition-penalty and --repetition-window: the engine's bytes with the same penalty, which
 * differ from the unpenalized text and repeat less. */
START_TEST(test_cli_repetition_penalty)
{
    Tiny t = tiny(7);
    char *run = save_run(&t);
    long n = 120;
    GenOptions o;
    gen_options_default(&o);
    o.sampler.temperature = 0;
    uint8_t *plain = generate(t.m, &o, "The cat", n);
    o.sampler.repetition_penalty = 1.8f;
    o.sampler.repetition_window = 16;
    uint8_t *want = generate(t.m, &o, "The cat", n);
    ck_assert_msg(memcmp(plain, want, (size_t)n) != 0, "the penalty changed nothing");
    char args[1024];
    snprintf(args, sizeof args, "--ckpt %s --prompt 'The cat' -n %ld --greedy --threads 2 --json "
             "--repetition-penalty 1.8 --repetition-window 16", run, n);
    Run r = run_cli(args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cJSON *js = cJSON_Parse(r.out);
    ck_assert_ptr_nonnull(js);
    Text text = as_text(want, n);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(js, "samples"), 0), "text")->valuestring,
                     text.p);
    ck_assert_int_eq(cJSON_GetObjectItem(js, "repetition_window")->valueint, 16);
    int d_plain = distinct(plain, n), d_pen = distinct(want, n);
    printf("cli repetition penalty: %d distinct bytes in %ld greedy ones, %d with --repetition-penalty 1.8\n",
           d_plain, n, d_pen);
    ck_assert_int_gt(d_pen, d_plain);
    cJSON_Delete(js);
    free(text.p), free(r.out), free(plain), free(want), free(run);
    tiny_free(&t);
}
END_TEST

START_TEST(test_cli_errors)
{
    struct { const char *args; int status; const char *err; } cases[] = {
        {"-n 5", 2, "--ckpt is required"},
        {"--ckpt /nonexistent", 2, "-n BYTES is required"},
        {"--ckpt /nonexistent -n x", 2, "-n must be an integer"},
        {"--ckpt /nonexistent -n 5 --top-p 0", 2, "--top-p must be a number in (0, 1]"},
        {"--ckpt /nonexistent -n 5 --utf8 lax", 2, "--utf8 must be safe, strict or off"},
        {"--ckpt /nonexistent -n 5 --prompt a --prompt-file b", 2, "not both"},
        {"--ckpt /nonexistent -n 5 --bogus", 2, "unknown option '--bogus'"},
        {"--ckpt /nonexistent -n 5 --stop ''", 2, "--stop needs a non-empty string"},
        {"--ckpt /nonexistent -n 5 --repetition-penalty 0", 2, "--repetition-penalty must be a number in (0,"},
        {"--ckpt /nonexistent -n 5 --repetition-window -1", 2, "--repetition-window must be an integer in"},
        {"--ckpt /nonexistent -n 5 --prompt a", 1, "bytelm: /nonexistent"},
        {"--ckpt /tmp -n 5 --prompt-file /nonexistent/p", 1, "bytelm: /nonexistent/p: cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Run r = run_cli(cases[i].args);
        ck_assert_msg(r.status == cases[i].status, "%s: exit %d", cases[i].args, r.status);
        ck_assert_msg(strstr(r.err, cases[i].err), "%s: stderr '%s'", cases[i].args, r.err);
        ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "%s: not one line", cases[i].args);
        ck_assert_uint_eq(r.n, 0);
        free(r.out);
    }
    Run r = run_cli("--help");
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: bytelm generate"));
    free(r.out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("generate-cli");
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 120);
    tcase_add_test(cli, test_cli_matches_engine);
    tcase_add_test(cli, test_cli_json_raw_bytes);
    tcase_add_test(cli, test_cli_batch_strict);
    tcase_add_test(cli, test_cli_stop_and_echo);
    tcase_add_test(cli, test_cli_repetition_penalty);
    tcase_add_test(cli, test_cli_errors);
    suite_add_tcase(s, cli);
    return tu_run(s);
}
