#include "byte_lm/train/launch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "byte_lm/base/progress.h"

void launch_rendezvous(char *out, size_t cap, int nccl)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    unsigned long long tag = (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
    if (nccl) {
        const char *tmp = getenv("TMPDIR");
        snprintf(out, cap, "%s/bytelm-nccl-%d-%llx.id", tmp && *tmp ? tmp : "/tmp", (int)getpid(), tag);
    } else {
        snprintf(out, cap, "/bytelm-%d-%llx", (int)getpid(), tag);
    }
}

int launch_ranks(int argc, char **argv, int world, const char *rendezvous, pid_t *pids, BlErr *e)
{
    char **args = bl_calloc((size_t)argc + 8, sizeof *args);
    char rank_s[16], world_s[16];
    args[0] = "bytelm";
    for (int i = 0; i < argc; i++) args[i + 1] = argv[i];
    snprintf(world_s, sizeof world_s, "%d", world);
    args[argc + 1] = "--rank";
    args[argc + 2] = rank_s;
    args[argc + 3] = "--world";
    args[argc + 4] = world_s;
    args[argc + 5] = "--rendezvous";
    args[argc + 6] = (char *)rendezvous;
    fflush(stdout);
    fflush(stderr);
    for (int r = 1; r < world; r++) {
        snprintf(rank_s, sizeof rank_s, "%d", r);
        pid_t pid = fork();
        if (pid < 0) {
            bl_fail_errno(e, "/proc/self/exe", "cannot start a rank");
            for (int q = 1; q < r; q++) kill(pids[q - 1], SIGKILL);
            launch_wait(pids, r - 1, -1);
            free(args);
            return -1;
        }
        if (pid == 0) {
            execv("/proc/self/exe", args);
            fprintf(stderr, "bytelm: /proc/self/exe: cannot start rank %d: %s\n", r, strerror(errno));
            _exit(1);
        }
        pids[r - 1] = pid;
    }
    free(args);
    return 0;
}

static int status_code(int st)
{
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 1;
}

int launch_wait(const pid_t *pids, int n, double grace)
{
    int result = 0, left = n;
    int *done = bl_calloc((size_t)n + 1, sizeof *done);
    double t0 = now_seconds();
    while (left > 0) {
        for (int i = 0; i < n; i++) {
            if (done[i]) continue;
            int st;
            pid_t got = waitpid(pids[i], &st, grace < 0 ? 0 : WNOHANG);
            if (got == 0) continue;
            done[i] = 1;
            left--;
            int code = got < 0 ? 1 : status_code(st);
            if (code && !result) result = code;
        }
        if (left > 0 && grace >= 0) {
            if (now_seconds() - t0 > grace) {
                for (int i = 0; i < n; i++)
                    if (!done[i]) kill(pids[i], SIGKILL);
                grace = -1; /* now reap them */
            } else {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    free(done);
    return result;
}
