/* AdamW step, elementwise. The arithmetic is done in double, as the CPU oracle does, so both
 * backends round the same exact values to float; the kernel stays memory-bound (28 bytes per
 * element against a few FP64 operations). */
#include <math.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"

struct AdamArgs {
    double lr, b1, b2, eps, wd, gs, c1, c2;
};

__device__ __forceinline__ void adam_one(float &p, float g, float &m, float &v, const AdamArgs &a)
{
    double gg = (double)g * a.gs;
    double mi = a.b1 * m + (1.0 - a.b1) * gg;
    double vi = a.b2 * v + (1.0 - a.b2) * gg * gg;
    m = (float)mi;
    v = (float)vi;
    double pp = p;
    pp -= a.lr * ((mi / a.c1) / (sqrt(vi / a.c2) + a.eps) + a.wd * pp);
    p = (float)pp;
}

/* shadow (may be NULL): the bf16 copy of param, rewritten in the same pass */
__global__ void adamw_kernel(float *param, __nv_bfloat16 *shadow, const float *grad, float *m,
                             float *v, size_t n, AdamArgs a)
{
    for (size_t i = bl_gtid(); i < n; i += bl_gstride()) {
        float p = param[i], mm = m[i], vv = v[i];
        adam_one(p, grad[i], mm, vv, a);
        param[i] = p;
        if (shadow) shadow[i] = __float2bfloat16_rn(p);
        m[i] = mm;
        v[i] = vv;
    }
}

/* float4 body over n4 groups; the tail (n % 4) goes through adamw_kernel */
__global__ void adamw_vec_kernel(float4 *param, uint2 *shadow, const float4 *grad, float4 *m,
                                 float4 *v, size_t n4, AdamArgs a)
{
    for (size_t i = bl_gtid(); i < n4; i += bl_gstride()) {
        float4 p = param[i], g = grad[i], mm = m[i], vv = v[i];
        adam_one(p.x, g.x, mm.x, vv.x, a);
        adam_one(p.y, g.y, mm.y, vv.y, a);
        adam_one(p.z, g.z, mm.z, vv.z, a);
        adam_one(p.w, g.w, mm.w, vv.w, a);
        param[i] = p;
        if (shadow) {
            __nv_bfloat162 lo = __floats2bfloat162_rn(p.x, p.y), hi = __floats2bfloat162_rn(p.z, p.w);
            uint2 u;
            u.x = *(unsigned *)&lo;
            u.y = *(unsigned *)&hi;
            shadow[i] = u;
        }
        m[i] = mm;
        v[i] = vv;
    }
}

void cuda_adamw(CudaCtx *c, float *param, __nv_bfloat16 *shadow, const float *grad, float *m,
                float *v, size_t n, float lr, float beta1, float beta2, float eps, float wd,
                float grad_scale, int t)
{
    if (n == 0) return;
    AdamArgs a = {lr, beta1, beta2, eps, wd, grad_scale, 1.0 - pow((double)beta1, t),
                  1.0 - pow((double)beta2, t)};
    size_t cap = (size_t)c->num_sms * 16;
    bool vec = ((uintptr_t)param | (uintptr_t)grad | (uintptr_t)m | (uintptr_t)v) % 16 == 0 &&
               (uintptr_t)shadow % 8 == 0;
    size_t head = 0;
    if (vec) {
        size_t n4 = n / 4, blocks = (n4 + 255) / 256;
        if (n4) {
            adamw_vec_kernel<<<(int)(blocks < cap ? blocks : cap), 256, 0, c->stream>>>(
                (float4 *)param, (uint2 *)shadow, (const float4 *)grad, (float4 *)m, (float4 *)v, n4,
                a);
            CUDA_LAUNCH_CHECK();
        }
        head = n4 * 4;
    }
    if (head < n) {
        size_t rest = n - head, blocks = (rest + 255) / 256;
        adamw_kernel<<<(int)(blocks < cap ? blocks : cap), 256, 0, c->stream>>>(
            param + head, shadow ? shadow + head : NULL, grad + head, m + head, v + head, rest, a);
        CUDA_LAUNCH_CHECK();
    }
}
