/* One row of the bad-input table (tests/test_bad_inputs.c) and how it is checked: the binary run
 * in a scratch directory with stdout and stderr in files (optionally under a memory limit), then
 * every promise of a bad input tested: the exit status, one stderr line naming the file and the
 * offset, nothing half-written left, and the files that must stay untouched unchanged. */
#ifndef BYTELM_TEST_BAD_INPUT_ROWS_H
#define BYTELM_TEST_BAD_INPUT_ROWS_H

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/test_cli_util.h"

/* A digest of everything under path (names, sizes, contents), to prove a directory untouched. */
static uint64_t tree_digest(const char *path)
{
    uint64_t h = 1469598103934665603ull;
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) { /* a file */
        size_t len;
        char *s = tu_slurp(path, &len);
        if (!s) return 0;
        for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
        free(s);
        return h ^ len;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
            char sub[2048];
            snprintf(sub, sizeof sub, "%s/%s", path, ents[i]->d_name);
            for (const char *c = ents[i]->d_name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
            h = (h ^ tree_digest(sub)) * 1099511628211ull;
        }
        free(ents[i]);
    }
    free(ents);
    return h;
}

/* 1 if the directory holding path has an entry whose name starts with path's last component:
 * the output itself or a temporary of it (DIR.tmp-PID, checkpoint.tmp, checkpoint.old). */
static int leftovers(const char *path, char *found, size_t cap)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = 0;
    const char *base = slash + 1;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int any = 0;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, base, strlen(base))) {
            snprintf(found, cap, "%.1000s/%.255s", dir, e->d_name);
            any = 1;
        }
    closedir(d);
    return any;
}

/* ---- running the binary ---- */

typedef struct {
    int status; /* waitpid status */
    char *err;  /* stderr */
} RunResult;

/* s with its "%T" (if any) replaced by the scratch directory; the caller frees. */
static char *expand(const char *s, const char *tmp)
{
    char *o = malloc(strlen(s) + strlen(tmp) + 1);
    const char *t = strstr(s, "%T");
    if (t) sprintf(o, "%.*s%s%s", (int)(t - s), s, tmp, t + 2);
    else strcpy(o, s);
    return o;
}

/* Runs bytelm with args (NULL-terminated, "%T" replaced by the scratch directory) with stdout
 * and stderr to files. limit_mem bounds the address space, so an attempt to allocate an absurd
 * model fails instead of meeting the OOM killer (ASan builds cap malloc instead). */
static RunResult run_bytelm(const char *tmp, const char *const *args, int limit_mem)
{
    char *argv[32], err_path[1024], out_path[1024];
    int n = 0;
    argv[n++] = (char *)tu_bytelm();
    for (; args[n - 1] && n < 31; n++) argv[n] = expand(args[n - 1], tmp);
    argv[n] = NULL;
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp);
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", tmp);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644),
            err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in, 0), dup2(out, 1), dup2(err, 2);
        struct rlimit core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        if (limit_mem) {
            if (UNDER_ASAN) {
                char opts[1024];
                const char *old = getenv("ASAN_OPTIONS");
                snprintf(opts, sizeof opts, "%s%sallocator_may_return_null=1:max_allocation_size_mb=8192",
                         old ? old : "", old && *old ? ":" : "");
                setenv("ASAN_OPTIONS", opts, 1);
            } else {
                struct rlimit as = {(rlim_t)8 << 30, (rlim_t)8 << 30};
                setrlimit(RLIMIT_AS, &as);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    RunResult r;
    ck_assert_int_eq(waitpid(pid, &r.status, 0), pid);
    for (int i = 1; argv[i]; i++) free(argv[i]);
    r.err = tu_slurp(err_path, NULL);
    ck_assert_ptr_nonnull(r.err);
    return r;
}

/* ---- the table ---- */

enum { OFF_UNCHECKED = -1, OFF_ANY = -2 };

typedef struct {
    const char *what;      /* the bad input, as the table prints it */
    const char *args[20];  /* bytelm's arguments, "%T" for the scratch directory */
    int code;              /* expected exit status: 1 runtime error, 2 usage error */
    const char *names;     /* the file the message must start with ("bytelm: FILE: ...") */
    const char *says;      /* a phrase the message must contain */
    long long offset;      /* "(offset N)": exactly N, OFF_ANY: some N, OFF_UNCHECKED */
    int after_start;       /* the error comes after train's start line, which may precede it */
    const char *absent;    /* no output of this name, nor a temporary of it, afterwards */
    const char *untouched; /* a file or directory that must be unchanged */
    int limit_mem;         /* run under a memory limit (see run_bytelm) */
    int skip;              /* not on this machine (printed as SKIP) */
} Row;

/* Runs one row; returns NULL when every promise holds, else why not (static text or buf). */
static const char *check_row(const Row *w, const char *tmp, char *buf, size_t cap, char *line, size_t line_cap)
{
    uint64_t before = 0;
    char *untouched = w->untouched ? expand(w->untouched, tmp) : NULL;
    if (untouched) before = tree_digest(untouched);
    RunResult r = run_bytelm(tmp, w->args, w->limit_mem);
    const char *why = NULL;
    /* the error line: the last line of stderr */
    char *err = r.err;
    size_t n = strlen(err);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += err[i] == '\n';
    char *last = err;
    if (n > 0) {
        err[n - 1] = err[n - 1] == '\n' ? 0 : err[n - 1];
        char *nl = strrchr(err, '\n');
        last = nl ? nl + 1 : err;
    }
    snprintf(line, line_cap, "%s", last);
    char *names = w->names ? expand(w->names, tmp) : NULL;
    char prefix[1200];
    if (w->code == 1) snprintf(prefix, sizeof prefix, "bytelm: %s%s", names ? names : "", names ? ": " : "");
    else snprintf(prefix, sizeof prefix, "bytelm %s", w->args[0]); /* "bytelm eval bpb: ..." too */
    if (WIFSIGNALED(r.status)) {
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(r.status));
        why = buf;
    } else if (WEXITSTATUS(r.status) != w->code) {
        snprintf(buf, cap, "exit status %d, expected %d", WEXITSTATUS(r.status), w->code);
        why = buf;
    } else if (n == 0 || r.err[n - 1] != 0 || lines == 0) {
        why = "stderr is not a line ending in a newline";
    } else if (lines != 1 && !w->after_start) {
        snprintf(buf, cap, "stderr has %d lines, expected 1", lines);
        why = buf;
    } else if (strncmp(last, prefix, strlen(prefix)) != 0) {
        snprintf(buf, cap, "message does not start with \"%.1000s\"", prefix);
        why = buf;
    } else if (w->says && !strstr(last, w->says)) {
        snprintf(buf, cap, "message does not say \"%s\"", w->says);
        why = buf;
    } else if (w->offset != OFF_UNCHECKED) {
        const char *o = strstr(last, " (offset ");
        long long off = o ? atoll(o + 9) : -1;
        if (!o || last[strlen(last) - 1] != ')') why = "no \"(offset N)\" at the end of the message";
        else if (w->offset >= 0 && off != w->offset) {
            snprintf(buf, cap, "offset %lld, expected %lld", off, w->offset);
            why = buf;
        }
    }
    if (!why && w->after_start) /* other lines are train's start line or progress, never errors */
        for (char *p = err; p < last; p = strchr(p, '\n') + 1)
            if (!strncmp(p, "bytelm: ", 8)) {
                why = "more than one error line";
                break;
            }
    if (!why && w->absent) {
        char *absent = expand(w->absent, tmp), found[2100];
        if (leftovers(absent, found, sizeof found)) {
            snprintf(buf, cap, "partial output left: %.1000s", found);
            why = buf;
        }
        free(absent);
    }
    if (!why && untouched && tree_digest(untouched) != before) {
        snprintf(buf, cap, "%s was changed", untouched);
        why = buf;
    }
    free(untouched);
    free(names);
    free(r.err);
    return why;
}

#endif
