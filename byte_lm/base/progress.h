/* Progress for long jobs: a live one-line bar on a terminal (stderr), plain periodic lines
 * otherwise, with rate (bytes/s) and ETA. Machine-readable metrics go to a JSON-lines file,
 * written by metrics_* below. */
#ifndef BYTELM_PROGRESS_H
#define BYTELM_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    char label[32];
    uint64_t total;    /* units (bytes) expected; 0 if unknown */
    double t_start;    /* seconds, monotonic */
    double t_last;     /* last time a line was printed */
    double interval;   /* seconds between plain lines when not a TTY */
    int tty;
    int printed;
    int quiet;         /* set after progress_init: print nothing (-q) */
} Progress;

double now_seconds(void); /* monotonic clock */
void progress_init(Progress *p, const char *label, uint64_t total);
/* done: units so far; extra: e.g. "step 10 loss 2.31" (may be NULL). Rate-limited. */
void progress_update(Progress *p, uint64_t done, const char *extra);
void progress_finish(Progress *p, uint64_t done, const char *extra);

/* Appends one JSON object per line; the file is flushed after every record. */
typedef struct {
    FILE *f;
} Metrics;
int metrics_open(Metrics *m, const char *path, int append); /* 0 ok, -1 fail (errno set) */
/* fmt is the body of the object without braces, e.g. "\"step\":%d,\"loss\":%.6f" */
void metrics_write(Metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void metrics_close(Metrics *m);

#endif
