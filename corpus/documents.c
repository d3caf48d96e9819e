/* Finding the documents of a prepare run. */
#include "corpus/documents.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/base/str_order.h"
#include "corpus/manifest.h"

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = bl_malloc(la + lb + 2);
    memcpy(s, a, la);
    size_t k = la;
    if (la && a[la - 1] != '/') s[k++] = '/';
    memcpy(s + k, b, lb + 1);
    return s;
}

static void add(DocList *l, const char *path, const char *key, uint64_t size, int is_stdin)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->docs = bl_realloc(l->docs, l->cap * sizeof *l->docs);
        BL_CHECK(l->docs);
    }
    Document *d = &l->docs[l->n++];
    memset(d, 0, sizeof *d);
    d->path = strdup(path);
    d->name = strdup(is_stdin ? STDIN_NAME : path);
    d->key = strdup(key);
    d->size = size;
    d->is_stdin = is_stdin;
}

/* Walks dir (its key prefix is rel) in sorted order. */
static int walk(DocList *l, const char *dir, const char *rel, BlErr *e)
{
    DIR *d = opendir(dir);
    if (!d) return bl_fail_errno(e, dir, "open directory");
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = bl_realloc(names, cap * sizeof *names);
            BL_CHECK(names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, str_ptr_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = join(dir, names[i]);
        char *key = rel[0] ? join(rel, names[i]) : strdup(names[i]);
        struct stat st;
        if (lstat(path, &st)) rc = bl_fail_errno(e, path, "stat");
        else if (S_ISDIR(st.st_mode)) {
            if (!manifest_is_corpus_dir(path)) rc = walk(l, path, key, e);
        } else if (S_ISREG(st.st_mode)) add(l, path, key, (uint64_t)st.st_size, 0);
        else if (S_ISLNK(st.st_mode) && !stat(path, &st) && S_ISREG(st.st_mode))
            add(l, path, key, (uint64_t)st.st_size, 0); /* links to files count; to directories, not */
        free(path);
        free(key);
        if (rc) break;
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int doclist_collect(DocList *l, const char *const *inputs, int n, BlErr *e)
{
    memset(l, 0, sizeof *l);
    int seen_stdin = 0;
    for (int i = 0; i < n; i++) {
        const char *in = inputs[i];
        if (!strcmp(in, "-")) {
            if (seen_stdin++) return bl_fail(e, STDIN_NAME, "given more than once");
            add(l, "", STDIN_NAME, 0, 1);
            continue;
        }
        struct stat st;
        if (stat(in, &st)) return bl_fail_errno(e, in, "input");
        if (S_ISDIR(st.st_mode)) {
            if (walk(l, in, "", e)) return -1;
        } else if (S_ISREG(st.st_mode)) {
            add(l, in, base_name(in), (uint64_t)st.st_size, 0);
        } else {
            return bl_fail(e, in, "not a regular file (%s) nor a directory", file_kind(st.st_mode));
        }
    }
    return 0;
}

size_t doclist_drop_empty(DocList *l)
{
    size_t k = 0, dropped = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->docs[i].size) l->docs[k++] = l->docs[i];
        else {
            free(l->docs[i].path);
            free(l->docs[i].name);
            free(l->docs[i].key);
            dropped++;
        }
    }
    l->n = k;
    return dropped;
}

void doclist_free(DocList *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->docs[i].path);
        free(l->docs[i].name);
        free(l->docs[i].key);
    }
    free(l->docs);
    memset(l, 0, sizeof *l);
}
