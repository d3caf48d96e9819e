/* CPU fused softmax cross-entropy. */
#include <math.h>
#include <stdlib.h>

#include "backend_cpu_internal.h"

/* One row. e: V floats of scratch (may be g). With m = max(x): e = exp(x - m), computed as
 * exp(-|x - m|) so the loop vectorizes; their sum is taken in double in a fixed order. The
 * target logit is read before g is written, since g may alias x. */
CPU_HOT static float cross_entropy_row(float *g, float *e, const float *x, int tgt, int V,
                                       float dscale)
{
    float mx = x[0];
    for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    float xt = x[tgt];
#pragma omp simd
    for (int v = 0; v < V; v++) e[v] = cpu_exp_neg_abs(x[v] - mx);
    double sum = 0;
    for (int v = 0; v < V; v++) sum += e[v];
    double lse = log(sum) + mx;
    if (g) {
        float inv = (float)(1.0 / sum) * dscale;
#pragma omp simd
        for (int v = 0; v < V; v++) g[v] = e[v] * inv;
        g[tgt] -= dscale;
    }
    return (float)(lse - xt);
}

void cpu_cross_entropy(Backend *be, float *losses, float *dlogits, const float *logits,
                       const uint8_t *targets, int rows, int V, float dscale)
{
#pragma omp parallel num_threads(cpu_team(be, (size_t)rows * V))
    {
        float *e = dlogits ? NULL : cpu_scratch((size_t)V * sizeof(float));
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            float *g = dlogits ? dlogits + (size_t)r * V : NULL;
            losses[r] = cross_entropy_row(g, g ? g : e, logits + (size_t)r * V, targets[r], V,
                                          dscale);
        }
        free(e);
    }
}
