/* WordNet's data files read into related plain words: synonyms, the pointers that count and
 * those that do not, lexical pointers joining only their two words, lemmas that are not plain
 * words left out, and malformed files refused in one line with the file and offset. */
#include <check.h>
#include <string.h>

#include "eval/wordnet.h"
#include "tests/test_util.h"
#include "tests/wordnet_fixture.h"

/* line 0: glimmer, gleam and Sparkle_Light (a phrase with capitals: left out), hypernym line 1;
 * line 1: light, with a derivation pointer (+, not a relation) to line 4; line 2: big(a) and
 * large, antonym of line 3's small by a lexical pointer from word 1 (big) to word 1 (small);
 * line 3: small and little; line 4: shine, a verb; line 5: brightly, an adverb, also-see line 2 */
static const WnLine lexicon[] = {
    {0, "05 n 03 glimmer 0 gleam 0 Sparkle_Light 0 001 @ #1# n 0000 | a faint light"},
    {0, "05 n 01 light 0 001 + #4# v 0101 | what the eye sees by"},
    {2, "00 a 02 big(a) 0 large 0 001 ! #3# a 0101 | of great size"},
    {2, "00 a 02 small 0 little 0 001 ! #2# a 0101 | of little size"},
    {1, "30 v 01 shine 0 000 01 + 01 00 | give off light"},
    {3, "02 r 01 brightly 0 001 ^ #2# a 0000 | in a bright way"},
};

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir("wordnet");
    wn_write(dir, lexicon, (int)(sizeof lexicon / sizeof *lexicon));
}

static void teardown(void) { tu_rmdir(dir); }

/* The related words of w, space-separated, in order. */
static void related(const WordRelations *r, const char *w, char *out)
{
    long k = wordnet_find(r, w);
    ck_assert_msg(k >= 0, "%s not read", w);
    out[0] = 0;
    for (size_t j = r->first[k]; j < r->first[k + 1]; j++) {
        if (out[0]) strcat(out, " ");
        strcat(out, r->words[r->related[j]]);
    }
}

START_TEST(test_relations)
{
    WordRelations r;
    BlErr e;
    ck_assert_msg(wordnet_load(&r, dir, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(r.nwords, 9); /* big brightly gleam glimmer large light little shine small */
    char got[512];
    related(&r, "glimmer", got);
    ck_assert_str_eq(got, "gleam light");
    related(&r, "light", got); /* the hypernym's words see their hyponyms; + is no relation */
    ck_assert_str_eq(got, "gleam glimmer");
    related(&r, "big", got); /* the marker taken off; the antonym only to small, not to little */
    ck_assert_str_eq(got, "brightly large small");
    related(&r, "little", got);
    ck_assert_str_eq(got, "small");
    related(&r, "brightly", got); /* a semantic pointer: every word of the target */
    ck_assert_str_eq(got, "big large");
    related(&r, "shine", got);
    ck_assert_str_eq(got, "");
    ck_assert_int_eq(wordnet_find(&r, "sparkle_light"), -1);
    ck_assert_int_eq(wordnet_find(&r, "Sparkle_Light"), -1);
    wordnet_free(&r);
}
END_TEST

/* One bad byte at a time: each refusal names the file and the line's offset. */
START_TEST(test_bad_files)
{
    const size_t h = strlen(WN_HEADER);
    struct {
        WnLine line;
        const char *want;
    } bad[] = {
        {{0, "05 n 01 light 0 001 @ 00000001 n 0000 | points into the header"}, "no synset line starts here (offset 1)"},
        {{0, "05 n 02 light 0 001 @ #0# n 0000 | fewer words"}, "not a synset line: a word without its lex_id"},
        {{0, "05 x 01 light 0 000 | bad type"}, "not a synset line: no synset type"},
        {{0, "05 n 01 light 0 002 @ #0# n 0000 | fewer pointers"}, "not a synset line: fewer pointers than its count"},
        {{0, "05 n 01 light 0 001 @ #0# n 0300 | from word 3"}, "not a synset line: a pointer from a word it does not have"},
        {{0, "05 n 01 light 0 001 ! #0# n 0105 | to word 5"}, "a pointer to a word its target does not have"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        wn_write(dir, &bad[i].line, 1);
        WordRelations r;
        BlErr e;
        ck_assert_int_eq(wordnet_load(&r, dir, &e), -1);
        char want[900];
        snprintf(want, sizeof want, "%s/data.noun: %s", dir, bad[i].want);
        ck_assert_msg(!strncmp(e.msg, want, strlen(want)), "%zu: %s", i, e.msg);
        if (!strstr(bad[i].want, "offset 1")) {
            snprintf(want, sizeof want, "(offset %zu)", h);
            ck_assert_msg(strstr(e.msg, want), "%zu: %s", i, e.msg);
        }
    }
    /* a line whose offset field is not where it is */
    char path[700];
    snprintf(path, sizeof path, "%s/data.noun", dir);
    FILE *f = fopen(path, "wb");
    fprintf(f, "%s00000007 05 n 01 light 0 000 | misplaced\n", WN_HEADER);
    fclose(f);
    WordRelations r;
    BlErr e;
    ck_assert_int_eq(wordnet_load(&r, dir, &e), -1);
    ck_assert_msg(strstr(e.msg, "data.noun: the line's offset field says 7") && strstr(e.msg, "(offset 134)"), "%s", e.msg);
    remove(path);
    ck_assert_int_eq(wordnet_load(&r, dir, &e), -1);
    ck_assert_msg(strstr(e.msg, "data.noun") && !strchr(e.msg, '\n'), "%s", e.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wordnet");
    TCase *tc = tcase_create("wordnet");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_relations);
    tcase_add_test(tc, test_bad_files);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
