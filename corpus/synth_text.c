#include "corpus/synth_text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define VOCAB 20000
#define MAX_WORD 14

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double next_unit(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* A letter with roughly English frequencies, so byte statistics resemble prose. */
static char letter(uint64_t *s)
{
    static const char by_freq[] = "eeeeeeeeeeeetttttttttaaaaaaaaooooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrrdddd"
                                  "lllluuucccmmmwwffggyyppbbvkjxqz";
    return by_freq[next_u64(s) % (sizeof by_freq - 1)];
}

typedef struct {
    char word[VOCAB][MAX_WORD + 1];
    double cdf[VOCAB];
} Vocab;

static void make_vocab(Vocab *v, uint64_t *s)
{
    double sum = 0;
    for (int i = 0; i < VOCAB; i++) {
        /* frequent words are short, as in real languages */
        int len = 1 + (int)(next_u64(s) % (i < 100 ? 4 : i < 2000 ? 8 : MAX_WORD));
        for (int k = 0; k < len; k++) v->word[i][k] = letter(s);
        v->word[i][len] = 0;
        sum += 1.0 / (i + 2.7);
        v->cdf[i] = sum;
    }
    for (int i = 0; i < VOCAB; i++) v->cdf[i] /= sum;
}

static const char *pick(const Vocab *v, uint64_t *s)
{
    double u = next_unit(s);
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v->cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return v->word[lo];
}

int synth_text_write(const char *path, uint64_t n, uint64_t seed, BlErr *e)
{
    FILE *f = fopen(path, "wb");
    if (!f) return bl_fail_errno(e, path, "create");
    uint64_t s = seed;
    Vocab *v = bl_malloc(sizeof *v);
    make_vocab(v, &s);
    char line[4096];
    uint64_t done = 0;
    while (done < n) {
        size_t k = 0;
        int sentences = 1 + (int)(next_u64(&s) % 6);
        for (int j = 0; j < sentences; j++) {
            int words = 4 + (int)(next_u64(&s) % 18);
            for (int w = 0; w < words; w++) {
                const char *word = pick(v, &s);
                size_t len = strlen(word);
                memcpy(line + k, word, len);
                if (w == 0) line[k] = (char)(line[k] - 'a' + 'A');
                k += len;
                if (w + 1 < words) line[k++] = (next_u64(&s) % 11 == 0) ? ',' : ' ';
                if (line[k - 1] == ',') line[k++] = ' ';
            }
            line[k++] = ".?!"[next_u64(&s) % 16 == 0 ? 1 + next_u64(&s) % 2 : 0];
            line[k++] = j + 1 < sentences ? ' ' : '\n';
        }
        size_t take = n - done < k ? (size_t)(n - done) : k;
        if (fwrite(line, 1, take, f) != take) {
            fclose(f);
            free(v);
            return bl_fail_errno(e, path, "write");
        }
        done += take;
    }
    free(v);
    if (fclose(f)) return bl_fail_errno(e, path, "write");
    return 0;
}
