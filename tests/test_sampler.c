/* Sampling: greedy ties and masks, the temperature -> 0 limit, top-k and top-p sets, draw
 * frequencies against the computed distribution, determinism for a seed. */
#include "byte_lm/base/sampler.h"
#include "tests/test_util.h"

static void random_logits(float *lg, uint64_t *s, float scale)
{
    for (int i = 0; i < 256; i++) lg[i] = tu_uniform(s, -scale, scale);
}

START_TEST(test_argmax_ties_and_mask)
{
    float lg[256];
    for (int i = 0; i < 256; i++) lg[i] = 0.0f;
    lg[7] = lg[3] = lg[200] = 2.0f;
    ck_assert_int_eq(sampler_argmax(lg, NULL), 3);
    uint8_t allowed[256];
    memset(allowed, 1, sizeof allowed);
    allowed[3] = 0;
    ck_assert_int_eq(sampler_argmax(lg, allowed), 7);
    memset(allowed, 0, sizeof allowed);
    allowed[100] = allowed[150] = 1;
    lg[150] = 1.0f;
    ck_assert_int_eq(sampler_argmax(lg, allowed), 150);
    /* NaN never wins, and cannot hide a real maximum that comes after it */
    lg[0] = NAN;
    ck_assert_int_eq(sampler_argmax(lg, NULL), 3);
    SamplerConfig c = {0.0f, 0, 1.0f, 1.0f, 0};
    Rng r = {1};
    ck_assert_int_eq(sampler_sample(&c, lg, NULL, &r), 3);
    ck_assert_uint_eq(r.s, 1); /* greedy draws nothing */
}
END_TEST

/* As T -> 0 the distribution collapses onto the argmax: at T = gap/40 everything else together
 * has less than 255 e^-40 of the mass, and draws always give the argmax. */
START_TEST(test_temperature_to_zero_is_argmax)
{
    uint64_t s = 3;
    for (int trial = 0; trial < 50; trial++) {
        float lg[256];
        random_logits(lg, &s, 4.0f);
        int best = sampler_argmax(lg, NULL);
        float gap = INFINITY;
        for (int i = 0; i < 256; i++)
            if (i != best && lg[best] - lg[i] < gap) gap = lg[best] - lg[i];
        ck_assert(gap > 0);
        double probs[256], prev = 0;
        for (float t = 4.0f; t > gap / 40; t /= 2) {
            SamplerConfig c = {t, 0, 1.0f, 1.0f, 0};
            sampler_probs(&c, lg, NULL, probs);
            ck_assert(probs[best] >= prev); /* monotone in T */
            prev = probs[best];
        }
        SamplerConfig c = {gap / 40, 0, 1.0f, 1.0f, 0};
        sampler_probs(&c, lg, NULL, probs);
        ck_assert(probs[best] > 1 - 1e-12);
        Rng r = rng_stream(7, (uint64_t)trial);
        for (int k = 0; k < 200; k++) ck_assert_int_eq(sampler_sample(&c, lg, NULL, &r), best);
    }
}
END_TEST

START_TEST(test_top_k_one_is_greedy)
{
    uint64_t s = 5;
    for (int trial = 0; trial < 300; trial++) {
        float lg[256];
        random_logits(lg, &s, 1.0f + (float)(trial % 5));
        uint8_t allowed[256];
        for (int i = 0; i < 256; i++) allowed[i] = (tu_next(&s) & 3) != 0;
        const uint8_t *mask = trial % 2 ? allowed : NULL;
        SamplerConfig c = {0.5f + (float)(trial % 3), 1, trial % 4 ? 1.0f : 0.9f, 1.0f, 0};
        Rng r = rng_stream(11, (uint64_t)trial);
        ck_assert_int_eq(sampler_sample(&c, lg, mask, &r), sampler_argmax(lg, mask));
    }
    /* a tie at the top: top-1 keeps the lower byte, like argmax */
    float lg[256] = {0};
    lg[9] = lg[4] = 1.0f;
    SamplerConfig c = {1.0f, 1, 1.0f, 1.0f, 0};
    Rng r = {2};
    ck_assert_int_eq(sampler_sample(&c, lg, NULL, &r), 4);
}
END_TEST

/* top-k keeps exactly the k largest logits, in softmax proportions among themselves. */
START_TEST(test_top_k_set)
{
    uint64_t s = 8;
    float lg[256];
    random_logits(lg, &s, 3.0f);
    for (int k = 1; k <= 256; k *= 3) {
        SamplerConfig c = {1.0f, k, 1.0f, 1.0f, 0};
        double probs[256];
        sampler_probs(&c, lg, NULL, probs);
        int kept = 0;
        double min_kept = INFINITY, max_dropped = -INFINITY, total = 0;
        for (int i = 0; i < 256; i++) {
            total += probs[i];
            if (probs[i] > 0) kept++, min_kept = fmin(min_kept, lg[i]);
            else max_dropped = fmax(max_dropped, lg[i]);
        }
        ck_assert_int_eq(kept, k);
        ck_assert(min_kept > max_dropped);
        ck_assert(fabs(total - 1) < 1e-12);
        int a = sampler_argmax(lg, NULL);
        for (int i = 0; i < 256; i++)
            if (probs[i] > 0)
                ck_assert(fabs(probs[i] / probs[a] - exp((double)lg[i] - lg[a])) < 1e-12);
    }
}
END_TEST

/* Nucleus: the kept set is the most likely bytes, its mass reaches p, and it is the smallest
 * such set (dropping its least likely member falls below p). */
START_TEST(test_top_p_smallest_set)
{
    /* hand-made: probabilities 0.5, 0.3, 0.15, 0.05 on bytes 10, 20, 30, 40 */
    float lg[256];
    for (int i = 0; i < 256; i++) lg[i] = -INFINITY;
    lg[10] = logf(0.5f), lg[20] = logf(0.3f), lg[30] = logf(0.15f), lg[40] = logf(0.05f);
    struct { float p; int kept; } cases[] = {{0.45f, 1}, {0.75f, 2}, {0.81f, 3}, {0.96f, 4}, {1.0f, 4}};
    for (size_t j = 0; j < sizeof cases / sizeof cases[0]; j++) {
        SamplerConfig c = {1.0f, 0, cases[j].p, 1.0f, 0};
        double probs[256];
        sampler_probs(&c, lg, NULL, probs);
        int kept = 0;
        for (int i = 0; i < 256; i++) kept += probs[i] > 0;
        ck_assert_int_eq(kept, cases[j].kept);
        if (cases[j].kept == 2) {
            ck_assert(fabs(probs[10] - 0.5 / 0.8) < 1e-6);
            ck_assert(fabs(probs[20] - 0.3 / 0.8) < 1e-6);
        }
    }
    /* random logits and p: check the defining properties against the untruncated softmax */
    uint64_t s = 21;
    for (int trial = 0; trial < 300; trial++) {
        random_logits(lg, &s, 1.0f + (float)(trial % 6));
        float p = tu_uniform(&s, 0.01f, 0.99f);
        SamplerConfig full = {1.0f, 0, 1.0f, 1.0f, 0}, nuc = {1.0f, 0, p, 1.0f, 0};
        double pf[256], pn[256];
        sampler_probs(&full, lg, NULL, pf);
        sampler_probs(&nuc, lg, NULL, pn);
        double mass = 0, smallest = INFINITY, largest_dropped = 0;
        for (int i = 0; i < 256; i++) {
            if (pn[i] > 0) mass += pf[i], smallest = fmin(smallest, pf[i]);
            else largest_dropped = fmax(largest_dropped, pf[i]);
        }
        ck_assert(mass >= p - 1e-12);
        ck_assert(mass - smallest < p);
        ck_assert(smallest >= largest_dropped);
        for (int i = 0; i < 256; i++)
            if (pn[i] > 0) ck_assert(fabs(pn[i] - pf[i] / mass) < 1e-12);
    }
}
END_TEST

/* Draw frequencies match the computed distribution, with temperature, top-k and a mask, within
 * 5 standard errors; masked bytes never come out. */
START_TEST(test_draw_frequencies)
{
    float lg[256];
    uint64_t s = 31;
    random_logits(lg, &s, 1.0f);
    lg[65] = 3.0f, lg[66] = 2.5f, lg[67] = 2.0f, lg[68] = 1.5f, lg[69] = 2.8f;
    uint8_t allowed[256];
    memset(allowed, 1, sizeof allowed);
    allowed[69] = 0;
    SamplerConfig c = {0.7f, 6, 1.0f, 1.0f, 0};
    double probs[256];
    sampler_probs(&c, lg, allowed, probs);
    ck_assert(probs[69] == 0);
    int n = 60000;
    static int count[256];
    memset(count, 0, sizeof count);
    Rng r = rng_stream(99, 0);
    for (int k = 0; k < n; k++) count[sampler_sample(&c, lg, allowed, &r)]++;
    ck_assert_int_eq(count[69], 0);
    for (int i = 0; i < 256; i++) {
        double f = (double)count[i] / n, se = sqrt(probs[i] * (1 - probs[i]) / n);
        if (probs[i] == 0) ck_assert_int_eq(count[i], 0);
        else ck_assert_msg(fabs(f - probs[i]) < 5 * se + 1e-9, "byte %d: freq %.5f want %.5f", i, f, probs[i]);
    }
}
END_TEST

START_TEST(test_same_seed_same_draws)
{
    float lg[256];
    uint64_t s = 41;
    random_logits(lg, &s, 2.0f);
    SamplerConfig c = {1.0f, 0, 0.95f, 1.0f, 0};
    Rng a = rng_stream(5, 1), b = rng_stream(5, 1), d = rng_stream(6, 1);
    int differ = 0;
    for (int k = 0; k < 100; k++) {
        int x = sampler_sample(&c, lg, NULL, &a), y = sampler_sample(&c, lg, NULL, &b);
        ck_assert_int_eq(x, y);
        differ += x != sampler_sample(&c, lg, NULL, &d);
    }
    ck_assert_int_gt(differ, 50);
}
END_TEST

/* The repetition penalty: exactly the bytes in the window are scaled, positive logits divided
 * and negative ones multiplied, once each however often a byte occurs; the window holds the
 * prompt's last bytes and then slides over what is picked. */
START_TEST(test_repetition_penalty)
{
    SamplerConfig c;
    sampler_config_default(&c);
    c.repetition_penalty = 2.0f;
    c.repetition_window = 4;
    uint8_t ring[4];
    SampleStream st;
    const uint8_t prompt[] = "abcaab"; /* the window keeps its last 4 bytes: c a a b */
    sampler_stream_init(&st, ring, 4, 1, 0, prompt, 6);
    ck_assert_int_eq(st.seen, 4);
    float lg[256], out[256];
    for (int v = 0; v < 256; v++) lg[v] = v % 2 ? 1.5f : -1.5f;
    sampler_penalize(&c, ring, st.seen, lg, out);
    for (int v = 0; v < 256; v++) {
        int in = v == 'a' || v == 'b' || v == 'c';
        float want = in ? (lg[v] > 0 ? lg[v] / 2 : lg[v] * 2) : lg[v];
        ck_assert_msg(out[v] == want, "byte %d: %g, want %g", v, out[v], want);
    }
    /* greedy picks: the best byte is penalized once it is in the window, so a second-best
     * byte takes over until the first leaves the window */
    c.temperature = 0;
    for (int v = 0; v < 256; v++) lg[v] = 0.0f;
    lg['x'] = 3.0f, lg['y'] = 2.0f;
    int picks[6];
    for (int k = 0; k < 6; k++) picks[k] = sampler_pick(&c, 0, 0, lg, &st, ring);
    ck_assert_int_eq(picks[0], 'x');
    ck_assert_int_eq(picks[1], 'y'); /* x is in the window: 1.5 < 2 */
    ck_assert_int_eq(picks[2], 'x'); /* both in the window: 1.5 > 1 */
    ck_assert_int_eq(st.produced, 6);
    ck_assert_int_eq(st.seen, 10);
    /* off: a penalty of 1, or a window of 0 */
    c.repetition_penalty = 1.0f;
    sampler_penalize(&c, ring, st.seen, lg, out);
    ck_assert_mem_eq(out, lg, sizeof lg);
    c.repetition_penalty = 2.0f;
    c.repetition_window = 0;
    sampler_penalize(&c, NULL, st.seen, lg, out);
    ck_assert_mem_eq(out, lg, sizeof lg);
}
END_TEST

/* sampler_pick in strict mode narrows to valid UTF-8 within the budget and advances the UTF-8
 * state; a greedy pick draws nothing, a sampled one exactly one uniform. */
START_TEST(test_pick_strict_and_draws)
{
    SamplerConfig c;
    sampler_config_default(&c);
    c.temperature = 0;
    float lg[256];
    for (int v = 0; v < 256; v++) lg[v] = 0.0f;
    lg[0xE2] = 9.0f; /* a 3-byte lead */
    lg[0x82] = 8.0f; /* a continuation */
    lg['a'] = 1.0f;
    SampleStream st;
    sampler_stream_init(&st, NULL, 0, 3, 0, NULL, 0);
    uint64_t r0 = st.rng;
    ck_assert_int_eq(sampler_pick(&c, 0, 0, lg, &st, NULL), 0xE2); /* not strict: anything */
    ck_assert_int_eq(sampler_pick(&c, 1, 0, lg, &st, NULL), 0xE2); /* strict, no budget */
    ck_assert_int_eq(sampler_pick(&c, 1, 0, lg, &st, NULL), 0x82);
    ck_assert_int_eq(sampler_pick(&c, 1, 0, lg, &st, NULL), 0x82);
    ck_assert_int_eq(st.utf8.need, 0); /* the character is whole */
    ck_assert_uint_eq(st.rng, r0);     /* greedy drew nothing */
    /* two bytes left of a budget of 6: the 3-byte lead is refused, and so is a continuation */
    ck_assert_int_eq(sampler_pick(&c, 1, 6, lg, &st, NULL), 'a');
    c.temperature = 1;
    Rng r = {st.rng};
    (void)rng_uniform(&r);
    sampler_pick(&c, 0, 0, lg, &st, NULL);
    ck_assert_uint_eq(st.rng, r.s); /* one uniform */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_add_test(tc, test_argmax_ties_and_mask);
    tcase_add_test(tc, test_temperature_to_zero_is_argmax);
    tcase_add_test(tc, test_top_k_one_is_greedy);
    tcase_add_test(tc, test_top_k_set);
    tcase_add_test(tc, test_top_p_smallest_set);
    tcase_add_test(tc, test_draw_frequencies);
    tcase_add_test(tc, test_same_seed_same_draws);
    tcase_add_test(tc, test_repetition_penalty);
    tcase_add_test(tc, test_pick_strict_and_draws);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
