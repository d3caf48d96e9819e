#include "byte_lm/base/progress.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(Progress *p, const char *label, uint64_t total)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->t_start = p->t_last = now_seconds();
    p->tty = isatty(2);
    p->interval = p->tty ? 0.1 : 10.0;
}

static void human_rate(char *buf, size_t n, double bps)
{
    const char *u[] = {"B/s", "KB/s", "MB/s", "GB/s"};
    int i = 0;
    while (bps >= 1000 && i < 3) bps /= 1000, i++;
    snprintf(buf, n, "%.1f %s", bps, u[i]);
}

static void human_time(char *buf, size_t n, double s)
{
    if (s < 0 || s > 1e8) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void print_line(Progress *p, uint64_t done, const char *extra, int final)
{
    double t = now_seconds(), el = t - p->t_start;
    double rate = el > 0 ? (double)done / el : 0;
    char r[32], eta[32] = "", els[32];
    human_rate(r, sizeof r, rate);
    human_time(els, sizeof els, el);
    if (p->total && rate > 0 && !final) human_time(eta, sizeof eta, (double)(p->total - (done < p->total ? done : p->total)) / rate);
    char bar[24] = "";
    if (p->tty && p->total) {
        int w = 20, f = (int)((double)done / (double)p->total * w);
        if (f > w) f = w;
        bar[0] = '[';
        for (int i = 0; i < w; i++) bar[1 + i] = i < f ? '#' : '.';
        bar[w + 1] = ']';
        bar[w + 2] = 0;
    }
    double pct = p->total ? 100.0 * (double)done / (double)p->total : 0;
    if (p->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "%s %s", p->label, bar);
    if (p->total) fprintf(stderr, " %5.1f%%", pct);
    fprintf(stderr, " | %s | %s", r, els);
    if (eta[0]) fprintf(stderr, " ETA %s", eta);
    if (extra && extra[0]) fprintf(stderr, " | %s", extra);
    if (!p->tty || final) fputc('\n', stderr);
    fflush(stderr);
    p->t_last = t;
    p->printed = 1;
}

void progress_update(Progress *p, uint64_t done, const char *extra)
{
    if (p->quiet) return;
    if (now_seconds() - p->t_last < p->interval && p->printed) return;
    if (!p->printed && !p->tty && now_seconds() - p->t_start < 1.0) return;
    print_line(p, done, extra, 0);
}

void progress_finish(Progress *p, uint64_t done, const char *extra)
{
    if (p->quiet) return;
    print_line(p, done, extra, 1);
}

int metrics_open(Metrics *m, const char *path, int append)
{
    m->f = fopen(path, append ? "a" : "w");
    return m->f ? 0 : -1;
}

void metrics_write(Metrics *m, const char *fmt, ...)
{
    if (!m || !m->f) return;
    va_list ap;
    va_start(ap, fmt);
    fputc('{', m->f);
    vfprintf(m->f, fmt, ap);
    fputs("}\n", m->f);
    va_end(ap);
    fflush(m->f);
}

void metrics_close(Metrics *m)
{
    if (m && m->f) fclose(m->f);
    if (m) m->f = NULL;
}
