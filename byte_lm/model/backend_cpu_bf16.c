/* The CPU backend's mixed-precision ops: each widens its bf16 inputs to fp32 (exact), runs the
 * fp32 op of the same name, and rounds its bf16 outputs to nearest even. That is the definition
 * of the bf16 ops (backend.h), so this file is the oracle the CUDA kernels are held to; it is
 * not fast, and need not be: CPU training defaults to fp32. */
#include <stdlib.h>

#include "byte_lm/model/backend_cpu_internal.h"
#include "byte_lm/base/bf16.h"
#include "byte_lm/base/error.h"

/* Contiguous fp32 copy of a rows x cols slice of a bf16 matrix with leading dimension ld. */
static float *widen(const bf16 *src, int ld, int rows, int cols)
{
    float *dst = cpu_scratch((size_t)rows * cols * sizeof(float) + 64);
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > CPU_PARALLEL_MIN_WORK)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)r * cols + c] = bf16_to_f32(src[(size_t)r * ld + c]);
    return dst;
}

/* Rounds a contiguous rows x cols fp32 matrix into a bf16 slice with leading dimension ld. */
static void narrow(bf16 *dst, int ld, const float *src, int rows, int cols)
{
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > CPU_PARALLEL_MIN_WORK)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)r * ld + c] = bf16_from_f32(src[(size_t)r * cols + c]);
}

static float *fresh(size_t n) { return cpu_scratch(n * sizeof(float) + 64); }

void cpu_cast_bf16(Backend *be, bf16 *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    (void)be;
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > CPU_PARALLEL_MIN_WORK)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)r * ldd + c] = bf16_from_f32(src[(size_t)r * lds + c]);
}

void cpu_rmsnorm_fwd_bf16(Backend *be, bf16 *out, float *rstd, const float *inp, const float *w,
                          int rows, int C, float eps)
{
    float *o = fresh((size_t)rows * C);
    cpu_rmsnorm_fwd(be, o, rstd, inp, w, rows, C, eps);
    narrow(out, C, o, rows, C);
    free(o);
}

void cpu_matmul_fwd_bf16(Backend *be, void *out, int out_bf16, int ldo, const float *add,
                         const bf16 *inp, int ldi, const bf16 *w, int M, int K, int N)
{
    BL_CHECK(!(out_bf16 && add));
    float *x = widen(inp, ldi, M, K), *wf = widen(w, K, N, K);
    if (out_bf16) {
        float *o = fresh((size_t)M * N);
        cpu_matmul_fwd(be, o, N, x, K, wf, M, K, N, 0);
        narrow(out, ldo, o, M, N);
        free(o);
    } else {
        float *o = out;
        if (add && add != o)
            for (int r = 0; r < M; r++) memcpy(o + (size_t)r * ldo, add + (size_t)r * ldo, (size_t)N * sizeof(float));
        cpu_matmul_fwd(be, o, ldo, x, K, wf, M, K, N, add != NULL);
    }
    free(x);
    free(wf);
}

void cpu_matmul_bwd_bf16(Backend *be, void *dinp, int dinp_bf16, int lddi, float *dw,
                         const bf16 *dout, int lddo, const bf16 *inp, int ldi, const bf16 *w,
                         int M, int K, int N, int accumulate_dinp)
{
    float *g = widen(dout, lddo, M, N), *x = widen(inp, ldi, M, K), *wf = widen(w, K, N, K);
    if (dinp && dinp_bf16) {
        float *di = accumulate_dinp ? widen(dinp, lddi, M, K) : fresh((size_t)M * K);
        cpu_matmul_bwd(be, di, K, dw, g, N, x, K, wf, M, K, N, accumulate_dinp);
        narrow(dinp, lddi, di, M, K);
        free(di);
    } else {
        cpu_matmul_bwd(be, dinp, lddi, dw, g, N, x, K, wf, M, K, N, accumulate_dinp);
    }
    free(g);
    free(x);
    free(wf);
}

void cpu_conv1d_fwd_bf16(Backend *be, bf16 *out, const bf16 *in, int in_stride, const float *w,
                         const float *bias, float *conv_state, int B, int L, int D, int K)
{
    int rows = B * L;
    float *x = widen(in, in_stride, rows, D), *o = fresh((size_t)rows * D);
    cpu_conv1d_fwd(be, o, x, D, w, bias, conv_state, B, L, D, K);
    narrow(out, D, o, rows, D);
    free(x);
    free(o);
}

void cpu_conv1d_bwd_bf16(Backend *be, bf16 *din, int din_stride, float *dw, float *dbias,
                         const bf16 *dout, const bf16 *in, int in_stride, const float *w,
                         const float *bias, int B, int L, int D, int K)
{
    int rows = B * L;
    float *g = widen(dout, D, rows, D), *x = widen(in, in_stride, rows, D);
    float *di = fresh((size_t)rows * D);
    cpu_conv1d_bwd(be, di, D, dw, dbias, g, x, D, w, bias, B, L, D, K);
    narrow(din, din_stride, di, rows, D);
    free(g);
    free(x);
    free(di);
}

void cpu_scan_fwd_bf16(Backend *be, const ScanFwd *a)
{
    int rows = a->B * a->L, D = a->D;
    ScanFwd f = *a;
    f.bf16 = 0;
    float *uf = widen(a->u, D, rows, D), *df = widen(a->delta_pre, D, rows, D);
    float *zf = a->z ? widen(a->z, a->z_stride, rows, D) : NULL;
    float *yf = a->y ? fresh((size_t)rows * D) : NULL;
    f.y = yf, f.u = uf, f.delta_pre = df, f.z = zf, f.z_stride = D;
    cpu_scan_fwd_f32(be, &f);
    if (a->y) narrow(a->y, D, yf, rows, D);
    free(uf);
    free(df);
    free(zf);
    free(yf);
}

void cpu_scan_bwd_bf16(Backend *be, const ScanBwd *a)
{
    int rows = a->B * a->L, D = a->D;
    size_t n = (size_t)rows * D;
    ScanBwd f = *a;
    f.bf16 = 0;
    float *gf = widen(a->dy, D, rows, D), *uf = widen(a->u, D, rows, D);
    float *df = widen(a->delta_pre, D, rows, D);
    float *zf = a->z ? widen(a->z, a->z_stride, rows, D) : NULL;
    float *duf = fresh(n), *ddf = fresh(n), *dzf = a->z ? fresh(n) : NULL;
    f.du = duf, f.ddelta_pre = ddf, f.dz = dzf, f.dz_stride = D;
    f.dy = gf, f.u = uf, f.delta_pre = df, f.z = zf, f.z_stride = D;
    cpu_scan_bwd_f32(be, &f);
    narrow(a->du, D, duf, rows, D);
    narrow(a->ddelta_pre, D, ddf, rows, D);
    if (a->z && a->dz) narrow(a->dz, a->dz_stride, dzf, rows, D);
    free(gf), free(uf), free(df), free(zf), free(duf), free(ddf), free(dzf);
}

void cpu_adamw_bf16(Backend *be, float *param, bf16 *shadow, const float *grad, float *m,
                    float *v, size_t n, float lr, float beta1, float beta2, float eps, float wd,
                    float grad_scale, int t)
{
    cpu_adamw(be, param, grad, m, v, n, lr, beta1, beta2, eps, wd, grad_scale, t);
#pragma omp parallel for schedule(static) if (n > CPU_PARALLEL_MIN_WORK)
    for (size_t i = 0; i < n; i++) shadow[i] = bf16_from_f32(param[i]);
}
