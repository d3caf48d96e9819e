#include "corpus/outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus/manifest.h"

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

/* 1 if name is one of the shards m lists. */
static int listed(const Manifest *m, const char *name)
{
    const ManifestSplit *sp[2] = {&m->train, &m->val};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sp[s]->nshards; i++)
            if (!strcmp(sp[s]->shards[i].file, name)) return 1;
    return 0;
}

/* A corpus prepare may replace holds exactly what prepare wrote: a corpus.json that loads and,
 * beside it, only regular files it lists as shards. Anything else (notes kept next to the
 * corpus, a subdirectory) is the user's, and replacing the directory would delete it. */
static int only_corpus_files(const char *dir, BlErr *e)
{
    Manifest m;
    BlErr why;
    if (manifest_load(&m, dir, &why))
        return bl_fail(e, dir, "exists and is not a bytelm corpus (%s); refusing to replace it", why.msg);
    DIR *d = opendir(dir);
    if (!d) {
        manifest_free(&m);
        return bl_fail_errno(e, dir, "open directory");
    }
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        int ours = !strcmp(de->d_name, CORPUS_MANIFEST) || listed(&m, de->d_name);
        if (!ours || lstat(p, &st) || !S_ISREG(st.st_mode))
            rc = bl_fail(e, p, "is not a file of the corpus in %s (not %s or a shard it lists); refusing to replace the "
                         "directory", dir, CORPUS_MANIFEST);
    }
    closedir(d);
    manifest_free(&m);
    return rc;
}

int outdir_check(const char *dir, BlErr *e)
{
    struct stat st;
    if (lstat(dir, &st)) {
        if (errno == ENOENT) return 0;
        return bl_fail_errno(e, dir, "stat");
    }
    if (!S_ISDIR(st.st_mode)) return bl_fail(e, dir, "exists and is not a directory; refusing to replace it");
    if (dir_is_empty(dir)) return 0;
    char m[4096];
    snprintf(m, sizeof m, "%s/%s", dir, CORPUS_MANIFEST);
    if (lstat(m, &st)) return bl_fail(e, dir, "exists and is not a bytelm corpus (no %s); refusing to replace it", CORPUS_MANIFEST);
    return only_corpus_files(dir, e);
}

/* mkdir -p of the directory that will hold path (runs/x/corpus needs runs/x). */
static int make_parents(const char *path, BlErr *e)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST) return bl_fail_errno(e, p, "create directory");
        *s = '/';
    }
    return 0;
}

int outdir_create_tmp(const char *dir, char *tmp, size_t cap, BlErr *e)
{
    if (make_parents(dir, e)) return -1;
    snprintf(tmp, cap, "%s.tmp-%ld", dir, (long)getpid());
    struct stat st;
    /* a leftover of an earlier run that had our pid and was killed: ours to clear */
    if (!lstat(tmp, &st) && S_ISDIR(st.st_mode)) outdir_remove(tmp);
    if (mkdir(tmp, 0755)) return bl_fail_errno(e, tmp, "create directory");
    return 0;
}

int fsync_path(const char *path, BlErr *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return bl_fail_errno(e, path, "open");
    int rc = fsync(fd) && errno != EINVAL ? bl_fail_errno(e, path, "fsync") : 0;
    close(fd);
    return rc;
}

static void parent_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *s = strrchr(out, '/');
    if (!s) snprintf(out, cap, ".");
    else if (s == out) out[1] = 0;
    else *s = 0;
}

int outdir_publish(const char *tmp, const char *dir, BlErr *e)
{
    if (fsync_path(tmp, e)) return -1;
    if (outdir_check(dir, e)) return -1; /* it may have changed while we worked */
    struct stat st;
    if (lstat(dir, &st)) {
        if (rename(tmp, dir)) return bl_fail_errno(e, dir, "rename");
    } else if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE)) {
        if (outdir_remove(tmp)) fprintf(stderr, "bytelm: warning: could not remove the previous corpus, now at %s\n", tmp);
    } else {
        /* no atomic exchange on this file system: move the old one aside first */
        char old[4096];
        snprintf(old, sizeof old, "%s.old-%ld", dir, (long)getpid());
        if (rename(dir, old)) return bl_fail_errno(e, dir, "rename");
        if (rename(tmp, dir)) {
            int saved = errno;
            rename(old, dir);
            errno = saved;
            return bl_fail_errno(e, dir, "rename");
        }
        if (outdir_remove(old)) fprintf(stderr, "bytelm: warning: could not remove the previous corpus, now at %s\n", old);
    }
    char parent[4096];
    parent_of(dir, parent, sizeof parent);
    return fsync_path(parent, e);
}

int outdir_remove(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        if (unlink(p)) rc = -1;
    }
    closedir(d);
    if (rmdir(path)) rc = -1;
    return rc;
}
