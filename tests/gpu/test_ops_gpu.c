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
#include "tests/gpu/gpu_pair.h"
#include "tests/gpu/gpu_model.h"

#ifdef BYTELM_CUDA

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
    check_rmsnorm(300, 1792, 23);  /* few rows (the forward a block per row); the backward's
                                    * widest register path */
    check_rmsnorm(3000, 1792, 25); /* many rows: the forward a warp per row */
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
    /* four channels a thread need D % 4 == 0 and K <= 4; the rest take one */
    check_conv(2, 70, 33, 4, 1, 48);
    check_conv(2, 130, 64, 6, 0, 49);
    check_conv(2, 130, 64, 6, 1, 50);
    check_conv(1, 9, 36, 8, 0, 51);
    check_conv(2, 200, 520, 2, 0, 52); /* 130 threads a row: a second, partial block */
    check_conv(2, 129, 516, 1, 1, 53);
}
END_TEST

/* A conv_kernel the CUDA conv1d is not built for is refused when the model is made, in one
 * line, instead of reaching a kernel. */
START_TEST(conv1d_unbuilt_kernel_size_refused)
{
    Backend *gpu = backend_cuda_create(0);
    ck_assert_ptr_nonnull(gpu);
    ck_assert_int_eq(gpu->conv_kernel_max, 8);
    ModelConfig cfg;
    config_default(&cfg, 32, 1);
    cfg.conv_kernel = 12;
    gm_expect_refused(gpu, &cfg, "conv_kernel 12 is not supported by the cuda backend");
    gpu->destroy(gpu);
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
    tcase_add_test(tc, conv1d_unbuilt_kernel_size_refused);
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
