/* Crash-safe directory saves: commit replaces, stale DIR.tmp is removed, resolve falls back to
 * DIR.old, and a save killed at random moments always leaves one complete copy. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "byte_lm/base/atomic_dir.h"
#include "tests/test_util.h"

static void put(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* contents of dir/name, or NULL when absent; the caller frees */
static char *get(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    if (!f) return NULL;
    static const size_t cap = 1 << 20;
    char *b = malloc(cap + 1);
    size_t n = fread(b, 1, cap, f);
    fclose(f);
    b[n] = 0;
    return b;
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void path2(char *out, const char *a, const char *b)
{
    ck_assert_int_lt(snprintf(out, 1024, "%s%s", a, b), 1024);
}

/* one complete save of dir with file "a" holding text */
static void save(const char *dir, const char *text)
{
    AtomicDir ad;
    BlErr e;
    ck_assert_msg(atomic_dir_begin(&ad, dir, &e) == 0, "%s", e.msg);
    put(atomic_dir_tmp(&ad), "a", text);
    ck_assert_msg(atomic_dir_commit(&ad, &e) == 0, "%s", e.msg);
}

START_TEST(commit_creates_and_replaces)
{
    char *root = tu_tmpdir("ad");
    char dir[1024], tmp[1024], old[1024];
    snprintf(dir, sizeof dir, "%s/ckpt", root);
    path2(tmp, dir, ".tmp");
    path2(old, dir, ".old");
    BlErr e;

    AtomicDir ad;
    ck_assert_int_eq(atomic_dir_begin(&ad, dir, &e), 0);
    ck_assert_str_eq(atomic_dir_tmp(&ad), tmp);
    ck_assert(exists(tmp));
    ck_assert(!exists(dir));
    char f[1024];
    ck_assert_int_eq(atomic_dir_file(&ad, "config.json", f, sizeof f, &e), 0);
    ck_assert_int_eq(write_file_atomic(f, "{}\n", 3, &e), 0);
    put(atomic_dir_tmp(&ad), "extra", "v1");
    ck_assert_int_eq(atomic_dir_commit(&ad, &e), 0);
    ck_assert(!exists(tmp) && !exists(old));
    char *s = get(dir, "config.json");
    ck_assert_str_eq(s, "{}\n");
    free(s);

    /* the second save replaces the whole directory: files it does not write are gone */
    ck_assert_int_eq(atomic_dir_begin(&ad, dir, &e), 0);
    put(atomic_dir_tmp(&ad), "config.json", "v2");
    ck_assert_int_eq(atomic_dir_commit(&ad, &e), 0);
    s = get(dir, "config.json");
    ck_assert_str_eq(s, "v2");
    free(s);
    ck_assert_ptr_null(get(dir, "extra"));
    ck_assert(!exists(tmp) && !exists(old));

    /* a trailing slash names the same directory, not a file inside it */
    char slash[1100];
    snprintf(slash, sizeof slash, "%s//", dir);
    save(slash, "v3");
    s = get(dir, "a");
    ck_assert_str_eq(s, "v3");
    free(s);
    ck_assert(!exists(tmp) && !exists(old));

    char got[1024];
    ck_assert_int_eq(atomic_dir_resolve(slash, got, sizeof got, &e), 0);
    ck_assert_str_eq(got, dir);
    ck_assert_int_eq(remove_tree(root, &e), 0);
    ck_assert(!exists(root));
    free(root);
}
END_TEST

START_TEST(stale_tmp_removed_and_abort)
{
    char *root = tu_tmpdir("ad");
    char dir[1024], tmp[1024];
    snprintf(dir, sizeof dir, "%s/ckpt", root);
    path2(tmp, dir, ".tmp");
    BlErr e;
    save(dir, "good");

    /* an interrupted save left DIR.tmp with a partial file and a subdirectory */
    ck_assert_int_eq(mkdir(tmp, 0777), 0);
    put(tmp, "model.safetensors", "partial");
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/sub", tmp);
    ck_assert_int_eq(mkdir(sub, 0777), 0);
    put(sub, "x", "y");

    AtomicDir ad;
    ck_assert_int_eq(atomic_dir_begin(&ad, dir, &e), 0);
    ck_assert_ptr_null(get(tmp, "model.safetensors"));
    ck_assert(!exists(sub));
    put(tmp, "a", "never committed");
    atomic_dir_abort(&ad);
    ck_assert(!exists(tmp));
    char *s = get(dir, "a");
    ck_assert_str_eq(s, "good");
    free(s);
    ck_assert_int_eq(remove_tree(root, &e), 0);
    free(root);
}
END_TEST

START_TEST(resolve_falls_back_to_old)
{
    char *root = tu_tmpdir("ad");
    char dir[1024], tmp[1024], old[1024], got[1024];
    snprintf(dir, sizeof dir, "%s/ckpt", root);
    path2(tmp, dir, ".tmp");
    path2(old, dir, ".old");
    BlErr e;

    ck_assert_int_eq(atomic_dir_resolve(dir, got, sizeof got, &e), -1);
    char want[1100];
    snprintf(want, sizeof want, "%s: no such checkpoint directory", dir);
    ck_assert_str_eq(e.msg, want);

    /* DIR.tmp alone is never trusted: it may be incomplete */
    ck_assert_int_eq(mkdir(tmp, 0777), 0);
    ck_assert_int_eq(atomic_dir_resolve(dir, got, sizeof got, &e), -1);
    ck_assert_int_eq(remove_tree(tmp, &e), 0);

    save(dir, "v1");
    ck_assert_int_eq(atomic_dir_resolve(dir, got, sizeof got, &e), 0);
    ck_assert_str_eq(got, dir);

    /* a crash between the two renames of a commit: DIR gone, DIR.old and DIR.tmp present */
    ck_assert_int_eq(rename(dir, old), 0);
    ck_assert_int_eq(mkdir(tmp, 0777), 0);
    put(tmp, "a", "v2 maybe incomplete");
    ck_assert_int_eq(atomic_dir_resolve(dir, got, sizeof got, &e), 0);
    ck_assert_str_eq(got, old);
    char *s = get(got, "a");
    ck_assert_str_eq(s, "v1");
    free(s);

    /* the next save keeps DIR.old until the new DIR is in place, then removes it */
    AtomicDir ad;
    ck_assert_int_eq(atomic_dir_begin(&ad, dir, &e), 0);
    ck_assert(exists(old));
    put(atomic_dir_tmp(&ad), "a", "v3");
    ck_assert_int_eq(atomic_dir_commit(&ad, &e), 0);
    ck_assert(!exists(old) && !exists(tmp));
    ck_assert_int_eq(atomic_dir_resolve(dir, got, sizeof got, &e), 0);
    ck_assert_str_eq(got, dir);
    s = get(dir, "a");
    ck_assert_str_eq(s, "v3");
    free(s);

    /* a crash after both renames leaves a stale DIR.old beside the good DIR: DIR wins, and the
     * next commit clears it */
    ck_assert_int_eq(mkdir(old, 0777), 0);
    put(old, "a", "stale");
    ck_assert_int_eq(atomic_dir_resolve(dir, got, sizeof got, &e), 0);
    ck_assert_str_eq(got, dir);
    save(dir, "v4");
    ck_assert(!exists(old));
    ck_assert_int_eq(remove_tree(root, &e), 0);
    free(root);
}
END_TEST

START_TEST(refusals)
{
    char *root = tu_tmpdir("ad");
    char file[1024], tmp[1024];
    snprintf(file, sizeof file, "%s/plain", root);
    put(root, "plain", "not a directory");
    BlErr e;
    AtomicDir ad;
    ck_assert_int_eq(atomic_dir_begin(&ad, file, &e), -1);
    char want[1200];
    snprintf(want, sizeof want, "%s: exists and is not a directory; not replacing it", file);
    ck_assert_str_eq(e.msg, want);
    path2(tmp, file, ".tmp");
    ck_assert(!exists(tmp));

    ck_assert_int_eq(atomic_dir_begin(&ad, "", &e), -1);
    ck_assert_int_eq(atomic_dir_begin(&ad, "/", &e), -1);
    ck_assert_int_eq(atomic_dir_begin(&ad, ".", &e), -1);
    ck_assert_str_eq(e.msg, ".: cannot save over this directory; name a subdirectory");
    ck_assert_int_eq(atomic_dir_begin(&ad, "a/..", &e), -1);

    /* a parent that does not exist */
    char deep[1100];
    snprintf(deep, sizeof deep, "%s/missing/ckpt", root);
    ck_assert_int_eq(atomic_dir_begin(&ad, deep, &e), -1);
    snprintf(want, sizeof want, "%s.tmp: cannot create directory: No such file or directory", deep);
    ck_assert_str_eq(e.msg, want);

    /* write_file_atomic: replaces whole, leaves no .tmp, fails cleanly */
    char wf[1100];
    snprintf(wf, sizeof wf, "%s/w.txt", root);
    ck_assert_int_eq(write_file_atomic(wf, "first", 5, &e), 0);
    ck_assert_int_eq(write_file_atomic(wf, "2nd", 3, &e), 0);
    char *s = get(root, "w.txt");
    ck_assert_str_eq(s, "2nd");
    free(s);
    path2(tmp, wf, ".tmp");
    ck_assert(!exists(tmp));
    snprintf(deep, sizeof deep, "%s/missing/w.txt", root);
    ck_assert_int_eq(write_file_atomic(deep, "x", 1, &e), -1);
    snprintf(want, sizeof want, "%s: cannot create: No such file or directory", deep);
    ck_assert_str_eq(e.msg, want);
    ck_assert_int_eq(remove_tree(root, &e), 0);
    free(root);
}
END_TEST

/* remove_tree must delete a symlink, never what it points to */
START_TEST(remove_tree_does_not_follow_links)
{
    char *root = tu_tmpdir("ad");
    char victim[1024], tree[1024], link[1100];
    BlErr e;
    snprintf(victim, sizeof victim, "%s/victim", root);
    snprintf(tree, sizeof tree, "%s/tree", root);
    ck_assert_int_eq(mkdir(victim, 0777), 0);
    put(victim, "keep", "precious");
    ck_assert_int_eq(mkdir(tree, 0777), 0);
    snprintf(link, sizeof link, "%s/link", tree);
    ck_assert_int_eq(symlink(victim, link), 0);
    ck_assert_int_eq(remove_tree(tree, &e), 0);
    ck_assert(!exists(tree));
    char *s = get(victim, "keep");
    ck_assert_str_eq(s, "precious");
    free(s);
    ck_assert_int_eq(remove_tree(tree, &e), 0); /* missing: fine */
    ck_assert_int_eq(remove_tree(root, &e), 0);
    free(root);
}
END_TEST

/* A child saves versions 1, 2, 3, ... of a two-file directory forever; the parent kills it at
 * random moments. Whatever the moment, resolve must find a complete, consistent save (both files
 * from the same version), and versions must never go backwards. */
START_TEST(killed_saves_leave_a_complete_copy)
{
    char *root = tu_tmpdir("ad");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ckpt", root);
    size_t big = 64 * 1024;
    char *body = malloc(big + 64);
    uint64_t seed = (uint64_t)time(NULL);
    long last = 0;
    long version = 0;
    int from_old = 0;
    for (int round = 0; round < 16; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            BlErr e;
            for (long v = version + 1;; v++) {
                AtomicDir ad;
                char p[1100];
                if (atomic_dir_begin(&ad, dir, &e)) _exit(3);
                int n = snprintf(body, 64, "%ld\n", v);
                memset(body + n, 'x', big - (size_t)n);
                snprintf(p, sizeof p, "%s/a", atomic_dir_tmp(&ad));
                if (write_file_atomic(p, body, big, &e)) _exit(4);
                snprintf(p, sizeof p, "%s/b", atomic_dir_tmp(&ad));
                if (write_file_atomic(p, body, big, &e)) _exit(4);
                if (atomic_dir_commit(&ad, &e)) _exit(5);
            }
        }
        usleep((useconds_t)(3000 + tu_next(&seed) % 50000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        ck_assert(WIFSIGNALED(status)); /* killed mid-loop, not failed */

        char got[1024];
        BlErr e;
        if (atomic_dir_resolve(dir, got, sizeof got, &e) != 0) {
            ck_assert_int_eq(last, 0); /* nothing saved yet is the only excuse */
            continue;
        }
        from_old += strcmp(got, dir) != 0;
        char *a = get(got, "a"), *b = get(got, "b");
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(strlen(a), big);
        ck_assert_str_eq(a, b);
        version = strtol(a, NULL, 10);
        ck_assert_int_ge(version, last);
        last = version;
        free(a);
        free(b);
    }
    ck_assert_int_gt(last, 0);
    fprintf(stderr, "killed_saves: reached version %ld, %d of 16 kills resolved to .old\n", last,
            from_old);
    free(body);
    BlErr e;
    ck_assert_int_eq(remove_tree(root, &e), 0);
    free(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("atomic_dir");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, commit_creates_and_replaces);
    tcase_add_test(tc, stale_tmp_removed_and_abort);
    tcase_add_test(tc, resolve_falls_back_to_old);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, remove_tree_does_not_follow_links);
    tcase_add_test(tc, killed_saves_leave_a_complete_copy);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
