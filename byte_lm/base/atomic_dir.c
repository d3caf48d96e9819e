/* Crash-safe directory saves.
 *
 * Why it is safe. A commit is:
 *   1. fsync every file in DIR.tmp, then DIR.tmp itself: the new save's bytes and names are on
 *      disk before any name that a loader looks at changes.
 *   2. if DIR exists: remove a leftover DIR.old, rename DIR -> DIR.old, fsync the parent.
 *   3. rename DIR.tmp -> DIR, fsync the parent.
 *   4. remove DIR.old.
 * rename() replaces a name atomically, and the parent fsync after each step orders the steps on
 * disk, so a crash at any point leaves one of these states (atomic_dir_resolve picks the copy):
 *   - during 1, or before the first rename: DIR (old save) intact, DIR.tmp partial -> use DIR;
 *     the next atomic_dir_begin deletes DIR.tmp.
 *   - between the renames: no DIR, DIR.old complete (DIR.tmp complete too, but nothing proves
 *     it) -> use DIR.old; the next commit renames its DIR.tmp to DIR and only then deletes
 *     DIR.old, so the last good copy is never removed before its replacement is in place.
 *   - after the second rename: DIR (new save) complete, maybe a DIR.old -> use DIR; DIR.old is
 *     removed by the next commit.
 * Without step 1, a journaled filesystem may persist the renames before the file data, and a
 * crash would leave DIR naming files of zero length: the classic lost-checkpoint bug. */
#include "byte_lm/base/atomic_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYNC_DEPTH_MAX 16

/* path + suffix into out, or an error naming path when it does not fit */
static int join(char *out, size_t cap, const char *a, const char *sep, const char *b, BlErr *e)
{
    int n = snprintf(out, cap, "%s%s%s", a, sep, b);
    if (n < 0 || (size_t)n >= cap) return bl_fail(e, a, "path too long");
    return 0;
}

/* Trailing slashes would turn "ckpt/" + ".tmp" into a file inside ckpt instead of a sibling. */
static int normalize(char *out, size_t cap, const char *dir, BlErr *e)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0) return bl_fail(e, "(empty path)", "no directory given");
    if (n >= cap) return bl_fail(e, dir, "path too long");
    memcpy(out, dir, n);
    out[n] = 0;
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    if (strcmp(out, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return bl_fail(e, dir, "cannot save over this directory; name a subdirectory");
    return 0;
}

static void parent_of(char *out, size_t cap, const char *dir)
{
    const char *slash = strrchr(dir, '/');
    if (!slash) {
        snprintf(out, cap, ".");
    } else if (slash == dir) {
        snprintf(out, cap, "/");
    } else {
        snprintf(out, cap, "%.*s", (int)(slash - dir), dir);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

int remove_tree(const char *path, BlErr *e)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return bl_fail_errno(e, path, "cannot stat");
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0) return bl_fail_errno(e, path, "cannot remove");
        return 0;
    }
    /* FTW_DEPTH: children before their directory; FTW_PHYS: a symlink is removed, not followed */
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return bl_fail_errno(e, path, "cannot remove");
    return 0;
}

int fsync_dir(const char *path, BlErr *e)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return bl_fail_errno(e, path, "cannot open directory");
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return bl_fail_errno(e, path, "cannot fsync directory");
    return 0;
}

/* fsync of every regular file under path and of the directories themselves: whoever wrote the
 * files (fopen/fprintf included) may not have synced them, and the commit must not depend on it. */
static int sync_tree(const char *path, int depth, BlErr *e)
{
    if (depth > SYNC_DEPTH_MAX) return bl_fail(e, path, "directories nested too deeply");
    DIR *d = opendir(path);
    if (!d) return bl_fail_errno(e, path, "cannot open directory");
    int rc = 0;
    char child[ATOMIC_DIR_PATH_MAX];
    for (struct dirent *de; rc == 0 && (errno = 0, de = readdir(d)) != NULL;) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (join(child, sizeof child, path, "/", de->d_name, e)) {
            rc = -1;
            break;
        }
        struct stat st;
        if (lstat(child, &st) != 0) {
            rc = bl_fail_errno(e, child, "cannot stat");
        } else if (S_ISDIR(st.st_mode)) {
            rc = sync_tree(child, depth + 1, e);
        } else if (S_ISREG(st.st_mode)) {
            int fd = open(child, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                rc = bl_fail_errno(e, child, "cannot open");
            } else {
                if (fsync(fd) != 0) rc = bl_fail_errno(e, child, "cannot fsync");
                close(fd);
            }
        }
    }
    if (rc == 0 && errno != 0) rc = bl_fail_errno(e, path, "cannot read directory");
    closedir(d);
    if (rc == 0) rc = fsync_dir(path, e);
    return rc;
}

int atomic_dir_begin(AtomicDir *ad, const char *dir, BlErr *e)
{
    memset(ad, 0, sizeof *ad);
    if (normalize(ad->dir, sizeof ad->dir, dir, e) ||
        join(ad->tmp, sizeof ad->tmp, ad->dir, "", ".tmp", e) ||
        join(ad->old, sizeof ad->old, ad->dir, "", ".old", e))
        return -1;
    parent_of(ad->parent, sizeof ad->parent, ad->dir);
    struct stat st;
    if (lstat(ad->dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return bl_fail(e, ad->dir, "exists and is not a directory; not replacing it");
    if (remove_tree(ad->tmp, e)) return -1;
    if (mkdir(ad->tmp, 0777) != 0) return bl_fail_errno(e, ad->tmp, "cannot create directory");
    return 0;
}

const char *atomic_dir_tmp(const AtomicDir *ad) { return ad->tmp; }

int atomic_dir_file(const AtomicDir *ad, const char *name, char *buf, size_t cap, BlErr *e)
{
    return join(buf, cap, ad->tmp, "/", name, e);
}

int atomic_dir_commit(AtomicDir *ad, BlErr *e)
{
    if (sync_tree(ad->tmp, 0, e)) return -1;
    struct stat st;
    bool have_dir = lstat(ad->dir, &st) == 0;
    if (have_dir) {
        /* DIR is a complete save, so any DIR.old is the leftover of an earlier commit */
        if (remove_tree(ad->old, e)) return -1;
        if (rename(ad->dir, ad->old) != 0) return bl_fail_errno(e, ad->dir, "cannot rename to .old");
        if (fsync_dir(ad->parent, e)) return -1;
    }
    if (rename(ad->tmp, ad->dir) != 0) {
        int err = errno;
        if (have_dir) rename(ad->old, ad->dir); /* put the old save back under its name */
        errno = err;
        return bl_fail_errno(e, ad->tmp, "cannot rename into place");
    }
    if (fsync_dir(ad->parent, e)) return -1;
    /* The new save is durable. A DIR.old that cannot be removed now is harmless: loaders prefer
     * DIR and the next commit removes it. */
    BlErr ignored;
    remove_tree(ad->old, &ignored);
    return 0;
}

void atomic_dir_abort(AtomicDir *ad)
{
    BlErr ignored;
    if (ad->tmp[0]) remove_tree(ad->tmp, &ignored);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int atomic_dir_resolve(const char *dir, char *out, size_t cap, BlErr *e)
{
    char d[ATOMIC_DIR_PATH_MAX], old[ATOMIC_DIR_PATH_MAX];
    if (normalize(d, sizeof d, dir, e)) return -1;
    if (join(old, sizeof old, d, "", ".old", e)) return -1;
    const char *pick = is_dir(d) ? d : is_dir(old) ? old : NULL;
    if (!pick) return bl_fail(e, dir, "no such checkpoint directory");
    if (strlen(pick) >= cap) return bl_fail(e, dir, "path too long");
    strcpy(out, pick);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int write_file_atomic_iov(const char *path, const struct iovec *parts, int n, BlErr *e)
{
    char tmp[ATOMIC_DIR_PATH_MAX];
    if (join(tmp, sizeof tmp, path, "", ".tmp", e)) return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return bl_fail_errno(e, path, "cannot create");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = write_all(fd, parts[i].iov_base, parts[i].iov_len);
    if (rc == 0) rc = fsync(fd);
    if (rc != 0) {
        bl_fail_errno(e, path, "cannot write");
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0) {
        bl_fail_errno(e, path, "cannot write");
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        bl_fail_errno(e, path, "cannot rename into place");
        unlink(tmp);
        return -1;
    }
    return 0;
}

FILE *file_replace_begin(const char *path, char *tmp, size_t cap, BlErr *e)
{
    if ((size_t)snprintf(tmp, cap, "%s.tmp-%ld", path, (long)getpid()) >= cap)
        return bl_fail(e, path, "path too long"), NULL;
    FILE *f = fopen(tmp, "wbx");
    if (!f) bl_fail_errno(e, tmp, "cannot create");
    return f;
}

int file_replace_end(FILE *f, const char *tmp, const char *path, int ok, BlErr *e)
{
    int rc = ok ? 0 : -1;
    int failed = ferror(f); /* a write that failed before the close: the close may not say so */
    if ((fclose(f) || failed) && ok) rc = bl_fail_errno(e, tmp, "cannot write");
    if (!rc && rename(tmp, path)) rc = bl_fail_errno(e, path, "cannot replace");
    if (rc) unlink(tmp);
    return rc;
}

int write_file_atomic(const char *path, const void *data, size_t len, BlErr *e)
{
    struct iovec one = {.iov_base = (void *)data, .iov_len = len};
    return write_file_atomic_iov(path, &one, 1, e);
}
