/* Limits through the binary: memory exhaustion (a decompression bomb, absurd batch sizes) ends
 * in one line and exit 1, not a signal; adversarial headers cost near-linear work; extreme but
 * finite weights give a finite, correct score; empty prompts and odd paths work; every --json
 * output parses as JSON. */
#include <cJSON.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <zstd.h>

#include "byte_lm/format/safetensors.h"
#include "tests/test_cli_util.h"

typedef struct {
    int status;
    char *out, *err;
} Run;

/* Runs bytelm with argv (NULL-terminated, after the program name), stdin from /dev/null and
 * the address space limited to as_bytes (0: no limit). */
static Run run(const char *tmp, rlim_t as_bytes, const char *const *args)
{
    char out_path[1024], err_path[1024];
    snprintf(out_path, sizeof out_path, "%s/out.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/err.txt", tmp);
    const char *argv[40];
    int n = 0;
    argv[n++] = tu_bytelm();
    while (args[n - 1] && n < 39) argv[n] = args[n - 1], n++;
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644),
            e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in, 0), dup2(o, 1), dup2(e, 2);
        struct rlimit core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        if (as_bytes) {
            struct rlimit as = {as_bytes, as_bytes};
            setrlimit(RLIMIT_AS, &as);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    Run r;
    ck_assert_int_eq(waitpid(pid, &r.status, 0), pid);
    r.out = tu_slurp(out_path, NULL);
    r.err = tu_slurp(err_path, NULL);
    ck_assert_ptr_nonnull(r.out);
    ck_assert_ptr_nonnull(r.err);
    return r;
}

static void run_free(Run *r)
{
    free(r->out);
    free(r->err);
}

/* The lines of stderr that are errors ("bytelm: ..."): exactly one, containing `says`. */
static void assert_one_error(const Run *r, int code, const char *says)
{
    ck_assert_msg(WIFEXITED(r->status), "killed by signal %d; stderr: %s", WTERMSIG(r->status), r->err);
    ck_assert_msg(WEXITSTATUS(r->status) == code, "exit %d, expected %d; stderr: %s", WEXITSTATUS(r->status), code,
                  r->err);
    int errors = 0;
    const char *line = NULL;
    for (const char *p = r->err; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
        if (!strncmp(p, "bytelm: ", 8)) errors++, line = p;
    ck_assert_msg(errors == 1, "%d error lines: %s", errors, r->err);
    ck_assert_msg(strstr(line, says) != NULL, "error does not say \"%s\": %s", says, line);
}

/* A tiny one-step run in tmp/name, trained on a words file. */
static void make_run(const char *tmp, const char *name)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/words.txt", tmp);
    tu_write_words(cmd, 3, 3000, 16);
    snprintf(cmd, sizeof cmd,
             "'%s' train --config configs/tiny.json --data '%s/words.txt' --out '%s/%s' -B 2 -L 32 --steps 1 "
             "--threads 1 2>/dev/null >/dev/null",
             tu_bytelm(), tmp, tmp, name);
    tu_sh_ok("%s", cmd);
}

/* A .zst of `bytes` zero bytes, a few kilobytes on disk. */
static void write_bomb(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
    size_t chunk = (size_t)1 << 20, outcap = ZSTD_CStreamOutSize();
    uint8_t *zeros = calloc(chunk, 1), *out = malloc(outcap);
    for (size_t done = 0; done < bytes; done += chunk) {
        ZSTD_inBuffer in = {zeros, chunk, 0};
        ZSTD_EndDirective end = done + chunk >= bytes ? ZSTD_e_end : ZSTD_e_continue;
        size_t left;
        do {
            ZSTD_outBuffer o = {out, outcap, 0};
            left = ZSTD_compressStream2(c, &o, &in, end);
            ck_assert(!ZSTD_isError(left));
            fwrite(out, 1, o.pos, f);
        } while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
    }
    ZSTD_freeCCtx(c);
    free(zeros);
    free(out);
    fclose(f);
}

/* 1.5 GiB of zeros in a few kilobytes, read with 2 GiB of address space: refused in one line. */
START_TEST(decompression_bomb)
{
    if (UNDER_ASAN) return; /* ASan reserves terabytes of address space: no RLIMIT_AS */
    char *T = tu_tmpdir("limits-bomb"), bomb[1024], out[1024];
    snprintf(bomb, sizeof bomb, "%s/bomb.zst", T);
    snprintf(out, sizeof out, "%s/r", T);
    write_bomb(bomb, (size_t)3 << 29);
    const char *args[] = {"train", "--config", "configs/tiny.json", "--data", bomb, "--out", out, "-B", "2", "-L", "32",
                          "--steps", "1", "--threads", "1", NULL};
    Run r = run(T, (rlim_t)2 << 30, args);
    assert_one_error(&r, 1, "decodes to more than");
    ck_assert_msg(strstr(r.err, bomb) != NULL, "the file is not named: %s", r.err);
    struct stat st;
    ck_assert_msg(stat(out, &st) != 0, "the run directory was created");
    run_free(&r);
    tu_rmdir(T);
}
END_TEST

/* Activations of 64 x 16384 rows (about 11 GiB for tiny) fit the machine but not 2 GiB of
 * address space: the allocation fails, in one line and exit 1, not an abort. */
START_TEST(out_of_memory_is_one_line)
{
    if (UNDER_ASAN) return;
    char *T = tu_tmpdir("limits-oom"), data[1024], out[1024];
    snprintf(data, sizeof data, "%s/words.txt", T);
    tu_write_words(data, 5, 60000, 16);
    snprintf(out, sizeof out, "%s/r", T);
    const char *args[] = {"train", "--config", "configs/tiny.json", "--data", data, "--out", out, "-B", "64", "-L",
                          "16384", "--steps", "1", "--threads", "1", NULL};
    Run r = run(T, (rlim_t)2 << 30, args);
    assert_one_error(&r, 1, "out of memory");
    run_free(&r);
    tu_rmdir(T);
}
END_TEST

/* 100k __metadata__ keys: a header of 1.5 MB read in well under the 5 s bound (it took 16 s when
 * each key was compared with all before it). */
START_TEST(many_metadata_keys)
{
    char *T = tu_tmpdir("limits-meta"), path[1024];
    make_run(T, "run");
    snprintf(path, sizeof path, "%s/run/checkpoint/model.safetensors", T);
    size_t n;
    uint8_t *d = (uint8_t *)tu_slurp(path, &n);
    uint64_t hlen;
    memcpy(&hlen, d, 8);
    /* the header with its __metadata__ replaced by 100k keys */
    cJSON *hdr = cJSON_ParseWithLength((const char *)d + 8, hlen);
    ck_assert_ptr_nonnull(hdr);
    cJSON_DeleteItemFromObject(hdr, "__metadata__");
    cJSON *meta = cJSON_CreateObject();
    for (int i = 0; i < 100000; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        cJSON_AddStringToObject(meta, key, "v");
    }
    cJSON_AddItemToObject(hdr, "__metadata__", meta);
    char *h = cJSON_PrintUnformatted(hdr);
    cJSON_Delete(hdr);
    size_t k = strlen(h);
    FILE *f = fopen(path, "wb");
    uint64_t nh = k;
    fwrite(&nh, 8, 1, f);
    fwrite(h, 1, k, f);
    fwrite(d + 8 + hlen, 1, n - 8 - hlen, f);
    fclose(f);
    free(h);
    free(d);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/run", T);
    const char *args[] = {"info", dir, NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Run r = run(T, 0, args);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "info failed: %s", r.err);
    ck_assert_msg(dt < 5.0, "info took %.1f s on 100k metadata keys", dt);
    run_free(&r);
    /* and a repeated key is still found, at its second occurrence */
    tu_rmdir(T);
}
END_TEST

/* An embedding of 1e30 in its first column and 0 elsewhere makes every logit the same huge
 * number: exactly 8 bits per byte, not the 0.0 that adding the max before the log-sum gave.
 * (1e30 everywhere would make them equal only in exact arithmetic: a BLAS may order the sum
 * of one output column differently from another's, and at 1e31 an ulp is 1e24, so the scores
 * would depend on the BLAS kernel. With one nonzero column each logit is one product plus
 * zeros, the same bits in any order.) */
START_TEST(huge_embedding_scores_eight_bits)
{
    char *T = tu_tmpdir("limits-huge"), path[1024], dir[1024];
    make_run(T, "run");
    snprintf(path, sizeof path, "%s/run/checkpoint/model.safetensors", T);
    SafeTensors *st;
    BlErr e;
    ck_assert_msg(st_read(&st, path, &e) == 0, "%s", e.msg);
    const StTensor *t = st_find(st, "backbone.embeddings.weight");
    ck_assert_ptr_nonnull(t);
    uint64_t off = t->file_offset, count = t->numel, width = (uint64_t)t->shape[1];
    st_free(st);
    float *v = malloc(count * sizeof(float));
    for (uint64_t i = 0; i < count; i++) v[i] = i % width == 0 ? 1e30f : 0.0f;
    int fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, v, count * sizeof(float), (off_t)off), (ssize_t)(count * sizeof(float)));
    close(fd);
    free(v);
    snprintf(dir, sizeof dir, "%s/run", T);
    snprintf(path, sizeof path, "%s/words.txt", T);
    const char *args[] = {"eval", "bpb", "--ckpt", dir, "--json", path, NULL};
    Run r = run(T, 0, args);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "eval failed: %s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    ck_assert_msg(o != NULL, "not JSON: %s", r.out);
    cJSON *bpb = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "bits_per_byte");
    ck_assert_msg(cJSON_IsNumber(bpb), "no bits_per_byte: %s", r.out);
    ck_assert_msg(fabs(bpb->valuedouble - 8.0) < 1e-3, "one-column 1e30 embedding scores %.6f bits/byte, expected 8", bpb->valuedouble);
    cJSON_Delete(o);
    run_free(&r);
    tu_rmdir(T);
}
END_TEST

/* An empty prompt starts from a newline (and must not hand memcpy a NULL: UBSan checks it). */
START_TEST(empty_prompt)
{
    char *T = tu_tmpdir("limits-prompt"), dir[1024];
    make_run(T, "run");
    snprintf(dir, sizeof dir, "%s/run", T);
    const char *args[] = {"generate", "--ckpt", dir, "--prompt", "", "-n", "8", "--seed", "1", "--utf8", "off", NULL};
    Run r = run(T, 0, args);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "generate --prompt \"\": %s", r.err);
    ck_assert_msg(strstr(r.err, "runtime error") == NULL, "%s", r.err);
    run_free(&r);
    tu_rmdir(T);
}
END_TEST

/* Paths with quotes, backslashes and control characters come out of every --json as the same
 * string: info, train and prepare. */
START_TEST(json_escapes_paths)
{
    char *T = tu_tmpdir("limits-json"), odd[1024], data[1024], corp[1024];
    snprintf(odd, sizeof odd, "%s/q\"uo\\te\tx", T);
    snprintf(data, sizeof data, "%s/words.txt", T);
    tu_write_words(data, 3, 3000, 16);
    const char *train[] = {"train", "--config", "configs/tiny.json", "--data", data, "--out", odd, "-B", "2", "-L",
                           "32", "--steps", "1", "--threads", "1", "--json", NULL};
    Run r = run(T, 0, train);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "train: %s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    ck_assert_msg(o != NULL, "train --json is not JSON: %s", r.out);
    char want[1100];
    snprintf(want, sizeof want, "%s/checkpoint", odd);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "checkpoint")), want);
    cJSON_Delete(o);
    run_free(&r);

    const char *info[] = {"info", "--json", odd, NULL};
    r = run(T, 0, info);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "info: %s", r.err);
    o = cJSON_Parse(r.out);
    ck_assert_msg(o != NULL, "info --json is not JSON: %s", r.out);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "checkpoint")), want);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "weights_rms")));
    ck_assert(cJSON_IsObject(cJSON_GetObjectItem(o, "options")));
    ck_assert(cJSON_IsObject(cJSON_GetObjectItem(o, "optimizer")));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "final_train_bpb"))); /* from metrics.jsonl */
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "final_val_bpb")));     /* no validation set */
    cJSON_Delete(o);
    run_free(&r);

    snprintf(corp, sizeof corp, "%s/c\"orp", T);
    const char *prep[] = {"prepare", data, "-o", corp, "-q", "--json", NULL};
    r = run(T, 0, prep);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "prepare: %s", r.err);
    o = cJSON_Parse(r.out);
    ck_assert_msg(o != NULL, "prepare --json is not JSON: %s", r.out);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "corpus")), corp);
    cJSON_Delete(o);
    run_free(&r);
    tu_rmdir(T);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli-limits");
    TCase *c = tcase_create("limits");
    tcase_set_timeout(c, 300);
    tcase_add_test(c, decompression_bomb);
    tcase_add_test(c, out_of_memory_is_one_line);
    tcase_add_test(c, many_metadata_keys);
    tcase_add_test(c, huge_embedding_scores_eight_bits);
    tcase_add_test(c, empty_prompt);
    tcase_add_test(c, json_escapes_paths);
    suite_add_tcase(s, c);
    return tu_run(s);
}
