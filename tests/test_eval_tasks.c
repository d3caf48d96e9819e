/* Character tasks, the word split, the memory-task generators, and scoring by greedy decoding:
 * an untrained model scores about nothing, a tiny model trained on selective copying (a short
 * instance, seconds on a CPU) scores >= 95% on sequences it never saw. */
#include "byte_lm/checkpoint/checkpoint_open.h"
#include "byte_lm/format/config.h"
#include "eval/char_tasks.h"
#include "eval/memory_tasks.h"
#include "eval/task_eval.h"
#include "eval/task_train.h"
#include "eval/words.h"
#include "tests/test_util.h"

static void check_example(CharTask t, const char *word, const char *prompt, const char *answer)
{
    Rng r = rng_stream(1, 2);
    TaskExample ex;
    ck_assert_int_eq(char_task_example(t, word, &r, &ex), 0);
    ck_assert_str_eq(ex.prompt, prompt);
    ck_assert_str_eq(ex.answer, answer);
}

START_TEST(test_char_task_formats)
{
    check_example(CT_SPELL, "word", "spell word = ", "w o r d");
    check_example(CT_SPELL_INVERSE, "word", "join w o r d = ", "word");
    check_example(CT_REVERSE, "word", "reverse word = ", "drow");
    /* only b and c occur once in "abca": the swap is forced */
    check_example(CT_SWAP, "abca", "swap b c abca = ", "acba");
    TaskExample ex;
    Rng r = rng_stream(3, 4);
    ck_assert_int_eq(char_task_example(CT_SWAP, "aabb", &r, &ex), -1);
    ck_assert_int_eq(char_task_example(CT_DELETE, "aaa", &r, &ex), -1);
    ck_assert_int_eq(char_task_by_name("spell-inverse"), CT_SPELL_INVERSE);
    ck_assert_int_eq(char_task_by_name("nope"), -1);

    /* the randomised tasks: answers checked against their definitions over many draws */
    const char *word = "bookkeeper";
    int yes = 0, no = 0;
    for (int i = 0; i < 400; i++) {
        char c, x, y;
        ck_assert_int_eq(char_task_example(CT_CONTAINS, word, &r, &ex), 0);
        ck_assert_int_eq(sscanf(ex.prompt, "contains %c ", &c), 1);
        ck_assert_str_eq(ex.answer, strchr(word, c) ? "yes" : "no");
        yes += !strcmp(ex.answer, "yes"), no += !strcmp(ex.answer, "no");

        ck_assert_int_eq(char_task_example(CT_INSERT, word, &r, &ex), 0);
        ck_assert_int_eq(sscanf(ex.prompt, "insert %c after %c ", &x, &y), 2);
        ck_assert_ptr_null(strchr(word, x));
        char want[64];
        size_t k = 0;
        for (const char *p = word; *p; p++) {
            want[k++] = *p;
            if (*p == y) want[k++] = x;
        }
        want[k] = 0;
        ck_assert_str_eq(ex.answer, want);

        ck_assert_int_eq(char_task_example(CT_DELETE, word, &r, &ex), 0);
        ck_assert_int_eq(sscanf(ex.prompt, "delete %c ", &c), 1);
        k = 0;
        for (const char *p = word; *p; p++)
            if (*p != c) want[k++] = *p;
        want[k] = 0;
        ck_assert_str_eq(ex.answer, want);

        ck_assert_int_eq(char_task_example(CT_SWAP, "planet", &r, &ex), 0);
        ck_assert_int_eq(sscanf(ex.prompt, "swap %c %c ", &x, &y), 2);
        ck_assert(x != y);
        snprintf(want, sizeof want, "planet");
        *strchr(want, x) = '?';
        *strchr(want, y) = x;
        *strchr(want, '?') = y;
        ck_assert_str_eq(ex.answer, want);
    }
    ck_assert(yes > 150 && no > 150); /* both answers common: no always-yes shortcut */
}
END_TEST

START_TEST(test_word_split)
{
    char *dir = tu_tmpdir("words");
    char path[600];
    snprintf(path, sizeof path, "%s/w.txt", dir);
    FILE *f = fopen(path, "w");
    /* uppercase, apostrophes, too short, too long, CRLF and a duplicate */
    fputs("apple\nBanana\nit's\nab\nextraordinarily\ncherry\r\napple\n\ndate\n", f);
    fclose(f);
    WordList w;
    BlErr e;
    ck_assert_int_eq(words_load(&w, path, 3, 10, 0, &e), 0);
    ck_assert_uint_eq(w.ntrain, 3); /* apple, cherry, date */
    ck_assert_uint_eq(w.nheld, 0);
    ck_assert_uint_eq(w.skipped, 4);
    words_free(&w);
    ck_assert_int_eq(words_load(&w, path, 20, 30, 10, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "no usable words"));
    remove(path);
    rmdir(dir);
    free(dir);

    ck_assert_int_eq(words_load(&w, "tests/data/words.txt", 3, 10, 10, &e), 0);
    size_t total = w.ntrain + w.nheld;
    printf("word list: %zu words, %zu held out\n", total, w.nheld);
    ck_assert(w.nheld > total / 20 && w.nheld < total / 5);
    for (size_t i = 0; i < w.nheld; i++) ck_assert(word_is_held_out(w.held[i], 10));
    for (size_t i = 0; i < w.ntrain; i++) ck_assert(!word_is_held_out(w.train[i], 10));
    /* "all" visits every word exactly once */
    size_t seen_held = 0;
    for (size_t i = 0; i < total; i++) seen_held += word_is_held_out(words_nth(&w, POOL_ALL, i), 10);
    ck_assert_uint_eq(seen_held, w.nheld);

    /* training text never contains a held-out word, and its answers are right */
    char *tdir = tu_tmpdir("tasktext");
    snprintf(path, sizeof path, "%s/train.txt", tdir);
    TaskGen g[2];
    char_task_gen(&g[0], CT_REVERSE, &w);
    char_task_gen(&g[1], CT_SPELL, &w);
    ck_assert_int_eq(task_write_text(path, g, 2, 3000, 8, 7, &e), 0);
    f = fopen(path, "r");
    char line[256], word[64], ans[128];
    int lines = 0, reverse = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (sscanf(line, "reverse %63s = %127s", word, ans) == 2) {
            reverse++;
            size_t n = strlen(word);
            for (size_t i = 0; i < n; i++) ck_assert_int_eq(ans[i], word[n - 1 - i]);
        } else {
            ck_assert_int_eq(sscanf(line, "spell %63s = ", word), 1);
        }
        ck_assert_msg(!word_is_held_out(word, 10), "held-out word %s in training text", word);
    }
    fclose(f);
    ck_assert_int_eq(lines, 3000);
    ck_assert(reverse > 800 && reverse < 2200);
    remove(path);
    rmdir(tdir);
    free(tdir);
    words_free(&w);
}
END_TEST

START_TEST(test_memory_generators)
{
    MemoryTask sc, ih;
    memory_task_default(&sc, MT_SELECTIVE_COPY);
    memory_task_default(&ih, MT_INDUCTION);
    Rng r = rng_stream(9, 9);
    TaskExample ex;
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(memory_task_example(&sc, &r, &ex), 0);
        ck_assert_int_eq((int)strlen(ex.prompt), sc.length + 1);
        ck_assert_int_eq(ex.prompt[sc.length], '|');
        char data[64];
        int k = 0;
        for (int t = 0; t < sc.length; t++)
            if (ex.prompt[t] != '.') {
                ck_assert(ex.prompt[t] >= 'a' && ex.prompt[t] < 'a' + sc.vocab);
                data[k++] = ex.prompt[t];
            }
        data[k] = 0;
        ck_assert_int_eq(k, sc.tokens);
        ck_assert_str_eq(ex.answer, data);
        char line[600];
        ck_assert_int_eq(task_line(&ex, line, sizeof line), memory_task_line_len(&sc));

        ck_assert_int_eq(memory_task_example(&ih, &r, &ex), 0);
        ck_assert_int_eq((int)strlen(ex.prompt), ih.length + 1);
        const char *first = strchr(ex.prompt, '#'), *last = strrchr(ex.prompt, '#');
        ck_assert(first && last == ex.prompt + ih.length && first < last - 2);
        ck_assert_int_eq(ex.answer[0], first[1]);
        ck_assert_int_eq(ex.answer[1], 0);
    }
    BlErr e;
    sc.tokens = sc.length + 1;
    ck_assert_int_eq(memory_task_check(&sc, &e), -1);
}
END_TEST

/* What task scoring decoded before it went through the generator: the whole prompt in one
 * parallel call, then one recurrent step per byte, each byte the argmax (first on ties). */
static int reference_greedy(Model *m, const char *prompt, int max_new, char *out, int *stopped)
{
    int len = (int)strlen(prompt), k = 0;
    ModelState *s = model_state_create(m, 1);
    float *logits = malloc((size_t)len * 256 * sizeof(float)), step[256];
    model_forward_stateful(m, s, (const uint8_t *)prompt, NULL, 1, len, NULL, logits);
    const float *lg = logits + (size_t)(len - 1) * 256;
    *stopped = 0;
    while (k < max_new) {
        int next = 0;
        for (int i = 1; i < 256; i++)
            if (lg[i] > lg[next]) next = i;
        if (next == '\n') {
            *stopped = 1;
            break;
        }
        out[k++] = (char)next;
        uint8_t b = (uint8_t)next;
        model_forward_stateful(m, s, &b, NULL, 1, 1, NULL, step);
        lg = step;
    }
    out[k] = 0;
    free(logits);
    model_state_free(m, s);
    return k;
}

/* Task answers come from the generator: the same bytes as the reference decoder, from a fresh
 * state for every prompt (asked twice, in between other prompts), cut at max_new. */
START_TEST(test_task_complete_greedy)
{
    ModelConfig c;
    config_default(&c, 64, 2);
    BlErr e;
    Backend *be = backend_cpu_create(1);
    Model *m;
    ck_assert_int_eq(model_create(&m, &c, be, &e), 0);
    model_init_params(m, 11);
    const char *prompts[] = {"reverse word = ", "x", "..c...a..f.|", "spell word = w o r d\nspell cat = "};
    Generator *gen = task_generator(m, 40);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 4; i++)
            for (int max_new = 1; max_new <= 40; max_new += 13) {
                char want[64], got[64];
                int want_stop, got_stop;
                int nw = reference_greedy(m, prompts[i], max_new, want, &want_stop);
                int ng = task_complete(gen, (const uint8_t *)prompts[i], (int)strlen(prompts[i]), max_new,
                                       got, &got_stop);
                ck_assert_int_eq(ng, nw);
                ck_assert_int_eq(got_stop, want_stop);
                ck_assert_str_eq(got, want);
                ck_assert_int_le(ng, max_new);
            }
    generator_free(gen);
    model_free(m);
    be->destroy(be);
}
END_TEST

/* The whole path: train on generated rows, then greedy decoding on fresh sequences. An untrained
 * model's answers are wrong, so the score is earned. */
START_TEST(test_selective_copy_learned)
{
    char *dir = tu_tmpdir("memtask");
    char cfg_path[600];
    snprintf(cfg_path, sizeof cfg_path, "%s/tiny.json", dir);
    ModelConfig c;
    config_default(&c, 64, 2);
    BlErr e;
    ck_assert_int_eq(config_save(&c, cfg_path, &e), 0);

    MemoryTask mt = {MT_SELECTIVE_COPY, 8, 2, 4};
    TaskGen g;
    memory_task_gen(&g, &mt);
    TaskTrainOptions o;
    task_train_options_default(&o);
    o.config = cfg_path;
    o.B = 32;
    o.L = memory_task_line_len(&mt) - 1;
    o.steps = 800; /* every init tried had solved it by 700 steps; most by 400 */
    o.lr = 3e-3f;
    o.eval.shots = 0;
    o.eval.n = 200;

    Backend *be = backend_cpu_create(1);
    Model *m;
    ModelConfig untrained_cfg = c;
    ck_assert_int_eq(model_create(&m, &untrained_cfg, be, &e), 0);
    model_init_params(m, 5);
    TaskScore before, after;
    ck_assert_int_eq(task_evaluate(m, &g, &o.eval, &before, &e), 0);
    model_free(m);

    ck_assert_msg(task_train(&o, &g, 1, be, &m, &e) == 0, "%s", e.msg);
    o.eval.show = 3;
    o.eval.log = stdout;
    ck_assert_int_eq(task_evaluate(m, &g, &o.eval, &after, &e), 0);
    printf("selective copying (length 8, 2 tokens of 4 letters), %d fresh sequences: untrained "
           "%.1f%% exact, after %d steps %.1f%% exact, %.1f%% of tokens\n",
           after.n, 100.0 * before.exact / before.n, o.steps, 100.0 * after.exact / after.n,
           100.0 * after.char_correct / after.n);
    ck_assert_int_eq(after.n, 200);
    ck_assert(before.exact < 0.1 * before.n);
    ck_assert(after.exact >= 0.95 * after.n);
    model_free(m);
    be->destroy(be);
    remove(cfg_path);
    rmdir(dir);
    free(dir);
}
END_TEST

/* Task training goes through the training loop: the same seed gives the same weights bit for
 * bit, with or without a run directory, and the run directory is a normal one (a checkpoint
 * holding those weights, one metrics line per step). */
START_TEST(test_task_train_run)
{
    char *dir = tu_tmpdir("tasktrain");
    char cfg_path[600], run[600], line[700];
    snprintf(cfg_path, sizeof cfg_path, "%s/tiny.json", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    ModelConfig c;
    config_default(&c, 32, 1);
    BlErr e;
    ck_assert_int_eq(config_save(&c, cfg_path, &e), 0);
    MemoryTask mt = {MT_SELECTIVE_COPY, 8, 2, 4};
    TaskGen g;
    memory_task_gen(&g, &mt);
    TaskTrainOptions o;
    task_train_options_default(&o);
    o.config = cfg_path;
    o.B = 4;
    o.L = 20;
    o.steps = 12;
    o.quiet = 1;
    Backend *be = backend_cpu_create(1);
    Model *m[3];
    ck_assert_msg(task_train(&o, &g, 1, be, &m[0], &e) == 0, "%s", e.msg);
    o.out = run;
    ck_assert_msg(task_train(&o, &g, 1, be, &m[1], &e) == 0, "%s", e.msg);
    o.seed++;
    ck_assert_msg(task_train(&o, &g, 1, be, &m[2], &e) == 0, "%s", e.msg); /* replaces the run */
    size_t n = model_num_params(m[0]);
    float *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = malloc(n * sizeof(float));
        be->download(be, p[i], model_params(m[i]), n * sizeof(float));
    }
    ck_assert_int_eq(memcmp(p[0], p[1], n * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(p[0], p[2], n * sizeof(float)), 0);

    Model *saved;
    snprintf(line, sizeof line, "%s/checkpoint", run);
    ck_assert_msg(checkpoint_load_model(line, be, &saved, &e) == 0, "%s", e.msg);
    float *q = malloc(n * sizeof(float));
    be->download(be, q, model_params(saved), n * sizeof(float));
    ck_assert_int_eq(memcmp(q, p[2], n * sizeof(float)), 0);
    model_free(saved);
    free(q);

    snprintf(line, sizeof line, "%s/metrics.jsonl", run);
    FILE *f = fopen(line, "r");
    ck_assert_ptr_nonnull(f);
    int steps = 0;
    while (fgets(line, sizeof line, f)) steps += !strncmp(line, "{\"step\":", 8) && strstr(line, "\"loss\":");
    fclose(f);
    ck_assert_int_eq(steps, 12);
    for (int i = 0; i < 3; i++) {
        free(p[i]);
        model_free(m[i]);
    }
    be->destroy(be);
    tu_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval_tasks");
    TCase *tc = tcase_create("tasks");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_char_task_formats);
    tcase_add_test(tc, test_word_split);
    tcase_add_test(tc, test_memory_generators);
    tcase_add_test(tc, test_task_complete_greedy);
    tcase_add_test(tc, test_selective_copy_learned);
    tcase_add_test(tc, test_task_train_run);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
