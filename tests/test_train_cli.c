/* `bytelm train` end to end through the binary, in fp32 and in bf16: loss falls from about 8
 * bits/byte, a checkpoint is written, and stopping then resuming gives the identical loss
 * sequence of an uninterrupted run (a bf16 run resumes in bf16 without being told). */
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/test_cli_util.h"

/* Trains tiny 24 steps in `precision`, whole and stopped at 9 then resumed; the losses of the
 * uninterrupted run go to full[24]. */
static void train_and_resume(const char *precision, double *full)
{
    char *dir = tu_tmpdir("train"), cmd[4096], path[1024], common[512];
    snprintf(path, sizeof path, "%s/text.txt", dir);
    tu_write_words(path, 5, 6000, 16);
    snprintf(common, sizeof common, "--config configs/tiny.json -B 4 -L 64 --steps 24 --warmup 4 "
             "--lr 5e-3 --threads 2 --ckpt-every 0 --precision %s", precision);
    snprintf(cmd, sizeof cmd, "%s train %s --data %s --out %s/full 2>%s/full.log", tu_bytelm(), common,
             path, dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s train %s --data %s --out %s/part --stop-after 9 2>%s/part.log",
             tu_bytelm(), common, path, dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s train --resume %s/part --threads 2 2>>%s/part.log", tu_bytelm(), dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);

    double part[64];
    snprintf(path, sizeof path, "%s/full/metrics.jsonl", dir);
    int nf = tu_read_losses(path, full, 24);
    snprintf(path, sizeof path, "%s/part/metrics.jsonl", dir);
    int np = tu_read_losses(path, part, 64);
    ck_assert_int_eq(nf, 24);
    ck_assert_int_eq(np, 24);
    printf("loss (bits/byte): first %.3f, last %.3f\n", full[0] / log(2), full[nf - 1] / log(2));
    ck_assert(fabs(full[0] / log(2) - 8.0) < 0.2); /* untrained: about 8 bits per byte */
    ck_assert(full[nf - 1] < full[0] - 1.0);        /* and it learns */
    for (int i = 0; i < nf; i++) ck_assert_msg(full[i] == part[i], "step %d: %.9g vs %.9g", i + 1, full[i], part[i]);
    printf("%s: resumed run: %d of %d losses identical to the uninterrupted run\n", precision, np, nf);
    /* the run records its precision, and the resume kept it */
    snprintf(path, sizeof path, "%s/part/checkpoint/trainer_state.json", dir);
    char *ts = tu_slurp(path, NULL), want[64];
    snprintf(want, sizeof want, "\"precision\":\t\"%s\"", precision);
    ck_assert_ptr_nonnull(ts);
    ck_assert_msg(strstr(ts, want) != NULL, "%s does not hold %s", path, want);
    free(ts);

    struct stat st;
    const char *files[] = {"config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/part/checkpoint/%s", dir, files[i]);
        ck_assert_msg(stat(path, &st) == 0, "missing %s", path);
    }
    snprintf(path, sizeof path, "%s/part/loss.svg", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    /* the two runs end with byte-identical weights */
    snprintf(cmd, sizeof cmd, "cmp -s %s/full/checkpoint/model.safetensors %s/part/checkpoint/model.safetensors",
             dir, dir);
    ck_assert_int_eq(tu_sh(cmd), 0);
    tu_rmdir(dir);
}

START_TEST(test_train_and_resume)
{
    double f32[24], b16[24];
    train_and_resume("fp32", f32);
    train_and_resume("bf16", b16);
    int differ = 0;
    for (int i = 0; i < 24; i++) differ += f32[i] != b16[i];
    printf("bf16 against fp32: %d of 24 losses differ, last %.4f vs %.4f bits/byte\n", differ,
           b16[23] / log(2), f32[23] / log(2));
    ck_assert_int_gt(differ, 0);                          /* bf16 did run */
    ck_assert(fabs(b16[23] - f32[23]) / log(2) < 0.05);  /* and learns as fp32 does */
}
END_TEST

START_TEST(test_bad_arguments)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s train --config configs/tiny.json 2>/dev/null", tu_bytelm());
    ck_assert_int_eq(tu_sh(cmd), 2); /* usage: --data missing */
    snprintf(cmd, sizeof cmd, "%s train --config configs/tiny.json --data /nonexistent/x --out /tmp/bytelm-none 2>/dev/null", tu_bytelm());
    ck_assert_int_eq(tu_sh(cmd), 1);
    snprintf(cmd, sizeof cmd, "%s train --config configs/tiny.json --data x -B zero 2>/dev/null", tu_bytelm());
    ck_assert_int_eq(tu_sh(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s train --resume /nonexistent/run 2>/dev/null", tu_bytelm());
    ck_assert_int_eq(tu_sh(cmd), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_train_and_resume);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
