/* Stop-string matching on a window of the last bytes (see stop_match.h). */
#include <stdlib.h>
#include <string.h>

#include "byte_lm/base/error.h"
#include "byte_lm/generate/stop_match.h"

void stop_match_init(StopMatch *s, const char *const *stop, int n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n) {
        s->stop = bl_calloc((size_t)n, sizeof *s->stop);
        s->len = bl_calloc((size_t)n, sizeof *s->len);
    }
    for (int i = 0; i < n; i++) {
        s->len[i] = strlen(stop[i]);
        s->stop[i] = bl_malloc(s->len[i] + 1);
        memcpy(s->stop[i], stop[i], s->len[i] + 1);
        if (s->len[i] > s->max) s->max = s->len[i];
    }
    s->tail = bl_malloc(s->max + 1);
}

void stop_match_free(StopMatch *s)
{
    for (int i = 0; i < s->n; i++) free(s->stop[i]);
    free(s->stop);
    free(s->len);
    free(s->tail);
    memset(s, 0, sizeof *s);
}

void stop_match_reset(StopMatch *s) { s->ntail = 0; }

int stop_match_push(StopMatch *s, uint8_t b)
{
    if (!s->n) return 0;
    if (s->ntail == s->max) memmove(s->tail, s->tail + 1, --s->ntail);
    s->tail[s->ntail++] = b;
    for (int i = 0; i < s->n; i++) {
        size_t k = s->len[i];
        if (k <= s->ntail && !memcmp(s->tail + s->ntail - k, s->stop[i], k)) return 1;
    }
    return 0;
}
