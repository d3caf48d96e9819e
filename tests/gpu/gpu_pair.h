/* Both backends side by side for the GPU op tests: the CPU oracle and CUDA, buffers mirrored on
 * them, poisoning, and the relative-error checks over written slices (tests/gpu/test_*_gpu.c). */
#ifndef BYTELM_GPU_PAIR_H
#define BYTELM_GPU_PAIR_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/model/backend.h"
#include "byte_lm/base/bf16.h"
#include "tests/test_util.h"

#define GPU_TOL 1e-5
#define GPU_TOL_BF16 1e-2 /* bf16 ops: both backends round fp32 results once, to 8 bits */

#ifdef BYTELM_CUDA

/* ---- both backends, and buffers mirrored on them ---- */

typedef struct {
    Backend *cpu, *gpu;
    uint64_t rng;
} Pair;

static inline void pair_open(Pair *p, uint64_t seed)
{
    p->cpu = backend_cpu_create(0);
    p->gpu = backend_cuda_create(0);
    ck_assert_ptr_nonnull(p->cpu);
    ck_assert_msg(p->gpu != NULL, "no CUDA device");
    p->rng = seed;
}

static inline void pair_close(Pair *p)
{
    p->gpu->destroy(p->gpu);
    p->cpu->destroy(p->cpu);
}

/* One tensor: host copy, CPU-backend memory, GPU memory. */
typedef struct {
    size_t n;
    void *host;
    void *c, *g;
} Buf;

static inline Buf buf_new(Pair *p, size_t bytes)
{
    Buf b = {bytes, malloc(bytes ? bytes : 1), p->cpu->alloc(p->cpu, bytes),
             p->gpu->alloc(p->gpu, bytes)};
    ck_assert_ptr_nonnull(b.host);
    return b;
}

static inline void buf_push(Pair *p, Buf *b)
{
    p->cpu->upload(p->cpu, b->c, b->host, b->n);
    p->gpu->upload(p->gpu, b->g, b->host, b->n);
}

/* n floats uniform in [lo, hi) on both backends */
static inline Buf buf_rand(Pair *p, size_t n, float lo, float hi)
{
    Buf b = buf_new(p, n * sizeof(float));
    tu_fill(b.host, n, &p->rng, lo, hi);
    buf_push(p, &b);
    return b;
}

static inline Buf buf_nan(Pair *p, size_t n)
{
    Buf b = buf_new(p, n * sizeof(float));
    float *h = b.host;
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    buf_push(p, &b);
    return b;
}

static inline Buf buf_bytes(Pair *p, size_t n)
{
    Buf b = buf_new(p, n);
    uint8_t *h = b.host;
    for (size_t i = 0; i < n; i++) h[i] = (uint8_t)(tu_next(&p->rng) >> 56);
    buf_push(p, &b);
    return b;
}

static inline void buf_free(Pair *p, Buf *b)
{
    p->cpu->free(p->cpu, b->c);
    p->gpu->free(p->gpu, b->g);
    free(b->host);
}

#define BF16_POISON 0x7fc1 /* a quiet NaN */

/* Element i of a buffer of fp32 (eb 4) or bf16 (eb 2) values, widened. */
static inline double buf_at(const void *h, int eb, size_t i)
{
    return eb == 2 ? (double)bf16_to_f32(((const bf16 *)h)[i]) : (double)((const float *)h)[i];
}

/* ||gpu - cpu|| / ||cpu|| over columns [c0, c1) of rows [0, rows) of a row-major matrix with
 * leading dimension ld, elements fp32 or bf16 (eb 4 or 2); NaN when any compared element is NaN.
 * With check_rest, every other element must still hold the poison on the GPU (an overwritten
 * output must not spill): NaN for fp32, BF16_POISON for bf16. */
static inline double buf_err_cols(Pair *p, const Buf *b, int eb, int rows, int c0, int c1, int ld,
                                  int check_rest)
{
    size_t n = b->n / (size_t)eb;
    void *gc = malloc(b->n ? b->n : 1), *gg = malloc(b->n ? b->n : 1);
    p->cpu->download(p->cpu, gc, b->c, b->n);
    p->gpu->download(p->gpu, gg, b->g, b->n);
    double num = 0, den = 0;
    size_t spilled = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = i / ld, col = i % ld;
        double vc = buf_at(gc, eb, i), vg = buf_at(gg, eb, i);
        if ((int)r < rows && (int)col >= c0 && (int)col < c1) {
            num += (vg - vc) * (vg - vc);
            den += vc * vc;
            if (isnan(vg) || isnan(vc)) num = NAN;
        } else if (check_rest && (eb == 2 ? ((const bf16 *)gg)[i] != BF16_POISON : !isnan(vg))) {
            spilled++;
        }
    }
    free(gc);
    free(gg);
    ck_assert_msg(spilled == 0, "%zu elements written outside the output slice", spilled);
    return den == 0 ? sqrt(num) : sqrt(num / den);
}

/* rows x cols of a row-major fp32 matrix with leading dimension ld (buf_err_cols says how) */
static inline double buf_err(Pair *p, const Buf *b, int rows, int cols, int ld, int check_rest)
{
    return buf_err_cols(p, b, 4, rows, 0, cols, ld, check_rest);
}

static inline double err_all(Pair *p, const Buf *b)
{
    size_t n = b->n / sizeof(float);
    return buf_err(p, b, 1, (int)n, (int)n, 0);
}

static inline void report(const char *op, const char *what, const char *shape, double err)
{
    printf("  %-16s %-10s %-28s rel %.2e\n", op, what, shape, err);
    fflush(stdout);
    ck_assert_msg(err < GPU_TOL, "%s %s %s: rel error %.3e", op, what, shape, err);
}

static inline void report_tol(const char *op, const char *what, const char *shape, double err,
                              double tol)
{
    printf("  %-16s %-10s %-28s rel %.2e\n", op, what, shape, err);
    fflush(stdout);
    ck_assert_msg(err < tol, "%s %s %s: rel error %.3e (bound %.0e)", op, what, shape, err, tol);
}

/* ---- bf16 tensors: n values, the host copy holds bf16 bits ---- */

/* n bf16 values uniform in [lo, hi) (drawn in fp32, rounded) on both backends */
static inline Buf bufh_rand(Pair *p, size_t n, float lo, float hi)
{
    Buf b = buf_new(p, n * sizeof(bf16));
    bf16 *h = b.host;
    for (size_t i = 0; i < n; i++) h[i] = bf16_from_f32(tu_uniform(&p->rng, lo, hi));
    buf_push(p, &b);
    return b;
}

static inline Buf bufh_nan(Pair *p, size_t n)
{
    Buf b = buf_new(p, n * sizeof(bf16));
    bf16 *h = b.host;
    for (size_t i = 0; i < n; i++) h[i] = BF16_POISON;
    buf_push(p, &b);
    return b;
}

/* buf_err for bf16 tensors */
static inline double bufh_err(Pair *p, const Buf *b, int rows, int cols, int ld, int check_rest)
{
    return buf_err_cols(p, b, 2, rows, 0, cols, ld, check_rest);
}

static inline double errh_all(Pair *p, const Buf *b)
{
    size_t n = b->n / sizeof(bf16);
    return bufh_err(p, b, 1, (int)n, (int)n, 0);
}

static inline int quick(void)
{
    const char *q = getenv("BYTELM_GPU_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

#endif /* BYTELM_CUDA */

#endif
