/* CPU embedding lookup and its gradient. */
#include <stdlib.h>
#include <string.h>

#include "byte_lm/model/backend_cpu_internal.h"

void cpu_embedding_fwd(Backend *be, float *out, const uint8_t *ids, const float *table, int rows,
                       int C)
{
#pragma omp parallel for schedule(static) num_threads(cpu_team(be, (size_t)rows * C))
    for (int r = 0; r < rows; r++)
        memcpy(out + (size_t)r * C, table + (size_t)ids[r] * C, (size_t)C * sizeof(float));
}

/* Many rows hit the same table row, so threads split the columns instead of the rows: each
 * table entry is then summed by one thread, in row order, in double. */
void cpu_embedding_bwd(Backend *be, float *dtable, const float *dout, const uint8_t *ids, int rows,
                       int C)
{
    int nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel num_threads(cpu_team(be, (size_t)rows * C))
    {
        double *acc = cpu_scratch(256 * CPU_COL_BLOCK * sizeof(double));
#pragma omp for schedule(static)
        for (int blk = 0; blk < nblk; blk++) {
            int c0 = blk * CPU_COL_BLOCK;
            int w = C - c0 < CPU_COL_BLOCK ? C - c0 : CPU_COL_BLOCK;
            memset(acc, 0, 256 * CPU_COL_BLOCK * sizeof(double));
            for (int r = 0; r < rows; r++) {
                const float *g = dout + (size_t)r * C + c0;
                double *a = acc + (size_t)ids[r] * CPU_COL_BLOCK;
                for (int c = 0; c < w; c++) a[c] += g[c];
            }
            for (int v = 0; v < 256; v++) {
                float *dt = dtable + (size_t)v * C + c0;
                const double *a = acc + (size_t)v * CPU_COL_BLOCK;
                for (int c = 0; c < w; c++) dt[c] = (float)((double)dt[c] + a[c]);
            }
        }
        free(acc);
    }
}
