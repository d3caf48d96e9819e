/* CUTE's training text: every generator against the task's definition, worked out here by hand
 * for one known sentence; CUTE's words and sentences kept out of it; the written file in the
 * evaluation's prompts; and a tiny model trained on it that spells some of CUTE's words. */
#include <check.h>
#include <cJSON.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "eval/cute_train.h"
#include "tests/test_cli_util.h"
#include "tests/wordnet_fixture.h"

#define DATA "tests/data/cute"

/* Words of CUTE's files (the copy under tests/) and words that are not, in one list; a text
 * with one of CUTE's sentences, one usable new one, and some that are not usable. */
static const char *cute_words[] = {"the", "and", "octopus", "smiled"};
static const char *new_words[] = {"quokka", "zephyr", "glimmer", "brisket", "tundra", "kiwi"};
#define SENTENCE "Tom saw the cat, and the cat ran."
static const char *sentence_text = "The octopus smiled. " SENTENCE "\n"
                                   "Too short. Has \"quotes\" in it here. Has 2 digits in it.\n\n"
                                   "A paragraph with no end\n\nNine men saw it! ";
/* SENTENCE by hand: its tokens (words, then marks split off) */
static const char *toks[] = {"Tom", "saw", "the", "cat", ",", "and", "the", "cat", "ran", "."};
#define NTOK 10

static char *dir;

static void write_file(const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    dir = tu_tmpdir("cute-train");
    char list[512] = "";
    for (size_t i = 0; i < 4; i++) strcat(strcat(list, cute_words[i]), "\n");
    for (size_t i = 0; i < 6; i++) strcat(strcat(list, new_words[i]), "\n");
    strcat(list, "Capital\nab\nverylongwordsareleftout\n");
    write_file("words.txt", list);
    write_file("text.txt", sentence_text);
}

static void teardown(void) { tu_rmdir(dir); }

static void load(CuteTrainSource *s, int with_sentences)
{
    char w[700], t[700];
    snprintf(w, sizeof w, "%s/words.txt", dir);
    snprintf(t, sizeof t, "%s/text.txt", dir);
    BlErr e = {0};
    ck_assert_msg(cute_train_source_load(s, DATA, w, with_sentences ? t : NULL, NULL, &e) == 0, "%s", e.msg);
}

static int is_new_word(const char *w)
{
    for (int i = 0; i < 6; i++)
        if (!strcmp(w, new_words[i])) return 1;
    return 0;
}

START_TEST(test_sources_exclude_cute)
{
    CuteTrainSource s;
    load(&s, 1);
    ck_assert_int_eq(s.words_usable, 10); /* "Capital", "ab" and the long one are not usable */
    ck_assert_int_eq(s.words_excluded, 4);
    ck_assert_int_eq(s.nwords, 6);
    for (size_t i = 0; i < s.nwords; i++) ck_assert_msg(is_new_word(s.words[i]), "%s", s.words[i]);
    /* "The octopus smiled." is CUTE's; "Nine men saw it!" and SENTENCE are usable */
    ck_assert_int_eq(s.sentences_usable, 3);
    ck_assert_int_eq(s.sentences_excluded, 1);
    ck_assert_int_eq(s.nsentences, 2);
    ck_assert(!strcmp(s.sentences[0], "Nine men saw it!") && !strcmp(s.sentences[1], SENTENCE));
    for (int t = 0; t < CUTE_TASKS; t++) ck_assert_int_eq(cute_train_has(&s, t), strcmp(cute_task(t)->name, "sem") != 0);
    cute_train_source_free(&s);
    load(&s, 0);
    ck_assert(cute_train_has(&s, cute_task_by_name("spell")) && !cute_train_has(&s, cute_task_by_name("del_word")));
    cute_train_source_free(&s);
}
END_TEST

/* SENTENCE's tokens with edits, joined with a space before each word but the first. */
static void join(const char **t, int n, char *out)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i && !strchr(",.", t[i][0])) strcat(out, " ");
        strcat(out, t[i]);
    }
}

static int count_tok(const char *w)
{
    int k = 0;
    for (int i = 0; i < NTOK; i++) k += !strcmp(toks[i], w);
    return k;
}

/* What the task's definition gives for SENTENCE, worked out from the token list above. */
static void expect_word_task(const char *task, const CuteRow *r, char *want)
{
    const char *t[2 * NTOK];
    int n = 0;
    if (!strcmp(task, "ins_word")) {
        for (int i = 0; i < NTOK; i++) {
            t[n++] = toks[i];
            if (!strcmp(toks[i], r->input[1])) t[n++] = r->input[0];
        }
    } else if (!strcmp(task, "del_word")) {
        for (int i = 0; i < NTOK; i++)
            if (strcmp(toks[i], r->input[0])) t[n++] = toks[i];
    } else if (!strcmp(task, "sub_word")) {
        for (int i = 0; i < NTOK; i++) t[n++] = strcmp(toks[i], r->input[0]) ? toks[i] : r->input[1];
    } else { /* swap_word: both occur once */
        ck_assert_int_eq(count_tok(r->input[0]), 1);
        ck_assert_int_eq(count_tok(r->input[1]), 1);
        ck_assert_str_ne(r->input[0], r->input[1]);
        for (int i = 0; i < NTOK; i++)
            t[n++] = !strcmp(toks[i], r->input[0]) ? r->input[1] : !strcmp(toks[i], r->input[1]) ? r->input[0] : toks[i];
    }
    join(t, n, want);
}

static int has_letter(const char *w, char c) { return strchr(w, c) != NULL; }

static void check_char_task(const char *task, const CuteRow *r)
{
    char want[64] = "";
    size_t k = 0;
    if (!strcmp(task, "spell") || !strcmp(task, "spell_inverse")) {
        const char *w = task[5] ? r->label : r->input[0], *sp = task[5] ? r->input[0] : r->label;
        ck_assert(is_new_word(w));
        for (size_t i = 0; w[i]; i++) want[k++] = w[i], want[k++] = ' ';
        want[k - 1] = 0;
        ck_assert_str_eq(sp, want);
        return;
    }
    /* the word's column: contains_char and del_char (letter, word), orth (word, a, b), the
     * other three (letter, letter, word) */
    int col = !strcmp(task, "orth") ? 0 : !strcmp(task, "contains_char") || !strcmp(task, "del_char") ? 1 : 2;
    const char *w = r->input[col];
    ck_assert_msg(is_new_word(w), "%s: %s", task, w);
    if (!strcmp(task, "contains_char")) {
        ck_assert_int_eq(strlen(r->input[0]), 1);
        ck_assert_str_eq(r->label, has_letter(w, r->input[0][0]) ? "Yes" : "No");
    } else if (!strcmp(task, "orth")) {
        ck_assert(!strcmp(r->label, r->input[1]) || !strcmp(r->label, r->input[2]));
        const char *other = !strcmp(r->label, r->input[1]) ? r->input[2] : r->input[1];
        ck_assert_int_lt(cute_levenshtein(w, r->label), cute_levenshtein(w, other));
    } else if (!strcmp(task, "ins_char")) { /* input0 after every input1 */
        ck_assert(has_letter(w, r->input[1][0]));
        for (size_t i = 0; w[i]; i++) {
            want[k++] = w[i];
            if (w[i] == r->input[1][0]) want[k++] = r->input[0][0];
        }
        ck_assert_str_eq(r->label, want);
    } else if (!strcmp(task, "del_char")) {
        ck_assert(has_letter(w, r->input[0][0]));
        for (size_t i = 0; w[i]; i++)
            if (w[i] != r->input[0][0]) want[k++] = w[i];
        ck_assert_str_eq(r->label, want);
    } else if (!strcmp(task, "sub_char")) {
        ck_assert(has_letter(w, r->input[0][0]));
        for (size_t i = 0; w[i]; i++) want[k++] = w[i] == r->input[0][0] ? r->input[1][0] : w[i];
        ck_assert_str_eq(r->label, want);
    } else if (!strcmp(task, "swap_char")) {
        char a = r->input[0][0], b = r->input[1][0];
        ck_assert(a != b && strchr(w, a) == strrchr(w, a) && strchr(w, b) == strrchr(w, b) && strchr(w, a) && strchr(w, b));
        for (size_t i = 0; w[i]; i++) want[k++] = w[i] == a ? b : w[i] == b ? a : w[i];
        ck_assert_str_eq(r->label, want);
    } else {
        ck_abort_msg("unexpected task %s", task);
    }
}

START_TEST(test_generators_follow_definitions)
{
    CuteTrainSource s;
    load(&s, 1);
    /* only SENTENCE: "Nine men saw it!" dropped from the list so every word example uses it,
     * and no made-up ones (test_made_up_sentences) */
    s.nsentences = 1;
    s.made_up_share = 0;
    s.mojibake_share = 0;
    s.sentences = &s.sentences[1];
    ck_assert_str_eq(s.sentences[0], SENTENCE);
    Rng r = rng_stream(7, 1);
    char buf[CUTE_EXAMPLE_MAX];
    int seen_yes = 0, seen_no = 0;
    for (int t = 0; t < CUTE_TASKS; t++) {
        const char *task = cute_task(t)->name;
        if (!cute_train_has(&s, t)) continue;
        for (int i = 0; i < 300; i++) {
            CuteRow row;
            ck_assert_int_eq(cute_train_example(&s, t, &r, &row, buf), 0);
            for (int k = 0; k < cute_task(t)->inputs; k++) ck_assert_ptr_nonnull(row.input[k]);
            if (!strcmp(task, "contains_word")) {
                ck_assert_str_eq(row.input[1], SENTENCE);
                int in = count_tok(row.input[0]) > 0;
                ck_assert(in || is_new_word(row.input[0]));
                ck_assert_str_eq(row.label, in ? "Yes" : "No");
                seen_yes += in, seen_no += !in;
            } else if (strstr(task, "_word")) {
                ck_assert_str_eq(row.input[cute_task(t)->inputs - 1], SENTENCE);
                if (strcmp(task, "del_word") && strcmp(task, "swap_word"))
                    ck_assert(is_new_word(row.input[!strcmp(task, "sub_word")]));
                char want[256];
                expect_word_task(task, &row, want);
                ck_assert_str_eq(row.label, want);
            } else {
                check_char_task(task, &row);
            }
        }
    }
    ck_assert(seen_yes > 50 && seen_no > 50);
    /* a word list where no word has two letters occurring once: swap_char cannot be made */
    static const char *aab[] = {"aab"};
    s.words = aab;
    s.nwords = 1;
    CuteRow row;
    ck_assert_int_eq(cute_train_example(&s, cute_task_by_name("swap_char"), &r, &row, buf), -1);
    cute_train_source_free(&s); /* frees what the load made, not the fields changed above */
}
END_TEST

/* orth and sem from WordNet: words related in the lexicon below, each triple the word, a
 * look-alike closer in Levenshtein distance, and a related word further away; orth's label
 * the look-alike, sem's the related word; CUTE's octopus and its relation left out. */
static const WnLine lexicon[] = {
    {0, "05 n 03 glimmer 0 gleam 0 glint 0 001 @ #1# n 0000 | a faint light"},
    {0, "05 n 01 illumination 0 000 | light"},
    {2, "00 a 02 enormous 0 gigantic 0 001 ! #3# a 0101 | of great size"},
    {2, "00 a 02 minuscule 0 tiny 0 001 ! #2# a 0101 | of little size"},
    {0, "05 n 02 octopus 0 devilfish 0 000 | a CUTE word and its synonym"},
};

/* 1 when WordNet (the lexicon above) relates a and b. */
static int related_pair(const CuteTrainSource *s, const char *a, const char *b)
{
    for (size_t i = 0; i < s->nmeaning_words; i++) {
        if (strcmp(s->meaning_words[i], a)) continue;
        for (size_t j = s->meaning_first[i]; j < s->meaning_first[i + 1]; j++)
            if (!strcmp(s->meaning_related[j], b)) return 1;
    }
    return 0;
}

START_TEST(test_orth_sem_from_meanings)
{
    char wn[700], words[700];
    snprintf(wn, sizeof wn, "%s/wordnet", dir);
    ck_assert_int_eq(mkdir(wn, 0700), 0);
    wn_write(wn, lexicon, (int)(sizeof lexicon / sizeof *lexicon));
    snprintf(words, sizeof words, "%s/lexicon-words.txt", dir);
    write_file("lexicon-words.txt", "glimmer\ngleam\nglint\nillumination\nenormous\ngigantic\nminuscule\n"
                                    "tiny\noctopus\ndevilfish\nglimpse\ngleams\n");
    CuteTrainSource s;
    BlErr e;
    ck_assert_msg(cute_train_source_load(&s, DATA, words, NULL, wn, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(s.nmeaning_words, 8); /* octopus is CUTE's, and devilfish then has no relation */
    ck_assert(!related_pair(&s, "devilfish", "octopus") && related_pair(&s, "glint", "illumination"));
    ck_assert(related_pair(&s, "enormous", "minuscule") && !related_pair(&s, "enormous", "tiny"));
    ck_assert(cute_train_has(&s, cute_task_by_name("sem")) && cute_train_has(&s, cute_task_by_name("orth")));
    Rng r = rng_stream(11, 2);
    char buf[CUTE_EXAMPLE_MAX];
    int listed_lookalikes = 0;
    for (int sem = 0; sem < 2; sem++) {
        int t = cute_task_by_name(sem ? "sem" : "orth");
        for (int i = 0; i < 300; i++) {
            CuteRow row;
            ck_assert_int_eq(cute_train_example(&s, t, &r, &row, buf), 0);
            const char *w = row.input[0], *a = row.input[1], *b = row.input[2], *label = row.label;
            ck_assert(!strcmp(label, a) || !strcmp(label, b));
            const char *other = !strcmp(label, a) ? b : a;
            const char *look = sem ? other : label, *rel = sem ? label : other;
            ck_assert_msg(related_pair(&s, w, rel), "%s: %s %s", w, rel, look);
            ck_assert_int_lt(cute_levenshtein(w, look), cute_levenshtein(w, rel));
            ck_assert_int_gt(cute_levenshtein(w, look), 0);
            for (int k = 0; k < 3; k++) ck_assert(!cute_train_in_cute(&s, row.input[k]));
            listed_lookalikes += cute_train_listed(&s, look) != NULL;
        }
    }
    ck_assert(listed_lookalikes > 0); /* gleams and glimpse, when the draw asks for their distance */
    cute_train_source_free(&s);
    /* the command: sem written with --meanings, the relations counted */
    static char out[1 << 12], err[1 << 13];
    char cmd[4096], file[700];
    snprintf(file, sizeof file, "%s/sem.txt", dir);
    snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s --words %s --meanings %s --data " DATA
             " --task sem,orth --examples 40 --shots 0", tu_bytelm(), file, words, wn);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(strstr(err, "8 usable words with related ones in WordNet, 18 pairs"), "%s", err);
    size_t len;
    char *text = tu_slurp(file, &len);
    ck_assert(text && strstr(text, "More semantically related to") && strstr(text, "Closer in Levenshtein"));
    free(text);
    /* a lexicon that relates nothing usable: refused in one line naming it */
    write_file("lexicon-words.txt", "octopus\ndevilfish\nzephyr\n");
    ck_assert_int_eq(cute_train_source_load(&s, DATA, words, NULL, wn, &e), -1);
    ck_assert_msg(strstr(e.msg, "wordnet: WordNet relates no two words"), "%s", e.msg);
}
END_TEST

/* A sentence's tokens by the rule the word tasks follow, written here again: words split at
 * spaces, a trailing , . ! or ? split off as a token of its own. */
static int split_tokens(const char *sent, char t[][64])
{
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", sent);
    char *save = NULL;
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        size_t len = strlen(w);
        char mark = strchr(",.!?", w[len - 1]) ? w[len - 1] : 0;
        if (mark) w[--len] = 0;
        snprintf(t[n++], 64, "%.63s", w);
        if (mark) t[n][0] = mark, t[n++][1] = 0;
    }
    return n;
}

/* Made-up sentences (listed words, a capital first, an end mark) and the word tasks' labels
 * on them by their definitions. */
START_TEST(test_made_up_sentences)
{
    CuteTrainSource s;
    load(&s, 1);
    s.made_up_share = 1;
    s.mojibake_share = 0;
    Rng r = rng_stream(5, 3);
    char buf[CUTE_EXAMPLE_MAX];
    static const char *tasks[] = {"contains_word", "ins_word", "del_word", "sub_word", "swap_word"};
    for (int k = 0; k < 5; k++) {
        int task = cute_task_by_name(tasks[k]);
        for (int i = 0; i < 200; i++) {
            CuteRow row;
            ck_assert_int_eq(cute_train_example(&s, task, &r, &row, buf), 0);
            const char *sent = row.input[cute_task(task)->inputs - 1];
            size_t len = strlen(sent);
            ck_assert_msg(sent[0] >= 'A' && sent[0] <= 'Z' && strchr(".!?", sent[len - 1]), "%s", sent);
            char t[32][64], o[40][64];
            int n = split_tokens(sent, t), m = 0, words = 0;
            for (int j = 0; j < n; j++) {
                if (strchr(",.!?", t[j][0])) continue;
                words++;
                char w[64];
                memcpy(w, t[j], sizeof w);
                w[0] = (char)(j ? w[0] : w[0] - 'A' + 'a');
                static const char *endings[] = {"'s", "n't", "'ll", "'re", "'ve", "'d"};
                for (int q = 0; q < 6; q++) { /* a contraction or possessive ending off */
                    size_t wl = strlen(w), el = strlen(endings[q]);
                    if (wl > el && !strcmp(w + wl - el, endings[q])) w[wl - el] = 0;
                }
                ck_assert_msg(is_new_word(w), "%s in %s", t[j], sent);
            }
            ck_assert(words >= CUTE_SENT_WORDS_MIN && words <= CUTE_SENT_WORDS_MAX);
            const char *a0 = row.input[0], *a1 = row.input[1];
            if (k == 0) {
                int in = 0;
                for (int j = 0; j < n; j++) in |= !strcmp(t[j], a0);
                ck_assert_str_eq(row.label, in ? "Yes" : "No");
                continue;
            }
            for (int j = 0; j < n; j++) {
                if (k == 1) { /* ins_word: a0 after every a1 */
                    strcpy(o[m++], t[j]);
                    if (!strcmp(t[j], a1)) strcpy(o[m++], a0);
                } else if (k == 2) { /* del_word: every a0 */
                    if (strcmp(t[j], a0)) strcpy(o[m++], t[j]);
                } else if (k == 3) { /* sub_word: every a0 by a1 */
                    strcpy(o[m++], strcmp(t[j], a0) ? t[j] : a1);
                } else { /* swap_word */
                    strcpy(o[m++], !strcmp(t[j], a0) ? a1 : !strcmp(t[j], a1) ? a0 : t[j]);
                }
            }
            char want[512] = "";
            for (int j = 0; j < m; j++) {
                if (j && !strchr(",.!?", o[j][0])) strcat(want, " ");
                strcat(want, o[j]);
            }
            ck_assert_msg(!strcmp(row.label, want), "%s on %s: %s, want %s", tasks[k], sent, row.label, want);
        }
    }
    cute_train_source_free(&s);
}
END_TEST

/* contains_word's sentences quoted in mojibake: by hand, the three forms of one sentence with
 * an apostrophe and commas; the answer that of the plain sentence; none when the asked word
 * has an apostrophe, which would read differently in it. */
#define OPEN "\xc3\xa2\xe2\x82\xac\xc5\x93"  /* U+201C decoded as Windows-1252 */
#define APOS "\xc3\xa2\xe2\x82\xac\xe2\x84\xa2" /* U+2019 */
#define CLOSE "\xc3\xa2\xe2\x82\xac"        /* U+201D, its 0x9d lost */
START_TEST(test_mojibake_quotes)
{
    CuteTrainSource s;
    load(&s, 1);
    char *plain = "Tom's cat, the one we saw, ran.";
    s.sentences = &plain;
    s.nsentences = 1;
    s.made_up_share = 0;
    s.mojibake_share = 1;
    static const char *forms[3] = {
        OPEN "Tom" APOS "s cat, the one we saw, ran.",
        "Tom" APOS "s cat, " OPEN "the one we saw, ran.",
        OPEN "Tom" APOS "s cat," CLOSE " the one we saw, ran.",
    };
    static const char *words[] = {"tom's", "cat", "the", "one", "we", "saw", "ran"};
    int seen[3] = {0}, plain_seen = 0;
    Rng r = rng_stream(11, 2);
    char buf[CUTE_EXAMPLE_MAX];
    for (int i = 0; i < 400; i++) {
        CuteRow row;
        ck_assert_int_eq(cute_train_example(&s, cute_task_by_name("contains_word"), &r, &row, buf), 0);
        int in = 0;
        for (int k = 0; k < 7; k++) in |= !strcasecmp(row.input[0], words[k]);
        ck_assert_str_eq(row.label, in ? "Yes" : "No");
        if (strchr(row.input[0], '\'')) {
            ck_assert_str_eq(row.input[1], plain);
            plain_seen++;
            continue;
        }
        int f = 0;
        while (f < 3 && strcmp(row.input[1], forms[f])) f++;
        ck_assert_msg(f < 3, "%s", row.input[1]);
        seen[f]++;
    }
    ck_assert(seen[0] > 30 && seen[1] > 30 && seen[2] > 30 && plain_seen > 10);
    cute_train_source_free(&s);
}
END_TEST

START_TEST(test_levenshtein)
{
    ck_assert_int_eq(cute_levenshtein("kitten", "sitting"), 3);
    ck_assert_int_eq(cute_levenshtein("", "abc"), 3);
    ck_assert_int_eq(cute_levenshtein("flaw", "lawn"), 2);
    ck_assert_int_eq(cute_levenshtein("same", "same"), 0);
}
END_TEST

START_TEST(test_write_train_cli)
{
    static char out[1 << 12], err[1 << 13];
    char cmd[4096], file[700];
    snprintf(file, sizeof file, "%s/train.txt", dir);
    snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s --words %s/words.txt --sentences %s/text.txt "
             "--data " DATA " --examples 500", tu_bytelm(), file, dir, dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(strstr(err, "10 usable words, 4 of them in CUTE's files left out"), "%s", err);
    ck_assert_msg(strstr(err, "3 usable sentences, 1 of them in CUTE's files left out"), "%s", err);
    ck_assert_msg(strstr(err, "sem left out of the training text (it needs word meanings: --meanings DIR)"), "%s", err);
    ck_assert_msg(strstr(err, "wrote 500 examples (4-shot prompts)"), "%s", err);
    size_t len;
    char *text = tu_slurp(file, &len);
    ck_assert_ptr_nonnull(text);
    /* every example is the evaluation's prompt, then the label and a closing quote */
    int examples = 0;
    for (char *q = text; (q = strstr(q, "\n\nQuestion: ")); q++) {
        char *ans = strstr(q, " Answer: \""), *end = ans ? strstr(ans + 10, "\"\n") : NULL;
        ck_assert(ans && end && !memchr(q + 2, '\n', (size_t)(ans - q - 2)));
        examples++;
    }
    ck_assert_int_eq(examples, 500);
    /* CUTE's words and sentence are not in it ("the" and "and" are, in the prompts' own text
     * and in SENTENCE) */
    ck_assert(!strstr(text, "octopus") && !strstr(text, "smiled"));
    ck_assert(strstr(text, SENTENCE));
    free(text);
    /* same seed, same bytes; a zero-shot file has no solved examples */
    char file2[700];
    snprintf(file2, sizeof file2, "%s/train0.txt", dir);
    snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s --words %s/words.txt --data " DATA
             " --examples 50 --shots 0 --task spell,del_char", tu_bytelm(), file2, dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    text = tu_slurp(file2, &len);
    ck_assert(text && !strstr(text, "alphabet") && strstr(text, "Question: "));
    free(text);
    /* --four-shot-share: about that share of the examples in 4-shot prompts; --weights:
     * tasks in proportion */
    snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s --words %s/words.txt --data " DATA
             " --examples 400 --four-shot-share 0.5 --task spell,del_char --weights spell=3", tu_bytelm(), file2, dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(strstr(err, "(50% in 4-shot prompts, the rest 0-shot)"), "%s", err);
    long nspell = 0, ndel = 0;
    const char *c = strstr(err, ": spell ");
    ck_assert_msg(c && sscanf(c, ": spell %ld del_char %ld", &nspell, &ndel) == 2, "%s", err);
    ck_assert_int_eq(nspell + ndel, 400);
    ck_assert_msg(nspell > 250 && ndel > 50, "spell %ld del_char %ld", nspell, ndel); /* 300 and 100 expected */
    text = tu_slurp(file2, &len);
    int four = 0, questions = 0;
    for (char *q = text; (q = strstr(q, "Question: ")); q++) questions++;
    for (char *q = text; (q = strstr(q, "\n1. ")); q++) four++;
    ck_assert_int_eq(questions, 400);
    ck_assert_msg(four > 140 && four < 260, "%d of 400 in 4-shot prompts", four);
    free(text);
    const char *bad_opts[] = {"--weights foo=2", "--weights spell=0", "--weights spell", "--four-shot-share 1.5"};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s --words %s/words.txt --data " DATA " %s",
                 tu_bytelm(), file2, dir, bad_opts[i]);
        ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 2, "%s: %s", cmd, err);
    }
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt x --data " DATA " --four-shot-share 0.5", tu_bytelm());
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    /* usage errors (exit 2): sem asked for, a word task without sentences, no --words, the
     * output naming an input */
    char words[700];
    snprintf(words, sizeof words, "%s/words.txt", dir);
    const char *bad[][3] = {{file2, words, "--task sem"},
                            {file2, words, "--task del_word"},
                            {file2, NULL, ""},
                            {words, words, ""}};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s %s %s --data " DATA " %s", tu_bytelm(),
                 bad[i][0], bad[i][1] ? "--words" : "", bad[i][1] ? bad[i][1] : "", bad[i][2]);
        ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 2, "%s: %s", cmd, err);
    }
    /* a missing word list: exit 1, one line naming it, and the earlier output kept */
    snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s --words %s/none.txt --data " DATA, tu_bytelm(), file2, dir);
    ck_assert_int_eq(tu_run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "none.txt") && strchr(err, '\n') == err + strlen(err) - 1, "%s", err);
    text = tu_slurp(file2, &len);
    ck_assert(text && strstr(text, "Question: "));
    free(text);
}
END_TEST

/* The whole way a user goes: training text for spell, 1000 steps of tiny, then eval cute on
 * 100 of CUTE's own spell rows (words the training text never held). The words are random
 * letter strings, 20,000 of them: a short real list (tests/data/words.txt) is learnt by heart
 * instead, and the model then spells CUTE's words no better than chance (measured: 0.01-0.03
 * at 600 steps on it, 0.81-0.96 at 1000 steps on random words, seeds 2 and 3). */
START_TEST(test_tiny_learns_spell)
{
    static char out[1 << 14], err[1 << 14];
    char cmd[4096], words[700];
    snprintf(words, sizeof words, "%s/random.txt", dir);
    FILE *f = fopen(words, "wb");
    ck_assert_ptr_nonnull(f);
    Rng r = rng_stream(1, 2);
    for (int i = 0; i < 20000; i++) {
        int n = 3 + (int)(rng_u64(&r) % 6);
        for (int k = 0; k < n; k++) fputc('a' + (int)(rng_u64(&r) % 26), f);
        fputc('\n', f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s eval cute --write-train %s/spell.txt --words %s "
             "--data " DATA " --task spell --shots 0 --examples 20000 2>/dev/null && "
             "%s train --config configs/tiny.json --data %s/spell.txt --out %s/run --steps 1000 -B 8 -L 256 "
             "--lr 8e-3 --warmup 30 --weight-decay 0 --eval-every 0 --ckpt-every 0 --threads 2 --seed 2 -q",
             tu_bytelm(), dir, words, tu_bytelm(), dir, dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    snprintf(cmd, sizeof cmd, "%s eval cute --ckpt %s/run --data " DATA " --task spell --shots 0 --json -q --threads 2",
             tu_bytelm(), dir);
    ck_assert_msg(tu_run_capture(cmd, out, sizeof out, err, sizeof err) == 0, "%s", err);
    cJSON *o = cJSON_Parse(out);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "examples")->valueint, 100);
    double acc = cJSON_GetObjectItem(o, "accuracy")->valuedouble;
    fprintf(stderr, "tiny, spell-only training text: CUTE spell exact %.2f\n", acc);
    ck_assert_msg(acc > 0, "spell accuracy %.3f", acc);
    cJSON_Delete(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cute_train");
    TCase *tc = tcase_create("cute_train");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sources_exclude_cute);
    tcase_add_test(tc, test_generators_follow_definitions);
    tcase_add_test(tc, test_orth_sem_from_meanings);
    tcase_add_test(tc, test_made_up_sentences);
    tcase_add_test(tc, test_mojibake_quotes);
    tcase_add_test(tc, test_levenshtein);
    tcase_add_test(tc, test_write_train_cli);
    tcase_add_test(tc, test_tiny_learns_spell);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
