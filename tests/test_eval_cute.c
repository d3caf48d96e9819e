/* CUTE (eval/cute.h): prompts byte for byte for every task against prompts written out by hand,
 * the zero-shot prompt, rows kept as bytes, the answer cut and the scoring rule, refusals of bad
 * files with the file and offset, and `bytelm eval cute` end to end on tests/data/cute (the
 * header and first three rows of each of the benchmark's files). */
#include <cJSON.h>
#include <sys/wait.h>

#include "eval/cute.h"
#include "tests/test_cli_util.h"

#define DATA "tests/data/cute"

/* The benchmark's prompt for the first row of each task: prompts.json's template with the row's
 * inputs in its {} slots, then ' Answer: "' (quirks of the templates kept: spell_inverse's
 * double space, orth's missing quote after "glad", sem's unquoted slots). */
static const struct {
    const char *task, *prompt;
} expected[CUTE_TASKS] = {
    {"spell",
     "Spell out the word, putting spaces between each letter, based on the following examples:\n"
     "\n"
     "1. Spell out the word \"alphabet\". Answer: \"a l p h a b e t\"\n"
     "2. Spell out the word \"hello\". Answer: \"h e l l o\"\n"
     "3. Spell out the word \"zebra\". Answer: \"z e b r a\"\n"
     "4. Spell out the word \"tongue\". Answer: \"t o n g u e\"\n"
     "\n"
     "Question: Spell out the word \"the\". Answer: \""},
    {"spell_inverse",
     "Write the word that is spelled out, without any spaces, based on the following examples:\n"
     "\n"
     "1. Write the word \"a l p h a b e t\".  Answer: \"alphabet\"\n"
     "2. Write the word \"h e l l o\". Answer: \"hello\"\n"
     "3. Write the word \"z e b r a\". Answer: \"zebra\"\n"
     "4. Write the word \"t o n g u e\". Answer: \"tongue\"\n"
     "\n"
     "Question: Write the word \"t h e\". Answer: \""},
    {"contains_char",
     "Answer whether the specified letter is in the given word, based on the following examples:\n"
     "\n"
     "1. Is there a \"a\" in \"alphabet\"? Answer: \"Yes\"\n"
     "2. Is there a \"z\" in \"alphabet\"? Answer: \"No\"\n"
     "3. Is there a \"u\" in \"hello\"? Answer: \"No\"\n"
     "4. Is there a \"o\" in \"hello\"? Answer: \"Yes\"\n"
     "\n"
     "Question: Is there a \"l\" in \"the\"? Answer: \""},
    {"contains_word",
     "Answer whether the specified word is in the given sentence (case insensitive), based on the following examples:\n"
     "\n"
     "1. Is there a \"the\" in \"The cow goes moo.\"? Answer: \"Yes\"\n"
     "2. Is there a \"goat\" in \"The cow goes moo.\"? Answer: \"No\"\n"
     "3. Is there a \"glad\" in \"I am very happy.\"? Answer: \"No\"\n"
     "4. Is there a \"happy\" in \"I am very happy.\"? Answer: \"Yes\"\n"
     "\n"
     "Question: Is there a \"simple\" in \"The octopus smiled.\"? Answer: \""},
    {"orth",
     "Select the word that is closer in Levenshtein distance to the given word based on the following examples:\n"
     "\n"
     "1. Closer in Levenshtein distance to \"bold\": \"cold\", \"brave\". Answer: \"cold\"\n"
     "2. Closer in Levenshtein distance to \"computer\": \"completed\", \"laptop\". Answer: \"completed\"\n"
     "3. Closer in Levenshtein distance to \"happy\": \"glad, \"apply\". Answer: \"apply\"\n"
     "4. Closer in Levenshtein distance to \"camp\": \"ramp\", \"tent\". Answer: \"ramp\"\n"
     "\n"
     "Question: Closer in Levenshtein distance to \"is\": \"gis\", \"are\". Answer: \""},
    {"sem",
     "Select the word that is more semantically related to the given word based on the following examples:\n"
     "\n"
     "1. More semantically related to \"bold\": \"cold\", \"brave\". Answer: \"brave\"\n"
     "2. More semantically related to \"computer\": \"completed\", \"laptop\". Answer: \"laptop\"\n"
     "3. More semantically related to \"happy\": \"glad\", \"apply\". Answer: \"glad\"\n"
     "4. More semantically related to \"camp\": \"ramp\", \"tent\". Answer: \"tent\"\n"
     "\n"
     "Question: More semantically related to \"is\": gis, are. Answer: \""},
    {"ins_char",
     "Add the specified letter after every instance of the second specified letter in a given word, based on the following examples:\n"
     "\n"
     "1. Add an \"e\" after every \"a\" in \"alphabet\". Answer: \"aelphaebet\"\n"
     "2. Add an \"l\" after every \"l\" in \"hello\". Answer: \"hellllo\"\n"
     "3. Add an \"t\" after every \"z\" in \"zebra\". Answer: \"ztebra\"\n"
     "4. Add an \"f\" after every \"u\" in \"tongue\". Answer: \"tongufe\"\n"
     "\n"
     "Question: Add an \"m\" after every \"h\" in \"the\". Answer: \""},
    {"ins_word",
     "Add the specified word after every instance of the second specified word in a given sentence, based on the following examples:\n"
     "\n"
     "1. Add \"bad\" after every \"beautiful\" in \"it is a beautiful day\". Answer: \"it is a beautiful bad day\"\n"
     "2. Add \"hello\" after every \"day\" in \"it is a beautiful day\". Answer: \"it is a beautiful day hello\"\n"
     "3. Add \"not\" after every \"i\" in \"i think i can do it\". Answer: \"i not think i not can do it\"\n"
     "4. Add \"can\" after every \"can\" in \"i think i can do it\". Answer: \"i think i can can do it\"\n"
     "\n"
     "Question: Add \"computers\" after every \"The\" in \"The octopus smiled.\". Answer: \""},
    {"del_char",
     "Delete every instance of a specified letter in a given word, based on the following examples:\n"
     "\n"
     "1. Delete every instance of \"a\" in \"alphabet\". Answer: \"lphbet\"\n"
     "2. Delete every instance of \"l\" in \"hello\". Answer: \"heo\"\n"
     "3. Delete every instance of \"z\" in \"zebra\". Answer: \"ebra\"\n"
     "4. Delete every instance of \"u\" in \"tongue\". Answer: \"tonge\"\n"
     "\n"
     "Question: Delete every instance of \"t\" in \"the\". Answer: \""},
    {"del_word",
     "Delete every instance of a specified word in a given sentence, based on the following examples:\n"
     "\n"
     "1. Delete every instance of \"a\" in \"it is a beautiful day\". Answer: \"it is beautiful day\"\n"
     "2. Delete every instance of \"beautiful\" in \"it is a beautiful day\". Answer: \"it is a day\"\n"
     "3. Delete every instance of \"i\" in \"i think i can do it\". Answer: \"think can do it\"\n"
     "4. Delete every instance of \"can\" in \"i think i can do it\". Answer: \"i think i do it\"\n"
     "\n"
     "Question: Delete every instance of \"smiled\" in \"The octopus smiled.\". Answer: \""},
    {"sub_char",
     "Substitute the first specified letter with the second specified letter in a given word, based on the following examples:\n"
     "\n"
     "1. Substitute \"a\" with \"b\" in \"alphabet\". Answer: \"blphbbet\"\n"
     "2. Substitute \"h\" with \"e\" in \"hello\". Answer: \"eello\"\n"
     "3. Substitute \"z\" with \"a\" in \"zebra\". Answer: \"aebra\"\n"
     "4. Substitute \"u\" with \"e\" in \"tongue\". Answer: \"tongee\"\n"
     "\n"
     "Question: Substitute \"h\" with \"c\" in \"the\". Answer: \""},
    {"sub_word",
     "Substitute the first specified word with the second specified word in a given sentence, based on the following examples:\n"
     "\n"
     "1. Substitute \"it\" with \"a\" in \"it is a beautiful day\". Answer: \"a is a beautiful day\"\n"
     "2. Substitute \"it\" with \"beautiful\" in \"it is a beautiful day\". Answer: \"beautiful is a beautiful day\"\n"
     "3. Substitute \"i\" with \"do\" in \"i think i can do it\". Answer: \"do think do can do it\"\n"
     "4. Substitute \"think\" with \"can\" in \"i think i can do it\". Answer: \"i can i can do it\"\n"
     "\n"
     "Question: Substitute \"The\" with \"planning\" in \"The octopus smiled.\". Answer: \""},
    {"swap_char",
     "Swap the positions of two specified letters in a given word, based on the following examples:\n"
     "\n"
     "1. Swap \"l\" and \"b\" in \"alphabet\". Answer: \"abphalet\"\n"
     "2. Swap \"h\" and \"e\" in \"hello\". Answer: \"ehllo\"\n"
     "3. Swap \"z\" and \"a\" in \"zebra\". Answer: \"aebrz\"\n"
     "4. Swap \"u\" and \"e\" in \"tongue\". Answer: \"tongeu\"\n"
     "\n"
     "Question: Swap \"e\" and \"h\" in \"the\". Answer: \""},
    {"swap_word",
     "Swap the positions of two specified words in a given sentence, based on the following examples:\n"
     "\n"
     "1. Swap \"it\" and \"a\" in \"it is a beautiful day\". Answer: \"a is it beautiful day\"\n"
     "2. Swap \"it\" and \"beautiful\" in \"it is a beautiful day\". Answer: \"beautiful is a it day\"\n"
     "3. Swap \"think\" and \"do\" in \"i think i can do it\". Answer: \"i do i can think it\"\n"
     "4. Swap \"can\" and \"do\" in \"i think i can do it\". Answer: \"i think i do can it\"\n"
     "\n"
     "Question: Swap \"octopus\" and \"smiled\" in \"The octopus smiled.\". Answer: \""},
};

START_TEST(test_prompts_every_task)
{
    BlErr e;
    CutePrompts p;
    ck_assert_msg(cute_prompts_load(&p, DATA "/prompts.json", &e) == 0, "%s", e.msg);
    for (int i = 0; i < CUTE_TASKS; i++) {
        int t = cute_task_by_name(expected[i].task);
        ck_assert_int_ge(t, 0);
        CuteSet s;
        ck_assert_msg(cute_set_load(&s, DATA, t, 0, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(s.n, strcmp(expected[i].task, "spell") ? 3 : 100); /* the copy's rows */
        size_t len;
        char *got = cute_prompt(p.tmpl[t], &s.rows[0], 4, &len);
        ck_assert_uint_eq(len, strlen(expected[i].prompt));
        ck_assert_msg(!memcmp(got, expected[i].prompt, len), "%s:\n%s", expected[i].task, got);
        free(got);
        cute_set_free(&s);
    }
    ck_assert_int_eq(cute_task_by_name("reverse"), -1);
    cute_prompts_free(&p);
}
END_TEST

/* --shots 0: the instruction paragraph and the question paragraph, the examples left out */
START_TEST(test_zero_shot)
{
    BlErr e;
    CutePrompts p;
    ck_assert_msg(cute_prompts_load(&p, DATA "/prompts.json", &e) == 0, "%s", e.msg);
    CuteRow spell = {{"the"}, "t h e"}, sem = {{"is", "gis", "are"}, "are"};
    size_t len;
    char *got = cute_prompt(p.tmpl[cute_task_by_name("spell")], &spell, 0, &len);
    ck_assert_str_eq(got, "Spell out the word, putting spaces between each letter, based on the following examples:\n"
                          "\n"
                          "Question: Spell out the word \"the\". Answer: \"");
    ck_assert_uint_eq(len, strlen(got));
    free(got);
    got = cute_prompt(p.tmpl[cute_task_by_name("sem")], &sem, 0, &len);
    ck_assert_str_eq(got, "Select the word that is more semantically related to the given word based on the following examples:\n"
                          "\n"
                          "Question: More semantically related to \"is\": gis, are. Answer: \"");
    free(got);
    cute_prompts_free(&p);
}
END_TEST

/* fields are the file's bytes: punctuation, spaces and UTF-8 kept */
START_TEST(test_rows_as_bytes)
{
    BlErr e;
    CuteSet s;
    ck_assert_msg(cute_set_load(&s, DATA, cute_task_by_name("ins_word"), 0, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(s.rows[1].input[0], "posted");
    ck_assert_str_eq(s.rows[1].input[1], "on");
    ck_assert_str_eq(s.rows[1].input[2], "When she finished, she hung the collage on the wall.");
    ck_assert_str_eq(s.rows[1].label, "When she finished, she hung the collage on posted the wall.");
    cute_set_free(&s);
    ck_assert_msg(cute_set_load(&s, DATA, cute_task_by_name("spell"), 2, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.rows[1].input[0], "and");
    ck_assert_ptr_null(s.rows[1].input[1]);
    ck_assert_str_eq(s.rows[1].label, "a n d");
    cute_set_free(&s);
}
END_TEST

static int correct(const char *task, const char *answer, const char *label)
{
    return cute_correct(cute_task_by_name(task), answer, strlen(answer), label);
}

START_TEST(test_scoring)
{
    /* the answer ends at a closing quote, a newline or after 100 bytes */
    ck_assert_uint_eq(cute_answer_len("t h e\" and more", 15), 5);
    ck_assert_uint_eq(cute_answer_len("Yes\nNo\"", 7), 3);
    ck_assert_uint_eq(cute_answer_len("\"", 1), 0);
    ck_assert_uint_eq(cute_answer_len("abc", 3), 3);
    char long_text[300];
    memset(long_text, 'a', sizeof long_text);
    ck_assert_uint_eq(cute_answer_len(long_text, sizeof long_text), CUTE_ANSWER_MAX);
    long_text[99] = '"';
    ck_assert_uint_eq(cute_answer_len(long_text, sizeof long_text), 99);

    /* case kept: spelling, orth/sem, the character manipulations */
    ck_assert(correct("spell", "t h e", "t h e"));
    ck_assert(!correct("spell", "T h e", "t h e"));
    ck_assert(!correct("spell", "t h e ", "t h e"));
    ck_assert(!correct("spell_inverse", "The", "the"));
    ck_assert(!correct("orth", "Gis", "gis"));
    ck_assert(!correct("sem", "ARE", "are"));
    ck_assert(!correct("ins_char", "Thme", "thme"));
    ck_assert(!correct("del_char", "HE", "he"));
    ck_assert(!correct("sub_char", "Tce", "tce"));
    ck_assert(!correct("swap_char", "Teh", "teh"));
    ck_assert(correct("swap_char", "teh", "teh"));
    /* lower-cased on both sides: the word-level tasks and both contains tasks */
    ck_assert(correct("contains_char", "yes", "Yes"));
    ck_assert(correct("contains_char", "NO", "No"));
    ck_assert(!correct("contains_char", "Yes.", "Yes"));
    ck_assert(correct("contains_word", "no", "No"));
    ck_assert(correct("ins_word", "the computers octopus smiled.", "The computers octopus smiled."));
    ck_assert(correct("del_word", "THE OCTOPUS.", "The octopus."));
    ck_assert(correct("sub_word", "Planning Octopus Smiled.", "planning octopus smiled."));
    ck_assert(correct("swap_word", "the smiled octopus.", "The smiled octopus."));
    ck_assert(!correct("swap_word", "the smiled octopus", "The smiled octopus."));
    ck_assert(correct("del_word", "\xc3\x84rger", "\xc3\xa4rger")); /* Ärger, ärger */
    ck_assert(!correct("del_char", "\xc3\x84rger", "\xc3\xa4rger"));
    /* an answer cut at 100 bytes never matches a longer label */
    char label[150];
    memset(label, 'b', 149);
    label[149] = 0;
    ck_assert(!cute_correct(cute_task_by_name("spell"), label, CUTE_ANSWER_MAX, label));
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Loads TASK.tsv holding text from dir; it must fail with a message holding want and, when
 * offset >= 0, ending "(offset N)". */
static void bad_tsv(const char *dir, const char *task, const char *text, const char *want, long offset)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.tsv", dir, task);
    if (text) write_file(path, text);
    else remove(path);
    BlErr e;
    CuteSet s;
    ck_assert_int_eq(cute_set_load(&s, dir, cute_task_by_name(task), 0, &e), -1);
    ck_assert_msg(!strncmp(e.msg, path, strlen(path)) && strstr(e.msg, want), "%s", e.msg);
    ck_assert_msg(!strchr(e.msg, '\n'), "%s", e.msg);
    if (offset >= 0) {
        char tail[64];
        snprintf(tail, sizeof tail, "(offset %ld)", offset);
        size_t n = strlen(e.msg), k = strlen(tail);
        ck_assert_msg(n >= k && !strcmp(e.msg + n - k, tail), "%s (want %s)", e.msg, tail);
    }
    ck_assert_ptr_null(s.rows);
}

START_TEST(test_bad_files)
{
    char *dir = tu_tmpdir("cute-bad");
    const char *h2 = "input1\tinput2\tlabel\n";
    bad_tsv(dir, "del_char", "input1\tinput2\tlabel\nt\tthe\the\na\tand\n", "line 3 has 2 tab-separated fields; del_char needs 3", 29);
    bad_tsv(dir, "del_char", "input1\tinput2\tlabel\nt\tthe\the\textra\n", "line 2 has 4", 20);
    bad_tsv(dir, "del_char", "input1\tlabel\nt\the\n", "header", 0);
    bad_tsv(dir, "del_char", "", "empty file", 0);
    bad_tsv(dir, "del_char", h2, "no rows", 20);
    bad_tsv(dir, "del_char", "input1\tinput2\tlabel\nt\t\the\n", "empty field", 20);
    bad_tsv(dir, "del_char", "input1\tinput2\tlabel\r\nt\tthe\the\r\n", "carriage return", 19);
    bad_tsv(dir, "del_char", "input1\tinput2\tlabel\nt\tth\xc3\tx\n", "invalid UTF-8", 24);
    bad_tsv(dir, "del_char", NULL, "No such file", -1);
    static char big[CUTE_LINE_MAX + 100];
    snprintf(big, sizeof big, "%sa\tb\t", h2);
    memset(big + strlen(big), 'c', CUTE_LINE_MAX);
    bad_tsv(dir, "del_char", big, "longer than", 20);
    /* the last line may lack its newline */
    char path[600];
    snprintf(path, sizeof path, "%s/spell.tsv", dir);
    write_file(path, "input1\tlabel\nab\ta b");
    BlErr e;
    CuteSet s;
    ck_assert_msg(cute_set_load(&s, dir, cute_task_by_name("spell"), 0, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(s.rows[0].label, "a b");
    cute_set_free(&s);

    /* prompts.json: truncated, a slot missing, a task missing */
    size_t n;
    char *json = tu_slurp(DATA "/prompts.json", &n);
    ck_assert_ptr_nonnull(json);
    snprintf(path, sizeof path, "%s/prompts.json", dir);
    json[n / 2] = 0;
    write_file(path, json);
    CutePrompts p;
    ck_assert_int_eq(cute_prompts_load(&p, path, &e), -1);
    ck_assert_msg(!strncmp(e.msg, path, strlen(path)) && strstr(e.msg, "not valid JSON (offset "), "%s", e.msg);
    free(json);
    write_file(path, "{\"spell\": \"Spell {} {}\"}");
    ck_assert_int_eq(cute_prompts_load(&p, path, &e), -1);
    ck_assert_msg(strstr(e.msg, "\"spell\": 2 {} slots"), "%s", e.msg);
    write_file(path, "{\"spell\": \"a\\n\\nb\\n\\nQ {}\"}");
    ck_assert_int_eq(cute_prompts_load(&p, path, &e), -1);
    ck_assert_msg(strstr(e.msg, "\"spell_inverse\": missing"), "%s", e.msg);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    ck_assert_int_eq(system(path), 0);
    free(dir);
}
END_TEST

#define CKPT "tests/fixtures/tiny-ref"

START_TEST(test_cli)
{
    static char out[1 << 16], err[1 << 14];
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data " DATA " --limit 3 --threads 1 --json -q",
             tu_bytelm());
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        if (lines < CUTE_TASKS) {
            const CuteTaskInfo *t = cute_task(lines);
            ck_assert_str_eq(cJSON_GetObjectItem(o, "task")->valuestring, t->name);
            ck_assert_int_eq(cJSON_GetObjectItem(o, "examples")->valueint, 3);
            ck_assert_int_eq(cJSON_GetObjectItem(o, "shots")->valueint, 4);
            double acc = cJSON_GetObjectItem(o, "accuracy")->valuedouble;
            ck_assert(acc >= 0 && acc <= 1);
            cJSON *pub = cJSON_GetObjectItem(o, "published");
            ck_assert_int_eq(cJSON_GetArraySize(pub), strstr(t->name, "_word") ? 1 : 4);
            ck_assert(cJSON_GetObjectItem(pub, "Llama-3-70B-Instruct") != NULL);
        } else {
            cJSON *s = cJSON_GetObjectItem(o, "summary");
            ck_assert_ptr_nonnull(s);
            ck_assert_int_eq(cJSON_GetObjectItem(s, "tasks")->valueint, CUTE_TASKS);
            ck_assert_int_eq(cJSON_GetObjectItem(s, "examples")->valueint, 3 * CUTE_TASKS);
            ck_assert_ptr_nonnull(cJSON_GetObjectItem(s, "accuracy"));
        }
        cJSON_Delete(o);
    }
    ck_assert_int_eq(lines, CUTE_TASKS + 1);
    const cJSON *spell;
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data " DATA " --task sem,spell --shots 0 --limit 1 --json -q",
             tu_bytelm());
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    cJSON *o = cJSON_Parse(out);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "task")->valuestring, "sem");
    ck_assert_int_eq(cJSON_GetObjectItem(o, "shots")->valueint, 0);
    spell = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "published"), "Mistral-7B-v0.2");
    ck_assert(spell && spell->valuedouble == 0.847);
    cJSON_Delete(o);
    /* the table */
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data " DATA " --task spell --limit 2", tu_bytelm());
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(strstr(out, "Llama-3-70B") && strstr(out, "spell ") && strstr(out, "1.000"), "%s", out);

    /* usage errors: exit 2 naming what is wrong */
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data " DATA " --task spell,reverse", tu_bytelm());
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "'reverse'"), "%s", err);
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data " DATA " --shots 3", tu_bytelm());
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT, tu_bytelm());
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);

    /* bad data: exit 1, one line naming the file (and offset) */
    char *dir = tu_tmpdir("cute-cli");
    tu_sh_ok("cp " DATA "/*.tsv " DATA "/prompts.json %s/", dir);
    char path[600];
    snprintf(path, sizeof path, "%s/orth.tsv", dir);
    write_file(path, "input1\tinput2\tinput3\tlabel\nis\tgis\tare\tgis\nbe\tben\tremain\n");
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data %s -q", tu_bytelm(), dir);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    char want[700];
    snprintf(want, sizeof want, "bytelm: %s: line 3 has 3 tab-separated fields; orth needs 4 (offset 42)\n", path);
    ck_assert_str_eq(err, want);
    remove(path);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "orth.tsv") && strchr(err, '\n') == err + strlen(err) - 1, "%s", err);
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data %s --task spell -q", tu_bytelm(), dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err); /* orth not asked */
    snprintf(path, sizeof path, "%s/prompts.json", dir);
    tu_sh_ok("head -c 700 " DATA "/prompts.json > %s", path);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(!strncmp(err, "bytelm: ", 8) && strstr(err, "prompts.json: not valid JSON (offset "), "%s", err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}
END_TEST

/* --answers: one line a scored row (task, row, correct, answer, label, inputs), the correct
 * column summing to the reported counts; a failed run leaves an existing file as it was. */
START_TEST(test_cli_answers)
{
    static char out[1 << 16], err[1 << 14];
    char cmd[4096], path[600];
    char *dir = tu_tmpdir("cute-answers");
    snprintf(path, sizeof path, "%s/answers.tsv", dir);
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt " CKPT " --data " DATA " --task spell,del_char --limit 3 "
             "--threads 1 --json -q --answers %s", tu_bytelm(), path);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    long want_correct = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        if (cJSON_GetObjectItem(o, "task")) want_correct += cJSON_GetObjectItem(o, "correct")->valueint;
        cJSON_Delete(o);
    }
    size_t len;
    char *text = tu_slurp(path, &len);
    ck_assert_ptr_nonnull(text);
    CuteSet spell, del;
    BlErr e;
    ck_assert_int_eq(cute_set_load(&spell, DATA, cute_task_by_name("spell"), 3, &e), 0);
    ck_assert_int_eq(cute_set_load(&del, DATA, cute_task_by_name("del_char"), 3, &e), 0);
    int lines = 0;
    long correct = 0;
    save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
        if (!lines) {
            ck_assert_str_eq(line, "task\trow\tcorrect\tanswer\tlabel\tinput1\tinput2\tinput3");
            continue;
        }
        char *f[8];
        int nf = 0;
        for (char *p = line; nf < 8;) {
            f[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = 0, p = tab + 1;
        }
        const CuteSet *set = lines <= 3 ? &spell : &del;
        const CuteRow *r = &set->rows[(lines - 1) % 3];
        ck_assert_str_eq(f[0], lines <= 3 ? "spell" : "del_char");
        ck_assert_int_eq(atoi(f[1]), (lines - 1) % 3 + 1);
        ck_assert(!strcmp(f[2], "0") || !strcmp(f[2], "1"));
        ck_assert_int_eq(atoi(f[2]), cute_correct(set->task, f[3], strlen(f[3]), r->label));
        correct += atoi(f[2]);
        ck_assert_str_eq(f[4], r->label);
        ck_assert_int_eq(nf, 5 + cute_task(set->task)->inputs);
        for (int k = 0; k < cute_task(set->task)->inputs; k++) ck_assert_str_eq(f[5 + k], r->input[k]);
    }
    ck_assert_int_eq(lines, 1 + 6);
    ck_assert_int_eq(correct, want_correct);
    free(text);
    cute_set_free(&spell);
    cute_set_free(&del);
    /* a run that fails (an unknown checkpoint) leaves the file as it was */
    text = tu_slurp(path, &len);
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt %s/none --data " DATA " --task spell -q --answers %s",
             tu_bytelm(), dir, path);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    size_t len2;
    char *after = tu_slurp(path, &len2);
    ck_assert(len2 == len && !memcmp(after, text, len));
    free(text);
    free(after);
    snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s/t.txt --words x --data " DATA " --answers %s",
             tu_bytelm(), dir, path);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    tu_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval_cute");
    TCase *tc = tcase_create("cute");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_prompts_every_task);
    tcase_add_test(tc, test_zero_shot);
    tcase_add_test(tc, test_rows_as_bytes);
    tcase_add_test(tc, test_scoring);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_cli);
    tcase_add_test(tc, test_cli_answers);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
