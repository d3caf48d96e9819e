/* Sum of squares in double, for the gradient norm. Deterministic: a fixed grid writes one
 * partial per block (each thread's elements in a fixed order, then a tree over the block) and a
 * single block adds the partials in order; the grid depends only on n. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"

#define SUMSQ_THREADS 256
#define SUMSQ_BLOCKS 1024

__device__ double block_sum(double v, double *sh)
{
    for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    double s = 0.0;
    if (threadIdx.x == 0)
        for (int w = 0; w < SUMSQ_THREADS / 32; w++) s += sh[w];
    return s; /* valid in thread 0 */
}

__global__ void __launch_bounds__(SUMSQ_THREADS)
sumsq_partial_kernel(double *part, const float *x, size_t n)
{
    __shared__ double sh[SUMSQ_THREADS / 32];
    double acc = 0.0;
    size_t head = 0;
    if ((uintptr_t)x % 16 == 0) { /* 16-byte loads for the body */
        const float4 *x4 = (const float4 *)x;
        size_t n4 = n / 4;
        for (size_t i = bl_gtid(); i < n4; i += bl_gstride()) {
            float4 v = x4[i];
            acc += (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
        }
        head = n4 * 4;
    }
    for (size_t i = head + bl_gtid(); i < n; i += bl_gstride()) acc += (double)x[i] * x[i];
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void __launch_bounds__(SUMSQ_THREADS)
sumsq_final_kernel(double *out, const double *part, int nparts)
{
    __shared__ double sh[SUMSQ_THREADS / 32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < nparts; i += SUMSQ_THREADS) acc += part[i];
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) *out = s;
}

double cuda_sumsq(CudaCtx *c, const float *x, size_t n)
{
    if (n == 0) return 0.0;
    size_t want = (n + SUMSQ_THREADS * 4 - 1) / (SUMSQ_THREADS * 4);
    int blocks = (int)(want < SUMSQ_BLOCKS ? (want ? want : 1) : SUMSQ_BLOCKS);
    double *part = (double *)cuda_scratch(c, (size_t)(blocks + 1) * sizeof(double));
    sumsq_partial_kernel<<<blocks, SUMSQ_THREADS, 0, c->stream>>>(part + 1, x, n);
    CUDA_LAUNCH_CHECK();
    sumsq_final_kernel<<<1, SUMSQ_THREADS, 0, c->stream>>>(part, part + 1, blocks);
    CUDA_LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(c->host_result, part, sizeof(double), cudaMemcpyDeviceToHost,
                               c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return *c->host_result;
}
