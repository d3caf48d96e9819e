/* Private to the CPU backend: its context and the op functions each backend_cpu_*.c file
 * provides to the table built in backend_cpu.c.
 *
 * Determinism: every reduction that crosses rows or channels is split into pieces whose
 * boundaries depend only on the tensor sizes (never on the thread count) and the pieces are
 * summed in a fixed order, so results are bitwise identical for any number of threads
 * (matmuls excepted: their order is OpenBLAS's business). */
#ifndef BYTELM_BACKEND_CPU_INTERNAL_H
#define BYTELM_BACKEND_CPU_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct {
    int threads; /* OpenMP team size for every parallel loop, and OpenBLAS's thread count */
} CpuCtx;

static inline int cpu_threads(const Backend *be)
{
    return ((const CpuCtx *)be->ctx)->threads;
}

/* Columns per block when a loop is threaded over column blocks so that each column's sum over
 * rows is owned by one thread (no races, order fixed by the row loop). */
#define CPU_COL_BLOCK 32

static inline float cpu_sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* Scratch memory for one op call: 64-byte aligned, aborts when out of memory. */
void *cpu_scratch(size_t bytes);

/* backend_cpu_embedding.c */
void cpu_embedding_fwd(Backend *be, float *out, const uint8_t *ids, const float *table, int rows,
                       int C);
void cpu_embedding_bwd(Backend *be, float *dtable, const float *dout, const uint8_t *ids, int rows,
                       int C);

/* backend_cpu_norm.c */
void cpu_rmsnorm_fwd(Backend *be, float *out, float *rstd, const float *inp, const float *w,
                     int rows, int C, float eps);
void cpu_rmsnorm_bwd(Backend *be, float *dinp, float *dw, const float *dout, const float *inp,
                     const float *w, const float *rstd, int rows, int C);

/* backend_cpu_matmul.c */
void cpu_matmul_fwd(Backend *be, float *out, int ldo, const float *inp, int ldi, const float *w,
                    int M, int K, int N, int accumulate);
void cpu_matmul_bwd(Backend *be, float *dinp, int lddi, float *dw, const float *dout, int lddo,
                    const float *inp, int ldi, const float *w, int M, int K, int N,
                    int accumulate_dinp);

/* backend_cpu_conv.c */
void cpu_conv1d_fwd(Backend *be, float *out, const float *in, int in_stride, const float *w,
                    const float *bias, float *conv_state, int B, int L, int D, int K);
void cpu_conv1d_bwd(Backend *be, float *din, int din_stride, float *dw, float *dbias,
                    const float *dout, const float *in, int in_stride, const float *w,
                    const float *bias, int B, int L, int D, int K);

/* backend_cpu_scan.c */
size_t cpu_scan_saved_bytes(Backend *be, int B, int L, int D, int N);
void cpu_scan_fwd(Backend *be, float *y, const float *u, const float *delta_pre,
                  const float *dt_bias, const float *A_log, const float *Bm, const float *Cm,
                  int bc_stride, const float *Dskip, const float *z, int z_stride,
                  float *ssm_state, void *saved, int B, int L, int D, int N);
void cpu_scan_bwd(Backend *be, float *du, float *ddelta_pre, float *ddt_bias, float *dA_log,
                  float *dBm, float *dCm, int dbc_stride, float *dDskip, float *dz, int dz_stride,
                  const float *dy, const float *u, const float *delta_pre, const float *dt_bias,
                  const float *A_log, const float *Bm, const float *Cm, int bc_stride,
                  const float *Dskip, const float *z, int z_stride, const void *saved, int B,
                  int L, int D, int N);

/* backend_cpu_loss.c */
void cpu_cross_entropy(Backend *be, float *losses, float *dlogits, const float *logits,
                       const uint8_t *targets, int rows, int V, float dscale);

/* backend_cpu_optim.c */
void cpu_adamw(Backend *be, float *param, const float *grad, float *m, float *v, size_t n,
               float lr, float beta1, float beta2, float eps, float wd, float grad_scale, int t);
double cpu_sumsq(Backend *be, const float *x, size_t n);

#endif
