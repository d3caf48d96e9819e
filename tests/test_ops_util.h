/* Helpers shared by the op test suites (tests/test_ops_*.c): double copies of float tensors,
 * central finite differences over a double-precision reference, strided error norms. */
#ifndef BYTELM_TEST_OPS_UTIL_H
#define BYTELM_TEST_OPS_UTIL_H

#include "tests/test_util.h"

#include "byte_lm/model/backend.h"

/* Step for central differences on a double reference: truncation ~h^2, rounding ~1e-16/h. */
#define OPS_FD_H 1e-5
/* Bound on ||analytic - finite difference|| / ||finite difference|| for every gradient. */
#define OPS_GRAD_TOL 1e-4
/* Bound on ||fp32 op - double reference|| / ||reference|| for every forward. */
#define OPS_FWD_TOL 1e-5

static inline float *ops_falloc(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}
static inline double *ops_dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    ck_assert_ptr_nonnull(p);
    return p;
}
static inline float *ops_frand(size_t n, uint64_t *s, float lo, float hi)
{
    float *p = ops_falloc(n);
    tu_fill(p, n, s, lo, hi);
    return p;
}
static inline double *ops_to_double(const float *x, size_t n)
{
    double *d = ops_dalloc(n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}
/* Outputs an op overwrites are poisoned first, so a skipped element shows up as NaN. */
static inline void ops_poison(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

/* ||a - b|| / ||b|| over a [rows, cols] slice of two strided matrices (float op, double ref).
 * A NaN anywhere in a makes the result NaN, which fails every `<` assertion. */
static inline double ops_rel_err_2d(const float *a, int lda, const double *b, int ldb, int rows,
                                    int cols)
{
    double num = 0, den = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double x = a[(size_t)r * lda + c], y = b[(size_t)r * ldb + c];
            num += (x - y) * (x - y);
            den += y * y;
        }
    return den == 0 ? sqrt(num) : sqrt(num / den);
}
static inline double ops_rel_err(const float *a, const double *b, size_t n)
{
    return ops_rel_err_2d(a, (int)n, b, (int)n, 1, (int)n);
}

/* sum(out * R) over a strided [rows, cols] slice: the scalar loss of every gradient check */
static inline double ops_dot_2d(const double *out, int ldo, const float *R, int rows, int cols)
{
    double s = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) s += out[(size_t)r * ldo + c] * R[(size_t)r * cols + c];
    return s;
}

/* Central differences of loss(ctx) w.r.t. x[r * ldx + c] over a [rows, cols] slice, written to
 * g with the same layout (other elements of g untouched). x is perturbed in place and restored. */
typedef double (*OpsLossFn)(void *ctx);
static inline void ops_fd_2d(OpsLossFn loss, void *ctx, double *x, int ldx, int rows, int cols,
                             double *g)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double *p = x + (size_t)r * ldx + c, save = *p;
            *p = save + OPS_FD_H;
            double lp = loss(ctx);
            *p = save - OPS_FD_H;
            double lm = loss(ctx);
            *p = save;
            g[(size_t)r * ldx + c] = (lp - lm) / (2 * OPS_FD_H);
        }
}
static inline void ops_fd(OpsLossFn loss, void *ctx, double *x, size_t n, double *g)
{
    ops_fd_2d(loss, ctx, x, (int)n, 1, (int)n, g);
}

/* Prints one line per check and asserts the bound. */
static inline void ops_expect(const char *what, double err, double tol)
{
    printf("  %-58s rel err %.2e\n", what, err);
    fflush(stdout);
    ck_assert_msg(err < tol, "%s: relative error %.3e >= %.1e", what, err, tol);
}

/* Every element of a [rows, cols] slice (stride ld) still equals v: columns an op must not touch. */
static inline void ops_expect_untouched(const char *what, const float *x, int ld, int rows,
                                        int cols, float v)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            ck_assert_msg(x[(size_t)r * ld + c] == v, "%s: element (%d, %d) was written", what, r,
                          c);
}

/* Rows t0..t0+L1-1 of every sequence of a [B*L, ld] matrix, as a [B*L1, ld] matrix: the
 * inputs of one chunk when a sequence is processed in pieces. */
static inline float *ops_slice_seq(const float *src, int B, int L, int t0, int L1, int ld)
{
    float *dst = ops_falloc((size_t)B * L1 * ld);
    for (int b = 0; b < B; b++)
        memcpy(dst + (size_t)b * L1 * ld, src + ((size_t)b * L + t0) * ld,
               (size_t)L1 * ld * sizeof(float));
    return dst;
}
/* The inverse: writes a [B*L1, ld] chunk back into rows t0.. of a [B*L, ld] matrix. */
static inline void ops_unslice_seq(float *dst, const float *src, int B, int L, int t0, int L1,
                                   int ld)
{
    for (int b = 0; b < B; b++)
        memcpy(dst + ((size_t)b * L + t0) * ld, src + (size_t)b * L1 * ld,
               (size_t)L1 * ld * sizeof(float));
}

#endif
