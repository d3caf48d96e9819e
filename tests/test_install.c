/* `make install` as a user meets it: the files installed under a temporary prefix, both
 * examples built against that prefix alone (`cc $(pkg-config --cflags --libs bytelm)`), run on
 * a checkpoint trained here, and their output equal to the command's (bits per byte to the last
 * digit, greedy bytes exactly); libbytelm.so exporting exactly the functions bytelm.h declares;
 * `make uninstall` leaving nothing behind. Needs make test's environment (BYTELM, BYTELM_BUILD,
 * BYTELM_VERSION, BYTELM_LDLIBS) and a C compiler and pkg-config on PATH. */
#include <ctype.h>

#include "tests/test_cli_util.h"

typedef struct {
    char *dir;             /* scratch: prefix/, run/, text */
    char prefix[600], run[600], text[600];
} Fx;

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set (run through make test)", name);
    return v;
}

/* Installs under dir/prefix; with train, first trains tiny briefly on a small word text. */
static void fx_setup(Fx *f, int train)
{
    f->dir = tu_tmpdir("install");
    snprintf(f->prefix, sizeof f->prefix, "%s/prefix", f->dir);
    snprintf(f->run, sizeof f->run, "%s/run", f->dir);
    snprintf(f->text, sizeof f->text, "%s/words.txt", f->dir);
    tu_write_words(f->text, 7, 3000, 8);
    if (train)
        tu_sh_ok("%s train --config configs/tiny.json --data %s --out %s -B 4 -L 64 --steps 40 --threads 2 -q "
             ">/dev/null 2>&1",
             tu_bytelm(), f->text, f->run);
    tu_sh_ok("./scripts/install.sh install %s %s %s %s '%s' >/dev/null", f->prefix, env_or_fail("BYTELM_BUILD"),
             tu_bytelm(), env_or_fail("BYTELM_VERSION"), env_or_fail("BYTELM_LDLIBS"));
}

/* Builds examples/NAME.c with nothing but the installed prefix. */
static void build_example(const Fx *f, const char *name)
{
    tu_sh_ok("PKG_CONFIG_PATH=%s/lib/pkgconfig sh -c 'cc examples/%s.c $(pkg-config --cflags --libs bytelm) "
             "-o %s/%s' 2>&1",
             f->prefix, name, f->dir, name);
}

static double json_number(const char *js, const char *key)
{
    const char *p = strstr(js, key);
    ck_assert_msg(p != NULL, "no %s in %s", key, js);
    return strtod(p + strlen(key), NULL);
}

START_TEST(test_examples_match_the_command)
{
    Fx f;
    fx_setup(&f, 1);
    build_example(&f, "score");
    build_example(&f, "generate");
    char cmd[4096], out[8192], err[4096], ref[8192];

    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH=%s/lib %s/score %s %s", f.prefix, f.dir, f.run, f.text);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "score: %s", err);
    snprintf(cmd, sizeof cmd, "%s eval bpb --ckpt %s %s --json -q", tu_bytelm(), f.run, f.text);
    ck_assert_int_eq(tu_run_capture(cmd, ref, sizeof ref, err, sizeof err), 0);
    double lib = json_number(out, "bits_per_byte "), cli = json_number(strstr(ref, "\"total\""), "\"bits_per_byte\":");
    printf("installed example: %s", out);
    printf("bytelm eval bpb:   %.17g bits/byte\n", cli);
    ck_assert_msg(lib == cli, "example %.17g, command %.17g", lib, cli);
    ck_assert(lib > 0 && lib < 8);

    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH=%s/lib %s/generate %s 'the ' 300", f.prefix, f.dir, f.run);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "generate: %s", err);
    snprintf(cmd, sizeof cmd, "%s generate --ckpt %s --prompt 'the ' -n 300 --greedy -q", tu_bytelm(), f.run);
    ck_assert_int_eq(tu_run_capture(cmd, ref, sizeof ref, err, sizeof err), 0);
    ck_assert_uint_eq(strlen(out), 300);
    ck_assert_str_eq(out, ref);
    printf("greedy: 300 of 300 bytes equal (\"%.40s...\")\n", out);

    /* a stop string (3 bytes of that output) ends it right after the stop string first appears */
    char stop[4];
    memcpy(stop, ref + 5, 3), stop[3] = 0;
    ck_assert_ptr_null(strchr(stop, '\''));
    size_t want = (size_t)(strstr(ref, stop) - ref) + 3;
    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH=%s/lib %s/generate %s 'the ' 300 '%s'", f.prefix, f.dir, f.run, stop);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    ck_assert_uint_eq(strlen(out), want);
    ck_assert_int_eq(strncmp(out, ref, want), 0);
    printf("stop string \"%s\": output ends after %zu bytes, as expected\n", stop, want);
    tu_rmdir(f.dir);
}
END_TEST

/* The functions bytelm.h declares: each "bl_name(" after a space or a '*'. */
static int header_functions(char names[][64], int cap)
{
    char *h = tu_slurp("include/bytelm.h", NULL);
    ck_assert_ptr_nonnull(h);
    int n = 0;
    for (char *q = strstr(h, "bl_"); q && n < cap; q = strstr(q + 1, "bl_")) {
        if (q == h || (q[-1] != ' ' && q[-1] != '*')) continue;
        size_t k = 0;
        while (isalnum((unsigned char)q[k]) || q[k] == '_') k++;
        if (q[k] != '(' || k >= 64) continue;
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= !strncmp(names[i], q, k) && names[i][k] == 0;
        if (!dup) memcpy(names[n], q, k), names[n][k] = 0, n++;
    }
    free(h);
    return n;
}

START_TEST(test_exports_exactly_the_api)
{
    Fx f;
    fx_setup(&f, 0);
    char cmd[1024], out[16384], err[1024];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %s/lib/libbytelm.so | awk '{print $3}' | sort", f.prefix);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    char names[64][64];
    int n = header_functions(names, 64), lines = 0;
    ck_assert_int_ge(n, 10);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(names[i], line);
        ck_assert_msg(found, "libbytelm.so exports %s, which bytelm.h does not declare", line);
    }
    ck_assert_msg(lines == n, "bytelm.h declares %d functions, libbytelm.so exports %d", n, lines);
    printf("nm -D --defined-only libbytelm.so: %d symbols, all declared in bytelm.h\n", lines);
    snprintf(cmd, sizeof cmd, "readelf -d %s/lib/libbytelm.so | grep -q 'SONAME.*libbytelm.so.0'", f.prefix);
    ck_assert_int_eq(tu_sh(cmd), 0);

    /* uninstall removes every installed file */
    tu_sh_ok("./scripts/install.sh uninstall %s x x %s '' >/dev/null", f.prefix, env_or_fail("BYTELM_VERSION"));
    snprintf(cmd, sizeof cmd, "find %s -type f -o -type l", f.prefix);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    ck_assert_msg(out[0] == 0, "left after uninstall: %s", out);
    tu_rmdir(f.dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("install");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_examples_match_the_command);
    tcase_add_test(tc, test_exports_exactly_the_api);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
