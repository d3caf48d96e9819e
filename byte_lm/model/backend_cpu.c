/* The CPU backend: host memory and the op table. The ops live in backend_cpu_*.c. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "byte_lm/model/backend_cpu_internal.h"
#include "byte_lm/base/error.h"

void *cpu_scratch(size_t bytes)
{
    /* aligned_alloc wants a size that is a multiple of the alignment */
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) bl_out_of_memory(bytes);
    return p;
}

/* Backend memory carries its size in a 64-byte header before the pointer, so that free can
 * count it off and the backend can report its own peak (as the CUDA backend does). */
#define CPU_ALLOC_HEADER 64

static void *cpu_alloc(Backend *be, size_t bytes)
{
    CpuCtx *c = be->ctx;
    uint8_t *p = cpu_scratch(bytes + CPU_ALLOC_HEADER);
    memcpy(p, &bytes, sizeof bytes);
    c->mem_now += bytes;
    if (c->mem_now > c->mem_peak) c->mem_peak = c->mem_now;
    return p + CPU_ALLOC_HEADER;
}

static void cpu_free(Backend *be, void *p)
{
    if (!p) return;
    CpuCtx *c = be->ctx;
    uint8_t *base = (uint8_t *)p - CPU_ALLOC_HEADER;
    size_t bytes;
    memcpy(&bytes, base, sizeof bytes);
    c->mem_now -= bytes;
    free(base);
}

static size_t cpu_mem_peak(Backend *be) { return ((CpuCtx *)be->ctx)->mem_peak; }

/* fp32 sgemm rate of this machine through the backend's own matmul, 1024^3, best of three:
 * the denominator of MFU (the CPU's bf16 ops widen to fp32 and run the same sgemm). */
static double cpu_matmul_rate(Backend *be, int bf16)
{
    (void)bf16;
    const int n = 1024;
    size_t bytes = (size_t)n * n * sizeof(float);
    float *a = cpu_alloc(be, bytes), *b = cpu_alloc(be, bytes), *o = cpu_alloc(be, bytes);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        a[i] = b[i] = (float)(s >> 40) / (float)(1 << 24) - 0.5f; /* random, not zeros */
    }
    cpu_matmul_fwd(be, o, n, a, n, b, n, n, n, 0);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cpu_matmul_fwd(be, o, n, a, n, b, n, n, n, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (dt < best) best = dt;
    }
    cpu_free(be, a), cpu_free(be, b), cpu_free(be, o);
    return 2.0 * n * (double)n * n / best;
}

/* Large copies are split over the team: one core cannot saturate memory bandwidth, and the
 * copy rate is what the generation benchmark measures its limit against. */
#define CPU_COPY_PIECE ((size_t)1 << 20)

static void cpu_memcpy(Backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes < 2 * CPU_COPY_PIECE) {
        if (bytes) memcpy(dst, src, bytes);
        return;
    }
    long pieces = (long)((bytes + CPU_COPY_PIECE - 1) / CPU_COPY_PIECE);
#pragma omp parallel for schedule(static) num_threads(cpu_threads(be))
    for (long i = 0; i < pieces; i++) {
        size_t o = (size_t)i * CPU_COPY_PIECE;
        size_t n = bytes - o < CPU_COPY_PIECE ? bytes - o : CPU_COPY_PIECE;
        memcpy((char *)dst + o, (const char *)src + o, n);
    }
}

static void cpu_zero(Backend *be, void *p, size_t bytes)
{
    (void)be;
    if (bytes) memset(p, 0, bytes);
}

static void cpu_sync(Backend *be)
{
    (void)be; /* every op has finished when it returns */
}

static size_t cpu_mem_total(Backend *be)
{
    (void)be;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : 0;
}

static void cpu_destroy(Backend *be)
{
    if (!be) return;
    free(be->ctx);
    free(be);
}

/* The CPU scan loops over any state size the config format allows (1..256). */
static int cpu_d_state_ok(Backend *be, int n)
{
    (void)be;
    return n >= 1 && n <= 256;
}

Backend *backend_cpu_create(int threads)
{
    CpuCtx *ctx = bl_calloc(1, sizeof *ctx);
    ctx->threads = threads > 0 ? threads : omp_get_num_procs();
    if (ctx->threads < 1) ctx->threads = 1;
    /* Matmuls are threaded by the OpenMP team over tiles (backend_cpu_matmul.c); OpenBLAS's own
     * threads would only compete with it for the cores. A process-wide setting. */
    openblas_set_num_threads(1);

    Backend *be = bl_calloc(1, sizeof *be);
    be->name = "cpu";
    be->kind = BACKEND_CPU;
    be->ctx = ctx;
    be->d_state_ok = cpu_d_state_ok;
    be->d_states = "1 to 256";
    be->conv_kernel_max = 16; /* the loops take any K; the config format allows 1..16 */
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_memcpy;
    be->download = cpu_memcpy;
    be->copy = cpu_memcpy;
    be->zero = cpu_zero;
    be->sync = cpu_sync;
    be->mem_total_bytes = cpu_mem_total;
    be->mem_peak_bytes = cpu_mem_peak;
    be->matmul_peak_flops = cpu_matmul_rate;
    be->destroy = cpu_destroy;
    be->embedding_fwd = cpu_embedding_fwd;
    be->embedding_bwd = cpu_embedding_bwd;
    be->rmsnorm_fwd = cpu_rmsnorm_fwd;
    be->rmsnorm_bwd = cpu_rmsnorm_bwd;
    be->matmul_fwd = cpu_matmul_fwd;
    be->matmul_bwd = cpu_matmul_bwd;
    be->conv1d_fwd = cpu_conv1d_fwd;
    be->conv1d_bwd = cpu_conv1d_bwd;
    be->scan_saved_bytes = cpu_scan_saved_bytes;
    be->scan_fwd = cpu_scan_fwd;
    be->scan_bwd = cpu_scan_bwd;
    be->cross_entropy = cpu_cross_entropy;
    be->adamw = cpu_adamw;
    be->sumsq = cpu_sumsq;
    be->cast_bf16 = cpu_cast_bf16;
    be->rmsnorm_fwd_bf16 = cpu_rmsnorm_fwd_bf16;
    be->matmul_fwd_bf16 = cpu_matmul_fwd_bf16;
    be->matmul_bwd_bf16 = cpu_matmul_bwd_bf16;
    be->conv1d_fwd_bf16 = cpu_conv1d_fwd_bf16;
    be->conv1d_bwd_bf16 = cpu_conv1d_bwd_bf16;
    be->adamw_bf16 = cpu_adamw_bf16;
    be->norm_matmul = cpu_norm_matmul;
    be->ssm_step = cpu_ssm_step;
    be->sample = cpu_sample;
    return be;
}
