#include "byte_lm/train/run_dir.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/base/atomic_dir.h"
#include "byte_lm/base/file_read.h"

#define LOCK_NAME "train.lock"

/* What a trainer writes into a run directory; --force replaces a directory holding only these.
 * The first two (a complete checkpoint, or the copy a crash mid-save leaves) make it a run: what
 * a run that died before its first checkpoint left is what a resume would drop anyway. */
static const char *const RUN_FILES[] = {"checkpoint", "checkpoint.old", "checkpoint.tmp", "metrics.jsonl",
                                        "metrics.jsonl.tmp", "loss.svg", "loss.svg.tmp", LOCK_NAME};
enum { N_RUN_FILES = sizeof RUN_FILES / sizeof RUN_FILES[0], N_RUN_MARKS = 2 };

static int mkdir_p(const char *path, BlErr *e)
{
    char tmp[RUN_DIR_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return bl_fail_errno(e, tmp, "cannot create directory");
            *p = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST) return bl_fail_errno(e, tmp, "cannot create directory");
    struct stat st;
    if (stat(tmp, &st) || !S_ISDIR(st.st_mode)) return bl_fail(e, path, "exists and is not a directory");
    return 0;
}

int run_dir_holds_run(const char *dir)
{
    for (int i = 0; i < N_RUN_MARKS; i++) {
        char p[RUN_DIR_PATH_MAX + 64];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, RUN_FILES[i]);
        if (lstat(p, &st) == 0) return 1;
    }
    return 0;
}

/* Takes the exclusive lock of dir/train.lock for as long as the descriptor stays open (see
 * note_pid). flock, not a lock file's existence: the kernel drops the lock when the process
 * dies, however it dies. */
static int lock_dir(const char *dir, int *fd_out, BlErr *e)
{
    char p[RUN_DIR_PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, LOCK_NAME);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) return bl_fail_errno(e, p, "cannot open the lock file");
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return bl_fail(e, p, "not a regular file (%s)", file_kind(st.st_mode));
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int err = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (err != EWOULDBLOCK) {
            errno = err;
            return bl_fail_errno(e, p, "cannot lock");
        }
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        if (pid[0]) return bl_fail(e, dir, "is in use by another bytelm process (pid %s)", pid);
        return bl_fail(e, dir, "is in use by another bytelm process");
    }
    *fd_out = fd;
    return 0;
}

/* Writes our pid into the held lock file, for the message a second writer gets; only once the
 * run goes ahead, so a refused trainer leaves the directory as it found it. */
static void note_pid(int fd)
{
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0) { /* the pid is only for the message: a failure costs nothing else */
        ssize_t w = pwrite(fd, pid, (size_t)n, 0);
        (void)w;
    }
}

/* --force may replace only what a trainer wrote: the first other entry is named, not deleted. */
static int only_run_files(const char *dir, BlErr *e)
{
    DIR *d = opendir(dir);
    if (!d) return bl_fail_errno(e, dir, "cannot open directory");
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        int ours = 0;
        for (int i = 0; i < N_RUN_FILES; i++) ours |= !strcmp(de->d_name, RUN_FILES[i]);
        if (!ours)
            rc = bl_fail(e, dir, "holds %s, which is not part of a bytelm run; refusing to replace the directory",
                         de->d_name);
    }
    closedir(d);
    return rc;
}

int run_dir_open(RunDir *rd, const char *dir, RunDirMode mode, BlErr *e)
{
    memset(rd, 0, sizeof *rd);
    rd->lock_fd = rd->old_lock_fd = -1;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0 || n >= RUN_DIR_PATH_MAX - 64) return bl_fail(e, dir, "bad run directory name");
    snprintf(rd->dir, sizeof rd->dir, "%.*s", (int)n, dir);
    snprintf(rd->work, sizeof rd->work, "%s", rd->dir);
    /* refused before the lock file is created, so a refusal changes nothing; decided again under
     * the lock, since another trainer may have started a run here meanwhile */
    for (int locked = 0; locked < 2; locked++) {
        if (locked && (mkdir_p(rd->dir, e) || lock_dir(rd->dir, &rd->lock_fd, e))) return -1;
        if (mode == RUN_RESUME || !run_dir_holds_run(rd->dir)) continue;
        if (mode == RUN_NEW)
            return bl_fail(e, rd->dir, "holds a run; use --resume to continue it or --force to replace it");
        if (only_run_files(rd->dir, e)) return -1;
    }
    note_pid(rd->lock_fd);
    if (mode == RUN_RESUME || !run_dir_holds_run(rd->dir)) return 0;
    /* the new run grows beside the old one and takes its place at its first checkpoint */
    rd->old_lock_fd = rd->lock_fd;
    rd->lock_fd = -1;
    snprintf(rd->work, sizeof rd->work, "%s.tmp-%ld", rd->dir, (long)getpid());
    BlErr ignore;
    remove_tree(rd->work, &ignore); /* a leftover of a killed process that had our pid */
    if (mkdir(rd->work, 0755)) return bl_fail_errno(e, rd->work, "cannot create directory");
    if (lock_dir(rd->work, &rd->lock_fd, e)) return -1;
    note_pid(rd->lock_fd);
    return 0;
}

static void parent_of(const char *path, char *out, size_t cap)
{
    const char *s = strrchr(path, '/');
    if (!s) snprintf(out, cap, ".");
    else if (s == path) snprintf(out, cap, "/");
    else snprintf(out, cap, "%.*s", (int)(s - path), path);
}

int run_dir_saved(RunDir *rd, BlErr *e)
{
    if (rd->old_lock_fd < 0) return 0;
    /* one atomic step: DIR is the old run before it and the new one after it */
    if (renameat2(AT_FDCWD, rd->work, AT_FDCWD, rd->dir, RENAME_EXCHANGE)) {
        if (errno != EINVAL && errno != ENOSYS) return bl_fail_errno(e, rd->dir, "cannot replace the old run");
        /* no exchange on this file system: the old run is moved aside first, then the new one in */
        char aside[RUN_DIR_PATH_MAX + 32];
        snprintf(aside, sizeof aside, "%s.old-%ld", rd->dir, (long)getpid());
        if (rename(rd->dir, aside)) return bl_fail_errno(e, rd->dir, "cannot move the old run aside");
        if (rename(rd->work, rd->dir)) {
            int err = errno;
            rename(aside, rd->dir);
            errno = err;
            return bl_fail_errno(e, rd->dir, "cannot move the new run in");
        }
        snprintf(rd->work, sizeof rd->work, "%s", aside);
    }
    char parent[RUN_DIR_PATH_MAX];
    parent_of(rd->dir, parent, sizeof parent);
    int rc = fsync_dir(parent, e);
    /* rd->work now holds the old run */
    BlErr why;
    if (remove_tree(rd->work, &why))
        fprintf(stderr, "bytelm: warning: could not remove the replaced run at %s: %s\n", rd->work, why.msg);
    close(rd->old_lock_fd);
    rd->old_lock_fd = -1;
    snprintf(rd->work, sizeof rd->work, "%s", rd->dir);
    return rc ? -1 : 1;
}

void run_dir_close(RunDir *rd)
{
    if (rd->old_lock_fd >= 0) { /* a forced run that never saved: the old run stays as it was */
        BlErr ignore;
        remove_tree(rd->work, &ignore);
        close(rd->old_lock_fd);
    }
    if (rd->lock_fd >= 0) close(rd->lock_fd);
    rd->lock_fd = rd->old_lock_fd = -1;
}

/* The step of a complete metrics line and its kind: 0 a step record, 1 a validation, 2 a resume
 * mark ({"resumed_at_step": N}, whose N is returned). -1 if the line is none of these. */
static long line_step(const char *line, size_t n, int *kind)
{
    cJSON *j = cJSON_ParseWithLength(line, n);
    cJSON *s = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL;
    cJSON *r = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "resumed_at_step") : NULL;
    *kind = r ? 2 : cJSON_GetObjectItemCaseSensitive(j, "val_bpb") != NULL;
    if (r) s = r;
    long step = cJSON_IsNumber(s) && s->valuedouble >= 0 && s->valuedouble <= 1e12 ? (long)s->valuedouble : -1;
    cJSON_Delete(j);
    return step;
}

int run_dir_trim_metrics(const char *path, int step, BlErr *e)
{
    struct stat st;
    if (lstat(path, &st) && errno == ENOENT) return 0;
    int fd = file_open_regular(path, NULL, e);
    if (fd < 0) return -1;
    FILE *in = fdopen(fd, "r");
    if (!in) {
        close(fd);
        return bl_fail_errno(e, path, "cannot read");
    }
    char tmp[RUN_DIR_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return bl_fail_errno(e, tmp, "cannot create");
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long last[3] = {0, 0, 0}, dropped = 0; /* the last step kept of each kind */
    while ((n = getline(&line, &cap, in)) > 0) {
        int kind = 0;
        long s = line[n - 1] == '\n' ? line_step(line, (size_t)n - 1, &kind) : -1; /* no newline: cut off */
        /* steps after the checkpoint will be logged again; a step seen before is a repeat; a
         * resume mark stays where it was written, after the records of the step it resumed */
        if (s < 0 || s > step || s <= last[kind] || (kind == 2 && s > last[0])) {
            dropped++;
            continue;
        }
        last[kind] = s;
        fwrite(line, 1, (size_t)n, out);
    }
    free(line);
    int bad_in = ferror(in);
    fclose(in);
    int rc = 0;
    if (bad_in) rc = bl_fail_errno(e, path, "cannot read");
    else if (fflush(out) || fsync(fileno(out))) rc = bl_fail_errno(e, tmp, "cannot write");
    if (fclose(out) && !rc) rc = bl_fail_errno(e, tmp, "cannot write");
    if (!rc && dropped && rename(tmp, path)) rc = bl_fail_errno(e, path, "cannot replace");
    if (rc || !dropped) unlink(tmp);
    return rc;
}
