/* Every op of the CPU backend gives bitwise identical results with 1, 2 and 3 threads: the
 * reductions are split by tensor size, never by thread count, and summed in a fixed order;
 * matmuls run as fixed tiles. And two runs with the same thread count agree exactly. */
#include "tests/test_ops_util.h"

enum { B = 2, L = 67, D = 70, N = 16, K = 4, C = 45, R = 5, V = 256 };
#define ROWS (B * L)
#define LDX (R + 2 * N)

typedef struct {
    uint8_t ids[ROWS];
    float *table, *x, *w_norm, *w_mm, *xz, *conv_w, *conv_b, *u, *dp, *dtb, *Alog, *xdbl, *Dsk;
    float *logits, *g, *dy, *big;
} Inputs;

/* All outputs, in one list so they can be compared in a loop. */
enum { O_EMB, O_DTABLE, O_NORM, O_RSTD, O_DX, O_DWN, O_MM, O_DMMI, O_DMMW, O_CONV, O_CSTATE,
       O_DCONV, O_DCW, O_DCB, O_Y, O_SSTATE, O_DU, O_DDP, O_DTB, O_DAL, O_DXDBL, O_DD, O_DXZ,
       O_LOSS, O_DLOG, O_P, O_M, O_V, O_COUNT };
static const size_t OUT_SIZE[O_COUNT] = {
    [O_EMB] = ROWS * C,   [O_DTABLE] = 256 * C,  [O_NORM] = ROWS * C,     [O_RSTD] = ROWS,
    [O_DX] = ROWS * C,    [O_DWN] = C,           [O_MM] = ROWS * D,       [O_DMMI] = ROWS * C,
    [O_DMMW] = D * C,     [O_CONV] = ROWS * D,   [O_CSTATE] = B * D * (K - 1),
    [O_DCONV] = ROWS * D, [O_DCW] = D * K,       [O_DCB] = D,             [O_Y] = ROWS * D,
    [O_SSTATE] = B * D * N, [O_DU] = ROWS * D,   [O_DDP] = ROWS * D,      [O_DTB] = D,
    [O_DAL] = D * N,      [O_DXDBL] = ROWS * LDX, [O_DD] = D,             [O_DXZ] = ROWS * 2 * D,
    [O_LOSS] = ROWS,      [O_DLOG] = ROWS * V,   [O_P] = 100003,          [O_M] = 100003,
    [O_V] = 100003,
};

static void inputs_make(Inputs *in, uint64_t *rng)
{
    for (int r = 0; r < ROWS; r++) in->ids[r] = (uint8_t)(tu_next(rng) % 7); /* many repeats */
    in->table = ops_frand(256 * C, rng, -1, 1);
    in->x = ops_frand(ROWS * C, rng, -2, 2);
    in->w_norm = ops_frand(C, rng, 0.5f, 1.5f);
    in->w_mm = ops_frand(D * C, rng, -1, 1);
    in->xz = ops_frand(ROWS * 2 * D, rng, -2, 2);
    in->conv_w = ops_frand(D * K, rng, -1, 1);
    in->conv_b = ops_frand(D, rng, -1, 1);
    in->u = ops_frand(ROWS * D, rng, -1, 1);
    in->dp = ops_frand(ROWS * D, rng, -3, 1);
    in->dtb = ops_frand(D, rng, -1, 0.5f);
    in->Alog = ops_frand(D * N, rng, 0, 2.5f);
    in->xdbl = ops_frand(ROWS * LDX, rng, -1, 1);
    in->Dsk = ops_frand(D, rng, 0.5f, 1.5f);
    in->logits = ops_frand(ROWS * V, rng, -5, 5);
    in->g = ops_frand(ROWS * 2 * D, rng, -1, 1);
    in->dy = ops_frand(ROWS * D, rng, -1, 1);
    in->big = ops_frand(OUT_SIZE[O_P], rng, -1, 1);
}

static void inputs_free(Inputs *in)
{
    free(in->table), free(in->x), free(in->w_norm), free(in->w_mm), free(in->xz);
    free(in->conv_w), free(in->conv_b), free(in->u), free(in->dp), free(in->dtb), free(in->Alog);
    free(in->xdbl), free(in->Dsk), free(in->logits), free(in->g), free(in->dy), free(in->big);
}

static void run_all(Backend *be, const Inputs *in, float **o)
{
    for (int i = 0; i < O_COUNT; i++) memset(o[i], 0, OUT_SIZE[i] * sizeof(float));
    const uint8_t *tg = in->ids;
    be->embedding_fwd(be, o[O_EMB], in->ids, in->table, ROWS, C);
    be->embedding_bwd(be, o[O_DTABLE], in->x, in->ids, ROWS, C);
    be->rmsnorm_fwd(be, o[O_NORM], o[O_RSTD], in->x, in->w_norm, ROWS, C, 1e-5f);
    be->rmsnorm_bwd(be, o[O_DX], o[O_DWN], in->g, in->x, in->w_norm, o[O_RSTD], ROWS, C);
    be->matmul_fwd(be, o[O_MM], D, in->x, C, in->w_mm, ROWS, C, D, 0);
    be->matmul_bwd(be, o[O_DMMI], C, o[O_DMMW], in->dy, D, in->x, C, in->w_mm, ROWS, C, D, 0);
    memcpy(o[O_CSTATE], in->g, OUT_SIZE[O_CSTATE] * sizeof(float));
    be->conv1d_fwd(be, o[O_CONV], in->xz, 2 * D, in->conv_w, in->conv_b, o[O_CSTATE], B, L, D, K);
    be->conv1d_bwd(be, o[O_DCONV], D, o[O_DCW], o[O_DCB], in->dy, in->xz, 2 * D, in->conv_w,
                   in->conv_b, B, L, D, K);
    memcpy(o[O_SSTATE], in->g, OUT_SIZE[O_SSTATE] * sizeof(float));
    ScanFwd sf = {.y = o[O_Y], .u = in->u, .delta_pre = in->dp, .z = in->xz + D,
                  .z_stride = 2 * D, .dt_bias = in->dtb, .A_log = in->Alog, .Bm = in->xdbl + R,
                  .Cm = in->xdbl + R + N, .bc_stride = LDX, .Dskip = in->Dsk,
                  .ssm_state = o[O_SSTATE], .saved = NULL, .B = B, .L = L, .D = D, .N = N};
    be->scan_fwd(be, &sf);
    ScanBwd sb = {.du = o[O_DU], .ddelta_pre = o[O_DDP], .dz = o[O_DXZ] + D, .dz_stride = 2 * D,
                  .ddt_bias = o[O_DTB], .dA_log = o[O_DAL], .dBm = o[O_DXDBL] + R,
                  .dCm = o[O_DXDBL] + R + N, .dbc_stride = LDX, .dDskip = o[O_DD], .dy = in->dy,
                  .u = in->u, .delta_pre = in->dp, .z = in->xz + D, .z_stride = 2 * D,
                  .dt_bias = in->dtb, .A_log = in->Alog, .Bm = in->xdbl + R,
                  .Cm = in->xdbl + R + N, .bc_stride = LDX, .Dskip = in->Dsk, .saved = NULL,
                  .B = B, .L = L, .D = D, .N = N};
    be->scan_bwd(be, &sb);
    be->cross_entropy(be, o[O_LOSS], o[O_DLOG], in->logits, tg, ROWS, V, 0.1f);
    memcpy(o[O_P], in->big, OUT_SIZE[O_P] * sizeof(float));
    for (int t = 1; t <= 3; t++)
        be->adamw(be, o[O_P], in->big, o[O_M], o[O_V], OUT_SIZE[O_P], 1e-3f, 0.9f, 0.95f, 1e-8f,
                  0.1f, 0.7f, t);
}

START_TEST(identical_across_thread_counts)
{
    uint64_t rng = 81;
    Inputs in;
    inputs_make(&in, &rng);
    float *ref[O_COUNT], *got[O_COUNT];
    for (int i = 0; i < O_COUNT; i++) ref[i] = ops_falloc(OUT_SIZE[i]), got[i] = ops_falloc(OUT_SIZE[i]);
    Backend *be1 = backend_cpu_create(1);
    run_all(be1, &in, ref);
    double ss1 = be1->sumsq(be1, in.big, OUT_SIZE[O_P]);
    for (int th = 2; th <= 3; th++) {
        Backend *be = backend_cpu_create(th);
        run_all(be, &in, got);
        int differ = 0;
        for (int i = 0; i < O_COUNT; i++)
            if (memcmp(ref[i], got[i], OUT_SIZE[i] * sizeof(float))) {
                printf("  output %d differs between 1 and %d threads\n", i, th);
                differ = 1;
            }
        double ss = be->sumsq(be, in.big, OUT_SIZE[O_P]);
        printf("  %d op outputs and sumsq with %d threads: %s\n", O_COUNT, th,
               differ || ss != ss1 ? "DIFFER" : "identical to 1 thread");
        fflush(stdout);
        ck_assert_int_eq(differ, 0);
        ck_assert(ss == ss1);
        be->destroy(be);
    }
    be1->destroy(be1);
    for (int i = 0; i < O_COUNT; i++) free(ref[i]), free(got[i]);
    inputs_free(&in);
}
END_TEST

/* Two runs with the same thread count agree on everything. */
START_TEST(repeatable_for_a_thread_count)
{
    uint64_t rng = 82;
    Inputs in;
    inputs_make(&in, &rng);
    float *a[O_COUNT], *b[O_COUNT];
    for (int i = 0; i < O_COUNT; i++) a[i] = ops_falloc(OUT_SIZE[i]), b[i] = ops_falloc(OUT_SIZE[i]);
    for (int th = 1; th <= 3; th++) {
        Backend *be = backend_cpu_create(th);
        run_all(be, &in, a);
        run_all(be, &in, b);
        for (int i = 0; i < O_COUNT; i++)
            ck_assert_msg(!memcmp(a[i], b[i], OUT_SIZE[i] * sizeof(float)),
                          "output %d differs between two runs with %d threads", i, th);
        printf("  all %d outputs repeat exactly with %d threads\n", O_COUNT, th);
        fflush(stdout);
        be->destroy(be);
    }
    for (int i = 0; i < O_COUNT; i++) free(a[i]), free(b[i]);
    inputs_free(&in);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, identical_across_thread_counts);
    tcase_add_test(tc, repeatable_for_a_thread_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
