/* The release binary under valgrind's memcheck on short runs of train, resume, generate and
 * info: no invalid read or write, no use of uninitialised memory. (The ASan build of the test
 * suites covers the library in depth; this covers the real binary with its real libraries.) */
#include <sys/wait.h>

#include "tests/test_cli_util.h"

START_TEST(test_short_runs_are_memcheck_clean)
{
    const char *b = getenv("BYTELM") ? getenv("BYTELM") : "bin/bytelm";
    char *dir = tu_tmpdir("valgrind"), cmd[2048];
    const char *vg = "valgrind -q --error-exitcode=9 --errors-for-leak-kinds=none "
                     "--suppressions=tests/valgrind.supp";
    const char *steps[] = {
        "%s %s train --config configs/tiny.json --data data/sample.txt --out %s/run --steps 4 "
        "-B 2 -L 64 --warmup 1 --threads 1 --stop-after 2 2>%s/log",
        "%s %s train --resume %s/run --threads 1 2>%s/log",
        "%s %s generate --ckpt %s/run --prompt 'In the beginning' -n 16 --seed 1 --threads 1 "
        ">/dev/null 2>%s/log",
        "%s %s info %s/run >/dev/null 2>%s/log",
    };
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, steps[i], vg, b, dir, dir);
        int rc = tu_sh(cmd);
        if (rc != 0) {
            char show[700];
            snprintf(show, sizeof show, "cat %s/log >&2", dir);
            tu_sh(show);
        }
        ck_assert_msg(rc == 0, "exit %d under valgrind: %s", rc, cmd);
        printf("memcheck clean: %.60s...\n", cmd + strlen(vg) + strlen(b) + 2);
    }
    tu_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("valgrind");
    TCase *tc = tcase_create("memcheck");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_short_runs_are_memcheck_clean);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
