/* Crash safety of `bytelm train`, through the binary:
 *   - SIGKILL at random moments of a run that saves a checkpoint every step: after every kill the
 *     last complete checkpoint resolves and loads (config, weights, optimizer moments, trainer
 *     state, as --resume reads them), never older than one seen before, and --resume continues
 *     from it. A kill after which no loadable checkpoint exists although one was complete before
 *     is a loss; there must be none. BYTELM_CRASH_KILLS sets the number of kills (default 30),
 *     BYTELM_CRASH_SEED the random delays. Resuming from the DIR.old copy a crash between the
 *     two renames of a save leaves is also tested on its own, since random kills rarely hit it.
 *   - SIGINT / SIGTERM: train saves a checkpoint at the step it reached, says so, and exits 130;
 *     a second SIGINT ends it at once, and the last complete checkpoint still loads.
 *   - a non-finite loss: the step's update is skipped with a warning, weights and optimizer
 *     moments stay as they were, and metrics.jsonl stays JSON. The NaN comes from a checkpoint
 *     with one NaN weight, since the trainer has no way to inject one into a healthy run. */
#include <cJSON.h>
#include <fcntl.h>
#include <float.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "byte_lm/model/backend.h"
#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/format/safetensors.h"
#include "tests/test_cli_util.h"

static void sleep_ms(double ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)((ms - 1000 * (double)(time_t)(ms / 1000)) * 1e6)};
    while (nanosleep(&t, &t) != 0) continue;
}

/* Starts bytelm with argv[1..] (argv[0] is filled in), stdout to /dev/null, stderr to err_path. */
static pid_t spawn(const char **argv, const char *err_path)
{
    argv[0] = tu_bytelm();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR), err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(null, 0), dup2(null, 1), dup2(err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return st;
}

/* Loads the checkpoint of a run directory the way `train --resume` does, in full: resolve (with
 * the .old fallback), config, weights, optimizer moments and trainer state. Returns its step, or
 * -1 with the reason in e. */
static int load_checkpoint(const char *run, BlErr *e)
{
    char dir[4096];
    ModelConfig cfg;
    if (checkpoint_resolve(run, dir, sizeof dir, e) || checkpoint_load_config(dir, &cfg, e)) return -1;
    Backend *be = backend_cpu_create(1);
    Model *m;
    int rc = model_create(&m, &cfg, be, e);
    TrainerState ts;
    if (!rc) {
        rc = checkpoint_load_weights(dir, m, e);
        if (!rc) {
            Optimizer opt;
            OptimConfig oc;
            optim_config_default(&oc);
            optimizer_init(&opt, m, &oc);
            rc = checkpoint_load_trainer(dir, m, &opt, &ts, e);
            optimizer_free(&opt, m);
        }
        model_free(m);
    }
    be->destroy(be);
    return rc ? -1 : ts.step;
}

/* Step of the last line of metrics.jsonl that has one; 0 if none. */
static int last_logged_step(const char *run)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    char *s = tu_slurp(p, NULL), *at = s, *hit;
    int step = 0;
    while (s && (hit = strstr(at, "{\"step\":"))) {
        step = atoi(hit + 8);
        at = hit + 8;
    }
    free(s);
    return step;
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

START_TEST(sigkill_during_saves)
{
    const char *env_n = getenv("BYTELM_CRASH_KILLS"), *env_seed = getenv("BYTELM_CRASH_SEED");
    int kills = env_n ? atoi(env_n) : 30;
    uint64_t seed = env_seed ? strtoull(env_seed, NULL, 10) : 20240611, rng = seed;
    char *T = tu_tmpdir("crash"), text[1024], run[1024], err[1024], tmp[1100], old[1100];
    snprintf(text, sizeof text, "%s/text.txt", T);
    snprintf(run, sizeof run, "%s/run", T);
    snprintf(err, sizeof err, "%s/stderr.txt", T);
    snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", run);
    snprintf(old, sizeof old, "%s/checkpoint.old", run);
    tu_write_words(text, 3, 3000, 8);

    int good = -1, losses = 0, mid_save = 0, from_old = 0, resumed = 0;
    double t0 = (double)time(NULL);
    for (int i = 0; i < kills; i++) {
        const char *fresh[] = {NULL, "train", "--config", "configs/tiny.json", "--data", text, "--out", run, "-B", "2",
                               "-L", "32", "--steps", "1000000", "--warmup", "10", "--ckpt-every", "1", "--threads",
                               "1", NULL};
        const char *resume[] = {NULL, "train", "--resume", run, "--threads", "1", NULL};
        resumed += good >= 0;
        pid_t pid = spawn(good >= 0 ? resume : fresh, err);
        sleep_ms((double)(tu_next(&rng) % 301));
        kill(pid, SIGKILL);
        int st = wait_status(pid);
        if (!WIFSIGNALED(st)) { /* it ended by itself: it failed, which is not what this tests */
            char *msg = tu_slurp(err, NULL);
            ck_abort_msg("kill %d: train exited with %d before the kill: %s", i, WEXITSTATUS(st), msg);
        }
        mid_save += exists(tmp) || exists(old);
        BlErr e;
        char dir[4096];
        int step = load_checkpoint(run, &e);
        if (step >= 0 && checkpoint_resolve(run, dir, sizeof dir, &e) == 0) from_old += strstr(dir, ".old") != NULL;
        if (step < 0 && good >= 0) {
            losses++;
            fprintf(stderr, "kill %d: LOST the checkpoint of step %d: %s\n", i, good, e.msg);
        } else if (step >= 0 && step < good) {
            losses++;
            fprintf(stderr, "kill %d: checkpoint went back from step %d to %d\n", i, good, step);
        }
        if (step >= 0) good = step;
    }
    printf("kill loop: %d SIGKILLs at 0-300 ms (seed %llu), %d left a save in progress (%d resolved to "
           "checkpoint.old), %d resumed runs, last checkpoint at step %d, %d losses, %.0f s\n",
           kills, (unsigned long long)seed, mid_save, from_old, resumed, good, losses, (double)time(NULL) - t0);
    fflush(stdout);
    ck_assert_int_eq(losses, 0);
    ck_assert_msg(good > 0, "no checkpoint was ever completed: the kills came too early to test anything");

    /* the survivor resumes and trains on, through the CLI */
    char steps[32];
    snprintf(steps, sizeof steps, "%d", good + 2);
    const char *cont[] = {NULL, "train", "--resume", run, "--threads", "1", "--steps", steps, NULL};
    int st = wait_status(spawn(cont, err));
    char *msg = tu_slurp(err, NULL);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "resume after the last kill failed: %s", msg);
    free(msg);
    BlErr e;
    int now = load_checkpoint(run, &e);
    ck_assert_msg(now == good + 2, "resumed to step %d, but the run's checkpoint is at step %d", good + 2, now);
    const char *info[] = {NULL, "info", run, NULL};
    st = wait_status(spawn(info, err));
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    ck_assert_int_eq(system(cmd), 0);
    free(T);
}
END_TEST

/* A crash between the two renames of a save leaves RUN/checkpoint.old and no RUN/checkpoint
 * (byte_lm/base/atomic_dir.c). Resuming RUN loads checkpoint.old and must go on writing the run:
 * RUN/checkpoint and RUN/metrics.jsonl, not a new run inside checkpoint.old. */
START_TEST(resume_from_old_copy)
{
    char *T = tu_tmpdir("old"), text[1024], run[1024], err[1024], ckpt[1100], old[1100], nested[1200];
    snprintf(text, sizeof text, "%s/text.txt", T);
    snprintf(run, sizeof run, "%s/run", T);
    snprintf(err, sizeof err, "%s/stderr.txt", T);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint", run);
    snprintf(old, sizeof old, "%s/checkpoint.old", run);
    snprintf(nested, sizeof nested, "%s/checkpoint", old);
    tu_write_words(text, 3, 3000, 8);
    const char *first[] = {NULL, "train", "--config", "configs/tiny.json", "--data", text, "--out", run,
                           "-B", "2", "-L", "32", "--steps", "3", "--threads", "1", NULL};
    int st = wait_status(spawn(first, err));
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(rename(ckpt, old), 0);
    BlErr e;
    ck_assert_int_eq(load_checkpoint(run, &e), 3); /* the fallback works */
    const char *cont[] = {NULL, "train", "--resume", run, "--steps", "5", "--threads", "1", NULL};
    st = wait_status(spawn(cont, err));
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_msg(!exists(nested), "the resumed run wrote a new run inside %s", old);
    int step = load_checkpoint(run, &e);
    ck_assert_msg(step == 5, "the run's checkpoint is at step %d after resuming to step 5", step);
    ck_assert_int_eq(last_logged_step(run), 5);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    ck_assert_int_eq(system(cmd), 0);
    free(T);
}
END_TEST

/* Waits until the run has logged at least `steps` steps (the signal handler is installed by then). */
static void wait_for_steps(const char *run, int steps, pid_t pid)
{
    for (int waited = 0; last_logged_step(run) < steps; waited += 5) {
        int st;
        ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "train ended before step %d", steps);
        ck_assert_msg(waited < 120000, "train logged no step %d within 2 minutes", steps);
        sleep_ms(5);
    }
}

/* One signal mid-run: a checkpoint of the step reached, a message, exit status 130. */
static void one_signal(int sig, const char *says)
{
    char *T = tu_tmpdir("signal"), text[1024], run[1024], err[1024];
    snprintf(text, sizeof text, "%s/text.txt", T);
    snprintf(run, sizeof run, "%s/run", T);
    snprintf(err, sizeof err, "%s/stderr.txt", T);
    tu_write_words(text, 3, 3000, 8);
    /* no periodic checkpoint: the one found afterwards can only come from the signal */
    const char *argv[] = {NULL, "train", "--config", "configs/tiny.json", "--data", text, "--out", run, "-B", "2", "-L",
                          "32", "--steps", "1000000", "--ckpt-every", "0", "--threads", "1", NULL};
    pid_t pid = spawn(argv, err);
    wait_for_steps(run, 3, pid);
    kill(pid, sig);
    int st = wait_status(pid);
    char *msg = tu_slurp(err, NULL);
    ck_assert_msg(WIFEXITED(st), "train died by signal %d instead of stopping cleanly", WTERMSIG(st));
    ck_assert_msg(WEXITSTATUS(st) == 130, "exit status %d after %s, expected 130: %s", WEXITSTATUS(st), says, msg);
    int logged = last_logged_step(run);
    char want[128];
    snprintf(want, sizeof want, "bytelm train: %s at step %d", says, logged);
    ck_assert_msg(strstr(msg, want) != NULL, "stderr lacks \"%s\": %s", want, msg);
    BlErr e;
    int step = load_checkpoint(run, &e);
    ck_assert_msg(step == logged, "checkpoint step %d (%s), last logged step %d", step, step < 0 ? e.msg : "", logged);
    printf("%s: stopped at step %d with exit status 130 and a complete checkpoint of that step\n", says, step);
    free(msg);

    /* and the run continues from there */
    char steps[32];
    snprintf(steps, sizeof steps, "%d", logged + 2);
    const char *cont[] = {NULL, "train", "--resume", run, "--threads", "1", "--steps", steps, NULL};
    st = wait_status(spawn(cont, err));
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(load_checkpoint(run, &e), logged + 2);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    ck_assert_int_eq(system(cmd), 0);
    free(T);
}

START_TEST(sigint_saves_and_exits) { one_signal(SIGINT, "interrupted"); }
END_TEST

START_TEST(sigterm_saves_and_exits) { one_signal(SIGTERM, "terminated"); }
END_TEST

/* A second Ctrl-C while the first one's save is under way ends the process at once; whatever it
 * interrupted, a complete checkpoint is left. */
START_TEST(second_sigint_kills)
{
    char *T = tu_tmpdir("signal2"), text[1024], run[1024], err[1024];
    snprintf(text, sizeof text, "%s/text.txt", T);
    snprintf(run, sizeof run, "%s/run", T);
    snprintf(err, sizeof err, "%s/stderr.txt", T);
    tu_write_words(text, 3, 3000, 8);
    const char *argv[] = {NULL, "train", "--config", "configs/tiny.json", "--data", text, "--out", run, "-B", "2", "-L",
                          "32", "--steps", "1000000", "--ckpt-every", "1", "--threads", "1", NULL};
    pid_t pid = spawn(argv, err);
    wait_for_steps(run, 3, pid);
    kill(pid, SIGINT);
    /* the second signal only counts once the first was handled: a signal still pending (the main
     * thread sits in fsync) would absorb it */
    for (int waited = 0; waited < 120000; waited++) {
        char *m = tu_slurp(err, NULL);
        int seen = m && strstr(m, "interrupted at step");
        free(m);
        if (seen) break;
        sleep_ms(1);
    }
    kill(pid, SIGINT);
    int st = wait_status(pid);
    ck_assert_msg((WIFSIGNALED(st) && WTERMSIG(st) == SIGINT) || (WIFEXITED(st) && WEXITSTATUS(st) == 130),
                  "unexpected end after two SIGINTs: status 0x%x", st);
    BlErr e;
    int step = load_checkpoint(run, &e);
    ck_assert_msg(step >= 2, "no loadable checkpoint after two SIGINTs: %s", step < 0 ? e.msg : "old step");
    printf("two SIGINTs: %s, checkpoint of step %d loads\n",
           WIFSIGNALED(st) ? "killed by the second" : "the save finished first (exit 130)", step);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    ck_assert_int_eq(system(cmd), 0);
    free(T);
}
END_TEST

/* A run of 2 steps, then the final norm's weights set to FLT_MAX in its checkpoint: finite, so
 * the checkpoint loads (a NaN in the weights is refused at load), but the logits overflow and
 * every later step's loss is NaN. Returns the scratch directory; run is T/run. */
static char *nan_run(void)
{
    char *T = tu_tmpdir("nan"), text[1024], run[1024], err[1024], path[1200];
    snprintf(text, sizeof text, "%s/text.txt", T);
    snprintf(run, sizeof run, "%s/run", T);
    snprintf(err, sizeof err, "%s/stderr.txt", T);
    tu_write_words(text, 3, 3000, 8);
    const char *argv[] = {NULL, "train", "--config", "configs/tiny.json", "--data", text, "--out", run,
                          "-B", "2", "-L", "32", "--steps", "2", "--threads", "1", NULL};
    int st = wait_status(spawn(argv, err));
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(path, sizeof path, "%s/checkpoint/model.safetensors", run);
    SafeTensors *sf;
    BlErr e;
    ck_assert_msg(st_read(&sf, path, &e) == 0, "%s", e.msg);
    const StTensor *t = st_find(sf, "backbone.norm_f.weight");
    ck_assert_ptr_nonnull(t);
    uint64_t off = t->file_offset, n = t->numel;
    st_free(sf);
    float *big = malloc(n * sizeof(float));
    for (uint64_t i = 0; i < n; i++) big[i] = FLT_MAX;
    int fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, big, n * sizeof(float), (off_t)off), (ssize_t)(n * sizeof(float)));
    close(fd);
    free(big);
    return T;
}

/* The tensors' bytes of a safetensors file, concatenated (metadata such as the step excluded). */
static char *tensor_bytes(const char *path, size_t *n)
{
    SafeTensors *sf;
    BlErr e;
    ck_assert_msg(st_read(&sf, path, &e) == 0, "%s", e.msg);
    size_t total = 0;
    for (int i = 0; i < st_count(sf); i++) total += st_tensor(sf, i)->nbytes;
    char *b = malloc(total), *p = b;
    for (int i = 0; i < st_count(sf); i++) {
        memcpy(p, st_tensor(sf, i)->data, st_tensor(sf, i)->nbytes);
        p += st_tensor(sf, i)->nbytes;
    }
    st_free(sf);
    *n = total;
    return b;
}

START_TEST(nan_loss_skips_the_update)
{
    char *T = nan_run(), run[1024], err[1024], model[1200], optim[1200];
    snprintf(run, sizeof run, "%s/run", T);
    snprintf(err, sizeof err, "%s/stderr.txt", T);
    snprintf(model, sizeof model, "%s/checkpoint/model.safetensors", run);
    snprintf(optim, sizeof optim, "%s/checkpoint/optimizer.safetensors", run);
    size_t nw0, nm0, nw1, nm1;
    char *w0 = tensor_bytes(model, &nw0), *m0 = tensor_bytes(optim, &nm0);

    const char *argv[] = {NULL, "train", "--resume", run, "--threads", "1", "--steps", "5", NULL};
    int st = wait_status(spawn(argv, err));
    char *msg = tu_slurp(err, NULL);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x: %s", st, msg);
    for (int step = 3; step <= 5; step++) {
        char want[128];
        snprintf(want, sizeof want, "warning: non-finite loss or gradient at step %d, update skipped", step);
        ck_assert_msg(strstr(msg, want) != NULL, "no \"%s\" in: %s", want, msg);
    }
    free(msg);
    /* skipped means skipped: the weights and the Adam moments are exactly as they were */
    char *w1 = tensor_bytes(model, &nw1), *m1 = tensor_bytes(optim, &nm1);
    ck_assert(nw0 == nw1 && memcmp(w0, w1, nw0) == 0);
    ck_assert(nm0 == nm1 && memcmp(m0, m1, nm0) == 0);
    BlErr e;
    ck_assert_int_eq(load_checkpoint(run, &e), 5);
    printf("NaN loss: steps 3-5 skipped with a warning each, weights and moments unchanged\n");
    free(w0), free(w1), free(m0), free(m1);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    ck_assert_int_eq(system(cmd), 0);
    free(T);
}
END_TEST

/* metrics.jsonl is JSON lines even when a loss is NaN (JSON has no NaN: such values must be
 * written as null or left out, or every JSON reader of the file fails). */
START_TEST(nan_loss_metrics_stay_json)
{
    char *T = nan_run(), run[1024], err[1024], path[1200];
    snprintf(run, sizeof run, "%s/run", T);
    snprintf(err, sizeof err, "%s/stderr.txt", T);
    const char *argv[] = {NULL, "train", "--resume", run, "--threads", "1", "--steps", "4", NULL};
    int st = wait_status(spawn(argv, err));
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    char *s = tu_slurp(path, NULL), *line = s, *nl;
    int n = 0;
    for (; (nl = strchr(line, '\n')); line = nl + 1, n++) {
        *nl = 0;
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(j != NULL, "metrics.jsonl line %d is not JSON: %s", n + 1, line);
        cJSON_Delete(j);
    }
    ck_assert_int_ge(n, 4);
    free(s);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    ck_assert_int_eq(system(cmd), 0);
    free(T);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crash-safety");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, sigkill_during_saves);
    tcase_add_test(tc, resume_from_old_copy);
    tcase_add_test(tc, sigint_saves_and_exits);
    tcase_add_test(tc, sigterm_saves_and_exits);
    tcase_add_test(tc, second_sigint_kills);
    tcase_add_test(tc, nan_loss_skips_the_update);
    tcase_add_test(tc, nan_loss_metrics_stay_json);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
