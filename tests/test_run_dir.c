/* The run directory, through the binary:
 *   - a new run onto an existing one is refused; with --force the old run stays whole until the
 *     new run's first checkpoint is complete, even when the new run is killed before it;
 *   - one writer per run directory: a second trainer (new or resuming) is refused while the
 *     first holds the lock, naming the first one's pid;
 *   - metrics.jsonl stays JSON lines, one per step in order, after crashes and resumes;
 *   - options given with --resume: the schedule and optimizer ones are applied and recorded,
 *     the ones that fix a run are refused (the refusals are rows of tests/test_bad_inputs.c). */
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/test_cli_util.h"

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) continue;
}

/* Starts bytelm with args (NULL-terminated), stdout to /dev/null, stderr to err_path. */
static pid_t spawn(const char *const *args, const char *err_path)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = tu_bytelm();
    for (int i = 0; args[i] && n < 39; i++) argv[n++] = args[i];
    argv[n] = NULL;
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

/* Runs bytelm to its end; its exit status (-1 for a signal). */
static int run(const char *const *args, const char *err_path)
{
    int st;
    pid_t pid = spawn(args, err_path);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Number of lines of a file; 0 if it is missing. */
static int count_lines(const char *path)
{
    char *s = tu_slurp(path, NULL);
    int n = 0;
    for (char *p = s; p && *p; p++) n += *p == '\n';
    free(s);
    return n;
}

/* Waits until path has at least n lines, failing if pid ends first. */
static void wait_lines(const char *path, int n, pid_t pid)
{
    for (int waited = 0; count_lines(path) < n; waited += 5) {
        int st;
        ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "train ended before %s had %d lines", path, n);
        ck_assert_msg(waited < 120000, "%s has no %d lines after 2 minutes", path, n);
        sleep_ms(5);
    }
}

/* The "step" of the checkpoint of a run directory, from its trainer_state.json (in
 * checkpoint.old when a kill came between a save's two renames, as resume finds it); -1 if none. */
static int ckpt_step(const char *run)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/checkpoint/trainer_state.json", run);
    char *s = tu_slurp(p, NULL);
    if (!s) {
        snprintf(p, sizeof p, "%s/checkpoint.old/trainer_state.json", run);
        s = tu_slurp(p, NULL);
    }
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    cJSON *st = cJSON_GetObjectItem(j, "step");
    int step = cJSON_IsNumber(st) ? st->valueint : -1;
    cJSON_Delete(j);
    free(s);
    return step;
}

/* Checks metrics.jsonl: every line a JSON object; the step lines' steps exactly 1..last, in order,
 * once each; a validation at most once per step; a resume's mark right after the step it resumed
 * from. Returns the number of step lines. */
static int check_metrics(const char *run, int last)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    char *s = tu_slurp(p, NULL), *line = s, *nl;
    ck_assert_msg(s != NULL, "no %s", p);
    ck_assert_msg(!*s || s[strlen(s) - 1] == '\n', "%s ends in a partial line", p);
    int steps = 0, vals = 0, n = 0;
    for (; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = 0;
        n++;
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(cJSON_IsObject(j), "%s line %d is not a JSON object: %s", p, n, line);
        cJSON *res = cJSON_GetObjectItem(j, "resumed_at_step");
        if (res) { /* a resume's mark: it follows the records up to the checkpoint it resumed */
            ck_assert_msg(cJSON_IsNumber(res) && res->valueint == steps, "%s line %d: resume mark %s after step %d",
                          p, n, line, steps);
            cJSON_Delete(j);
            continue;
        }
        cJSON *st = cJSON_GetObjectItem(j, "step");
        ck_assert_msg(cJSON_IsNumber(st), "%s line %d has no step: %s", p, n, line);
        if (cJSON_GetObjectItem(j, "val_bpb")) {
            ck_assert_msg(st->valueint > vals, "%s line %d: validation of step %d after one of step %d", p, n,
                          st->valueint, vals);
            vals = st->valueint;
        } else {
            ck_assert_msg(st->valueint == steps + 1, "%s line %d: step %d after step %d", p, n, st->valueint, steps);
            steps = st->valueint;
        }
        cJSON_Delete(j);
    }
    ck_assert_msg(steps == last, "%s: steps 1..%d logged, expected 1..%d", p, steps, last);
    free(s);
    return steps;
}

/* A digest of a directory's names and contents (cmp -r would do, but is not everywhere). */
static char *tree_text(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd %s && find . -type f ! -name train.lock | sort | xargs md5sum", dir);
    FILE *p = popen(cmd, "r");
    char *out = calloc(1, 65536);
    size_t n = fread(out, 1, 65535, p);
    out[n] = 0;
    pclose(p);
    return out;
}

/* Entries of dir whose names start with prefix (a DIR.tmp-PID left behind). */
static int entries_with_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

typedef struct {
    char T[512], text[1024], run[1024], err[1024], metrics[1100];
} Scratch;

static void scratch(Scratch *s, const char *tag)
{
    char *T = tu_tmpdir(tag);
    snprintf(s->T, sizeof s->T, "%s", T);
    free(T);
    snprintf(s->text, sizeof s->text, "%s/text.txt", s->T);
    snprintf(s->run, sizeof s->run, "%s/run", s->T);
    snprintf(s->err, sizeof s->err, "%s/stderr.txt", s->T);
    snprintf(s->metrics, sizeof s->metrics, "%s/metrics.jsonl", s->run);
    tu_write_words(s->text, 3, 3000, 8);
}

static void scratch_free(Scratch *s)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->T);
    ck_assert_int_eq(system(cmd), 0);
}

/* The arguments of a new run in s->run, with more options after --steps. */
#define TRAIN(s, steps, ...)                                                                                     \
    (const char *const[])                                                                                        \
    {                                                                                                            \
        "train", "--config", "configs/tiny.json", "--data", (s)->text, "--out", (s)->run, "-B", "2", "-L", "32", \
            "--threads", "1", "--steps", steps, __VA_ARGS__, NULL                                                \
    }
#define NONE "--log-every", "1"

/* A 4-step run, then another run onto it: refused without --force, the old run untouched. With
 * --force, a new run killed before its first checkpoint leaves the old run whole; one that
 * reaches it replaces the old run entirely (checkpoint, metrics), leaving nothing beside it. */
START_TEST(force_replaces_only_after_the_first_checkpoint)
{
    Scratch s;
    scratch(&s, "rundir-force");
    ck_assert_int_eq(run(TRAIN(&s, "4", NONE), s.err), 0);
    char *before = tree_text(s.run);
    ck_assert_int_eq(run(TRAIN(&s, "2", NONE), s.err), 1);
    char *msg = tu_slurp(s.err, NULL);
    ck_assert_msg(strstr(msg, "holds a run; use --resume to continue it or --force to replace it") != NULL, "%s", msg);
    free(msg);
    char *after = tree_text(s.run);
    ck_assert_str_eq(before, after);
    free(after);

    /* --force, killed at step 3 or so of a run that saves only at its end */
    char tmp_metrics[1200];
    pid_t pid = spawn(TRAIN(&s, "1000000", "--ckpt-every", "0", "--force"), s.err);
    snprintf(tmp_metrics, sizeof tmp_metrics, "%s.tmp-%ld/metrics.jsonl", s.run, (long)pid);
    wait_lines(tmp_metrics, 3, pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    after = tree_text(s.run);
    ck_assert_msg(!strcmp(before, after), "the old run changed under a --force run that never saved:\n%s\n%s",
                  before, after);
    free(after);
    ck_assert_int_eq(ckpt_step(s.run), 4);
    check_metrics(s.run, 4);

    /* --force that reaches its first checkpoint: the new run in place, the old one gone */
    ck_assert_int_eq(run(TRAIN(&s, "2", "--force"), s.err), 0);
    ck_assert_int_eq(ckpt_step(s.run), 2);
    check_metrics(s.run, 2);
    ck_assert_int_eq(entries_with_prefix(s.T, "run.tmp-"), 1); /* only the killed one's */
    printf("--force: the old run stayed whole through a kill before the first checkpoint, then was "
           "replaced at it\n");
    free(before);
    scratch_free(&s);
}
END_TEST

/* Two writers on one run directory: the second is refused while the first runs, whether it is a
 * new run (with --force) or a resume, with the first one's pid in the message. */
START_TEST(one_writer_per_run_directory)
{
    Scratch s;
    scratch(&s, "rundir-lock");
    ck_assert_int_eq(run(TRAIN(&s, "2", "--ckpt-every", "1"), s.err), 0);
    char err1[1100];
    snprintf(err1, sizeof err1, "%s/first.txt", s.T);
    pid_t pid = spawn((const char *const[]){"train", "--resume", s.run, "--threads", "1", "--steps", "1000000",
                                            "--ckpt-every", "0", NULL},
                      err1);
    wait_lines(s.metrics, 4, pid);
    char want[1200];
    snprintf(want, sizeof want, "bytelm: %s: is in use by another bytelm process (pid %ld)\n", s.run, (long)pid);
    const char *const *second[] = {
        (const char *const[]){"train", "--resume", s.run, "--threads", "1", "--steps", "1000000", NULL},
        TRAIN(&s, "3", "--force"),
    };
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(run(second[i], s.err), 1);
        char *msg = tu_slurp(s.err, NULL);
        ck_assert_msg(!strcmp(msg, want), "second writer %d: \"%s\", expected \"%s\"", i, msg, want);
        free(msg);
    }
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130);
    /* once the first is gone the run is free again */
    int at = ckpt_step(s.run);
    char steps[32];
    snprintf(steps, sizeof steps, "%d", at + 1);
    ck_assert_int_eq(run((const char *const[]){"train", "--resume", s.run, "--threads", "1", "--steps", steps, NULL}, s.err),
                     0);
    check_metrics(s.run, at + 1);
    printf("a second trainer on a run in use: %s", want);
    scratch_free(&s);
}
END_TEST

/* Appends text to a file. */
static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A crash after the checkpoint, in both forms: records logged after it (here appended, as a
 * SIGKILL after --stop-after's save would leave them) and a line cut off in the middle; then a
 * real SIGKILL between checkpoints. Every resume leaves one JSON line per step, in order. */
START_TEST(metrics_stay_json_lines_across_crashes)
{
    Scratch s;
    scratch(&s, "rundir-metrics");
    ck_assert_int_eq(run(TRAIN(&s, "6", "--stop-after", "3", "--eval-every", "0"), s.err), 0);
    ck_assert_int_eq(ckpt_step(s.run), 3);
    append(s.metrics, "{\"step\":4,\"loss\":1.0,\"bpb\":1.4}\n{\"step\":5,\"loss\":1.0,\"bpb\":1.4}\n{\"step\":6,\"lo");
    struct stat st0, st1;
    ck_assert_int_eq(stat(s.metrics, &st0), 0);
    ck_assert_int_eq(run((const char *const[]){"train", "--resume", s.run, "--threads", "1", "--stop-after", "2", NULL},
                         s.err),
                     0);
    ck_assert_int_eq(stat(s.metrics, &st1), 0);
    ck_assert_msg(st0.st_ino != st1.st_ino, "metrics.jsonl was cut in place, not replaced by a complete copy");
    check_metrics(s.run, 5);

    /* a partial last line alone */
    append(s.metrics, "{\"step\":6,\"loss\":");
    ck_assert_int_eq(run((const char *const[]){"train", "--resume", s.run, "--threads", "1", NULL}, s.err), 0);
    check_metrics(s.run, 6);
    /* both resumes keep their mark (the plot draws them): a trim keeps earlier marks */
    {
        char *text = tu_slurp(s.metrics, NULL), *at = text;
        int marks = 0;
        while ((at = strstr(at, "resumed_at_step"))) marks++, at++;
        free(text);
        ck_assert_int_eq(marks, 2);
    }

    /* SIGKILL a run that saves every 4 steps once it has logged past a checkpoint */
    snprintf(s.run + strlen(s.run), 16, "2");
    snprintf(s.metrics, sizeof s.metrics, "%s/metrics.jsonl", s.run);
    pid_t pid = spawn(TRAIN(&s, "1000000", "--ckpt-every", "4", "--eval-every", "3", "--val", s.text), s.err);
    wait_lines(s.metrics, 10, pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int at = ckpt_step(s.run), logged = count_lines(s.metrics);
    ck_assert_int_ge(at, 4);
    char steps[32];
    snprintf(steps, sizeof steps, "%d", at + 6);
    ck_assert_int_eq(run((const char *const[]){"train", "--resume", s.run, "--threads", "1", "--steps", steps, NULL}, s.err),
                     0);
    check_metrics(s.run, at + 6);
    printf("metrics after a SIGKILL at %d lines (checkpoint of step %d) and a resume to step %d: one JSON line "
           "per step\n",
           logged, at, at + 6);
    scratch_free(&s);
}
END_TEST

/* The field of trainer_state.json at "section.key" as a number. */
static double state_num(const char *run, const char *section, const char *key)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/checkpoint/trainer_state.json", run);
    char *s = tu_slurp(p, NULL);
    cJSON *j = cJSON_Parse(s), *o = section ? cJSON_GetObjectItem(j, section) : j;
    cJSON *v = cJSON_GetObjectItem(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s: no %s.%s", p, section, key);
    double x = v->valuedouble;
    cJSON_Delete(j);
    free(s);
    return x;
}

/* Options a resume may change are applied, said, and recorded in trainer_state.json; the same
 * values as the run's for the fixed ones pass; --stop-after counts from the resume. */
START_TEST(resume_applies_schedule_options)
{
    Scratch s;
    scratch(&s, "rundir-opts");
    ck_assert_int_eq(run(TRAIN(&s, "3", NONE), s.err), 0);
    const char *const args[] = {"train", "--resume", s.run, "--threads", "1", "--steps", "20", "--stop-after", "2",
                                "--lr", "0.001", "--warmup", "5", "--min-lr-ratio", "0.5", "--weight-decay", "0.01",
                                "--clip", "0.5", "--eval-every", "7", "--eval-batches", "3", "--ckpt-every", "9",
                                /* the fixed ones, as the run has them */
                                "-B", "2", "-L", "32", "--accum", "1", "--seed", "1337", "--data", s.text,
                                "--config", "configs/tiny.json", NULL};
    ck_assert_int_eq(run(args, s.err), 0);
    char *msg = tu_slurp(s.err, NULL);
    ck_assert_msg(strstr(msg, "bytelm train: resuming with --lr 0.001 (the run had 0.002)") != NULL, "%s", msg);
    ck_assert_msg(strstr(msg, "bytelm train: resuming with --eval-every 7 (the run had 100)") != NULL, "%s", msg);
    free(msg);
    ck_assert_int_eq(ckpt_step(s.run), 5); /* --stop-after 2 from step 3 */
    ck_assert_double_eq_tol(state_num(s.run, "optimizer", "lr"), 0.001, 1e-9);
    ck_assert_double_eq(state_num(s.run, "optimizer", "warmup_steps"), 5);
    ck_assert_double_eq_tol(state_num(s.run, "optimizer", "min_lr_ratio"), 0.5, 1e-7);
    ck_assert_double_eq_tol(state_num(s.run, "optimizer", "weight_decay"), 0.01, 1e-9);
    ck_assert_double_eq_tol(state_num(s.run, "optimizer", "clip"), 0.5, 1e-7);
    ck_assert_double_eq(state_num(s.run, "optimizer", "total_steps"), 20);
    ck_assert_double_eq(state_num(s.run, "options", "eval_every"), 7);
    ck_assert_double_eq(state_num(s.run, "options", "eval_batches"), 3);
    ck_assert_double_eq(state_num(s.run, "options", "ckpt_every"), 9);
    /* and a resume without options keeps what the last one set */
    ck_assert_int_eq(run((const char *const[]){"train", "--resume", s.run, "--threads", "1", "--stop-after", "1", NULL},
                         s.err),
                     0);
    ck_assert_double_eq_tol(state_num(s.run, "optimizer", "lr"), 0.001, 1e-9);
    ck_assert_double_eq(state_num(s.run, "options", "eval_every"), 7);
    check_metrics(s.run, 6);
    scratch_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("run-dir");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, force_replaces_only_after_the_first_checkpoint);
    tcase_add_test(tc, one_writer_per_run_directory);
    tcase_add_test(tc, metrics_stay_json_lines_across_crashes);
    tcase_add_test(tc, resume_applies_schedule_options);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
