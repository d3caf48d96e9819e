#include "byte_lm/train/loss_plot.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byte_lm/base/error.h"
#include "byte_lm/base/file_read.h"

typedef struct {
    double *x, *y;
    size_t n, cap;
} Series;

static void push(Series *s, double x, double y)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = bl_realloc(s->x, s->cap * sizeof(double));
        s->y = bl_realloc(s->y, s->cap * sizeof(double));
        BL_CHECK(s->x && s->y);
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

/* A resumed run appends steps it had already logged before a crash; keep only the last value
 * written for each step so the curve is a function of the step. */
static void dedupe(Series *s)
{
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        while (w > 0 && s->x[w - 1] >= s->x[i]) w--;
        s->x[w] = s->x[i];
        s->y[w] = s->y[i];
        w++;
    }
    s->n = w;
}

/* The plot area: x in [60, 580], y in [40, 340] (SVG units). */
#define PX0 60.0
#define PX1 580.0
#define PY0 340.0
#define PY1 40.0

static double px(double x, double x0, double x1)
{
    return PX0 + (PX1 - PX0) * (x1 > x0 ? (x - x0) / (x1 - x0) : 0);
}

static double py(double y, double y0, double y1)
{
    return PY0 - (PY0 - PY1) * (y1 > y0 ? (y - y0) / (y1 - y0) : 0);
}

static void polyline(FILE *f, const Series *s, double x0, double x1, double y0, double y1,
                     const char *color, double width)
{
    if (!s->n) return;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" points=\"", color, width);
    for (size_t i = 0; i < s->n; i++) {
        double y = s->y[i] < y0 ? y0 : s->y[i] > y1 ? y1 : s->y[i];
        fprintf(f, "%.1f,%.1f ", px(s->x[i], x0, x1), py(y, y0, y1));
    }
    fprintf(f, "\"/>\n");
}

/* A step between ticks of 1, 2 or 5 times a power of ten giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10, floor(log10(raw > 0 ? raw : 1))), m = raw / p;
    return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

/* An exponential moving average of the train curve: per-step losses are noisy, the trend is the
 * news. The window is about a 30th of the points (at least 1). */
static Series smooth(const Series *s)
{
    Series o = {0};
    double a = 1.0 / (1.0 + (double)s->n / 30.0), m = 0;
    for (size_t i = 0; i < s->n; i++) {
        m = i ? m + a * (s->y[i] - m) : s->y[i];
        push(&o, s->x[i], m);
    }
    return o;
}

int loss_plot_write(const char *metrics_path, const char *svg_path)
{
    int fd = file_open_regular(metrics_path, NULL, NULL);
    FILE *in = fd < 0 ? NULL : fdopen(fd, "r");
    if (!in) {
        if (fd >= 0) close(fd);
        return -1;
    }
    Series tr = {0}, va = {0}, resumes = {0};
    char *line = NULL;
    size_t cap = 0;
    double last_step = -1;
    while (getline(&line, &cap, in) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        cJSON *step = cJSON_GetObjectItem(j, "step"), *bpb = cJSON_GetObjectItem(j, "bpb"),
              *val = cJSON_GetObjectItem(j, "val_bpb"), *res = cJSON_GetObjectItem(j, "resumed_at_step");
        /* a resume: said by its own record, or seen as the steps going back after a crash */
        if (cJSON_IsNumber(res)) push(&resumes, res->valuedouble, 0);
        else if (cJSON_IsNumber(step) && cJSON_IsNumber(bpb) && step->valuedouble <= last_step)
            push(&resumes, step->valuedouble - 1, 0);
        if (cJSON_IsNumber(step) && cJSON_IsNumber(bpb) && isfinite(bpb->valuedouble)) {
            push(&tr, step->valuedouble, bpb->valuedouble);
            last_step = step->valuedouble;
        }
        if (cJSON_IsNumber(step) && cJSON_IsNumber(val) && isfinite(val->valuedouble))
            push(&va, step->valuedouble, val->valuedouble);
        cJSON_Delete(j);
    }
    free(line);
    fclose(in);
    dedupe(&tr);
    dedupe(&va);
    Series sm = smooth(&tr);
    /* the ranges fitted to the data, padded a little and rounded to the ticks */
    double x0 = INFINITY, x1 = -INFINITY, lo = INFINITY, hi = -INFINITY;
    const Series *all[] = {&tr, &va};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < all[k]->n; i++) {
            x0 = fmin(x0, all[k]->x[i]), x1 = fmax(x1, all[k]->x[i]);
            lo = fmin(lo, all[k]->y[i]), hi = fmax(hi, all[k]->y[i]);
        }
    if (!(x1 >= x0)) x0 = 0, x1 = 1;
    if (x1 == x0) x1 = x0 + 1;
    if (!(hi >= lo)) lo = 0, hi = 1;
    if (hi - lo < 0.1) lo -= 0.05, hi += 0.05;
    double ystep = nice_step(hi - lo, 5), y0 = floor(lo / ystep) * ystep, y1 = ceil(hi / ystep) * ystep;
    if (y0 < 0 && lo >= 0) y0 = 0;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", svg_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(tr.x), free(tr.y), free(va.x), free(va.y), free(sm.x), free(sm.y), free(resumes.x), free(resumes.y);
        return -1;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"380\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"600\" height=\"380\" fill=\"white\"/>\n");
    for (double v = y0; v <= y1 + ystep / 2; v += ystep) {
        double y = py(v, y0, y1);
        fprintf(f, "<line x1=\"60\" y1=\"%.1f\" x2=\"580\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", y, y);
        fprintf(f, "<text x=\"55\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", y + 4, ystep < 0.1 ? 2 : ystep < 1 ? 1 : 0,
                v);
    }
    double xstep = nice_step(x1 - x0, 6);
    for (double v = ceil(x0 / xstep) * xstep; v <= x1 + 1e-9; v += xstep) {
        double x = px(v, x0, x1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"340\" x2=\"%.1f\" y2=\"345\" stroke=\"black\"/>\n", x, x);
        fprintf(f, "<text x=\"%.1f\" y=\"357\" text-anchor=\"middle\">%.0f</text>\n", x, v);
    }
    fprintf(f, "<line x1=\"60\" y1=\"340\" x2=\"580\" y2=\"340\" stroke=\"black\"/>\n"
               "<line x1=\"60\" y1=\"40\" x2=\"60\" y2=\"340\" stroke=\"black\"/>\n"
               "<text x=\"320\" y=\"374\" text-anchor=\"middle\">step</text>\n"
               "<text x=\"14\" y=\"190\" text-anchor=\"middle\" transform=\"rotate(-90 14 190)\">bits per byte</text>\n"
               "<text x=\"60\" y=\"25\">train (light: each step, blue: smoothed), validation (orange)%s</text>\n",
            resumes.n ? ", resumed (dashed)" : "");
    for (size_t i = 0; i < resumes.n; i++) {
        double x = px(resumes.x[i], x0, x1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"40\" x2=\"%.1f\" y2=\"340\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n"
                   "<text x=\"%.1f\" y=\"50\" fill=\"#888\">resumed</text>\n",
                x, x, x + 3);
    }
    polyline(f, &tr, x0, x1, y0, y1, "#aec7e8", 1.0);
    polyline(f, &sm, x0, x1, y0, y1, "#1f77b4", 1.8);
    polyline(f, &va, x0, x1, y0, y1, "#ff7f0e", 1.8);
    fprintf(f, "</svg>\n");
    int bad = fclose(f) != 0;
    free(tr.x), free(tr.y), free(va.x), free(va.y), free(sm.x), free(sm.y), free(resumes.x), free(resumes.y);
    if (bad || rename(tmp, svg_path)) return -1;
    return 0;
}
