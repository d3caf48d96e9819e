/* CPU fused softmax cross-entropy. */
#include <math.h>
#include <stdlib.h>

#include "byte_lm/model/backend_cpu_internal.h"

/* One row. e: V floats of scratch (may be g). With m = max(x): e = exp(x - m), computed as
 * exp(-|x - m|) so the loop vectorizes; their sum is taken in double in a fixed order. The loss
 * is log(sum) + (m - x_target), in that order: adding m first would lose log(sum) whenever m is
 * huge (at 1e30 every loss would read 0). An infinite m puts all the mass on the logits equal
 * to it. The target logit is read before g is written, since g may alias x. */
CPU_HOT static float cross_entropy_row(float *g, float *e, const float *x, int tgt, int V,
                                       float dscale)
{
    float mx = x[0];
    for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    float xt = x[tgt];
    double gap; /* m - x_target >= 0 */
    if (isfinite(mx)) {
#pragma omp simd
        for (int v = 0; v < V; v++) e[v] = cpu_exp_neg_abs(x[v] - mx);
        gap = (double)mx - (double)xt;
    } else {
        for (int v = 0; v < V; v++) e[v] = x[v] == mx ? 1.0f : 0.0f;
        gap = xt == mx ? 0 : INFINITY;
    }
    double sum = 0;
    for (int v = 0; v < V; v++) sum += e[v];
    if (g) {
        float inv = (float)(1.0 / sum) * dscale;
#pragma omp simd
        for (int v = 0; v < V; v++) g[v] = e[v] * inv;
        g[tgt] -= dscale;
    }
    return (float)(log(sum) + gap);
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
