/* CPU RMSNorm forward and backward. */
#include <math.h>
#include <string.h>

#include "byte_lm/model/backend_cpu_internal.h"

void cpu_rmsnorm_fwd(Backend *be, float *out, float *rstd, const float *inp, const float *w,
                     int rows, int C, float eps)
{
#pragma omp parallel for schedule(static) num_threads(cpu_team(be, (size_t)rows * C))
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * C;
        float *o = out + (size_t)r * C;
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        float rs = (float)(1.0 / sqrt(ss / C + (double)eps));
        rstd[r] = rs;
        for (int c = 0; c < C; c++) o[c] = x[c] * rs * w[c];
    }
}

/* out_c = x_c r w_c with r = (mean(x^2) + eps)^-1/2, so
 *   dx_j = r w_j g_j - x_j r^3 / C * sum_c g_c w_c x_c,   dw_c = sum_rows g_c x_c r.
 * dinp is threaded over rows; dw over column blocks, so each column's sum over rows has one
 * owner and a fixed order. */
void cpu_rmsnorm_bwd(Backend *be, float *dinp, float *dw, const float *dout, const float *inp,
                     const float *w, const float *rstd, int rows, int C)
{
    int nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel num_threads(cpu_team(be, (size_t)rows * C))
    {
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            const float *x = inp + (size_t)r * C;
            const float *g = dout + (size_t)r * C;
            float *dx = dinp + (size_t)r * C;
            double dot = 0;
            for (int c = 0; c < C; c++) dot += (double)g[c] * w[c] * x[c];
            float rs = rstd[r];
            float k = (float)(dot * rs * rs * rs / C);
            for (int c = 0; c < C; c++) dx[c] += rs * w[c] * g[c] - k * x[c];
        }
        /* the implicit barrier above is not needed for dw, but keeps the two phases simple */
#pragma omp for schedule(static)
        for (int blk = 0; blk < nblk; blk++) {
            int c0 = blk * CPU_COL_BLOCK;
            int wd = C - c0 < CPU_COL_BLOCK ? C - c0 : CPU_COL_BLOCK;
            double acc[CPU_COL_BLOCK] = {0};
            for (int r = 0; r < rows; r++) {
                const float *x = inp + (size_t)r * C + c0;
                const float *g = dout + (size_t)r * C + c0;
                float rs = rstd[r];
                for (int c = 0; c < wd; c++) acc[c] += (double)(g[c] * x[c] * rs);
            }
            for (int c = 0; c < wd; c++) dw[c0 + c] = (float)((double)dw[c0 + c] + acc[c]);
        }
    }
}
