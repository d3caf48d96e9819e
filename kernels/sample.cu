/* Sampling on the GPU (Backend.sample): one block of 256 threads per stream, a thread per byte,
 * so the host receives only the chosen bytes. It follows base/sampler.c step for step: the same
 * penalty in float, the same UTF-8 rules (base/utf8_rules.h, compiled here too), the same double
 * arithmetic, and the sums that decide a draw in the same order (one thread adds them in
 * sequence, as the CPU does), so both backends pick the same byte from the same logits and Rng
 * state; only exp() may differ in its last bit, which moves a draw only when the uniform lands
 * within about 1e-16 of a boundary. */
#include <math.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/pdl.cuh"

#define SAMPLE_THREADS 256

/* a beats b as the argmax: a number beats NaN, a larger value wins, ties go to the lower byte
 * (sampler_argmax's rule, which keeps the first of equal maxima and never lets NaN win) */
struct Cand {
    float x;
    int v;  /* byte, or 256 for "none" */
    int ok; /* allowed; 0 loses to everything */
};
__device__ __forceinline__ bool beats(const Cand &a, const Cand &b)
{
    if (a.ok != b.ok) return a.ok > b.ok;
    const bool an = isnan(a.x), bn = isnan(b.x);
    if (an != bn) return bn;
    if (!an && a.x != b.x) return a.x > b.x;
    return a.v < b.v;
}

/* The best candidate of the block (every thread gets it). */
__device__ Cand block_best(Cand c, Cand *sh)
{
    const int t = threadIdx.x;
    sh[t] = c;
    __syncthreads();
    for (int half = SAMPLE_THREADS / 2; half > 0; half >>= 1) {
        if (t < half && beats(sh[t + half], sh[t])) sh[t] = sh[t + half];
        __syncthreads();
    }
    Cand r = sh[0];
    __syncthreads();
    return r;
}

__global__ void __launch_bounds__(SAMPLE_THREADS) sample_kernel(SampleArgs a)
{
    __shared__ Cand cand[SAMPLE_THREADS];
    __shared__ double p[256], sorted[256];
    __shared__ uint8_t hit[256];
    __shared__ double total_sh;
    __shared__ int keep_sh, pick_sh;
    pdl_wait(); /* for the head's logits (pdl.cuh) */
    const int b = blockIdx.x, v = threadIdx.x;
    const SamplerConfig cfg = a.cfg;
    SampleStream st = a.streams[b];
    const int W = cfg.repetition_window;
    uint8_t *ring = a.history && W > 0 ? a.history + (size_t)b * W : NULL;

    float x = a.logits[(size_t)b * 256 + v];
    const int finite = __syncthreads_and(isfinite(x));
    /* the repetition penalty (sampler_penalize) */
    if (cfg.repetition_penalty != 1.0f && ring) {
        hit[v] = 0;
        __syncthreads();
        const int64_t n = st.seen < W ? st.seen : W;
        for (int64_t k = v; k < n; k += SAMPLE_THREADS) hit[sampler_history_at(ring, W, st.seen, (int)k)] = 1;
        __syncthreads();
        if (hit[v]) x = sampler_penalized(x, cfg.repetition_penalty);
    }
    const long remaining = a.max_bytes > 0 ? a.max_bytes - (long)st.produced : 0;
    const int ok = a.strict_utf8 ? utf8_byte_allowed(&st.utf8, remaining, v) : 1;

    /* sampler_probs: the largest allowed logit, NaN never compares */
    const Cand best = block_best({x, v, ok}, cand);
    const double mx = best.ok && !isnan(best.x) ? (double)best.x : -INFINITY;
    int choice;
    if (!(cfg.temperature > 0) || !isfinite(mx)) {
        choice = best.ok ? best.v : 0; /* greedy, or nothing usable to soften */
        if (cfg.temperature > 0) { /* the CPU still draws its uniform (all mass on one byte) */
            Rng r = {st.rng};
            (void)rng_uniform(&r);
            st.rng = r.s;
        }
    } else {
        const double inv_t = 1.0 / (double)cfg.temperature;
        p[v] = ok && !isnan(x) ? exp(((double)x - mx) * inv_t) : 0.0;
        __syncthreads();
        if ((cfg.top_k > 0 && cfg.top_k < 256) || cfg.top_p < 1.0f) {
            /* filter_top: rank by probability, larger first, lower byte on ties */
            const double pv = p[v];
            int rank = 0, n = 0;
            for (int j = 0; j < 256; j++) {
                const double pj = p[j];
                if (pj > 0) {
                    n++;
                    if (pv > 0 && (pj > pv || (pj == pv && j < v))) rank++;
                }
            }
            if (pv > 0) sorted[rank] = pv;
            __syncthreads();
            if (v == 0) {
                int keep = n;
                if (cfg.top_k > 0 && cfg.top_k < keep) keep = cfg.top_k;
                if (cfg.top_p < 1.0f) {
                    double total = 0, acc = 0;
                    for (int j = 0; j < keep; j++) total += sorted[j];
                    int j = 0;
                    while (j < keep) {
                        acc += sorted[j++];
                        if (acc >= (double)cfg.top_p * total) break;
                    }
                    keep = j;
                }
                keep_sh = keep;
            }
            __syncthreads();
            if (pv > 0 && rank >= keep_sh) p[v] = 0;
            __syncthreads();
        }
        /* normalize and draw: the sums in index order, as on the CPU */
        if (v == 0) {
            double total = 0;
            for (int j = 0; j < 256; j++) total += p[j];
            total_sh = total;
        }
        __syncthreads();
        p[v] /= total_sh;
        __syncthreads();
        if (v == 0) {
            Rng r = {st.rng};
            const double uni = rng_uniform(&r);
            st.rng = r.s;
            double acc = 0;
            int last = -1, got = -1;
            for (int j = 0; j < 256 && got < 0; j++) {
                if (p[j] <= 0) continue;
                acc += p[j];
                last = j;
                if (uni < acc) got = j;
            }
            pick_sh = got >= 0 ? got : last;
        }
        __syncthreads();
        choice = pick_sh;
    }
    if (v == 0) { /* advance the stream (sampler_pick) */
        if (a.strict_utf8) utf8_state_push(&st.utf8, (uint8_t)choice);
        st.produced++;
        if (ring) ring[st.seen % W] = (uint8_t)choice;
        st.seen++;
        a.streams[b] = st;
        a.out[b] = (uint8_t)choice;
        a.out[a.B + b] = (uint8_t)finite;
    }
}

void cuda_sample(CudaCtx *c, const SampleArgs *a)
{
    if (a->B == 0) return;
    launch_pdl(sample_kernel, dim3(a->B), dim3(SAMPLE_THREADS), 0, c->stream, *a);
}
