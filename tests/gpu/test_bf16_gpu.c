/* The mixed-precision (bf16) CUDA ops against the CPU's bf16 ops, the oracle, on fresh random
 * inputs with poisoned outputs (gpu_pair.h says how); bound 1e-2 relative. Then one whole bf16
 * training step of the model on both backends (loss, every gradient, AdamW's weights and bf16
 * copy), and the bf16 recurrent forward.
 *
 * BYTELM_GPU_TEST_QUICK=1 keeps only the smaller shapes (for compute-sanitizer runs). */
#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "tests/gpu/gpu_model.h"
#include "tests/gpu/gpu_pair.h"

#ifdef BYTELM_CUDA

#define TOL GPU_TOL_BF16

/* ---- cast and rmsnorm ---- */

static void check_cast_norm(int rows, int C, int lds, int ldd, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "rows=%d C=%d ld=%d/%d", rows, C, lds, ldd);
    Buf src = buf_rand(&p, (size_t)rows * lds, -3, 3), dst = bufh_nan(&p, (size_t)rows * ldd);
    p.cpu->cast_bf16(p.cpu, dst.c, ldd, src.c, lds, rows, C);
    p.gpu->cast_bf16(p.gpu, dst.g, ldd, src.g, lds, rows, C);
    double e = bufh_err(&p, &dst, rows, C, ldd, 1);
    report_tol("cast_bf16", "dst", sh, e, 1e-12); /* the same rounding on both: equal */

    Buf inp = buf_rand(&p, (size_t)rows * C, -2, 2), w = buf_rand(&p, (size_t)C, 0.5f, 1.5f);
    Buf out = bufh_nan(&p, (size_t)rows * C), rstd = buf_nan(&p, (size_t)rows);
    p.cpu->rmsnorm_fwd_bf16(p.cpu, out.c, rstd.c, inp.c, w.c, rows, C, 1e-5f);
    p.gpu->rmsnorm_fwd_bf16(p.gpu, out.g, rstd.g, inp.g, w.g, rows, C, 1e-5f);
    report_tol("rmsnorm_bf16", "out", sh, errh_all(&p, &out), TOL);
    report("rmsnorm_bf16", "rstd", sh, err_all(&p, &rstd));
    buf_free(&p, &src), buf_free(&p, &dst), buf_free(&p, &inp), buf_free(&p, &w);
    buf_free(&p, &out), buf_free(&p, &rstd);
    pair_close(&p);
}

START_TEST(cast_norm_shapes)
{
    check_cast_norm(1, 64, 64, 64, 31);
    check_cast_norm(7, 97, 100, 101, 32); /* odd widths: scalar paths */
    check_cast_norm(300, 1024, 1024, 1024, 33);
    if (!quick()) check_cast_norm(3000, 1792, 1800, 1792, 34);
}
END_TEST

/* ---- matmul ---- */

/* Forward with a bf16 output (a slice of width ldo), with an fp32 output and a separate addend,
 * and accumulating into itself; backward with a bf16 dinp (accumulated or not) or an fp32 one. */
static void check_matmul(int M, int K, int N, int ldi, int ldo, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "M=%d K=%d N=%d ld=%d/%d", M, K, N, ldi, ldo);
    Buf inp = bufh_rand(&p, (size_t)M * ldi, -1, 1), w = bufh_rand(&p, (size_t)N * K, -1, 1);
    Buf oh = bufh_nan(&p, (size_t)M * ldo);
    p.cpu->matmul_fwd_bf16(p.cpu, oh.c, 1, ldo, NULL, inp.c, ldi, w.c, M, K, N);
    p.gpu->matmul_fwd_bf16(p.gpu, oh.g, 1, ldo, NULL, inp.g, ldi, w.g, M, K, N);
    report_tol("matmul_bf16", "out bf16", sh, bufh_err(&p, &oh, M, N, ldo, 1), TOL);

    Buf add = buf_rand(&p, (size_t)M * ldo, -1, 1), of = buf_nan(&p, (size_t)M * ldo);
    p.cpu->matmul_fwd_bf16(p.cpu, of.c, 0, ldo, add.c, inp.c, ldi, w.c, M, K, N);
    p.gpu->matmul_fwd_bf16(p.gpu, of.g, 0, ldo, add.g, inp.g, ldi, w.g, M, K, N);
    report_tol("matmul_bf16", "out+add", sh, buf_err(&p, &of, M, N, ldo, 1), TOL);
    p.cpu->matmul_fwd_bf16(p.cpu, add.c, 0, ldo, add.c, inp.c, ldi, w.c, M, K, N);
    p.gpu->matmul_fwd_bf16(p.gpu, add.g, 0, ldo, add.g, inp.g, ldi, w.g, M, K, N);
    report_tol("matmul_bf16", "out+=", sh, buf_err(&p, &add, M, N, ldo, 0), TOL);

    Buf dout = bufh_rand(&p, (size_t)M * ldo, -1, 1);
    Buf dih = bufh_rand(&p, (size_t)M * ldi, -1, 1); /* accumulated into */
    Buf dw = buf_rand(&p, (size_t)N * K, -1, 1);
    p.cpu->matmul_bwd_bf16(p.cpu, dih.c, 1, ldi, dw.c, dout.c, ldo, inp.c, ldi, w.c, M, K, N, 1);
    p.gpu->matmul_bwd_bf16(p.gpu, dih.g, 1, ldi, dw.g, dout.g, ldo, inp.g, ldi, w.g, M, K, N, 1);
    report_tol("matmul_bwd_bf16", "dinp+= bf16", sh, bufh_err(&p, &dih, M, K, ldi, 0), TOL);
    report_tol("matmul_bwd_bf16", "dw", sh, err_all(&p, &dw), TOL);
    Buf dif = buf_nan(&p, (size_t)M * ldi);
    p.cpu->matmul_bwd_bf16(p.cpu, dif.c, 0, ldi, dw.c, dout.c, ldo, inp.c, ldi, w.c, M, K, N, 0);
    p.gpu->matmul_bwd_bf16(p.gpu, dif.g, 0, ldi, dw.g, dout.g, ldo, inp.g, ldi, w.g, M, K, N, 0);
    report_tol("matmul_bwd_bf16", "dinp fp32", sh, buf_err(&p, &dif, M, K, ldi, 1), TOL);
    report_tol("matmul_bwd_bf16", "dw twice", sh, err_all(&p, &dw), TOL);
    buf_free(&p, &inp), buf_free(&p, &w), buf_free(&p, &oh), buf_free(&p, &add);
    buf_free(&p, &of), buf_free(&p, &dout), buf_free(&p, &dih), buf_free(&p, &dw);
    buf_free(&p, &dif);
    pair_close(&p);
}

START_TEST(matmul_shapes)
{
    check_matmul(1, 64, 256, 64, 256, 41);
    check_matmul(7, 29, 19, 32, 24, 42);       /* odd sizes and strides: small alignments */
    check_matmul(300, 96, 130, 96, 136, 43);
    check_matmul(513, 1024, 2048, 1024, 4096, 44); /* in_proj-like, a column slice */
    if (!quick()) check_matmul(4096, 2048, 1024, 2048, 1024, 45);
}
END_TEST

/* ---- conv1d ---- */

static void check_conv(int B, int L, int D, int K, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "B=%d L=%d D=%d K=%d", B, L, D, K);
    int rows = B * L;
    Buf in = bufh_rand(&p, (size_t)rows * 2 * D, -2, 2); /* u is the first half of xz */
    Buf w = buf_rand(&p, (size_t)D * K, -1, 1), bias = buf_rand(&p, (size_t)D, -1, 1);
    Buf state = buf_rand(&p, (size_t)B * D * (K - 1 > 0 ? K - 1 : 1), -2, 2);
    Buf out = bufh_nan(&p, (size_t)rows * D);
    p.cpu->conv1d_fwd_bf16(p.cpu, out.c, in.c, 2 * D, w.c, bias.c, state.c, B, L, D, K);
    p.gpu->conv1d_fwd_bf16(p.gpu, out.g, in.g, 2 * D, w.g, bias.g, state.g, B, L, D, K);
    report_tol("conv1d_bf16", "out", sh, errh_all(&p, &out), TOL);
    report("conv1d_bf16", "state", sh, err_all(&p, &state)); /* bf16 inputs, stored exactly */

    Buf dout = bufh_rand(&p, (size_t)rows * D, -1, 1), din = bufh_nan(&p, (size_t)rows * 2 * D);
    Buf dw = buf_rand(&p, (size_t)D * K, -1, 1), db = buf_rand(&p, (size_t)D, -1, 1);
    p.cpu->conv1d_bwd_bf16(p.cpu, din.c, 2 * D, dw.c, db.c, dout.c, in.c, 2 * D, w.c, bias.c, B, L,
                           D, K);
    p.gpu->conv1d_bwd_bf16(p.gpu, din.g, 2 * D, dw.g, db.g, dout.g, in.g, 2 * D, w.g, bias.g, B, L,
                           D, K);
    report_tol("conv1d_bwd_bf16", "din", sh, bufh_err(&p, &din, rows, D, 2 * D, 1), TOL);
    report_tol("conv1d_bwd_bf16", "dw", sh, err_all(&p, &dw), TOL);
    report_tol("conv1d_bwd_bf16", "dbias", sh, err_all(&p, &db), TOL);
    buf_free(&p, &in), buf_free(&p, &w), buf_free(&p, &bias), buf_free(&p, &state);
    buf_free(&p, &out), buf_free(&p, &dout), buf_free(&p, &din), buf_free(&p, &dw);
    buf_free(&p, &db);
    pair_close(&p);
}

START_TEST(conv_shapes)
{
    check_conv(1, 1, 64, 4, 51);
    check_conv(2, 300, 130, 4, 52);
    check_conv(3, 77, 256, 3, 53);
    check_conv(2, 70, 64, 6, 55); /* K > 4: one channel a thread */
    check_conv(2, 65, 516, 2, 56);
    if (!quick()) check_conv(4, 2048, 1024, 4, 54);
}
END_TEST

/* ---- selective scan ---- */

/* bf16 u, delta_pre, z (the second half of xz), dy; fp32 B and C as column slices of xdbl. */
static void check_scan(int B, int L, int D, int N, int R, uint64_t seed)
{
    Pair p;
    pair_open(&p, seed);
    char sh[64];
    snprintf(sh, sizeof sh, "B=%d L=%d D=%d N=%d", B, L, D, N);
    int rows = B * L, ldx = R + 2 * N;
    Buf u = bufh_rand(&p, (size_t)rows * D, -1, 1), dp = bufh_rand(&p, (size_t)rows * D, -3, 1);
    Buf xz = bufh_rand(&p, (size_t)rows * 2 * D, -2, 2), xdbl = buf_rand(&p, (size_t)rows * ldx, -1, 1);
    Buf dtb = buf_rand(&p, (size_t)D, -3, -1), Dsk = buf_rand(&p, (size_t)D, 0.5f, 1.5f);
    Buf Alog = buf_new(&p, (size_t)D * N * sizeof(float));
    float *al = Alog.host;
    for (int d = 0; d < D; d++)
        for (int n = 0; n < N; n++)
            al[(size_t)d * N + n] = logf((float)(n + 1)) + tu_uniform(&p.rng, -0.3f, 0.3f);
    buf_push(&p, &Alog);
    Buf st = buf_rand(&p, (size_t)B * D * N, -1, 1);
    size_t sbc = p.cpu->scan_saved_bytes(p.cpu, B, L, D, N), sbg = p.gpu->scan_saved_bytes(p.gpu, B, L, D, N);
    void *svc = p.cpu->alloc(p.cpu, sbc ? sbc : 1), *svg = p.gpu->alloc(p.gpu, sbg ? sbg : 1);
    const bf16 *zc = (const bf16 *)xz.c + D, *zg = (const bf16 *)xz.g + D;
    float *Bc = (float *)xdbl.c + R, *Bg = (float *)xdbl.g + R;
    Buf y = bufh_nan(&p, (size_t)rows * D);
    ScanFwd fc = {.bf16 = 1, .y = y.c, .u = u.c, .delta_pre = dp.c, .z = zc, .z_stride = 2 * D,
                  .dt_bias = dtb.c, .A_log = Alog.c, .Bm = Bc, .Cm = Bc + N, .bc_stride = ldx,
                  .Dskip = Dsk.c, .B = B, .L = L, .D = D, .N = N};
    ScanFwd fg = {.bf16 = 1, .y = y.g, .u = u.g, .delta_pre = dp.g, .z = zg, .z_stride = 2 * D,
                  .dt_bias = dtb.g, .A_log = Alog.g, .Bm = Bg, .Cm = Bg + N, .bc_stride = ldx,
                  .Dskip = Dsk.g, .B = B, .L = L, .D = D, .N = N};
    /* with a carried state (the recurrent use) */
    fc.ssm_state = st.c, fc.saved = NULL;
    fg.ssm_state = st.g, fg.saved = NULL;
    p.cpu->scan_fwd(p.cpu, &fc);
    p.gpu->scan_fwd(p.gpu, &fg);
    report_tol("scan_fwd_bf16", "y (state)", sh, errh_all(&p, &y), TOL);
    report_tol("scan_fwd_bf16", "ssm_state", sh, err_all(&p, &st), TOL);
    /* for training: zero state, saved chunk states */
    fc.ssm_state = NULL, fc.saved = svc;
    fg.ssm_state = NULL, fg.saved = svg;
    p.cpu->scan_fwd(p.cpu, &fc);
    p.gpu->scan_fwd(p.gpu, &fg);
    report_tol("scan_fwd_bf16", "y", sh, errh_all(&p, &y), TOL);

    Buf dy = bufh_rand(&p, (size_t)rows * D, -1, 1);
    Buf du = bufh_nan(&p, (size_t)rows * D), ddp = bufh_nan(&p, (size_t)rows * D);
    Buf dxz = bufh_nan(&p, (size_t)rows * 2 * D), dxdbl = buf_nan(&p, (size_t)rows * ldx);
    Buf ddtb = buf_rand(&p, (size_t)D, -1, 1), dAl = buf_rand(&p, (size_t)D * N, -1, 1);
    Buf dD = buf_rand(&p, (size_t)D, -1, 1);
    ScanBwd bc = {.bf16 = 1, .du = du.c, .ddelta_pre = ddp.c, .dz = (bf16 *)dxz.c + D,
                  .dz_stride = 2 * D, .ddt_bias = ddtb.c, .dA_log = dAl.c,
                  .dBm = (float *)dxdbl.c + R, .dCm = (float *)dxdbl.c + R + N, .dbc_stride = ldx,
                  .dDskip = dD.c, .dy = dy.c, .u = u.c, .delta_pre = dp.c, .z = zc,
                  .z_stride = 2 * D, .dt_bias = dtb.c, .A_log = Alog.c, .Bm = Bc, .Cm = Bc + N,
                  .bc_stride = ldx, .Dskip = Dsk.c, .saved = svc, .B = B, .L = L, .D = D, .N = N};
    ScanBwd bg = {.bf16 = 1, .du = du.g, .ddelta_pre = ddp.g, .dz = (bf16 *)dxz.g + D,
                  .dz_stride = 2 * D, .ddt_bias = ddtb.g, .dA_log = dAl.g,
                  .dBm = (float *)dxdbl.g + R, .dCm = (float *)dxdbl.g + R + N, .dbc_stride = ldx,
                  .dDskip = dD.g, .dy = dy.g, .u = u.g, .delta_pre = dp.g, .z = zg,
                  .z_stride = 2 * D, .dt_bias = dtb.g, .A_log = Alog.g, .Bm = Bg, .Cm = Bg + N,
                  .bc_stride = ldx, .Dskip = Dsk.g, .saved = svg, .B = B, .L = L, .D = D, .N = N};
    p.cpu->scan_bwd(p.cpu, &bc);
    p.gpu->scan_bwd(p.gpu, &bg);
    report_tol("scan_bwd_bf16", "du", sh, errh_all(&p, &du), TOL);
    report_tol("scan_bwd_bf16", "ddelta_pre", sh, errh_all(&p, &ddp), TOL);
    /* dz is the second half of dxz, dBm and dCm columns [R, R + 2N) of dxdbl: the rest of
     * each must keep the poison */
    report_tol("scan_bwd_bf16", "dz", sh, buf_err_cols(&p, &dxz, 2, rows, D, 2 * D, 2 * D, 1), TOL);
    report_tol("scan_bwd_bf16", "dBm|dCm", sh, buf_err_cols(&p, &dxdbl, 4, rows, R, ldx, ldx, 1), TOL);
    report_tol("scan_bwd_bf16", "ddt_bias", sh, err_all(&p, &ddtb), TOL);
    report_tol("scan_bwd_bf16", "dA_log", sh, err_all(&p, &dAl), TOL);
    report_tol("scan_bwd_bf16", "dDskip", sh, err_all(&p, &dD), TOL);
    p.cpu->free(p.cpu, svc), p.gpu->free(p.gpu, svg);
    buf_free(&p, &u), buf_free(&p, &dp), buf_free(&p, &xz), buf_free(&p, &xdbl);
    buf_free(&p, &dtb), buf_free(&p, &Dsk), buf_free(&p, &Alog), buf_free(&p, &st);
    buf_free(&p, &y), buf_free(&p, &dy), buf_free(&p, &du), buf_free(&p, &ddp);
    buf_free(&p, &dxz), buf_free(&p, &dxdbl), buf_free(&p, &ddtb), buf_free(&p, &dAl);
    buf_free(&p, &dD);
    pair_close(&p);
}

START_TEST(scan_shapes)
{
    check_scan(1, 1, 64, 16, 4, 61);
    check_scan(2, 300, 128, 16, 8, 62);  /* 16-byte staging */
    check_scan(2, 35, 130, 16, 8, 63);   /* channels not a multiple of 8: element staging */
    check_scan(1, 67, 64, 8, 4, 64);
    check_scan(1, 50, 96, 32, 6, 65);
    check_scan(9, 40, 1024, 16, 4, 67);  /* two channels a lane (on GPUs of up to 144 SMs) */
    check_scan(9, 23, 1030, 16, 4, 68);  /* the same with element staging and single stores */
    if (!quick()) check_scan(4, 2048, 1024, 16, 32, 66);
}
END_TEST

/* ---- AdamW with the bf16 copy ---- */

START_TEST(adamw_shadow)
{
    Pair p;
    pair_open(&p, 71);
    size_t n = quick() ? 1003 : 1000003;
    Buf par = buf_rand(&p, n, -1, 1), g = buf_rand(&p, n, -1, 1), m = buf_rand(&p, n, -0.1f, 0.1f);
    Buf v = buf_rand(&p, n, 0, 0.01f), sh = bufh_nan(&p, n);
    /* an odd offset sends the head through the scalar kernel */
    for (size_t off = 0; off < 2; off++) {
        p.cpu->adamw_bf16(p.cpu, (float *)par.c + off, (bf16 *)sh.c + off, (float *)g.c + off,
                          (float *)m.c + off, (float *)v.c + off, n - off, 1e-3f, 0.9f, 0.95f,
                          1e-8f, 0.1f, 0.5f, 3);
        p.gpu->adamw_bf16(p.gpu, (float *)par.g + off, (bf16 *)sh.g + off, (float *)g.g + off,
                          (float *)m.g + off, (float *)v.g + off, n - off, 1e-3f, 0.9f, 0.95f,
                          1e-8f, 0.1f, 0.5f, 3);
    }
    report("adamw_bf16", "param", "n=1000003", err_all(&p, &par));
    /* the copy is exactly the GPU's own param rounded */
    float *pg = malloc(n * sizeof(float));
    bf16 *hg = malloc(n * sizeof(bf16));
    p.gpu->download(p.gpu, pg, par.g, n * sizeof(float));
    p.gpu->download(p.gpu, hg, sh.g, n * sizeof(bf16));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += hg[i] != bf16_from_f32(pg[i]);
    printf("  adamw_bf16       shadow     %zu of %zu differ from round(param)\n", bad, n);
    ck_assert_uint_eq(bad, 0);
    free(pg), free(hg);
    buf_free(&p, &par), buf_free(&p, &g), buf_free(&p, &m), buf_free(&p, &v), buf_free(&p, &sh);
    pair_close(&p);
}
END_TEST

/* ---- the whole model in bf16 ---- */

START_TEST(model_step_matches_cpu)
{
    const StepTol tol = {TOL, TOL, TOL, 1e-3};
    gm_check_step(PREC_BF16, &tol, 5, 1);
}
END_TEST

/* The recomputing plan gives the kept plan's bits on the GPU too (deterministic kernels, the
 * same products in the same order). */
START_TEST(model_recompute_same_bits)
{
    Backend *gpu = backend_cuda_create(0);
    Model *mk = gm_make(gpu, 128, 2, 5, PREC_BF16), *mr = gm_make(gpu, 128, 2, 5, PREC_BF16);
    model_set_recompute(mk, 0);
    model_set_recompute(mr, 1);
    int B = 2, L = 515;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    uint64_t s = 6;
    for (size_t i = 0; i < (size_t)B * (L + 1); i++) batch[i] = (uint8_t)tu_next(&s);
    model_zero_grads(mk);
    model_zero_grads(mr);
    float lk = model_forward_backward(mk, batch, B, L, 1.0f);
    float lr = model_forward_backward(mr, batch, B, L, 1.0f);
    ck_assert_int_eq(model_recomputes(mk), 0);
    ck_assert_int_eq(model_recomputes(mr), 1);
    float *gk = gm_host_copy(mk, model_grads(mk)), *gr = gm_host_copy(mr, model_grads(mr));
    size_t np = model_num_params(mk), differ = 0;
    for (size_t i = 0; i < np; i++) differ += memcmp(&gk[i], &gr[i], sizeof(float)) != 0;
    printf("bf16 keep vs recompute on the GPU: loss %.7f / %.7f, %zu of %zu gradients differ\n", lk,
           lr, differ, np);
    ck_assert(lk == lr);
    ck_assert_uint_eq(differ, 0);
    free(gk), free(gr), free(batch);
    model_free(mk), model_free(mr);
    gpu->destroy(gpu);
}
END_TEST

/* Scoring in chunks with carried state, bf16, on both backends. */
START_TEST(model_recurrent_matches_cpu)
{
    Backend *cpu = backend_cpu_create(0), *gpu = backend_cuda_create(0);
    Model *mc = gm_make(cpu, 64, 2, 3, PREC_BF16), *mg = gm_make(gpu, 64, 2, 3, PREC_BF16);
    int L = 200;
    uint8_t *in = malloc(L), *tg = malloc(L);
    uint64_t s = 4;
    for (int i = 0; i < L; i++) in[i] = (uint8_t)tu_next(&s), tg[i] = (uint8_t)tu_next(&s);
    float *lc = malloc(L * sizeof(float)), *lg = malloc(L * sizeof(float));
    ModelState *sc = model_state_create(mc, 1), *sg = model_state_create(mg, 1);
    model_forward_stateful(mc, sc, in, tg, 1, 150, lc, NULL);
    model_forward_stateful(mg, sg, in, tg, 1, 150, lg, NULL);
    for (int t = 150; t < L; t++) {
        model_forward_stateful(mc, sc, in + t, tg + t, 1, 1, lc + t, NULL);
        model_forward_stateful(mg, sg, in + t, tg + t, 1, 1, lg + t, NULL);
    }
    double rel = tu_rel_err(lg, lc, (size_t)L);
    printf("bf16 chunked + stepped losses gpu vs cpu: rel %.2e\n", rel);
    ck_assert(rel < TOL);
    model_state_free(mc, sc), model_state_free(mg, sg);
    free(in), free(tg), free(lc), free(lg);
    model_free(mc), model_free(mg);
    cpu->destroy(cpu), gpu->destroy(gpu);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bf16-gpu");
    /* two cases, so the sanitizers can run the kernels alone (CK_RUN_CASE=ops) */
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, cast_norm_shapes);
    tcase_add_test(tc, matmul_shapes);
    tcase_add_test(tc, conv_shapes);
    tcase_add_test(tc, scan_shapes);
    tcase_add_test(tc, adamw_shadow);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("model");
    tcase_set_timeout(tm, 900);
    tcase_add_test(tm, model_step_matches_cpu);
    tcase_add_test(tm, model_recompute_same_bits);
    tcase_add_test(tm, model_recurrent_matches_cpu);
    suite_add_tcase(s, tm);
    return tu_run(s);
}

#else

int main(void)
{
    fprintf(stderr, "test_bf16_gpu: built without CUDA\n");
    return 77;
}

#endif
