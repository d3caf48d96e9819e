/* Stop strings for generation: does a stream's raw output end with one of them yet? Matched on
 * bytes as they are made (before any UTF-8 replacement), one matcher per stream. Used by the
 * public API's sessions and by `bytelm generate` for each stream of a batch. */
#ifndef BYTELM_STOP_MATCH_H
#define BYTELM_STOP_MATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char **stop; /* owned copies */
    size_t *len;
    int n;
    size_t max;    /* longest stop string */
    uint8_t *tail; /* the last `max` bytes pushed, oldest first */
    size_t ntail;
} StopMatch;

/* Copies the n non-empty strings (n may be 0: nothing ever matches). */
void stop_match_init(StopMatch *s, const char *const *stop, int n);
void stop_match_free(StopMatch *s);
/* Forgets the bytes pushed so far (a new prompt). */
void stop_match_reset(StopMatch *s);
/* Pushes b; 1 when the bytes pushed now end with a stop string. */
int stop_match_push(StopMatch *s, uint8_t b);

#endif
