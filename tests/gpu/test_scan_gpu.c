/* The selective scan on CUDA against the CPU oracle, forward and backward, on fresh random
 * inputs with poisoned outputs (tests/gpu/gpu_pair.h says how): L = 1, 7, 300 and a few chunks
 * + 3, channel counts that are not multiples of the kernels' blocks, odd strides, d_state 8, 16
 * and 32, and state chaining (L = 1 steps equal the parallel forward). The backward gives the
 * same bits on every run, in fp32 and in bf16. The kernels hold two channels a lane when that
 * leaves at least two blocks per SM, else one: the shapes with 9 sequences of 1024 channels (or
 * as many blocks at other state sizes) take the first on GPUs of up to 144 SMs, the rest the
 * second; 24 sequences of 1024 are over 4 blocks per SM there, which both directions run with
 * their builds for 6 blocks per SM (the others with those for 4).
 *
 * BYTELM_GPU_TEST_QUICK=1 keeps only the smaller shapes (for compute-sanitizer runs). */
#include "tests/gpu/gpu_pair.h"

#include "tests/gpu/gpu_model.h"

#ifdef BYTELM_CUDA

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

/* One side's copy of a buffer: the GPU's when g, else the CPU's. */
static void *side(const Buf *b, int g) { return g ? b->g : b->c; }

/* The forward's arguments on one side's copy of s (z only when use_z). */
static ScanFwd fwd_args(const ScanIn *s, int g, const Buf *y, int use_z, float *state,
                        void *saved)
{
    float *x = side(&s->xdbl, g), *xz = side(&s->xz, g);
    return (ScanFwd){.y = side(y, g), .u = side(&s->u, g), .delta_pre = side(&s->dp, g),
                     .z = use_z ? xz + s->D : NULL, .z_stride = 2 * s->D,
                     .dt_bias = side(&s->dtb, g), .A_log = side(&s->Alog, g), .Bm = x + s->R,
                     .Cm = x + s->R + s->N, .bc_stride = s->ldx, .Dskip = side(&s->Dsk, g),
                     .ssm_state = state, .saved = saved, .B = s->B, .L = s->L, .D = s->D,
                     .N = s->N};
}

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
    ScanFwd fc = fwd_args(&s, 0, &y, use_z, NULL, sv_c);
    ScanFwd fg = fwd_args(&s, 1, &y, use_z, NULL, sv_g);
    p.cpu->scan_fwd(p.cpu, &fc);
    p.gpu->scan_fwd(p.gpu, &fg);
    report("scan_fwd", "y", sh, err_all(&p, &y));

    Buf dy = buf_rand(&p, (size_t)rows * D, -1, 1);
    Buf du = buf_nan(&p, (size_t)rows * D), ddp = buf_nan(&p, (size_t)rows * D);
    Buf dxdbl = buf_nan(&p, (size_t)rows * ldx), dxz = buf_nan(&p, (size_t)rows * 2 * D);
    Buf dtb = buf_rand(&p, (size_t)D, -1, 1), dAl = buf_rand(&p, (size_t)D * N, -1, 1);
    Buf dD = buf_rand(&p, (size_t)D, -1, 1);
    ScanBwd bwd[2];
    for (int g = 0; g < 2; g++) {
        const ScanFwd *f = g ? &fg : &fc;
        float *dx = side(&dxdbl, g), *dzz = side(&dxz, g);
        bwd[g] = (ScanBwd){.du = side(&du, g), .ddelta_pre = side(&ddp, g),
                           .dz = use_z ? dzz + D : NULL, .dz_stride = 2 * D,
                           .ddt_bias = side(&dtb, g), .dA_log = side(&dAl, g), .dBm = dx + s.R,
                           .dCm = dx + s.R + N, .dbc_stride = ldx, .dDskip = side(&dD, g),
                           .dy = side(&dy, g), .u = f->u, .delta_pre = f->delta_pre, .z = f->z,
                           .z_stride = f->z_stride, .dt_bias = f->dt_bias, .A_log = f->A_log,
                           .Bm = f->Bm, .Cm = f->Cm, .bc_stride = f->bc_stride,
                           .Dskip = f->Dskip, .B = B, .L = L, .D = D, .N = N};
    }
    bwd[0].saved = sv_c;
    bwd[1].saved = gpu_saved ? sv_g : NULL;
    p.cpu->scan_bwd(p.cpu, &bwd[0]);
    p.gpu->scan_bwd(p.gpu, &bwd[1]);
    report("scan_bwd", "du", sh, err_all(&p, &du));
    report("scan_bwd", "ddelta_pre", sh, err_all(&p, &ddp));
    /* dBm, dCm: columns [R, R + 2N) of dxdbl, the dt columns must keep the poison; dz is the
     * second half of dxz, the first must keep it */
    buf_err_cols(&p, &dxdbl, 4, rows, s.R, ldx, ldx, 1);
    report("scan_bwd", "dBm", sh, buf_err_cols(&p, &dxdbl, 4, rows, s.R, s.R + N, ldx, 0));
    report("scan_bwd", "dCm", sh, buf_err_cols(&p, &dxdbl, 4, rows, s.R + N, ldx, ldx, 0));
    if (use_z) report("scan_bwd", "dz", sh, buf_err_cols(&p, &dxz, 4, rows, D, 2 * D, 2 * D, 1));
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

START_TEST(scan_two_channels_a_lane)
{
    check_scan(9, 45, 1024, 16, 4, 1, 1, 64);
    check_scan(9, 21, 1026, 16, 3, 1, 0, 65); /* padded block, no saved states */
    check_scan(9, 20, 2048, 8, 3, 1, 1, 66);
    check_scan(24, 20, 1024, 16, 3, 1, 1, 69); /* over 4 blocks per SM: the 6-blocks-per-SM build */
    check_scan(24, 13, 1024, 16, 3, 0, 1, 70); /* the same without a gate */
    check_scan(9, 19, 512, 32, 3, 0, 1, 67);
    if (!quick()) check_scan(9, 10, 4096, 4, 2, 1, 1, 68);
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
    check_scan(2, 29, 300, 4, 2, 1, 1, 63);
}
END_TEST

/* A state size the CUDA scan is not built for is refused when the model is made, in one line
 * naming it, never inside a kernel. */
START_TEST(scan_unbuilt_state_size_refused)
{
    Backend *gpu = backend_cuda_create(0);
    ck_assert_ptr_nonnull(gpu);
    ck_assert(gpu->d_state_ok(gpu, 16) && !gpu->d_state_ok(gpu, 12) && !gpu->d_state_ok(gpu, 64));
    ModelConfig cfg;
    config_default(&cfg, 32, 1);
    cfg.state_size = 12;
    gm_expect_refused(gpu, &cfg, "state_size 12 is not supported by the cuda backend");
    gpu->destroy(gpu);
}
END_TEST

/* The host copy of one GPU buffer's n bytes. */
static void *grab(Backend *g, const void *dev, size_t n)
{
    void *h = malloc(n);
    g->download(g, h, dev, n);
    return h;
}

/* Ten backward runs on the same inputs give the same bits in every output: the sums over
 * channels and sequences run in a fixed order (several clusters, several sequences). */
static void check_bwd_deterministic(int bf, int B, int L, int D)
{
    Pair p;
    pair_open(&p, 70 + bf);
    Backend *g = p.gpu;
    const int N = 16, R = 4, rows = B * L, ldx = R + 2 * N;
    const size_t eb = bf ? 2 : 4, act = (size_t)rows * D;
    /* activations in the storage type: u, delta_pre, dy, xz */
    void *u = g->alloc(g, act * eb), *dp = g->alloc(g, act * eb), *dy = g->alloc(g, act * eb);
    void *xz = g->alloc(g, 2 * act * eb), *du = g->alloc(g, act * eb), *ddp = g->alloc(g, act * eb);
    void *dxz = g->alloc(g, 2 * act * eb);
    void *acts[] = {u, dp, dy, xz};
    const size_t acts_n[] = {act, act, act, 2 * act};
    for (int i = 0; i < 4; i++) {
        float *h = malloc(acts_n[i] * sizeof(float));
        for (size_t j = 0; j < acts_n[i]; j++) h[j] = tu_uniform(&p.rng, -2, 1);
        if (bf)
            for (size_t j = 0; j < acts_n[i]; j++) ((bf16 *)h)[j] = bf16_from_f32(h[j]);
        g->upload(g, acts[i], h, acts_n[i] * eb);
        free(h);
    }
    Buf xdbl = buf_rand(&p, (size_t)rows * ldx, -1, 1), dtb = buf_rand(&p, D, -3, -1);
    Buf Alog = buf_rand(&p, (size_t)D * N, 0, 2.7f), Dsk = buf_rand(&p, D, 0.5f, 1.5f);
    Buf dxdbl = buf_nan(&p, (size_t)rows * ldx), gdtb = buf_rand(&p, D, -1, 1);
    Buf gA = buf_rand(&p, (size_t)D * N, -1, 1), gD = buf_rand(&p, D, -1, 1);
    size_t sb = g->scan_saved_bytes(g, B, L, D, N);
    void *sv = g->alloc(g, sb);
    float *xg = xdbl.g;
    ScanFwd f = {.bf16 = bf, .u = u, .delta_pre = dp, .z = (char *)xz + D * eb, .z_stride = 2 * D,
                 .dt_bias = dtb.g, .A_log = Alog.g, .Bm = xg + R, .Cm = xg + R + N, .bc_stride = ldx,
                 .Dskip = Dsk.g, .saved = sv, .B = B, .L = L, .D = D, .N = N};
    g->scan_fwd(g, &f);
    float *dx = dxdbl.g;
    ScanBwd a = {.bf16 = bf, .du = du, .ddelta_pre = ddp, .dz = (char *)dxz + D * eb,
                 .dz_stride = 2 * D, .ddt_bias = gdtb.g, .dA_log = gA.g, .dBm = dx + R,
                 .dCm = dx + R + N, .dbc_stride = ldx, .dDskip = gD.g, .dy = dy, .u = u,
                 .delta_pre = dp, .z = f.z, .z_stride = 2 * D, .dt_bias = dtb.g, .A_log = Alog.g,
                 .Bm = f.Bm, .Cm = f.Cm, .bc_stride = ldx, .Dskip = Dsk.g, .saved = sv, .B = B,
                 .L = L, .D = D, .N = N};
    const void *outs[] = {du, ddp, dxz, dxdbl.g, gdtb.g, gA.g, gD.g};
    const size_t outs_n[] = {act * eb, act * eb, 2 * act * eb, dxdbl.n, gdtb.n, gA.n, gD.n};
    void *first[7] = {0};
    int differ = 0;
    for (int run = 0; run < 10; run++) {
        /* the parameter gradients accumulate: start each run from the same values */
        buf_push(&p, &gdtb), buf_push(&p, &gA), buf_push(&p, &gD);
        g->scan_bwd(g, &a);
        for (int i = 0; i < 7; i++) {
            void *h = grab(g, outs[i], outs_n[i]);
            if (!run)
                first[i] = h;
            else {
                differ += memcmp(h, first[i], outs_n[i]) != 0;
                free(h);
            }
        }
    }
    printf("scan_bwd%s B=%d L=%d D=%d: 10 runs, %d of 63 later outputs differ from the first "
           "run's bits\n", bf ? "_bf16" : "", B, L, D, differ);
    ck_assert_int_eq(differ, 0);
    for (int i = 0; i < 7; i++) free(first[i]);
    void *gbufs[] = {u, dp, dy, xz, du, ddp, dxz, sv};
    for (int i = 0; i < 8; i++) g->free(g, gbufs[i]);
    buf_free(&p, &xdbl), buf_free(&p, &dtb), buf_free(&p, &Alog), buf_free(&p, &Dsk);
    buf_free(&p, &dxdbl), buf_free(&p, &gdtb), buf_free(&p, &gA), buf_free(&p, &gD);
    pair_close(&p);
}

START_TEST(scan_bwd_deterministic)
{
    for (int bf = 0; bf < 2; bf++) {
        check_bwd_deterministic(bf, 3, 203, 520);  /* one channel a lane */
        check_bwd_deterministic(bf, 9, 77, 1024);  /* two */
        check_bwd_deterministic(bf, 24, 21, 1024); /* two, over 4 blocks per SM */
    }
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
    ScanFwd fg = fwd_args(&s, 1, &y, 1, st.g, NULL);
    p.gpu->scan_fwd(p.gpu, &fg);
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
        for (int g = 1; g >= 0; g--) { /* the GPU, then the CPU */
            float *x = side(&x1, g), *z = side(&z1, g);
            ScanFwd f = {.y = side(&y1, g), .u = side(&u1, g), .delta_pre = side(&dp1, g),
                         .z = z + D, .z_stride = 2 * D, .dt_bias = side(&s.dtb, g),
                         .A_log = side(&s.Alog, g), .Bm = x + R, .Cm = x + R + N,
                         .bc_stride = ldx, .Dskip = side(&s.Dsk, g), .ssm_state = side(&st, g),
                         .saved = NULL, .B = B, .L = 1, .D = D, .N = N};
            Backend *be = g ? p.gpu : p.cpu;
            be->scan_fwd(be, &f);
        }
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

int main(void)
{
    Suite *s = suite_create("scan_gpu");
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, scan_short);
    tcase_add_test(tc, scan_chunks);
    tcase_add_test(tc, scan_two_channels_a_lane);
    tcase_add_test(tc, scan_long);
    tcase_add_test(tc, scan_other_state_sizes);
    tcase_add_test(tc, scan_unbuilt_state_size_refused);
    tcase_add_test(tc, scan_bwd_deterministic);
    tcase_add_test(tc, scan_state_chaining);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

#else

int main(void)
{
    fprintf(stderr, "test_scan_gpu: built without CUDA\n");
    return 77;
}

#endif
