/* The train/validation split of prepare, by document. */
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "byte_lm/base/file_read.h"
#include "corpus/documents.h"
#include "corpus/fnv1a.h"

/* How far back from the ideal cut a single document's tail may start at a newline instead. */
#define NEWLINE_REACH ((uint64_t)64 << 10)

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A single document: cut at >= the val fraction from its end, moved back to just after a newline
 * if one is within reach, else to just before an ASCII character (so no combining sequence is cut
 * and normalizing the two parts equals normalizing the whole), else to a character boundary. */
static int split_tail(Document *d, double frac, BlErr *e)
{
    if (d->size < 2)
        return bl_fail_at(e, d->name, 0, "one document of %llu byte is too short to split off a validation part",
                          (unsigned long long)d->size);
    uint64_t vb = (uint64_t)ceil((double)d->size * frac);
    if (vb < 1) vb = 1;
    if (vb > d->size - 1) vb = d->size - 1;
    uint64_t c = d->size - vb;
    uint64_t lo = c > NEWLINE_REACH ? c - NEWLINE_REACH : 0;
    size_t n = (size_t)(c - lo) + 1; /* bytes [lo, c] */
    uint8_t *w = bl_malloc(n);
    int fd = file_open_regular(d->path, NULL, e);
    if (fd < 0) {
        free(w);
        return -1;
    }
    ssize_t got = pread(fd, w, n, (off_t)lo);
    close(fd);
    if (got != (ssize_t)n) {
        free(w);
        return got < 0 ? bl_fail_errno(e, d->name, "read") : bl_fail_at(e, d->name, lo + (uint64_t)got, "changed while reading");
    }
    uint64_t cut = 0;
    for (uint64_t p = c; p > lo && !cut; p--)
        if (w[p - 1 - lo] == '\n') cut = p; /* val starts after the newline */
    for (uint64_t p = c; p > lo && !cut; p--)
        if (w[p - lo] < 0x80) cut = p;
    if (!cut) {
        cut = c;
        for (int k = 0; k < 3 && cut > 1 && (w[cut - lo] & 0xC0) == 0x80; k++) cut--;
    }
    free(w);
    d->cut = cut;
    return 0;
}

typedef struct {
    uint64_t score;
    size_t index;
} Ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int doclist_split(DocList *l, double frac, uint64_t seed, BlErr *e)
{
    if (l->n == 1) return split_tail(&l->docs[0], frac, e);
    uint64_t total = 0;
    for (size_t i = 0; i < l->n; i++) total += l->docs[i].size, l->docs[i].cut = l->docs[i].size;
    double target = frac * (double)total;
    Ranked *r = bl_malloc(l->n * sizeof *r);
    for (size_t i = 0; i < l->n; i++) {
        const char *k = l->docs[i].key;
        r[i] = (Ranked){mix64(seed ^ fnv1a64_update(FNV1A64_INIT, k, strlen(k))), i};
    }
    qsort(r, l->n, sizeof *r, cmp_ranked);
    /* Take documents in hash order while they fit under the target: the val share stays close to
     * the fraction even when documents differ wildly in size. */
    uint64_t val = 0;
    size_t taken = 0, smallest = r[0].index;
    for (size_t j = 0; j < l->n; j++) {
        Document *d = &l->docs[r[j].index];
        if (d->size < l->docs[smallest].size) smallest = r[j].index;
        if ((double)(val + d->size) <= target && taken + 1 < l->n) {
            d->cut = 0;
            val += d->size;
            taken++;
        }
    }
    if (!taken) l->docs[smallest].cut = 0; /* every document exceeds the target: the smallest */
    free(r);
    return 0;
}
