/* CPU AdamW step. */
#include <math.h>
#include <stdlib.h>

#include "byte_lm/model/backend_cpu_internal.h"

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
