/* A small lexicon of our own in WordNet's data-file format (wndb(5WN)), written for tests:
 * each line's text names other lines' offsets as #k# (line k of the list), replaced by the
 * 8-digit byte offset that line gets in its file, as the format requires. */
#ifndef BYTELM_TESTS_WORDNET_FIXTURE_H
#define BYTELM_TESTS_WORDNET_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int file; /* 0 noun, 1 verb, 2 adj, 3 adv */
    const char *text; /* the line after its offset field, without the newline */
} WnLine;

#define WN_HEADER "  1 A test lexicon in WordNet's format: these two lines are its licence header.\n" \
                  "  2 Lines that start with two spaces are passed over.\n"

/* line text with every #k# replaced by offsets[k], into out */
static inline void wn_expand(const char *text, const size_t *offsets, char *out)
{
    while (*text) {
        if (*text == '#') {
            char *end;
            long k = strtol(text + 1, &end, 10);
            sprintf(out, "%08zu", offsets[k]);
            out += 8;
            text = end + 1;
        } else {
            *out++ = *text++;
        }
    }
    *out = 0;
}

/* Writes dir/data.noun, data.verb, data.adj and data.adv from the n lines. */
static inline void wn_write(const char *dir, const WnLine *lines, int n)
{
    static const char *names[4] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    size_t offsets[64] = {0}, at[4];
    char buf[1024];
    for (int f = 0; f < 4; f++) at[f] = strlen(WN_HEADER);
    for (int i = 0; i < n; i++) { /* lengths do not depend on the offsets' values */
        offsets[i] = at[lines[i].file];
        wn_expand(lines[i].text, offsets, buf);
        at[lines[i].file] += 9 + strlen(buf) + 1;
    }
    for (int f = 0; f < 4; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        FILE *fp = fopen(path, "wb");
        fputs(WN_HEADER, fp);
        for (int i = 0; i < n; i++) {
            if (lines[i].file != f) continue;
            wn_expand(lines[i].text, offsets, buf);
            fprintf(fp, "%08zu %s\n", offsets[i], buf);
        }
        fclose(fp);
    }
}

#endif
