/* CPU AdamW step and the sum of squares used for gradient-norm clipping. */
#include <math.h>
#include <stdlib.h>

#include "byte_lm/model/backend_cpu_internal.h"

/* Elements per partial sum in cpu_sumsq: fixed, so the result does not depend on threads. */
#define SUMSQ_CHUNK 65536

/* The update is computed in double per element: it costs nothing next to the memory traffic
 * and keeps the step exact to float rounding of the stored values. */
void cpu_adamw(Backend *be, float *param, const float *grad, float *m, float *v, size_t n,
               float lr, float beta1, float beta2, float eps, float wd, float grad_scale, int t)
{
    double b1 = beta1, b2 = beta2;
    double c1 = 1.0 - pow(b1, t), c2 = 1.0 - pow(b2, t);
#pragma omp parallel for schedule(static) num_threads(cpu_team(be, n))
    for (size_t i = 0; i < n; i++) {
        double g = (double)grad[i] * grad_scale;
        double mi = b1 * m[i] + (1.0 - b1) * g;
        double vi = b2 * v[i] + (1.0 - b2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        double p = param[i];
        p -= (double)lr * ((mi / c1) / (sqrt(vi / c2) + eps) + (double)wd * p);
        param[i] = (float)p;
    }
}

/* Sum of squares of one chunk in SUMSQ_LANES interleaved accumulators, combined in lane order:
 * one running sum would wait on the previous add at every element and read memory at a
 * fraction of its bandwidth. The order is written out, so every build sums alike. */
#define SUMSQ_LANES 8
CPU_HOT static double sumsq_chunk(const float *x, size_t n)
{
    double acc[SUMSQ_LANES] = {0};
    size_t i = 0;
    for (; i + SUMSQ_LANES <= n; i += SUMSQ_LANES)
        for (int j = 0; j < SUMSQ_LANES; j++) acc[j] += (double)x[i + j] * x[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += (double)x[i] * x[i];
    double s = 0;
    for (int j = 0; j < SUMSQ_LANES; j++) s += acc[j];
    return s;
}

double cpu_sumsq(Backend *be, const float *x, size_t n)
{
    size_t nchunk = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
    if (nchunk == 0) return 0.0;
    double *part = cpu_scratch(nchunk * sizeof(double));
#pragma omp parallel for schedule(static) num_threads(cpu_team(be, n))
    for (size_t c = 0; c < nchunk; c++) {
        size_t i1 = (c + 1) * SUMSQ_CHUNK < n ? (c + 1) * SUMSQ_CHUNK : n;
        part[c] = sumsq_chunk(x + c * SUMSQ_CHUNK, i1 - c * SUMSQ_CHUNK);
    }
    double total = 0;
    for (size_t c = 0; c < nchunk; c++) total += part[c];
    free(part);
    return total;
}
