#include "eval/words.h"

#include <string.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/base/str_order.h"

/* FNV-1a then a splitmix finaliser: stable across platforms and releases, so a word's side of
 * the split never changes. */
static uint64_t word_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

int word_is_held_out(const char *word, int held_pct)
{
    return (int)(word_hash(word) % 100) < held_pct;
}

static int usable(const char *s, size_t len, int min_len, int max_len)
{
    if ((int)len < min_len || (int)len > max_len) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 'a' || s[i] > 'z') return 0;
    return 1;
}

/* Sorted then shuffled with a fixed seed: the order depends only on the set of words, so
 * "the first n held-out words" means the same words for any ordering of the file. */
static size_t dedupe_shuffle(const char **v, size_t n, uint64_t seed)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, str_ptr_cmp);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i], v[k - 1])) v[k++] = v[i];
    Rng r = rng_stream(seed, 0x776f726473ull);
    for (size_t i = k - 1; i > 0; i--) {
        size_t j = (size_t)(rng_u64(&r) % (i + 1));
        const char *t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    return k;
}

int words_load(WordList *w, const char *path, int min_len, int max_len, int held_pct, BlErr *e)
{
    memset(w, 0, sizeof *w);
    char *text;
    size_t len;
    /* a word list is a regular file of at most 1 GiB: a FIFO or device is refused, not read */
    if (file_read_all(path, (size_t)1 << 30, 0, &text, &len, e)) return -1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    w->text = text;
    w->train = bl_malloc(lines * sizeof(char *));
    w->held = bl_malloc(lines * sizeof(char *));
    char *p = text;
    while (p < text + len) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        size_t n = (size_t)(end - p);
        if (n && p[n - 1] == '\r') n--;
        p[n] = 0;
        if (usable(p, n, min_len, max_len)) {
            if (word_is_held_out(p, held_pct)) w->held[w->nheld++] = p;
            else w->train[w->ntrain++] = p;
        } else if (n) {
            w->skipped++;
        }
        p = end + 1;
    }
    w->ntrain = dedupe_shuffle(w->train, w->ntrain, 1);
    w->nheld = dedupe_shuffle(w->held, w->nheld, 2);
    if (w->ntrain + w->nheld == 0) {
        words_free(w);
        return bl_fail(e, path, "no usable words (lowercase a-z, %d to %d letters, one per line)",
                       min_len, max_len);
    }
    return 0;
}

void words_free(WordList *w)
{
    free(w->text);
    free(w->train);
    free(w->held);
    memset(w, 0, sizeof *w);
}

size_t words_count(const WordList *w, TaskPool pool)
{
    switch (pool) {
    case POOL_TRAIN: return w->ntrain;
    case POOL_HELD_OUT: return w->nheld;
    default: return w->ntrain + w->nheld;
    }
}

const char *words_nth(const WordList *w, TaskPool pool, size_t i)
{
    size_t n = words_count(w, pool);
    if (n == 0) return NULL;
    i %= n;
    if (pool == POOL_TRAIN) return w->train[i];
    if (pool == POOL_HELD_OUT) return w->held[i];
    /* all: the two parts interleaved evenly (Bresenham), so any prefix mixes them in their
     * proportions; i -> word is still a bijection */
    size_t before = (size_t)((uint64_t)i * w->nheld / n);
    size_t upto = (size_t)((uint64_t)(i + 1) * w->nheld / n);
    return upto > before ? w->held[before] : w->train[i - before];
}

const char *words_random(const WordList *w, TaskPool pool, Rng *r)
{
    size_t n = words_count(w, pool);
    return n ? words_nth(w, pool, (size_t)(rng_u64(r) % n)) : NULL;
}
