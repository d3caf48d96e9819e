/* fp32 -> bf16 rounding of a strided matrix (round to nearest even), for the mixed-precision
 * plan's operands: gradients entering a matmul, the dt slice of x_proj's output, the weights'
 * copy. Memory-bound: 6 bytes per element. */
#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"

__global__ void cast_bf16_kernel(__nv_bfloat16 *dst, int ldd, const float *src, int lds,
                                 size_t rows, int cols)
{
    const size_t n = rows * (size_t)cols;
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        size_t r = i / cols, c = i % cols;
        dst[r * ldd + c] = __float2bfloat16_rn(src[r * lds + c]);
    }
}

/* four at a time: cols, both leading dimensions and both pointers allow 16-byte loads */
__global__ void cast_bf16_vec_kernel(uint2 *dst, int ldd4, const float4 *src, int lds4,
                                     size_t rows, int cols4)
{
    const size_t n = rows * (size_t)cols4;
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        size_t r = i / cols4, c = i % cols4;
        float4 v = src[r * lds4 + c];
        __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
        uint2 u;
        u.x = *(unsigned *)&lo;
        u.y = *(unsigned *)&hi;
        dst[r * ldd4 + c] = u;
    }
}

void cuda_cast_bf16(CudaCtx *c, __nv_bfloat16 *dst, int ldd, const float *src, int lds, int rows,
                    int cols)
{
    if (rows <= 0 || cols <= 0) return;
    size_t cap = (size_t)c->num_sms * 16;
    bool vec = cols % 4 == 0 && ldd % 4 == 0 && lds % 4 == 0 && (uintptr_t)dst % 8 == 0 &&
               (uintptr_t)src % 16 == 0;
    size_t n = (size_t)rows * (vec ? cols / 4 : cols), blocks = (n + 255) / 256;
    int grid = (int)(blocks < cap ? blocks : cap);
    if (vec)
        cast_bf16_vec_kernel<<<grid, 256, 0, c->stream>>>((uint2 *)dst, ldd / 4, (const float4 *)src,
                                                          lds / 4, (size_t)rows, cols / 4);
    else
        cast_bf16_kernel<<<grid, 256, 0, c->stream>>>(dst, ldd, src, lds, (size_t)rows, cols);
    CUDA_LAUNCH_CHECK();
}
