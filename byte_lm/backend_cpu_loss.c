/* CPU fused softmax cross-entropy. */
#include <math.h>

#include "backend_cpu_internal.h"

/* Subtracting the row max keeps exp in range; the sum is taken in double. The target logit is
 * read before the row is written, since dlogits may alias logits. */
void cpu_cross_entropy(Backend *be, float *losses, float *dlogits, const float *logits,
                       const uint8_t *targets, int rows, int V, float dscale)
{
#pragma omp parallel for schedule(static) num_threads(cpu_threads(be))
    for (int r = 0; r < rows; r++) {
        const float *x = logits + (size_t)r * V;
        int tgt = targets[r];
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        double lse = log(sum) + mx;
        losses[r] = (float)(lse - x[tgt]);
        if (dlogits) {
            float *g = dlogits + (size_t)r * V;
            for (int v = 0; v < V; v++) {
                double p = exp((double)x[v] - lse);
                g[v] = (float)((p - (v == tgt)) * dscale);
            }
        }
    }
}
