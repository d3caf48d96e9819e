#include "loss_plot.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

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

static void polyline(FILE *f, const Series *s, double x0, double x1, double y0, double y1,
                     const char *color)
{
    if (!s->n) return;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (size_t i = 0; i < s->n; i++) {
        double px = 60 + 520 * (x1 > x0 ? (s->x[i] - x0) / (x1 - x0) : 0);
        double py = 340 - 300 * (y1 > y0 ? (s->y[i] - y0) / (y1 - y0) : 0);
        fprintf(f, "%.1f,%.1f ", px, py);
    }
    fprintf(f, "\"/>\n");
}

int loss_plot_write(const char *metrics_path, const char *svg_path)
{
    FILE *in = fopen(metrics_path, "r");
    if (!in) return -1;
    Series tr = {0}, va = {0};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        cJSON *step = cJSON_GetObjectItem(j, "step"), *bpb = cJSON_GetObjectItem(j, "bpb"),
              *val = cJSON_GetObjectItem(j, "val_bpb");
        if (cJSON_IsNumber(step) && cJSON_IsNumber(bpb) && isfinite(bpb->valuedouble))
            push(&tr, step->valuedouble, bpb->valuedouble);
        if (cJSON_IsNumber(step) && cJSON_IsNumber(val)) push(&va, step->valuedouble, val->valuedouble);
        cJSON_Delete(j);
    }
    free(line);
    fclose(in);
    dedupe(&tr);
    dedupe(&va);
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    for (size_t i = 0; i < tr.n; i++) {
        if (tr.x[i] > x1) x1 = tr.x[i];
        if (tr.y[i] > y1) y1 = tr.y[i];
    }
    for (size_t i = 0; i < va.n; i++) {
        if (va.x[i] > x1) x1 = va.x[i];
        if (va.y[i] > y1) y1 = va.y[i];
    }
    y1 = ceil(y1);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", svg_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(tr.x), free(tr.y), free(va.x), free(va.y);
        return -1;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"380\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"600\" height=\"380\" fill=\"white\"/>\n"
               "<line x1=\"60\" y1=\"340\" x2=\"580\" y2=\"340\" stroke=\"black\"/>\n"
               "<line x1=\"60\" y1=\"40\" x2=\"60\" y2=\"340\" stroke=\"black\"/>\n");
    for (int k = 0; k <= 4; k++) {
        double v = y0 + (y1 - y0) * k / 4;
        fprintf(f, "<text x=\"55\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", 344 - 75.0 * k, v);
        fprintf(f, "<line x1=\"60\" y1=\"%.1f\" x2=\"580\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                340 - 75.0 * k, 340 - 75.0 * k);
    }
    fprintf(f, "<text x=\"580\" y=\"360\" text-anchor=\"end\">step %.0f</text>\n", x1);
    fprintf(f, "<text x=\"60\" y=\"25\">bits per byte: train (blue), validation (orange)</text>\n");
    polyline(f, &tr, x0, x1, y0, y1, "#1f77b4");
    polyline(f, &va, x0, x1, y0, y1, "#ff7f0e");
    fprintf(f, "</svg>\n");
    int bad = fclose(f) != 0;
    free(tr.x), free(tr.y), free(va.x), free(va.y);
    if (bad || rename(tmp, svg_path)) return -1;
    return 0;
}
