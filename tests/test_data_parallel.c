/* Data parallel training on the CPU: `bytelm train --procs 2` against one process with twice the
 * accumulation (same losses, same weights, checkpoints that resume alone), the shared-memory
 * communicator's sums and broadcasts against direct computation over 3 forked processes, and
 * ranks that die or leave making the others fail with one line instead of waiting forever, and a
 * failing launcher ending the ranks it started. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "byte_lm/train/comm.h"
#include "byte_lm/format/safetensors.h"
#include "tests/test_cli_util.h"

static void assert_losses_close(const double *a, const double *b, int n, const char *what)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double rel = fabs(a[i] - b[i]) / fabs(b[i]);
        if (rel > worst) worst = rel;
        ck_assert_msg(rel < 1e-5, "%s: step %d loss %.9g vs %.9g", what, i + 1, a[i], b[i]);
    }
    printf("%s: %d losses, largest relative difference %.2e\n", what, n, worst);
}

/* Every tensor of run a's model.safetensors against run b's: ||a-b||/||b|| < 1e-5. */
static void assert_weights_close(const char *dir, const char *a, const char *b)
{
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s/checkpoint/model.safetensors", dir, a);
    snprintf(pb, sizeof pb, "%s/%s/checkpoint/model.safetensors", dir, b);
    SafeTensors *sa, *sb;
    BlErr e;
    ck_assert_msg(st_read(&sa, pa, &e) == 0, "%s", e.msg);
    ck_assert_msg(st_read(&sb, pb, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(st_count(sa), st_count(sb));
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < st_count(sa); i++) {
        const StTensor *ta = st_tensor(sa, i), *tb = st_find(sb, ta->name);
        ck_assert_msg(tb != NULL, "%s missing in %s", ta->name, pb);
        ck_assert(ta->dtype == ST_F32 && tb->dtype == ST_F32 && ta->numel == tb->numel);
        float *fa = malloc(ta->nbytes), *fb = malloc(tb->nbytes);
        memcpy(fa, ta->data, ta->nbytes);
        memcpy(fb, tb->data, tb->nbytes);
        double rel = tu_rel_err(fa, fb, ta->numel);
        printf("  %-40s rel. error %.3e\n", ta->name, rel);
        ck_assert_msg(rel < 1e-5, "%s: rel. error %.3e", ta->name, rel);
        if (rel > worst) worst = rel, worst_name = ta->name;
        free(fa);
        free(fb);
    }
    printf("weights of %s vs %s: %d tensors, largest rel. error %.3e (%s)\n", a, b, st_count(sa),
           worst, worst_name);
    st_free(sa);
    st_free(sb);
}

#define COMMON "--config configs/tiny.json -B 4 -L 64 --steps 8 --warmup 2 --lr 5e-3 --threads 1 --ckpt-every 0"

START_TEST(test_two_procs_equal_accum_two)
{
    char *dir = tu_tmpdir("dp"), cmd[4096], data[1024], path[1024];
    snprintf(data, sizeof data, "%s/text.txt", dir);
    tu_write_words(data, 9, 6000, 16);
    snprintf(cmd, sizeof cmd, "%s train " COMMON " --accum 2 --data %s --out %s/one 2>%s/one.log",
             tu_bytelm(), data, dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s train " COMMON " --procs 2 --data %s --out %s/two 2>%s/two.log",
             tu_bytelm(), data, dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);
    /* stop the 2-process run half way, then finish it in one process with accum 2 */
    snprintf(cmd, sizeof cmd, "%s train " COMMON " --procs 2 --stop-after 4 --data %s --out %s/half 2>%s/half.log",
             tu_bytelm(), data, dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s train --resume %s/half --threads 1 2>>%s/half.log", tu_bytelm(), dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);

    double one[16], two[16], half[16];
    snprintf(path, sizeof path, "%s/one/metrics.jsonl", dir);
    ck_assert_int_eq(tu_read_losses(path, one, 16), 8);
    snprintf(path, sizeof path, "%s/two/metrics.jsonl", dir);
    ck_assert_int_eq(tu_read_losses(path, two, 16), 8);
    snprintf(path, sizeof path, "%s/half/metrics.jsonl", dir);
    ck_assert_int_eq(tu_read_losses(path, half, 16), 8);
    ck_assert(one[7] < one[0] - 0.5); /* it trains */
    assert_losses_close(two, one, 8, "--procs 2 vs --accum 2");
    assert_losses_close(half, one, 8, "--procs 2 stopped at 4, resumed alone, vs --accum 2");
    assert_weights_close(dir, "two", "one");
    assert_weights_close(dir, "half", "one");
    tu_rmdir(dir);
}
END_TEST

/* ---- the communicator itself, 3 forked processes ---- */

#define NRANKS 3
#define NFLOATS ((size_t)300007) /* more than one 2^18-float chunk */
#define NBYTES ((size_t)1100003) /* more than one 1 MiB chunk */

static void rank_data(float *x, int rank)
{
    uint64_t s = 1000 + (uint64_t)rank;
    tu_fill(x, NFLOATS, &s, -3, 3);
}

/* One rank of the unit test; returns the process exit code (0 ok), printing what went wrong. */
static int comm_rank(const char *name, int rank)
{
    BlErr e;
    Comm *c = comm_shm_create(name, rank, NRANKS, 30, &e);
    if (!c) {
        fprintf(stderr, "rank %d: %s\n", rank, e.msg);
        return 1;
    }
    float *x = malloc(NFLOATS * sizeof *x), *want = calloc(NFLOATS, sizeof *want), *other = malloc(NFLOATS * sizeof *x);
    for (int r = 0; r < NRANKS; r++) { /* the direct sum, in rank order */
        rank_data(other, r);
        for (size_t i = 0; i < NFLOATS; i++) want[i] = r ? want[i] + other[i] : other[i];
    }
    rank_data(x, rank);
    int bad = c->allreduce_sum(c, x, NFLOATS, &e) ? 1 : 0;
    for (size_t i = 0; !bad && i < NFLOATS; i++)
        if (x[i] != want[i]) {
            fprintf(stderr, "rank %d: sum[%zu] = %.9g, direct %.9g\n", rank, i, x[i], want[i]);
            bad = 2;
        }
    uint8_t *b = malloc(NBYTES);
    for (size_t i = 0; i < NBYTES; i++) b[i] = rank == 0 ? (uint8_t)(i * 7 + i / 1000) : 0xAA;
    if (!bad && c->broadcast(c, b, NBYTES, &e)) bad = 3;
    for (size_t i = 0; !bad && i < NBYTES; i++)
        if (b[i] != (uint8_t)(i * 7 + i / 1000)) {
            fprintf(stderr, "rank %d: broadcast byte %zu differs\n", rank, i);
            bad = 4;
        }
    if (!bad && c->barrier(c, &e)) bad = 5;
    if (bad >= 3 && bad != 4) fprintf(stderr, "rank %d: %s\n", rank, e.msg);
    /* then rank 2 leaves: the others' next barrier must fail, not wait */
    if (!bad && rank == 2) {
        c->destroy(c);
        c = NULL;
    } else if (!bad) {
        if (c->barrier(c, &e) == 0) {
            fprintf(stderr, "rank %d: barrier passed without rank 2\n", rank);
            bad = 6;
        } else if (!strstr(e.msg, "rank 2 of 3 left the group")) {
            fprintf(stderr, "rank %d: unexpected error: %s\n", rank, e.msg);
            bad = 7;
        } else if (rank == 0) {
            printf("after rank 2 left, rank 0's barrier failed with: %s\n", e.msg);
        }
    }
    if (c) c->destroy(c);
    free(x);
    free(want);
    free(other);
    free(b);
    return bad;
}

START_TEST(test_comm_shm_three_ranks)
{
    char name[64];
    snprintf(name, sizeof name, "/bytelm-test-%d-%ld", (int)getpid(), (long)time(NULL));
    fflush(stdout);
    pid_t pids[NRANKS];
    for (int r = 0; r < NRANKS; r++) {
        pids[r] = fork();
        ck_assert_int_ge(pids[r], 0);
        if (pids[r] == 0) {
            int code = comm_rank(name, r);
            fflush(stdout);
            _exit(code);
        }
    }
    for (int r = 0; r < NRANKS; r++) {
        int st;
        ck_assert_int_eq(waitpid(pids[r], &st, 0), pids[r]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rank %d failed (status %d)", r, st);
    }
    printf("comm shm: allreduce of %zu floats over %d ranks equals the direct sum bit for bit; "
           "broadcast of %zu bytes\n", NFLOATS, NRANKS, NBYTES);
}
END_TEST

/* ---- a rank killed in the middle of training ---- */

static pid_t start_rank(const char *dir, const char *data, int rank, const char *rdv)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "exec %s train --config configs/tiny.json -B 4 -L 64 --steps 1000000 --threads 1 "
             "--ckpt-every 0 --data %s --out %s/run --rank %d --world 3 --rendezvous %s 2>%s/rank%d.log",
             tu_bytelm(), data, dir, rank, rdv, dir, rank);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* Waits up to `seconds` for pid; its exit code, or -1 when it is still running (then killed). */
static int wait_exit(pid_t pid, double seconds)
{
    for (int i = 0; i < seconds * 100; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

START_TEST(test_killed_rank_fails_the_others)
{
    char *dir = tu_tmpdir("dpkill"), data[1024], path[1024], rdv[64];
    snprintf(data, sizeof data, "%s/text.txt", dir);
    tu_write_words(data, 9, 6000, 16);
    snprintf(rdv, sizeof rdv, "/bytelm-test-kill-%d", (int)getpid());
    pid_t pids[3];
    for (int r = 0; r < 3; r++) pids[r] = start_rank(dir, data, r, rdv);
    /* let it train a few steps (rank 0 writes one metrics line per step) */
    snprintf(path, sizeof path, "%s/run/metrics.jsonl", dir);
    for (int i = 0; i < 6000 && count_lines(path) < 3; i++) usleep(10000);
    ck_assert_int_ge(count_lines(path), 3);
    kill(pids[1], SIGKILL);
    waitpid(pids[1], NULL, 0);
    for (int r = 0; r < 3; r += 2) {
        int code = wait_exit(pids[r], 30);
        ck_assert_msg(code == 1, "rank %d: exit %d after rank 1 was killed (-1: still running)", r, code);
        snprintf(path, sizeof path, "%s/rank%d.log", dir, r);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        char line[1024], last[1024] = "";
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "bytelm: ", 8)) snprintf(last, sizeof last, "%s", line);
        fclose(f);
        ck_assert_msg(strstr(last, "rank 1 of 3 died") != NULL, "rank %d said: %s", r, last);
        printf("rank %d after rank 1 was killed: %s", r, last);
    }
    tu_rmdir(dir);
}
END_TEST

/* The launcher's rank 0 fails after the others started (its run directory cannot be made): the
 * command ends with 1 and the started ranks end too, having seen rank 0 leave. */
START_TEST(test_launcher_rank0_fails)
{
    char *dir = tu_tmpdir("dpfail"), cmd[4096], data[1024], path[1024];
    snprintf(data, sizeof data, "%s/text.txt", dir);
    tu_write_words(data, 9, 6000, 16);
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s train " COMMON " --procs 3 --data %s --out %s/file/run 2>%s/err.log",
             tu_bytelm(), data, dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 1);
    snprintf(path, sizeof path, "%s/err.log", dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int own = 0, echoes = 0;
    while (fgets(line, sizeof line, f)) {
        own += strstr(line, "cannot create directory") != NULL;
        echoes += strstr(line, "rank 0 of 3 left the group") != NULL;
    }
    fclose(f);
    ck_assert_int_eq(own, 1);
    ck_assert_int_eq(echoes, 2);
    tu_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data-parallel");
    TCase *tc = tcase_create("dp");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_two_procs_equal_accum_two);
    tcase_add_test(tc, test_comm_shm_three_ranks);
    tcase_add_test(tc, test_killed_rank_fails_the_others);
    tcase_add_test(tc, test_launcher_rank0_fails);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
