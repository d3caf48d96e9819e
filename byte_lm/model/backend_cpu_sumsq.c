/* CPU sum of squares, for gradient-norm clipping and the benchmarks' read rate. */
#include <stdlib.h>

#include "byte_lm/model/backend_cpu_internal.h"

/* Elements per partial sum in cpu_sumsq: fixed, so the result does not depend on threads. */
#define SUMSQ_CHUNK 65536

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
