/* Device-side elementwise math shared by the kernels, and storage-type conversions.
 *
 * The functions are the CPU oracle's (byte_lm/model/backend_cpu_internal.h), each within a few
 * ulp of it: softplus as max(x, 0) + log1p(exp(-|x|)) (log1p by a polynomial here, by an atanh
 * series there), sigmoid as 1 / (1 + exp(-x)). Exponentials use the SFU (ex2.approx, about 2
 * ulp; bl_ex2_fma, as accurate, moves some to the FMA pipe), and so do reciprocals (rcp.approx,
 * 1 ulp: a correctly rounded one is a sequence of six with a branch, per element in the scan's
 * owner work); everything else is plain fp32 arithmetic. */
#ifndef BYTELM_DEVICE_MATH_CUH
#define BYTELM_DEVICE_MATH_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#define BL_LOG2E 1.4426950408889634f
#define BL_LN2 0.6931471805599453f

/* 2^x on the special-function unit: one MUFU.EX2, flushes results below 2^-126 to zero. */
__device__ __forceinline__ float bl_ex2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* 2^x for x <= 0 on the FMA pipe instead of the SFU, for loops the SFU binds (the scan
 * forward's): x = j + f with j an integer (rounded by adding 1.5 * 2^23, which leaves j in the
 * low bits) and f in [-1/2, 1/2]; 2^f by a degree-5 polynomial with 2^0 = 1 exactly (relative
 * error 1.7e-7 after fp32 rounding, about ex2.approx's); j added to the exponent field. x is
 * clamped at -126: below it the result stays about 2^-126 instead of flushing to zero (a decay
 * factor that small leaves nothing of the state either way). */
__device__ __forceinline__ float bl_ex2_fma(float x)
{
    x = fmaxf(x, -126.0f);
    const float t = x + 12582912.0f, f = x - (t - 12582912.0f);
    float p = 1.326472731e-03f;
    p = fmaf(p, f, 9.671512991e-03f);
    p = fmaf(p, f, 5.550733581e-02f);
    p = fmaf(p, f, 2.402224243e-01f);
    p = fmaf(p, f, 6.931470037e-01f);
    p = fmaf(p, f, 1.0f);
    return __int_as_float(__float_as_int(p) + (__float_as_int(t) << 23));
}

/* 1/x on the special-function unit, for x and 1/x both normal floats: one MUFU.RCP, within
 * 1 ulp. */
__device__ __forceinline__ float bl_rcp(float x)
{
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* A log2(e) for A = -exp(A_log), by the SFU: what the step kernels multiply delta by before
 * their ex2 */
__device__ __forceinline__ float bl_a_log2e(float a_log) { return -bl_ex2(a_log * BL_LOG2E) * BL_LOG2E; }

/* exp(-|x|) in (0, 1] */
__device__ __forceinline__ float bl_exp_neg_abs(float x) { return bl_ex2(-fabsf(x) * BL_LOG2E); }

/* log1p(e) for e in [0, 1] as e (1 + e Q(e)), Q the degree-7 polynomial that makes this the
 * closest to log1p in relative error over [0, 1] (Remez): 1.6e-7 at worst after fp32
 * rounding, measured at 400,000 points, and exact as e goes to 0. No SFU operation and no
 * division: an atanh series in s = e / (2 + e) (the CPU's form; 2.2e-7 to s^13 in fp32) would
 * put a MUFU.RCP in the scan's owner work's longest chain. */
__device__ __forceinline__ float bl_log1p_unit(float e)
{
    float p = 5.364829209e-03f;
    p = fmaf(p, e, -3.006581031e-02f);
    p = fmaf(p, e, 7.920456678e-02f);
    p = fmaf(p, e, -1.375380456e-01f);
    p = fmaf(p, e, 1.915365607e-01f);
    p = fmaf(p, e, -2.485716343e-01f);
    p = fmaf(p, e, 3.332132399e-01f);
    p = fmaf(p, e, -4.999964833e-01f);
    p = fmaf(p, e, 1.0f);
    return e * p;
}

/* sigmoid(x) = 1 / (1 + 2^(-x log2 e)) for any x: below about -88 the exponential is infinite
 * and its reciprocal 0, as sigmoid(x) is in floats (with flushing, below 2^-126). Two SFU
 * operations and three others: the form with exp(-|x|) and a select takes five others. */
__device__ __forceinline__ float bl_sigmoid(float x)
{
    return bl_rcp(1.0f + bl_ex2(x * -BL_LOG2E));
}

/* softplus(x) = log(1 + e^x) (PyTorch's threshold 20 gives the same float: above 20 the log1p
 * term is below half an ulp of x), and *grad = sigmoid(x), its derivative. */
__device__ __forceinline__ float bl_softplus(float x, float *grad)
{
    float e = bl_exp_neg_abs(x), inv = bl_rcp(1.0f + e);
    *grad = x < 0.0f ? e * inv : inv;
    return fmaxf(x, 0.0f) + bl_log1p_unit(e);
}

/* Activation storage: fp32 today; a bf16 instantiation converts on load and store. */
__device__ __forceinline__ float bl_to_f(float x) { return x; }
__device__ __forceinline__ float bl_to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T bl_from_f(float x);
template <> __device__ __forceinline__ float bl_from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 bl_from_f<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}
/* two floats as one bf16x2 word, the first in the low half (the lower address, or an mma
 * fragment's lower k) */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi)
{
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(const uint32_t *)&v;
}

/* Grid-stride helpers use 64-bit indices: B*L*D passes 2^31 at the benchmark shapes. */
__device__ __forceinline__ size_t bl_gtid() { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ size_t bl_gstride() { return (size_t)gridDim.x * blockDim.x; }

#endif
