/* `bytelm bench kernels`: each CUDA kernel's time against its limit on this GPU.
 *
 * The two ceilings are measured or derived in the same run: memory bandwidth from a large
 * device-to-device copy (bytes read + written), the exponential rate from SM count x clock x 16
 * SFU results per clock per SM, the fp32 rate from SM count x clock x 128 FMA lanes. A kernel's
 * limit is max(bytes / bandwidth, exps / exp rate) (fp32 flops / fp32 rate for matmuls) with
 * bytes = every tensor the op must read or write once; frac = limit / measured time. Times are
 * the median of --reps runs (CUDA events) after two warm-up runs, on inputs of several GB (far
 * larger than the L2), drawn at random. */
#include <algorithm>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#ifndef BYTELM_CUDA
#define BYTELM_CUDA 1 /* this file is the CUDA build: declare backend_cuda_create */
#endif
extern "C" {
#include "byte_lm/model/backend.h"
}
#include "byte_lm/cli/bench_kernels.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/cli/commands.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/scan_args.h"

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm bench kernels [options]\n"
               "\n"
               "Times every CUDA kernel (median of --reps runs after two warm-ups) and prints it against\n"
               "its limit: max(bytes / copy bandwidth, exponentials / SFU rate), both ceilings measured or\n"
               "derived in the same run; frac = limit / time. The selective scan runs at the shapes\n"
               "(batch, d_inner, L, N) = (8, 2048, 8192, 16), (16, 1536, 4096, 16), (4, 3584, 8192, 16)\n"
               "and (2, 2048, 8192, 16) (one channel a lane), forward, backward and both, with fp32\n"
               "and with bf16 activations. Needs a CUDA GPU.\n"
               "\n");
    cli_print_options(f, rows, 0, 19);
}

struct Bench {
    CudaCtx *c;
    Backend *be;
    cudaEvent_t e0, e1;
    int reps;
    bool json;
    double copy_bw;   /* bytes/s, read + written */
    double exp_rate;  /* exponentials/s */
    double fp32_rate; /* flop/s */
};

/* uniform in [lo, hi) from a hash of the index: reproducible, no host transfer */
__global__ void bench_fill_kernel(float *p, size_t n, unsigned long long seed, float lo, float hi)
{
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        unsigned long long z = (i + 1) * 0x9E3779B97F4A7C15ull + seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        p[i] = lo + (hi - lo) * (float)((z >> 40) * (1.0 / 16777216.0));
    }
}

__global__ void bench_fill_bytes_kernel(uint8_t *p, size_t n, unsigned long long seed)
{
    for (size_t i = bl_gtid(); i < n; i += bl_gstride())
        p[i] = (uint8_t)(((i + 1) * 0x9E3779B97F4A7C15ull + seed) >> 56);
}

static float *dev_rand(Bench &b, size_t n, float lo, float hi, unsigned long long seed)
{
    float *p = (float *)b.be->alloc(b.be, n * sizeof(float));
    bench_fill_kernel<<<b.c->num_sms * 8, 256, 0, b.c->stream>>>(p, n, seed, lo, hi);
    CUDA_LAUNCH_CHECK();
    return p;
}

static uint8_t *dev_bytes(Bench &b, size_t n, unsigned long long seed)
{
    uint8_t *p = (uint8_t *)b.be->alloc(b.be, n);
    bench_fill_bytes_kernel<<<b.c->num_sms * 8, 256, 0, b.c->stream>>>(p, n, seed);
    CUDA_LAUNCH_CHECK();
    return p;
}

/* median milliseconds of b.reps runs of fn, after two warm-up runs */
template <typename F> static double time_ms(Bench &b, F &&fn)
{
    for (int i = 0; i < 2; i++) fn();
    CUDA_CHECK(cudaStreamSynchronize(b.c->stream));
    std::vector<float> ts;
    for (int i = 0; i < b.reps; i++) {
        CUDA_CHECK(cudaEventRecord(b.e0, b.c->stream));
        fn();
        CUDA_CHECK(cudaEventRecord(b.e1, b.c->stream));
        CUDA_CHECK(cudaEventSynchronize(b.e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, b.e0, b.e1));
        ts.push_back(ms);
    }
    std::sort(ts.begin(), ts.end());
    return ts[ts.size() / 2];
}

static void header(Bench &b)
{
    if (b.json) return;
    printf("%-16s %-30s %9s %9s %8s %9s %6s\n", "kernel", "shape", "time ms", "bytes GB", "exps G",
           "limit ms", "frac");
}

/* one result row; flops > 0 makes the limit arithmetic (fp32) instead */
static void row(Bench &b, const char *kernel, const char *shape, double ms, double bytes,
                double exps, double flops = 0)
{
    double lim = flops > 0 ? flops / b.fp32_rate
                           : std::max(bytes / b.copy_bw, exps / b.exp_rate);
    lim *= 1e3;
    if (b.json)
        printf("{\"kernel\":\"%s\",\"shape\":\"%s\",\"ms\":%.5f,\"bytes\":%.0f,\"exps\":%.0f,"
               "\"flops\":%.0f,\"limit_ms\":%.5f,\"frac\":%.4f}\n",
               kernel, shape, ms, bytes, exps, flops, lim, lim / ms);
    else
        printf("%-16s %-30s %9.3f %9.3f %8.3f %9.3f %6.2f%s\n", kernel, shape, ms, bytes / 1e9,
               exps / 1e9, lim, lim / ms, flops > 0 ? "  (of fp32 peak)" : "");
    fflush(stdout);
}

/* ---- selective scan ---- */

/* A bf16 copy of a [rows, cols] fp32 matrix (the source is freed). */
static __nv_bfloat16 *to_bf16(Bench &b, float *src, size_t rows, int cols)
{
    __nv_bfloat16 *p = (__nv_bfloat16 *)b.be->alloc(b.be, rows * cols * sizeof(__nv_bfloat16));
    cuda_cast_bf16(b.c, p, cols, src, cols, (int)rows, cols);
    b.be->free(b.be, src);
    return p;
}

/* Forward, backward and both at one shape; bf16: u, delta_pre, z, y and their gradients are
 * bf16 (2 bytes each in the counted traffic), as the mixed-precision training step runs it. */
static void bench_scan(Bench &b, int B, int D, int L, int N, bool bf16)
{
    CudaCtx *c = b.c;
    const size_t rows = (size_t)B * L, el = rows * D;
    void *act[8];
    const float ranges[8][2] = {{-1, 1}, {-1, 1}, {-2, 2}, {-1, 1}, {0, 0}, {0, 0}, {0, 0}, {0, 0}};
    for (int i = 0; i < 8; i++) {
        float *f = dev_rand(b, el, ranges[i][0], ranges[i][1], (unsigned long long)i + 1);
        act[i] = bf16 ? (void *)to_bf16(b, f, rows, D) : (void *)f;
    }
    void *u = act[0], *dp = act[1], *z = act[2], *dy = act[3], *y = act[4], *du = act[5];
    void *ddp = act[6], *dz = act[7];
    float *bc = dev_rand(b, rows * 2 * N, -1, 1, 5);
    float *dbc = dev_rand(b, rows * 2 * N, 0, 0, 0);
    float *dtb = dev_rand(b, D, -6, -2, 6), *Dsk = dev_rand(b, D, 0.5f, 1.5f, 7);
    float *Alog = dev_rand(b, (size_t)D * N, 0, 2.7f, 8);
    float *g_dtb = dev_rand(b, D, 0, 0, 0), *g_A = dev_rand(b, (size_t)D * N, 0, 0, 0);
    float *g_D = dev_rand(b, D, 0, 0, 0);
    size_t sb = cuda_scan_saved_bytes(B, L, D, N);
    void *saved = b.be->alloc(b.be, sb);

    ScanFwd f = {};
    f.bf16 = bf16, f.y = y, f.u = u, f.delta_pre = dp, f.z = z, f.z_stride = D;
    f.dt_bias = dtb, f.A_log = Alog, f.Bm = bc, f.Cm = bc + N, f.bc_stride = 2 * N;
    f.Dskip = Dsk, f.saved = saved, f.B = B, f.L = L, f.D = D, f.N = N;
    ScanBwd g = {};
    g.bf16 = bf16, g.du = du, g.ddelta_pre = ddp, g.dz = dz, g.dz_stride = D;
    g.ddt_bias = g_dtb, g.dA_log = g_A, g.dBm = dbc, g.dCm = dbc + N, g.dbc_stride = 2 * N;
    g.dDskip = g_D, g.dy = dy, g.u = u, g.delta_pre = dp, g.z = z, g.z_stride = D;
    g.dt_bias = dtb, g.A_log = Alog, g.Bm = bc, g.Cm = bc + N, g.bc_stride = 2 * N;
    g.Dskip = Dsk, g.saved = saved, g.B = B, g.L = L, g.D = D, g.N = N;
    auto fwd = [&] { cuda_scan_fwd(c, &f); };
    auto bwd = [&] { cuda_scan_bwd(c, &g); };
    fwd();
    bwd(); /* sizes the scratch before timing */
    double t_f = time_ms(b, fwd), t_b = time_ms(b, bwd);
    double t_fb = time_ms(b, [&] {
        fwd();
        bwd();
    });

    const double eb = bf16 ? 2.0 : 4.0, bcb = (double)rows * 2 * N * 4;
    const double by_f = el * 4 * eb + bcb + sb, by_b = el * 7 * eb + 2 * bcb + sb;
    const double ex = (double)el * (N + 2);
    char sh[64];
    snprintf(sh, sizeof sh, "B=%d D=%d L=%d N=%d %s", B, D, L, N, bf16 ? "bf16" : "fp32");
    row(b, "scan fwd", sh, t_f, by_f, ex);
    row(b, "scan bwd", sh, t_b, by_b, ex);
    row(b, "scan fwd+bwd", sh, t_fb, by_f + by_b, 2 * ex);

    for (void *p : act) b.be->free(b.be, p);
    float *bufs[] = {bc, dbc, dtb, Dsk, Alog, g_dtb, g_A, g_D};
    for (float *p : bufs) b.be->free(b.be, p);
    b.be->free(b.be, saved);
}

/* ---- the other kernels, at the 353M model's shapes (d_model 1024, d_inner 2048) ---- */

static void bench_others(Bench &b, bool quick)
{
    CudaCtx *c = b.c;
    const int Bt = quick ? 2 : 8, L = quick ? 2048 : 8192, C = 1024, Di = 2048, K = 4;
    const size_t rows = (size_t)Bt * L;
    char sh[64];

    { /* rmsnorm */
        float *x = dev_rand(b, rows * C, -2, 2, 11), *w = dev_rand(b, C, 0.5f, 1.5f, 12);
        float *o = dev_rand(b, rows * C, 0, 0, 0), *rs = dev_rand(b, rows, 0, 0, 0);
        float *g = dev_rand(b, rows * C, -1, 1, 13), *dx = dev_rand(b, rows * C, 0, 0, 0);
        float *dw = dev_rand(b, C, 0, 0, 0);
        snprintf(sh, sizeof sh, "rows=%zu C=%d", rows, C);
        double t = time_ms(b, [&] { cuda_rmsnorm_fwd(c, o, rs, x, w, (int)rows, C, 1e-5f); });
        row(b, "rmsnorm fwd", sh, t, rows * C * 8.0 + rows * 4.0, 0);
        t = time_ms(b, [&] { cuda_rmsnorm_bwd(c, dx, dw, g, x, w, rs, (int)rows, C); });
        row(b, "rmsnorm bwd", sh, t, rows * C * 16.0 + rows * 4.0, 0);
        float *bufs[] = {x, w, o, rs, g, dx, dw};
        for (float *p : bufs) b.be->free(b.be, p);
    }
    { /* conv1d on the u half of xz [rows, 2 Di] */
        float *xz = dev_rand(b, rows * 2 * Di, -2, 2, 21), *w = dev_rand(b, (size_t)Di * K, -1, 1, 22);
        float *bias = dev_rand(b, Di, -1, 1, 23), *o = dev_rand(b, rows * Di, 0, 0, 0);
        float *g = dev_rand(b, rows * Di, -1, 1, 24), *dxz = dev_rand(b, rows * 2 * Di, 0, 0, 0);
        float *dw = dev_rand(b, (size_t)Di * K, 0, 0, 0), *db = dev_rand(b, Di, 0, 0, 0);
        snprintf(sh, sizeof sh, "B=%d L=%d D=%d K=%d", Bt, L, Di, K);
        double t = time_ms(b, [&] { cuda_conv1d_fwd(c, o, xz, 2 * Di, w, bias, NULL, Bt, L, Di, K); });
        row(b, "conv1d fwd", sh, t, rows * Di * 8.0, 0);
        t = time_ms(b, [&] {
            cuda_conv1d_bwd(c, dxz, 2 * Di, dw, db, g, xz, 2 * Di, w, bias, Bt, L, Di, K);
        });
        row(b, "conv1d bwd", sh, t, rows * Di * 12.0, 0);
        /* the bf16 training step's: bf16 activations, fp32 weights and sums */
        __nv_bfloat16 *xz_h = to_bf16(b, xz, rows, 2 * Di), *o_h = to_bf16(b, o, rows, Di);
        __nv_bfloat16 *g_h = to_bf16(b, g, rows, Di), *dxz_h = to_bf16(b, dxz, rows, 2 * Di);
        snprintf(sh, sizeof sh, "B=%d L=%d D=%d K=%d bf16", Bt, L, Di, K);
        t = time_ms(b, [&] { cuda_conv1d_fwd_bf16(c, o_h, xz_h, 2 * Di, w, bias, NULL, Bt, L, Di, K); });
        row(b, "conv1d fwd", sh, t, rows * Di * 4.0, 0);
        t = time_ms(b, [&] {
            cuda_conv1d_bwd_bf16(c, dxz_h, 2 * Di, dw, db, g_h, xz_h, 2 * Di, w, bias, Bt, L, Di, K);
        });
        row(b, "conv1d bwd", sh, t, rows * Di * 6.0, 0);
        void *bufs[] = {xz_h, o_h, g_h, dxz_h, w, bias, dw, db};
        for (void *p : bufs) b.be->free(b.be, p);
    }
    { /* embedding */
        uint8_t *ids = dev_bytes(b, rows, 31);
        float *tab = dev_rand(b, (size_t)256 * C, -1, 1, 32), *o = dev_rand(b, rows * C, 0, 0, 0);
        float *g = dev_rand(b, rows * C, -1, 1, 33), *dt = dev_rand(b, (size_t)256 * C, 0, 0, 0);
        snprintf(sh, sizeof sh, "rows=%zu C=%d", rows, C);
        double t = time_ms(b, [&] { cuda_embedding_fwd(c, o, ids, tab, (int)rows, C); });
        row(b, "embedding fwd", sh, t, rows * C * 4.0 + rows, 0);
        t = time_ms(b, [&] { cuda_embedding_bwd(c, dt, g, ids, (int)rows, C); });
        row(b, "embedding bwd", sh, t, rows * C * 4.0 + rows, 0);
        float *bufs[] = {tab, o, g, dt};
        for (float *p : bufs) b.be->free(b.be, p);
        b.be->free(b.be, ids);
    }
    { /* cross-entropy over 256 bytes, dlogits in place */
        const size_t r = rows * 4;
        float *lg = dev_rand(b, r * 256, -4, 4, 41), *ls = dev_rand(b, r, 0, 0, 0);
        uint8_t *tg = dev_bytes(b, r, 42);
        snprintf(sh, sizeof sh, "rows=%zu V=256", r);
        double t = time_ms(b, [&] { cuda_cross_entropy(c, ls, lg, lg, tg, (int)r, 256, 1.0f / r); });
        row(b, "cross_entropy", sh, t, r * 256 * 8.0 + r * 5.0, 0);
        b.be->free(b.be, lg), b.be->free(b.be, ls), b.be->free(b.be, tg);
    }
    { /* optimizer and grad norm */
        const size_t n = quick ? ((size_t)1 << 24) : ((size_t)1 << 28);
        float *p = dev_rand(b, n, -1, 1, 51), *g = dev_rand(b, n, -1, 1, 52);
        float *m = dev_rand(b, n, -0.1f, 0.1f, 53), *v = dev_rand(b, n, 0, 0.01f, 54);
        snprintf(sh, sizeof sh, "n=%zu", n);
        int step = 1;
        double t = time_ms(b, [&] {
            cuda_adamw(c, p, NULL, g, m, v, n, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, step++);
        });
        row(b, "adamw", sh, t, n * 28.0, 0);
        t = time_ms(b, [&] { cuda_sumsq(c, g, n); });
        row(b, "sumsq", sh, t, n * 4.0, 0);
        float *bufs[] = {p, g, m, v};
        for (float *q : bufs) b.be->free(b.be, q);
    }
    { /* in_proj-sized matmul: [rows, 1024] x [4096, 1024]^T */
        const int M = (int)(quick ? rows : rows / 2), Kd = C, N = 2 * Di;
        float *x = dev_rand(b, (size_t)M * Kd, -1, 1, 61), *w = dev_rand(b, (size_t)N * Kd, -1, 1, 62);
        float *o = dev_rand(b, (size_t)M * N, 0, 0, 0), *dx = dev_rand(b, (size_t)M * Kd, 0, 0, 0);
        float *dw = dev_rand(b, (size_t)N * Kd, 0, 0, 0);
        snprintf(sh, sizeof sh, "M=%d K=%d N=%d", M, Kd, N);
        const double fl = 2.0 * M * Kd * N;
        double t = time_ms(b, [&] { cuda_matmul_fwd(c, o, N, x, Kd, w, M, Kd, N, 0); });
        row(b, "matmul fwd", sh, t, 0, 0, fl);
        t = time_ms(b, [&] { cuda_matmul_bwd(c, dx, Kd, dw, o, N, x, Kd, w, M, Kd, N, 0); });
        row(b, "matmul bwd", sh, t, 0, 0, 2 * fl);
        float *bufs[] = {x, w, o, dx, dw};
        for (float *q : bufs) b.be->free(b.be, q);
    }
}

/* bytes read + written per second by a 1 GiB device-to-device copy */
static double measure_copy(Bench &b)
{
    const size_t n = (size_t)1 << 30;
    void *src = b.be->alloc(b.be, n), *dst = b.be->alloc(b.be, n);
    CUDA_CHECK(cudaMemsetAsync(src, 1, n, b.c->stream));
    double t = time_ms(b, [&] {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, b.c->stream));
    });
    b.be->free(b.be, src);
    b.be->free(b.be, dst);
    return 2.0 * n / (t * 1e-3);
}

/* --only: which group of kernels */
static int parse_only(const CliOpt *o, const char *cmd, const char *arg)
{
    if (strcmp(arg, "scan") && strcmp(arg, "other"))
        return cmd_usage_error(cmd, "--only takes scan or other");
    *(const char **)o->to = arg;
    return 0;
}

extern "C" int bench_kernels(int argc, char **argv)
{
    int reps = 20, json = 0, quick = 0;
    const char *only = NULL, *precision = NULL;
    const char *C = "bench kernels";
    const CliOpt rows[] = {
        {"reps", 0, CLI_INT, &reps, 1, 1000000, .arg = "N", .help = "timed runs of each kernel (default 20)"},
        {"quick", 0, CLI_FLAG, &quick, .help = "one small scan shape and the 353m shapes at B = 2, L = 2048"},
        {"precision", 0, CLI_PRECISION, &precision, .arg = "P",
         .help = "fp32 or bf16: the scan in that one only (default both)"},
        {"only", 0, CLI_CALL, &only, .parse = parse_only, .arg = "WHAT",
         .help = "scan or other: only the selective scan, or only the rest"},
        {"json", 0, CLI_FLAG, &json, .help = "one JSON object per line"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int st = cli_parse_options(C, rows, NULL, argc, argv);
    if (st == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (st) return st;
    if ((st = cli_no_positionals(C, optind, argc, argv))) return st;
    const int prec = !precision ? -1 : !strcmp(precision, "bf16"); /* -1: both */
    Backend *be = backend_cuda_create(0);
    if (!be) {
        fprintf(stderr, "bytelm: bench kernels needs a CUDA GPU\n");
        return 1;
    }
    Bench b = {};
    b.be = be;
    b.c = (CudaCtx *)be->ctx;
    b.reps = reps;
    b.json = json;
    CUDA_CHECK(cudaEventCreate(&b.e0));
    CUDA_CHECK(cudaEventCreate(&b.e1));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, b.c->device));
    int clock_khz = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, b.c->device));
    b.copy_bw = measure_copy(b);
    b.exp_rate = (double)prop.multiProcessorCount * clock_khz * 1e3 * 16;
    b.fp32_rate = (double)prop.multiProcessorCount * clock_khz * 1e3 * 128 * 2;
    if (json)
        printf("{\"device\":\"%s\",\"sms\":%d,\"clock_mhz\":%.0f,\"copy_gbps\":%.1f,"
               "\"exp_rate_g\":%.1f,\"fp32_tflops\":%.1f}\n",
               prop.name, prop.multiProcessorCount, clock_khz / 1e3, b.copy_bw / 1e9,
               b.exp_rate / 1e9, b.fp32_rate / 1e12);
    else
        printf("bytelm bench kernels: %s, %d SMs at %.0f MHz, L2 %d MB; copy %.2f TB/s (read + "
               "write), exp rate %.2f T/s, fp32 %.1f TFLOP/s\n",
               prop.name, prop.multiProcessorCount, clock_khz / 1e3, prop.l2CacheSize >> 20,
               b.copy_bw / 1e12, b.exp_rate / 1e12, b.fp32_rate / 1e12);
    header(b);

    if (!only || !strcmp(only, "scan")) {
        static const int shapes[][4] = {{8, 2048, 8192, 16}, {16, 1536, 4096, 16}, {4, 3584, 8192, 16},
                                        {2, 2048, 8192, 16}};
        static const int quick_shape[][4] = {{2, 1024, 2048, 16}};
        const int(*sh)[4] = quick ? quick_shape : shapes;
        int nsh = quick ? 1 : 4;
        for (int i = 0; i < nsh; i++) {
            int B = sh[i][0], D = sh[i][1], L = sh[i][2], N = sh[i][3];
            for (int bf = 0; bf < 2; bf++)
                if (prec < 0 || prec == bf) bench_scan(b, B, D, L, N, bf == 1);
        }
    }
    if (!only || !strcmp(only, "other")) bench_others(b, quick);

    CUDA_CHECK(cudaEventDestroy(b.e0));
    CUDA_CHECK(cudaEventDestroy(b.e1));
    be->destroy(be);
    return 0;
}
