/* Where reading a pipe makes sense it is read whole, with a bound: `eval bpb` of "-", of a FIFO
 * and of <(...) scores exactly the bytes of the file, a prompt comes from a pipe, and a pipe
 * without end meets the bound with one line (through the binary and in process). Everywhere else
 * a FIFO or device is refused: the rows of tests/test_bad_inputs.c. */
#include <unistd.h>

#include "byte_lm/base/file_read.h"
#include "tests/test_cli_util.h"

/* The "bits" of `bytelm eval bpb --json` as printed (17 significant digits): equal strings are
 * equal results. */
static void bpb_bits(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[8192] = "";
    size_t n = fread(line, 1, sizeof line - 1, p);
    line[n] = 0;
    ck_assert_msg(pclose(p) == 0, "failed: %s", cmd);
    const char *b = strstr(line, "\"total\"");
    b = b ? strstr(b, "\"bits\":") : NULL;
    ck_assert_msg(b != NULL, "no total bits from %s: %s", cmd, line);
    snprintf(out, cap, "%.*s", (int)strcspn(b + 7, ","), b + 7);
}

/* Where a pipe makes sense it is read whole: eval bpb of "-", of a FIFO and of <(...) scores
 * exactly the bytes eval bpb of the file scores (also for zstd data), and a prompt from a pipe
 * works; a pipe without end meets the bound with one line. */
START_TEST(pipes_are_read_whole)
{
    char *T = tu_tmpdir("badin-pipe");
    const char *B = tu_bytelm();
    char f[1024];
    snprintf(f, sizeof f, "%s/text.txt", T);
    tu_write_words(f, 5, 2000, 16);
    tu_sh_ok("%s train --config configs/tiny.json --data %s --out %s/run -B 2 -L 32 --steps 1 --threads 1 2>/dev/null", B, f, T);
    tu_sh_ok("zstd -q %s -o %s/text.zst", f, T);
    char cmd[4096], want[64], got[64];
    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s/run --threads 1 --json %s 2>/dev/null", B, T, f);
    bpb_bits(cmd, want, sizeof want);
    const char *forms[] = {
        "cat %2$s | %1$s eval bpb --ckpt %3$s/run --threads 1 --json - 2>/dev/null",
        "bash -c '%1$s eval bpb --ckpt %3$s/run --threads 1 --json <(cat %2$s)' 2>/dev/null",
        "bash -c '%1$s eval bpb --ckpt %3$s/run --threads 1 --json <(cat %3$s/text.zst)' 2>/dev/null",
        "mkfifo %3$s/p && (cat %2$s > %3$s/p &) && %1$s eval bpb --ckpt %3$s/run --threads 1 --json %3$s/p 2>/dev/null; "
        "s=$?; rm -f %3$s/p; exit $s",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(cmd, sizeof cmd, forms[i], B, f, T);
        bpb_bits(cmd, got, sizeof got);
        ck_assert_msg(!strcmp(got, want), "%s: bits %s, the file gives %s", cmd, got, want);
    }
    printf("eval bpb of -, <(cat f), <(cat f.zst) and a FIFO: %s bits, as of the file\n", want);

    /* a prompt through a pipe, and one without end */
    snprintf(cmd, sizeof cmd, "printf 'the ' | %s generate --ckpt %s/run -n 4 --greedy --prompt-file - >/dev/null 2>&1", B, T);
    ck_assert_int_eq(tu_sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s generate --ckpt %s/run -n 4 --prompt-file - < /dev/zero > /dev/null 2> %s/err.txt", B, T, T);
    ck_assert_int_eq(tu_sh(cmd), 1);
    snprintf(f, sizeof f, "%s/err.txt", T);
    char *err = tu_slurp(f, NULL);
    ck_assert_msg(!strncmp(err, "bytelm: <stdin>: more than 1048576 bytes", 40) && strchr(err, '\n') == err + strlen(err) - 1,
                  "stdin without end as a prompt: %s", err);
    printf("prompt from /dev/zero on stdin: %s", err);
    free(err);
    tu_sh_ok("rm -rf %s", T);
    free(T);
}
END_TEST

/* The bound on a pipe, in process: a pipe with more than max bytes is refused at max. */
START_TEST(pipe_bound)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        char block[1000];
        memset(block, 'x', sizeof block);
        for (int i = 0; i < 10; i++)
            if (write(fds[1], block, sizeof block) < 0) break;
        _exit(0);
    }
    close(fds[1]);
    char path[64], *buf;
    size_t len;
    BlErr e;
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    ck_assert_int_eq(file_read_all(path, 4096, FILE_PIPE_OK, &buf, &len, &e), -1);
    char want[128];
    snprintf(want, sizeof want, "%s: more than 4096 bytes: too large to read (offset 4096)", path);
    ck_assert_str_eq(e.msg, want);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    /* without FILE_PIPE_OK the same path is refused unread */
    ck_assert_int_eq(file_read_all("/dev/zero", 4096, 0, &buf, &len, &e), -1);
    ck_assert_str_eq(e.msg, "/dev/zero: not a regular file (a character device)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pipes");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, pipes_are_read_whole);
    tcase_add_test(tc, pipe_bound);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
