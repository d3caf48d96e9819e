/* Every CUDA op against the CPU op (the oracle) on fresh random inputs.
 *
 * Each case draws its inputs once, uploads them to both backends, poisons every output the op
 * overwrites with NaN on both (an element the GPU never writes stays NaN and fails the check),
 * fills every output the op accumulates into with the same random values, runs the op on both
 * and compares ||gpu - cpu|| / ||cpu|| over exactly the written slice (fp32 bound 1e-5). Column
 * slices of wider matrices (dBm, dCm, dz, din) are also checked not to spill: the columns
 * around them must still hold the poison. Shapes include L = 1, 7, 300 and a few chunks + 3,
 * channel counts that are not multiples of the kernels' blocks, and odd strides.
 *
 * BYTELM_GPU_TEST_QUICK=1 keeps only the smaller shapes (for compute-sanitizer runs). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_util.h"

#include "byte_lm/backend.h"

#define GPU_TOL 1e-5

#ifdef BYTELM_CUDA

/* ---- both backends, and buffers mirrored on them ---- */

typedef struct {
    Backend *cpu, *gpu;
    uint64_t rng;
} Pair;

static void pair_open(Pair *p, uint64_t seed)
{
    p->cpu = backend_cpu_create(0);
    p->gpu = backend_cuda_create(0);
    ck_assert_ptr_nonnull(p->cpu);
    ck_assert_msg(p->gpu != NULL, "no CUDA device");
    p->rng = seed;
}

static void pair_close(Pair *p)
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

static Buf buf_new(Pair *p, size_t bytes)
{
    Buf b = {bytes, malloc(bytes ? bytes : 1), p->cpu->alloc(p->cpu, bytes),
             p->gpu->alloc(p->gpu, bytes)};
    ck_assert_ptr_nonnull(b.host);
    return b;
}

static void buf_push(Pair *p, Buf *b)
{
    p->cpu->upload(p->cpu, b->c, b->host, b->n);
    p->gpu->upload(p->gpu, b->g, b->host, b->n);
}

/* n floats uniform in [lo, hi) on both backends */
static Buf buf_rand(Pair *p, size_t n, float lo, float hi)
{
    Buf b = buf_new(p, n * sizeof(float));
    tu_fill(b.host, n, &p->rng, lo, hi);
    buf_push(p, &b);
    return b;
}

static Buf buf_nan(Pair *p, size_t n)
{
    Buf b = buf_new(p, n * sizeof(float));
    float *h = b.host;
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    buf_push(p, &b);
    return b;
}

static Buf buf_bytes(Pair *p, size_t n)
{
    Buf b = buf_new(p, n);
    uint8_t *h = b.host;
    for (size_t i = 0; i < n; i++) h[i] = (uint8_t)(tu_next(&p->rng) >> 56);
    buf_push(p, &b);
    return b;
}

static void buf_free(Pair *p, Buf *b)
{
    p->cpu->free(p->cpu, b->c);
    p->gpu->free(p->gpu, b->g);
    free(b->host);
}

/* ||gpu - cpu|| / ||cpu|| over rows x cols of a row-major matrix with leading dimension ld
 * (in floats); NaN when any compared element is NaN. With check_rest, elements outside the
 * slice must still be NaN on the GPU (an overwritten output must not spill). */
static double buf_err(Pair *p, const Buf *b, int rows, int cols, int ld, int check_rest)
{
    size_t n = b->n / sizeof(float);
    float *gc = malloc(b->n ? b->n : 1), *gg = malloc(b->n ? b->n : 1);
    p->cpu->download(p->cpu, gc, b->c, b->n);
    p->gpu->download(p->gpu, gg, b->g, b->n);
    double num = 0, den = 0;
    size_t spilled = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = i / ld, col = i % ld;
        if ((int)r < rows && (int)col < cols) {
            double d = (double)gg[i] - gc[i];
            num += d * d;
            den += (double)gc[i] * gc[i];
            if (isnan(gg[i]) || isnan(gc[i])) num = NAN;
        } else if (check_rest && !isnan(gg[i])) {
            spilled++;
        }
    }
    free(gc);
    free(gg);
    ck_assert_msg(spilled == 0, "%zu elements written outside the output slice", spilled);
    return den == 0 ? sqrt(num) : sqrt(num / den);
}

static double err_all(Pair *p, const Buf *b)
{
    size_t n = b->n / sizeof(float);
    return buf_err(p, b, 1, (int)n, (int)n, 0);
}

static void report(const char *op, const char *what, const char *shape, double err)
{
    printf("  %-16s %-10s %-28s rel %.2e\n", op, what, shape, err);
    fflush(stdout);
    ck_assert_msg(err < GPU_TOL, "%s %s %s: rel error %.3e", op, what, shape, err);
}

static int quick(void)
{
    const char *q = getenv("BYTELM_GPU_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* ---- embedding ---- */

static void check_embedding(int rows, int C, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "rows=%d C=%d", rows, C);
    Buf ids = buf_bytes(&p, (size_t)rows);
    Buf table = buf_rand(&p, (size_t)256 * C, -1, 1);
    Buf out = buf_nan(&p, (size_t)rows * C);
    p.cpu->embedding_fwd(p.cpu, out.c, ids.c, table.c, rows, C);
    p.gpu->embedding_fwd(p.gpu, out.g, ids.g, table.g, rows, C);
    report("embedding", "out", sh, err_all(&p, &out));

    Buf dout = buf_rand(&p, (size_t)rows * C, -1, 1);
    Buf dtab = buf_rand(&p, (size_t)256 * C, -1, 1); /* accumulated into */
    p.cpu->embedding_bwd(p.cpu, dtab.c, dout.c, ids.c, rows, C);
    p.gpu->embedding_bwd(p.gpu, dtab.g, dout.g, ids.g, rows, C);
    report("embedding_bwd", "dtable", sh, err_all(&p, &dtab));
    buf_free(&p, &ids), buf_free(&p, &table), buf_free(&p, &out), buf_free(&p, &dout);
    buf_free(&p, &dtab);
    pair_close(&p);
}

START_TEST(embedding_shapes)
{
    check_embedding(1, 64, 11);
    check_embedding(7, 130, 12);
    check_embedding(300, 96, 13);
    if (!quick()) check_embedding(9000, 64, 14); /* more than one row range */
}
END_TEST

/* ---- rmsnorm ---- */

static void check_rmsnorm(int rows, int C, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "rows=%d C=%d", rows, C);
    Buf inp = buf_rand(&p, (size_t)rows * C, -2, 2);
    Buf w = buf_rand(&p, (size_t)C, 0.5f, 1.5f);
    Buf out = buf_nan(&p, (size_t)rows * C), rstd = buf_nan(&p, (size_t)rows);
    p.cpu->rmsnorm_fwd(p.cpu, out.c, rstd.c, inp.c, w.c, rows, C, 1e-5f);
    p.gpu->rmsnorm_fwd(p.gpu, out.g, rstd.g, inp.g, w.g, rows, C, 1e-5f);
    report("rmsnorm", "out", sh, err_all(&p, &out));
    report("rmsnorm", "rstd", sh, err_all(&p, &rstd));

    Buf dout = buf_rand(&p, (size_t)rows * C, -1, 1);
    Buf dinp = buf_rand(&p, (size_t)rows * C, -1, 1), dw = buf_rand(&p, (size_t)C, -1, 1);
    /* both backends use the CPU's rstd, so the check isolates the backward */
    p.gpu->upload(p.gpu, rstd.g, rstd.c, (size_t)rows * sizeof(float));
    p.cpu->rmsnorm_bwd(p.cpu, dinp.c, dw.c, dout.c, inp.c, w.c, rstd.c, rows, C);
    p.gpu->rmsnorm_bwd(p.gpu, dinp.g, dw.g, dout.g, inp.g, w.g, rstd.g, rows, C);
    report("rmsnorm_bwd", "dinp", sh, err_all(&p, &dinp));
    report("rmsnorm_bwd", "dw", sh, err_all(&p, &dw));
    buf_free(&p, &inp), buf_free(&p, &w), buf_free(&p, &out), buf_free(&p, &rstd);
    buf_free(&p, &dout), buf_free(&p, &dinp), buf_free(&p, &dw);
    pair_close(&p);
}

START_TEST(rmsnorm_shapes)
{
    check_rmsnorm(1, 64, 21);
    check_rmsnorm(7, 100, 22);    /* C % 4 != 0: scalar paths */
    check_rmsnorm(300, 1792, 23); /* widest register path */
    if (!quick()) check_rmsnorm(70, 2500, 24); /* beyond it */
}
END_TEST

/* ---- matmul ---- */

static void check_matmul(int M, int K, int N, int ldi, int ldo, int acc, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "M=%d K=%d N=%d acc=%d", M, K, N, acc);
    Buf inp = buf_rand(&p, (size_t)M * ldi, -1, 1);
    Buf w = buf_rand(&p, (size_t)N * K, -1, 1);
    /* out: the slice [M, N] of [M, ldo]; accumulate starts from random values there */
    Buf out = buf_nan(&p, (size_t)M * ldo);
    if (acc) {
        float *h = out.host;
        for (int r = 0; r < M; r++) tu_fill(h + (size_t)r * ldo, (size_t)N, &p.rng, -1, 1);
        buf_push(&p, &out);
    }
    p.cpu->matmul_fwd(p.cpu, out.c, ldo, inp.c, ldi, w.c, M, K, N, acc);
    p.gpu->matmul_fwd(p.gpu, out.g, ldo, inp.g, ldi, w.g, M, K, N, acc);
    report("matmul", "out", sh, buf_err(&p, &out, M, N, ldo, 1));

    Buf dout = buf_rand(&p, (size_t)M * ldo, -1, 1);
    Buf dinp = buf_nan(&p, (size_t)M * ldi);
    if (acc) {
        float *h = dinp.host;
        for (int r = 0; r < M; r++) tu_fill(h + (size_t)r * ldi, (size_t)K, &p.rng, -1, 1);
        buf_push(&p, &dinp);
    }
    Buf dw = buf_rand(&p, (size_t)N * K, -1, 1);
    p.cpu->matmul_bwd(p.cpu, dinp.c, ldi, dw.c, dout.c, ldo, inp.c, ldi, w.c, M, K, N, acc);
    p.gpu->matmul_bwd(p.gpu, dinp.g, ldi, dw.g, dout.g, ldo, inp.g, ldi, w.g, M, K, N, acc);
    report("matmul_bwd", "dinp", sh, buf_err(&p, &dinp, M, K, ldi, 1));
    report("matmul_bwd", "dw", sh, err_all(&p, &dw));

    /* dinp = NULL: only dw */
    p.cpu->matmul_bwd(p.cpu, NULL, ldi, dw.c, dout.c, ldo, inp.c, ldi, w.c, M, K, N, 0);
    p.gpu->matmul_bwd(p.gpu, NULL, ldi, dw.g, dout.g, ldo, inp.g, ldi, w.g, M, K, N, 0);
    report("matmul_bwd", "dw only", sh, err_all(&p, &dw));
    buf_free(&p, &inp), buf_free(&p, &w), buf_free(&p, &out), buf_free(&p, &dout);
    buf_free(&p, &dinp), buf_free(&p, &dw);
    pair_close(&p);
}

START_TEST(matmul_shapes)
{
    check_matmul(7, 64, 96, 64, 96, 0, 31);
    check_matmul(300, 130, 48, 133, 53, 1, 32); /* strided slices, accumulate */
    check_matmul(1, 32, 256, 32, 256, 0, 33);
    if (!quick()) check_matmul(1000, 512, 1024, 512, 2048, 1, 34);
}
END_TEST

/* ---- conv1d ---- */

/* in is the first D columns of [B*L, 2D] (as the model's xz); din likewise. */
static void check_conv(int B, int L, int D, int K, int with_state, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "B=%d L=%d D=%d K=%d%s", B, L, D, K, with_state ? " state" : "");
    int rows = B * L, ld = 2 * D;
    Buf in = buf_rand(&p, (size_t)rows * ld, -2, 2);
    Buf w = buf_rand(&p, (size_t)D * K, -1, 1), bias = buf_rand(&p, (size_t)D, -1, 1);
    Buf st = buf_rand(&p, (size_t)B * D * (K - 1 > 0 ? K - 1 : 1), -2, 2);
    Buf out = buf_nan(&p, (size_t)rows * D);
    p.cpu->conv1d_fwd(p.cpu, out.c, in.c, ld, w.c, bias.c, with_state ? st.c : NULL, B, L, D, K);
    p.gpu->conv1d_fwd(p.gpu, out.g, in.g, ld, w.g, bias.g, with_state ? st.g : NULL, B, L, D, K);
    report("conv1d", "out", sh, err_all(&p, &out));
    if (with_state) report("conv1d", "state", sh, err_all(&p, &st));

    if (!with_state) {
        Buf dout = buf_rand(&p, (size_t)rows * D, -1, 1);
        Buf din = buf_nan(&p, (size_t)rows * ld);
        Buf dw = buf_rand(&p, (size_t)D * K, -1, 1), db = buf_rand(&p, (size_t)D, -1, 1);
        p.cpu->conv1d_bwd(p.cpu, din.c, ld, dw.c, db.c, dout.c, in.c, ld, w.c, bias.c, B, L, D, K);
        p.gpu->conv1d_bwd(p.gpu, din.g, ld, dw.g, db.g, dout.g, in.g, ld, w.g, bias.g, B, L, D, K);
        report("conv1d_bwd", "din", sh, buf_err(&p, &din, rows, D, ld, 1));
        report("conv1d_bwd", "dw", sh, err_all(&p, &dw));
        report("conv1d_bwd", "dbias", sh, err_all(&p, &db));
        buf_free(&p, &dout), buf_free(&p, &din), buf_free(&p, &dw), buf_free(&p, &db);
    }
    buf_free(&p, &in), buf_free(&p, &w), buf_free(&p, &bias), buf_free(&p, &st);
    buf_free(&p, &out);
    pair_close(&p);
}

START_TEST(conv1d_shapes)
{
    check_conv(2, 1, 40, 4, 0, 41);
    check_conv(3, 7, 64, 4, 0, 42);
    check_conv(2, 300, 96, 4, 0, 43);
    check_conv(1, 67, 33, 3, 0, 44);
    check_conv(2, 1, 40, 4, 1, 45);
    check_conv(2, 2, 40, 4, 1, 46); /* L < K-1: the new state keeps old entries */
    check_conv(3, 70, 64, 4, 1, 47);
}
END_TEST

/* L = 1 steps with the conv state give the parallel forward's outputs (GPU against itself
 * and against the CPU chain). */
START_TEST(conv1d_state_chaining)
{
    Pair p;
    pair_open(&p, 48);
    const int B = 2, L = 9, D = 40, K = 4, ld = 2 * D;
    Buf in = buf_rand(&p, (size_t)B * L * ld, -2, 2);
    Buf w = buf_rand(&p, (size_t)D * K, -1, 1), bias = buf_rand(&p, (size_t)D, -1, 1);
    Buf st = buf_rand(&p, (size_t)B * D * (K - 1), -1, 1);
    float *st0 = malloc(st.n);
    memcpy(st0, st.host, st.n);
    Buf out = buf_nan(&p, (size_t)B * L * D);
    p.gpu->conv1d_fwd(p.gpu, out.g, in.g, ld, w.g, bias.g, st.g, B, L, D, K);
    float *par = malloc(out.n), *fin = malloc(st.n);
    p.gpu->download(p.gpu, par, out.g, out.n);
    p.gpu->download(p.gpu, fin, st.g, st.n);

    /* steps: restore the initial state, feed one row per sequence at a time */
    p.gpu->upload(p.gpu, st.g, st0, st.n);
    p.cpu->upload(p.cpu, st.c, st0, st.n);
    Buf x1 = buf_new(&p, (size_t)B * ld * sizeof(float)), o1 = buf_nan(&p, (size_t)B * D);
    float *seq = malloc(out.n), *cseq = malloc(out.n), *o1h = malloc(o1.n);
    const float *inh = in.host;
    for (int t = 0; t < L; t++) {
        for (int b = 0; b < B; b++)
            memcpy((float *)x1.host + (size_t)b * ld, inh + ((size_t)b * L + t) * ld,
                   (size_t)ld * sizeof(float));
        buf_push(&p, &x1);
        p.gpu->conv1d_fwd(p.gpu, o1.g, x1.g, ld, w.g, bias.g, st.g, B, 1, D, K);
        p.cpu->conv1d_fwd(p.cpu, o1.c, x1.c, ld, w.c, bias.c, st.c, B, 1, D, K);
        p.gpu->download(p.gpu, o1h, o1.g, o1.n);
        for (int b = 0; b < B; b++)
            memcpy(seq + ((size_t)b * L + t) * D, o1h + (size_t)b * D, (size_t)D * sizeof(float));
        p.cpu->download(p.cpu, o1h, o1.c, o1.n);
        for (int b = 0; b < B; b++)
            memcpy(cseq + ((size_t)b * L + t) * D, o1h + (size_t)b * D, (size_t)D * sizeof(float));
    }
    size_t n = (size_t)B * L * D;
    report("conv1d chain", "steps/par", "B=2 L=9 D=40 K=4", tu_rel_err(seq, par, n));
    report("conv1d chain", "gpu/cpu", "B=2 L=9 D=40 K=4", tu_rel_err(seq, cseq, n));
    float *stg = malloc(st.n);
    p.gpu->download(p.gpu, stg, st.g, st.n);
    report("conv1d chain", "state", "B=2 L=9 D=40 K=4", tu_rel_err(stg, fin, st.n / sizeof(float)));
    free(st0), free(par), free(fin), free(seq), free(cseq), free(o1h), free(stg);
    buf_free(&p, &in), buf_free(&p, &w), buf_free(&p, &bias), buf_free(&p, &st);
    buf_free(&p, &out), buf_free(&p, &x1), buf_free(&p, &o1);
    pair_close(&p);
}
END_TEST

/* ---- selective scan ---- */

/* Inputs laid out as the model lays them out: Bm, Cm are column slices at R and R + N of
 * xdbl [rows, R + 2N]; z is the second half of xz [rows, 2D]. */
typedef struct {
    int B, L, D, N, R, rows, ldx;
    Buf u, dp, dtb, Alog, xdbl, Dsk, xz;
} ScanIn;

static void scan_in(Pair *p, ScanIn *s, int B, int L, int D, int N, int R)
{
    s->B = B, s->L = L, s->D = D, s->N = N, s->R = R, s->rows = B * L, s->ldx = R + 2 * N;
    s->u = buf_rand(p, (size_t)s->rows * D, -1, 1);
    s->dp = buf_rand(p, (size_t)s->rows * D, -3, 1);
    s->dtb = buf_rand(p, (size_t)D, -3, -1);
    s->Alog = buf_new(p, (size_t)D * N * sizeof(float));
    float *al = s->Alog.host;
    for (int d = 0; d < D; d++) /* mamba's init, perturbed */
        for (int n = 0; n < N; n++)
            al[(size_t)d * N + n] = logf((float)(n + 1)) + tu_uniform(&p->rng, -0.3f, 0.3f);
    buf_push(p, &s->Alog);
    s->xdbl = buf_rand(p, (size_t)s->rows * s->ldx, -1, 1);
    s->Dsk = buf_rand(p, (size_t)D, 0.5f, 1.5f);
    s->xz = buf_rand(p, (size_t)s->rows * 2 * D, -2, 2);
}

static void scan_in_free(Pair *p, ScanIn *s)
{
    buf_free(p, &s->u), buf_free(p, &s->dp), buf_free(p, &s->dtb), buf_free(p, &s->Alog);
    buf_free(p, &s->xdbl), buf_free(p, &s->Dsk), buf_free(p, &s->xz);
}

#define XB(s, side) ((float *)(s)->xdbl.side + (s)->R)
#define XC(s, side) ((float *)(s)->xdbl.side + (s)->R + (s)->N)
#define XZ(s, side) ((float *)(s)->xz.side + (s)->D)

/* Forward then backward on both backends. use_z = 0 runs without the gate; gpu_saved = 0 hands
 * the GPU backward no saved states (it must recompute them). */
static void check_scan(int B, int L, int D, int N, int R, int use_z, int gpu_saved, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[80];
    snprintf(sh, sizeof sh, "B=%d L=%d D=%d N=%d%s%s", B, L, D, N, use_z ? "" : " noz",
             gpu_saved ? "" : " nosaved");
    ScanIn s;
    scan_in(&p, &s, B, L, D, N, R);
    const int rows = s.rows, ldx = s.ldx;
    size_t sb_c = p.cpu->scan_saved_bytes(p.cpu, B, L, D, N);
    size_t sb_g = p.gpu->scan_saved_bytes(p.gpu, B, L, D, N);
    void *sv_c = sb_c ? p.cpu->alloc(p.cpu, sb_c) : NULL;
    void *sv_g = sb_g ? p.gpu->alloc(p.gpu, sb_g) : NULL;
    Buf y = buf_nan(&p, (size_t)rows * D);
    p.cpu->scan_fwd(p.cpu, y.c, s.u.c, s.dp.c, s.dtb.c, s.Alog.c, XB(&s, c), XC(&s, c), ldx,
                    s.Dsk.c, use_z ? XZ(&s, c) : NULL, 2 * D, NULL, sv_c, B, L, D, N);
    p.gpu->scan_fwd(p.gpu, y.g, s.u.g, s.dp.g, s.dtb.g, s.Alog.g, XB(&s, g), XC(&s, g), ldx,
                    s.Dsk.g, use_z ? XZ(&s, g) : NULL, 2 * D, NULL, sv_g, B, L, D, N);
    report("scan_fwd", "y", sh, err_all(&p, &y));

    Buf dy = buf_rand(&p, (size_t)rows * D, -1, 1);
    Buf du = buf_nan(&p, (size_t)rows * D), ddp = buf_nan(&p, (size_t)rows * D);
    Buf dxdbl = buf_nan(&p, (size_t)rows * ldx), dxz = buf_nan(&p, (size_t)rows * 2 * D);
    Buf dtb = buf_rand(&p, (size_t)D, -1, 1), dAl = buf_rand(&p, (size_t)D * N, -1, 1);
    Buf dD = buf_rand(&p, (size_t)D, -1, 1);
    p.cpu->scan_bwd(p.cpu, du.c, ddp.c, dtb.c, dAl.c, (float *)dxdbl.c + s.R,
                    (float *)dxdbl.c + s.R + N, ldx, dD.c, use_z ? (float *)dxz.c + D : NULL, 2 * D,
                    dy.c, s.u.c, s.dp.c, s.dtb.c, s.Alog.c, XB(&s, c), XC(&s, c), ldx, s.Dsk.c,
                    use_z ? XZ(&s, c) : NULL, 2 * D, sv_c, B, L, D, N);
    p.gpu->scan_bwd(p.gpu, du.g, ddp.g, dtb.g, dAl.g, (float *)dxdbl.g + s.R,
                    (float *)dxdbl.g + s.R + N, ldx, dD.g, use_z ? (float *)dxz.g + D : NULL, 2 * D,
                    dy.g, s.u.g, s.dp.g, s.dtb.g, s.Alog.g, XB(&s, g), XC(&s, g), ldx, s.Dsk.g,
                    use_z ? XZ(&s, g) : NULL, 2 * D, gpu_saved ? sv_g : NULL, B, L, D, N);
    report("scan_bwd", "du", sh, err_all(&p, &du));
    report("scan_bwd", "ddelta_pre", sh, err_all(&p, &ddp));
    /* dBm, dCm: columns [R, R + 2N) of dxdbl; the dt columns must keep the poison */
    {
        size_t n = dxdbl.n / sizeof(float);
        float *gc = malloc(dxdbl.n), *gg = malloc(dxdbl.n);
        p.cpu->download(p.cpu, gc, dxdbl.c, dxdbl.n);
        p.gpu->download(p.gpu, gg, dxdbl.g, dxdbl.n);
        double nb = 0, db = 0, nc = 0, dc = 0;
        size_t spilled = 0;
        for (size_t i = 0; i < n; i++) {
            int col = (int)(i % ldx);
            double e = (double)gg[i] - gc[i];
            if (col >= s.R && col < s.R + N)
                nb += e * e, db += (double)gc[i] * gc[i];
            else if (col >= s.R + N)
                nc += e * e, dc += (double)gc[i] * gc[i];
            else if (!isnan(gg[i]))
                spilled++;
        }
        free(gc), free(gg);
        ck_assert_msg(spilled == 0, "dBm/dCm: %zu elements written outside", spilled);
        report("scan_bwd", "dBm", sh, sqrt(nb / db));
        report("scan_bwd", "dCm", sh, sqrt(nc / dc));
    }
    if (use_z) {
        /* dz is the second half of dxz: compare that half, the first must keep the poison */
        size_t n = dxz.n / sizeof(float);
        float *gc = malloc(dxz.n), *gg = malloc(dxz.n);
        p.cpu->download(p.cpu, gc, dxz.c, dxz.n);
        p.gpu->download(p.gpu, gg, dxz.g, dxz.n);
        double num = 0, den = 0;
        size_t spilled = 0;
        for (size_t i = 0; i < n; i++) {
            if ((int)(i % (2 * D)) >= D) {
                double e = (double)gg[i] - gc[i];
                num += e * e, den += (double)gc[i] * gc[i];
            } else if (!isnan(gg[i])) {
                spilled++;
            }
        }
        free(gc), free(gg);
        ck_assert_msg(spilled == 0, "dz: %zu elements written outside", spilled);
        report("scan_bwd", "dz", sh, sqrt(num / den));
    }
    report("scan_bwd", "ddt_bias", sh, err_all(&p, &dtb));
    report("scan_bwd", "dA_log", sh, err_all(&p, &dAl));
    report("scan_bwd", "dDskip", sh, err_all(&p, &dD));

    if (sv_c) p.cpu->free(p.cpu, sv_c);
    if (sv_g) p.gpu->free(p.gpu, sv_g);
    buf_free(&p, &y), buf_free(&p, &dy), buf_free(&p, &du), buf_free(&p, &ddp);
    buf_free(&p, &dxdbl), buf_free(&p, &dxz), buf_free(&p, &dtb), buf_free(&p, &dAl);
    buf_free(&p, &dD);
    scan_in_free(&p, &s);
    pair_close(&p);
}

START_TEST(scan_short)
{
    check_scan(2, 1, 40, 16, 5, 1, 1, 51);
    check_scan(3, 7, 64, 16, 4, 1, 1, 52);
}
END_TEST

START_TEST(scan_chunks)
{
    check_scan(2, 3 * 8 + 3, 136, 16, 5, 1, 1, 53);  /* a few chunks + 3; 136 channels: padded blocks */
    check_scan(1, 3 * 16 + 3, 72, 16, 4, 1, 1, 62);
    check_scan(1, 35, 37, 16, 3, 1, 1, 54);          /* odd D: scalar staging */
    check_scan(2, 19, 48, 16, 4, 0, 1, 55);          /* no gate */
    check_scan(2, 21, 48, 16, 4, 1, 0, 56);          /* backward without saved states */
}
END_TEST

START_TEST(scan_long)
{
    check_scan(2, 300, 96, 16, 5, 1, 1, 57);
    if (!quick()) check_scan(3, 300, 520, 16, 8, 1, 1, 58); /* several clusters */
}
END_TEST

START_TEST(scan_other_state_sizes)
{
    check_scan(2, 37, 48, 8, 3, 1, 1, 59);
    check_scan(1, 45, 80, 32, 6, 1, 1, 60);
}
END_TEST

/* L = 1 steps with the ssm state reproduce the parallel forward from the same initial state. */
START_TEST(scan_state_chaining)
{
    Pair p;
    pair_open(&p, 61);
    const int B = 2, L = 21, D = 40, N = 16, R = 3;
    ScanIn s;
    scan_in(&p, &s, B, L, D, N, R);
    const int ldx = s.ldx;
    Buf st = buf_rand(&p, (size_t)B * D * N, -1, 1);
    float *st0 = malloc(st.n);
    memcpy(st0, st.host, st.n);
    Buf y = buf_nan(&p, (size_t)B * L * D);
    p.gpu->scan_fwd(p.gpu, y.g, s.u.g, s.dp.g, s.dtb.g, s.Alog.g, XB(&s, g), XC(&s, g), ldx,
                    s.Dsk.g, XZ(&s, g), 2 * D, st.g, NULL, B, L, D, N);
    float *par = malloc(y.n), *fin = malloc(st.n);
    p.gpu->download(p.gpu, par, y.g, y.n);
    p.gpu->download(p.gpu, fin, st.g, st.n);

    p.gpu->upload(p.gpu, st.g, st0, st.n);
    p.cpu->upload(p.cpu, st.c, st0, st.n);
    /* one step: rows b of [B, D], [B, ldx], [B, 2D] */
    Buf u1 = buf_new(&p, (size_t)B * D * 4), dp1 = buf_new(&p, (size_t)B * D * 4);
    Buf x1 = buf_new(&p, (size_t)B * ldx * 4), z1 = buf_new(&p, (size_t)B * 2 * D * 4);
    Buf y1 = buf_nan(&p, (size_t)B * D);
    float *seq = malloc(y.n), *cseq = malloc(y.n), *y1h = malloc(y1.n);
    for (int t = 0; t < L; t++) {
        for (int b = 0; b < B; b++) {
            size_t r = (size_t)b * L + t;
            memcpy((float *)u1.host + b * D, (float *)s.u.host + r * D, D * 4);
            memcpy((float *)dp1.host + b * D, (float *)s.dp.host + r * D, D * 4);
            memcpy((float *)x1.host + b * ldx, (float *)s.xdbl.host + r * ldx, ldx * 4);
            memcpy((float *)z1.host + b * 2 * D, (float *)s.xz.host + r * 2 * D, 2 * D * 4);
        }
        buf_push(&p, &u1), buf_push(&p, &dp1), buf_push(&p, &x1), buf_push(&p, &z1);
        p.gpu->scan_fwd(p.gpu, y1.g, u1.g, dp1.g, s.dtb.g, s.Alog.g, (float *)x1.g + R,
                        (float *)x1.g + R + N, ldx, s.Dsk.g, (float *)z1.g + D, 2 * D, st.g, NULL,
                        B, 1, D, N);
        p.cpu->scan_fwd(p.cpu, y1.c, u1.c, dp1.c, s.dtb.c, s.Alog.c, (float *)x1.c + R,
                        (float *)x1.c + R + N, ldx, s.Dsk.c, (float *)z1.c + D, 2 * D, st.c, NULL,
                        B, 1, D, N);
        p.gpu->download(p.gpu, y1h, y1.g, y1.n);
        for (int b = 0; b < B; b++)
            memcpy(seq + ((size_t)b * L + t) * D, y1h + (size_t)b * D, D * 4);
        p.cpu->download(p.cpu, y1h, y1.c, y1.n);
        for (int b = 0; b < B; b++)
            memcpy(cseq + ((size_t)b * L + t) * D, y1h + (size_t)b * D, D * 4);
    }
    size_t n = (size_t)B * L * D;
    report("scan chain", "steps/par", "B=2 L=21 D=40 N=16", tu_rel_err(seq, par, n));
    report("scan chain", "gpu/cpu", "B=2 L=21 D=40 N=16", tu_rel_err(seq, cseq, n));
    float *stg = malloc(st.n), *stc = malloc(st.n);
    p.gpu->download(p.gpu, stg, st.g, st.n);
    p.cpu->download(p.cpu, stc, st.c, st.n);
    report("scan chain", "state par", "B=2 L=21 D=40 N=16", tu_rel_err(stg, fin, st.n / 4));
    report("scan chain", "state cpu", "B=2 L=21 D=40 N=16", tu_rel_err(stg, stc, st.n / 4));
    free(st0), free(par), free(fin), free(seq), free(cseq), free(y1h), free(stg), free(stc);
    buf_free(&p, &st), buf_free(&p, &y), buf_free(&p, &u1), buf_free(&p, &dp1);
    buf_free(&p, &x1), buf_free(&p, &z1), buf_free(&p, &y1);
    scan_in_free(&p, &s);
    pair_close(&p);
}
END_TEST

/* ---- cross-entropy ---- */

static void check_ce(int rows, int V, int alias, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "rows=%d V=%d%s", rows, V, alias ? " alias" : "");
    Buf logits = buf_rand(&p, (size_t)rows * V, -4, 4);
    Buf tg = buf_new(&p, (size_t)rows);
    for (int r = 0; r < rows; r++) ((uint8_t *)tg.host)[r] = (uint8_t)(tu_next(&p.rng) % V);
    buf_push(&p, &tg);
    Buf loss = buf_nan(&p, (size_t)rows), dl = buf_nan(&p, (size_t)rows * V);
    float scale = 1.0f / rows;
    p.cpu->cross_entropy(p.cpu, loss.c, alias ? logits.c : dl.c, logits.c, tg.c, rows, V, scale);
    p.gpu->cross_entropy(p.gpu, loss.g, alias ? logits.g : dl.g, logits.g, tg.g, rows, V, scale);
    report("cross_entropy", "loss", sh, err_all(&p, &loss));
    report("cross_entropy", "dlogits", sh, err_all(&p, alias ? &logits : &dl));
    buf_free(&p, &logits), buf_free(&p, &tg), buf_free(&p, &loss), buf_free(&p, &dl);
    pair_close(&p);
}

START_TEST(cross_entropy_shapes)
{
    check_ce(1, 256, 0, 71);
    check_ce(7, 256, 1, 72);
    check_ce(300, 256, 0, 73);
    check_ce(33, 100, 1, 74); /* any V */
}
END_TEST

/* ---- optimizer ---- */

static void check_adamw(size_t n, int t, size_t offset, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "n=%zu t=%d off=%zu", n, t, offset);
    Buf par = buf_rand(&p, n + offset, -1, 1), g = buf_rand(&p, n + offset, -1, 1);
    Buf m = buf_rand(&p, n + offset, -0.1f, 0.1f), v = buf_rand(&p, n + offset, 0, 0.01f);
    for (int step = 0; step < 3; step++) {
        p.cpu->adamw(p.cpu, (float *)par.c + offset, (float *)g.c + offset, (float *)m.c + offset,
                     (float *)v.c + offset, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, t + step);
        p.gpu->adamw(p.gpu, (float *)par.g + offset, (float *)g.g + offset, (float *)m.g + offset,
                     (float *)v.g + offset, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, t + step);
    }
    report("adamw", "param", sh, err_all(&p, &par));
    report("adamw", "m", sh, err_all(&p, &m));
    report("adamw", "v", sh, err_all(&p, &v));
    buf_free(&p, &par), buf_free(&p, &g), buf_free(&p, &m), buf_free(&p, &v);
    pair_close(&p);
}

START_TEST(adamw_shapes)
{
    check_adamw(1, 1, 0, 81);
    check_adamw(7, 5, 0, 82);
    check_adamw(4099, 100, 1, 83); /* unaligned start: scalar path */
    check_adamw(100000, 2, 0, 84);
}
END_TEST

static void check_sumsq(size_t n, size_t offset, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "n=%zu off=%zu", n, offset);
    Buf x = buf_rand(&p, n + offset, -1, 1);
    double c = p.cpu->sumsq(p.cpu, (float *)x.c + offset, n);
    double g = p.gpu->sumsq(p.gpu, (float *)x.g + offset, n);
    report("sumsq", "sum", sh, fabs(g - c) / fabs(c));
    buf_free(&p, &x);
    pair_close(&p);
}

START_TEST(sumsq_shapes)
{
    check_sumsq(1, 0, 91);
    check_sumsq(7, 1, 92);
    check_sumsq(1000003, 0, 93);
}
END_TEST

static Suite *gpu_suite(void)
{
    Suite *s = suite_create("ops_gpu");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, embedding_shapes);
    tcase_add_test(tc, rmsnorm_shapes);
    tcase_add_test(tc, matmul_shapes);
    tcase_add_test(tc, conv1d_shapes);
    tcase_add_test(tc, conv1d_state_chaining);
    tcase_add_test(tc, scan_short);
    tcase_add_test(tc, scan_chunks);
    tcase_add_test(tc, scan_long);
    tcase_add_test(tc, scan_other_state_sizes);
    tcase_add_test(tc, scan_state_chaining);
    tcase_add_test(tc, cross_entropy_shapes);
    tcase_add_test(tc, adamw_shapes);
    tcase_add_test(tc, sumsq_shapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(gpu_suite()); }

#else

int main(void)
{
    fprintf(stderr, "test_ops_gpu: built without CUDA\n");
    return 77;
}

#endif
