/* loss.svg from a metrics file: step ticks, a y-axis title, a y range fitted to the data (not
 * from 0), the train curve with a smoothed one over it, validation, and a mark per resume. */
#include "byte_lm/train/loss_plot.h"
#include "tests/test_util.h"

/* Counts the occurrences of needle in s. */
static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

START_TEST(plot_of_a_resumed_run)
{
    char *T = tu_tmpdir("plot"), metrics[600], svg[600];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", T);
    snprintf(svg, sizeof svg, "%s/loss.svg", T);
    FILE *f = fopen(metrics, "w");
    uint64_t seed = 5;
    /* 200 steps from about 6 to about 2.5 bits per byte, noisy; validation every 50; resumed at
     * step 100 by a record, and at step 150 after a crash (steps 141..150 logged twice) */
    for (int s = 1; s <= 200; s++) {
        if (s == 101) fprintf(f, "{\"resumed_at_step\":100}\n");
        if (s == 151)
            for (int r = 141; r <= 150; r++) fprintf(f, "{\"step\":%d,\"loss\":1,\"bpb\":%.4f}\n", r, 3.0);
        double bpb = 2.5 + 3.5 * exp(-s / 40.0) + tu_uniform(&seed, -0.3f, 0.3f);
        fprintf(f, "{\"step\":%d,\"loss\":1,\"bpb\":%.4f}\n", s, bpb);
        if (s % 50 == 0) fprintf(f, "{\"step\":%d,\"val_bpb\":%.4f}\n", s, 2.6 + 3.4 * exp(-s / 40.0));
    }
    fclose(f);
    ck_assert_int_eq(loss_plot_write(metrics, svg), 0);
    char *s = tu_slurp(svg, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, ">bits per byte</text>") != NULL, "no y-axis title");
    ck_assert_msg(strstr(s, ">step</text>") != NULL, "no x-axis title");
    /* step ticks: at least 4, 100 and 200 among them */
    ck_assert_int_ge(count(s, "text-anchor=\"middle\">"), 4 + 1); /* + the x-axis title */
    ck_assert_msg(strstr(s, "middle\">100</text>") && strstr(s, "middle\">200</text>"), "no step ticks 100, 200");
    /* the y axis is fitted: its lowest label is 2 (data from about 2.2), not 0 */
    const char *first = strstr(s, "text-anchor=\"end\">");
    ck_assert_msg(first && atof(first + 18) == 2.0, "the y axis does not start at 2");
    ck_assert_msg(!strstr(s, "end\">0</text>") && !strstr(s, "end\">0.0</text>"), "the y axis starts at 0");
    /* raw train, smoothed train, validation */
    ck_assert_int_eq(count(s, "<polyline"), 3);
    /* the two resumes */
    ck_assert_int_eq(count(s, ">resumed</text>"), 2);
    free(s);
    tu_rmdir(T);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss-plot");
    TCase *c = tcase_create("svg");
    tcase_add_test(c, plot_of_a_resumed_run);
    suite_add_tcase(s, c);
    return tu_run(s);
}
