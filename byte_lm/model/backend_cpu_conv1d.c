/* CPU depthwise causal conv1d + bias + SiLU, forward (with optional recurrent state) and
 * backward. Loops run over rows with channels innermost, so they vectorize over d; the weights
 * are transposed to [K, D] first for the same reason. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/model/backend_cpu_internal.h"

/* w [D, K] -> wt [K, D] */
static float *transpose_weights(const float *w, int D, int K)
{
    float *wt = cpu_scratch((size_t)K * D * sizeof(float));
    for (int d = 0; d < D; d++)
        for (int k = 0; k < K; k++) wt[(size_t)k * D + d] = w[(size_t)d * K + k];
    return wt;
}

/* pre[d] = bias[d] + sum_k wt[k, d] * x(t - (K-1) + k, d) for row (b, t), where inputs before
 * t = 0 come from state [B, D, K-1] (oldest first) or are zero when state is NULL. */
CPU_INLINE void conv_row(float *pre, const float *in, int in_stride, const float *wt,
                         const float *bias, const float *state, int b, int t, int L, int D,
                         int K)
{
#pragma omp simd
    for (int d = 0; d < D; d++) pre[d] = bias[d];
    for (int k = 0; k < K; k++) {
        int s = t - (K - 1) + k;
        const float *wk = wt + (size_t)k * D;
        if (s >= 0) {
            const float *x = in + ((size_t)b * L + s) * in_stride;
#pragma omp simd
            for (int d = 0; d < D; d++) pre[d] += wk[d] * x[d];
        } else if (state) {
            /* s in [-(K-1), -1] is state slot (K-1) + s */
            const float *st = state + (size_t)b * D * (K - 1) + (K - 1) + s;
#pragma omp simd
            for (int d = 0; d < D; d++) pre[d] += wk[d] * st[(size_t)d * (K - 1)];
        }
    }
}

/* One output row: silu(conv + bias). */
CPU_HOT static void conv_fwd_row(float *o, const float *in, int in_stride, const float *wt,
                                 const float *bias, const float *state, int b, int t, int L,
                                 int D, int K)
{
    conv_row(o, in, in_stride, wt, bias, state, b, t, L, D, K);
#pragma omp simd
    for (int d = 0; d < D; d++) o[d] = o[d] * cpu_sigmoid(o[d]);
}

/* One row of g = dout * silu'(pre), with pre recomputed (zero initial state). */
CPU_HOT static void conv_grad_row(float *g, const float *dout, const float *in, int in_stride,
                                  const float *wt, const float *bias, int b, int t, int L, int D,
                                  int K)
{
    conv_row(g, in, in_stride, wt, bias, NULL, b, t, L, D, K);
#pragma omp simd
    for (int d = 0; d < D; d++) {
        float p = g[d], sg = cpu_sigmoid(p);
        g[d] = dout[d] * sg * (1.0f + p * (1.0f - sg));
    }
}

void cpu_conv1d_fwd(Backend *be, float *out, const float *in, int in_stride, const float *w,
                    const float *bias, float *conv_state, int B, int L, int D, int K)
{
    float *wt = transpose_weights(w, D, K);
    int rows = B * L;
#pragma omp parallel for schedule(static) num_threads(cpu_team(be, (size_t)rows * D * K))
    for (int r = 0; r < rows; r++)
        conv_fwd_row(out + (size_t)r * D, in, in_stride, wt, bias, conv_state, r / L, r % L, L,
                     D, K);
    free(wt);

    if (!conv_state || K < 2) return;
    /* New state = the last K-1 inputs of the extended sequence [old state, in]. Slot j holds
     * position L-(K-1)+j; a negative position is old slot L+j > j, not yet overwritten when
     * slots are filled in increasing j. */
#pragma omp parallel for schedule(static) num_threads(cpu_team(be, (size_t)B * D * K))
    for (int bd = 0; bd < B * D; bd++) {
        int b = bd / D, d = bd % D;
        float *st = conv_state + (size_t)bd * (K - 1);
        for (int j = 0; j < K - 1; j++) {
            int pos = L - (K - 1) + j;
            st[j] = pos >= 0 ? in[((size_t)b * L + pos) * in_stride + d] : st[L + j];
        }
    }
}

/* With pre = conv + bias and out = silu(pre), g = dout * silu'(pre):
 *   din(s, d) = sum_k g(s + K-1-k, d) w[d, k],  dw[d, k] = sum g(t, d) x(t-(K-1)+k, d),
 *   dbias[d] = sum g(t, d).
 * g and din are threaded over rows; dw and dbias over channel blocks (one owner per channel,
 * summed in row order in double). */
void cpu_conv1d_bwd(Backend *be, float *din, int din_stride, float *dw, float *dbias,
                    const float *dout, const float *in, int in_stride, const float *w,
                    const float *bias, int B, int L, int D, int K)
{
    float *wt = transpose_weights(w, D, K);
    int rows = B * L;
    float *g = cpu_scratch((size_t)rows * D * sizeof(float));
    int nblk = (D + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;

#pragma omp parallel num_threads(cpu_team(be, (size_t)rows * D * K))
    {
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++)
            conv_grad_row(g + (size_t)r * D, dout + (size_t)r * D, in, in_stride, wt, bias,
                          r / L, r % L, L, D, K);
        /* barrier: din reads g of later rows */
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            int b = r / L, s = r % L;
            float *dx = din + (size_t)r * din_stride;
#pragma omp simd
            for (int d = 0; d < D; d++) dx[d] = 0.0f;
            for (int k = 0; k < K; k++) {
                int t = s + (K - 1) - k;
                if (t >= L) continue;
                const float *gt = g + ((size_t)b * L + t) * D;
                const float *wk = wt + (size_t)k * D;
#pragma omp simd
                for (int d = 0; d < D; d++) dx[d] += gt[d] * wk[d];
            }
        }
#pragma omp for schedule(static)
        for (int blk = 0; blk < nblk; blk++) {
            int d0 = blk * CPU_COL_BLOCK;
            int wd = D - d0 < CPU_COL_BLOCK ? D - d0 : CPU_COL_BLOCK;
            double accb[CPU_COL_BLOCK] = {0};
            double *aw = cpu_scratch((size_t)CPU_COL_BLOCK * K * sizeof(double)); /* [k][c] */
            memset(aw, 0, (size_t)CPU_COL_BLOCK * K * sizeof(double));
            for (int b = 0; b < B; b++) {
                for (int t = 0; t < L; t++) {
                    const float *gt = g + ((size_t)b * L + t) * D + d0;
#pragma omp simd
                    for (int c = 0; c < wd; c++) accb[c] += gt[c];
                    for (int k = 0; k < K; k++) {
                        int s = t - (K - 1) + k;
                        if (s < 0) continue;
                        const float *x = in + ((size_t)b * L + s) * in_stride + d0;
#pragma omp simd
                        for (int c = 0; c < wd; c++)
                            aw[k * CPU_COL_BLOCK + c] += (double)(gt[c] * x[c]);
                    }
                }
            }
            for (int c = 0; c < wd; c++) {
                dbias[d0 + c] = (float)((double)dbias[d0 + c] + accb[c]);
                for (int k = 0; k < K; k++) {
                    float *dwk = dw + (size_t)(d0 + c) * K + k;
                    *dwk = (float)((double)*dwk + aw[k * CPU_COL_BLOCK + c]);
                }
            }
            free(aw);
        }
    }
    free(g);
    free(wt);
}
