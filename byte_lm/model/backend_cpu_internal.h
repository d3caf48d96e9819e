/* Private to the CPU backend: its context and the op functions each backend_cpu_*.c file
 * provides to the table built in backend_cpu.c. Each op's file is named as the CUDA kernel
 * file of the same op in kernels/ (backend_cpu_rmsnorm.c beside kernels/rmsnorm.cu).
 *
 * Determinism: every reduction that crosses rows or channels is split into pieces whose
 * boundaries depend only on the tensor sizes (never on the thread count) and the pieces are
 * summed in a fixed order; matmuls are cut into fixed tiles, each a single-threaded sgemm. So
 * results are bitwise identical for any number of threads. */
#ifndef BYTELM_BACKEND_CPU_INTERNAL_H
#define BYTELM_BACKEND_CPU_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "byte_lm/model/backend.h"

typedef struct {
    int threads; /* OpenMP team size for every parallel loop */
    /* bytes held through be->alloc now and at most (every alloc and free is on one thread) */
    size_t mem_now, mem_peak;
} CpuCtx;

static inline int cpu_threads(const Backend *be)
{
    return ((const CpuCtx *)be->ctx)->threads;
}

/* Team size for a loop touching `work` elements. Waking a team and meeting at its barrier costs
 * microseconds (far more when another process holds the cores), which dwarfs small loops: one
 * recurrent generation step is a few thousand elements per op. Small loops therefore run on the
 * calling thread; results do not depend on the team size (test_ops_threads). */
#define CPU_PARALLEL_MIN_WORK 32768
static inline int cpu_team(const Backend *be, size_t work)
{
    return work < CPU_PARALLEL_MIN_WORK ? 1 : cpu_threads(be);
}

/* Columns per block when a loop is threaded over column blocks so that each column's sum over
 * rows is owned by one thread (no races, order fixed by the row loop). */
#define CPU_COL_BLOCK 32

/* The hot per-row and per-channel functions are compiled twice on x86-64, for AVX2 and for
 * the baseline, and the dynamic loader picks one for the machine (GCC function
 * multiversioning): the build flags allow only SSE2, and AVX2 doubles the width of the
 * vectorized exp loops. The two may differ in the last bits of vectorized sums. */
#if defined(__x86_64__) && defined(__GNUC__)
#define CPU_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CPU_HOT
#endif
/* For helpers called from CPU_HOT functions: they must be inlined to be compiled for each
 * clone's target (a call would run the baseline code). */
#if defined(__GNUC__)
#define CPU_INLINE static inline __attribute__((always_inline))
#else
#define CPU_INLINE static inline
#endif

/* ---- branch-free elementwise math ----
 * libm's expf and log1pf are not vectorized without -ffast-math, and under -ftrapping-math GCC
 * will not if-convert floating-point comparisons. These helpers use only arithmetic and
 * integer operations on the float bits, so loops that call them vectorize. Each is within a
 * few ulp of the exact value; NaN in gives NaN out, infinities give the limits. */

CPU_INLINE int32_t cpu_f2i(float x)
{
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i;
}
CPU_INLINE float cpu_i2f(int32_t i)
{
    float x;
    memcpy(&x, &i, sizeof x);
    return x;
}
/* mask ? a : b, for a mask of all ones or all zeros */
CPU_INLINE float cpu_select(int32_t mask, float a, float b)
{
    return cpu_i2f((cpu_f2i(a) & mask) | (cpu_f2i(b) & ~mask));
}

/* exp(-|x|), as 2^k * p(r) with r = -|x| - k ln2 in [-ln2/2, ln2/2] and p the degree-7 Taylor
 * polynomial (truncation < 1e-8); 0 for |x| >= 87 (infinities included). */
CPU_INLINE float cpu_exp_neg_abs(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;       /* 9 significant bits: k * ln2_hi is exact */
    const float ln2_lo = -2.12194440054e-4f; /* ln2 - ln2_hi */
    const float round_magic = 12582912.0f;   /* 1.5 * 2^23: (v + m) - m rounds v to an integer */
    const int32_t bits_87 = 0x42ae0000;      /* 87.0f */
    int32_t ia = cpu_f2i(x) & 0x7fffffff;    /* |x|, clamped to 87 in the integer domain */
    float xc = -cpu_i2f(ia < bits_87 ? ia : bits_87);
    float kf = (xc * log2e + round_magic) - round_magic;
    float r = (xc - kf * ln2_hi) - kf * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    float e = p * cpu_i2f(((int32_t)kf + 127) << 23); /* times 2^k, k in [-126, 0] */
    e = cpu_select(-(int32_t)(ia < bits_87), e, 0.0f);
    return cpu_select(-(int32_t)(ia > 0x7f800000), x, e); /* NaN stays NaN */
}

/* exp(x) for any x: exp(-|x|), inverted when x > 0 (so +inf from about 87 up) */
CPU_INLINE float cpu_exp(float x)
{
    float e = cpu_exp_neg_abs(x);
    return cpu_select(-(int32_t)(x > 0.0f), 1.0f / e, e);
}

/* log1p(e) for e in [0, 1], as 2 atanh(s) with s = e / (2 + e) in [0, 1/3] (odd series to
 * s^17, truncation < 1e-9 relative). */
CPU_INLINE float cpu_log1p_unit(float e)
{
    float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 17.0f;
    p = p * s2 + 1.0f / 15.0f;
    p = p * s2 + 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* sigmoid(x) = 1 / (1 + exp(-x)), from exp(-|x|) so nothing overflows */
CPU_INLINE float cpu_sigmoid(float x)
{
    float e = cpu_exp_neg_abs(x), inv = 1.0f / (1.0f + e);
    return cpu_select(cpu_f2i(x) >> 31, e * inv, inv); /* sign bit set: e / (1 + e) */
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)), and *grad = sigmoid(x). This equals PyTorch's
 * softplus (log1p(exp(x)), or x above 20) to float rounding: above 20 the log1p term is below
 * half an ulp of x, so the sum is exactly x. */
CPU_INLINE float cpu_softplus(float x, float *grad)
{
    int32_t neg = cpu_f2i(x) >> 31; /* all ones when the sign bit is set */
    float e = cpu_exp_neg_abs(x), inv = 1.0f / (1.0f + e);
    *grad = cpu_select(neg, e * inv, inv);
    float relu = cpu_select(neg, 0.0f, x);
    return relu + cpu_log1p_unit(e);
}

/* Scratch memory for one op call: 64-byte aligned, aborts when out of memory. */
void *cpu_scratch(size_t bytes);

/* backend_cpu_embedding.c */
void cpu_embedding_fwd(Backend *be, float *out, const uint8_t *ids, const float *table, int rows,
                       int C);
void cpu_embedding_bwd(Backend *be, float *dtable, const float *dout, const uint8_t *ids, int rows,
                       int C);

/* backend_cpu_rmsnorm.c */
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

/* backend_cpu_conv1d.c */
void cpu_conv1d_fwd(Backend *be, float *out, const float *in, int in_stride, const float *w,
                    const float *bias, float *conv_state, int B, int L, int D, int K);
void cpu_conv1d_bwd(Backend *be, float *din, int din_stride, float *dw, float *dbias,
                    const float *dout, const float *in, int in_stride, const float *w,
                    const float *bias, int B, int L, int D, int K);

/* backend_cpu_scan.c */
size_t cpu_scan_saved_bytes(Backend *be, int B, int L, int D, int N);
/* the op table's scan_fwd / scan_bwd: by the bf16 flag, the fp32 op or its bf16 twin */
void cpu_scan_fwd(Backend *be, const ScanFwd *a);
void cpu_scan_bwd(Backend *be, const ScanBwd *a);
/* the fp32 scan (a->bf16 is not read: the activations are fp32) */
void cpu_scan_fwd_f32(Backend *be, const ScanFwd *a);
void cpu_scan_bwd_f32(Backend *be, const ScanBwd *a);

/* backend_cpu_cross_entropy.c */
void cpu_cross_entropy(Backend *be, float *losses, float *dlogits, const float *logits,
                       const uint8_t *targets, int rows, int V, float dscale);

/* backend_cpu_adamw.c */
void cpu_adamw(Backend *be, float *param, const float *grad, float *m, float *v, size_t n,
               float lr, float beta1, float beta2, float eps, float wd, float grad_scale, int t);
/* backend_cpu_sumsq.c */
double cpu_sumsq(Backend *be, const float *x, size_t n);

/* backend_cpu_bf16.c: the mixed-precision ops, as widening + fp32 op + rounding */
void cpu_cast_bf16(Backend *be, bf16 *dst, int ldd, const float *src, int lds, int rows, int cols);
void cpu_rmsnorm_fwd_bf16(Backend *be, bf16 *out, float *rstd, const float *inp, const float *w,
                          int rows, int C, float eps);
void cpu_matmul_fwd_bf16(Backend *be, void *out, int out_bf16, int ldo, const float *add,
                         const bf16 *inp, int ldi, const bf16 *w, int M, int K, int N);
void cpu_matmul_bwd_bf16(Backend *be, void *dinp, int dinp_bf16, int lddi, float *dw,
                         const bf16 *dout, int lddo, const bf16 *inp, int ldi, const bf16 *w,
                         int M, int K, int N, int accumulate_dinp);
void cpu_conv1d_fwd_bf16(Backend *be, bf16 *out, const bf16 *in, int in_stride, const float *w,
                         const float *bias, float *conv_state, int B, int L, int D, int K);
void cpu_conv1d_bwd_bf16(Backend *be, bf16 *din, int din_stride, float *dw, float *dbias,
                         const bf16 *dout, const bf16 *in, int in_stride, const float *w,
                         const float *bias, int B, int L, int D, int K);
/* the scan on bf16 activations (a->bf16 set): widen, cpu_scan_*_f32, round */
void cpu_scan_fwd_bf16(Backend *be, const ScanFwd *a);
void cpu_scan_bwd_bf16(Backend *be, const ScanBwd *a);
/* backend_cpu_step.c */
void cpu_norm_matmul(Backend *be, void *out, int out_bf16, int ldo, const float *inp,
                     const float *norm_w, float eps, const void *w, int half, int M, int K, int N);
void cpu_ssm_step(Backend *be, const ScanStep *a);
void cpu_sample(Backend *be, const SampleArgs *a);

void cpu_adamw_bf16(Backend *be, float *param, bf16 *shadow, const float *grad, float *m,
                    float *v, size_t n, float lr, float beta1, float beta2, float eps, float wd,
                    float grad_scale, int t);

#endif
