/* cp.async: copies from global to shared memory that do not pass through registers, zero-filling
 * when `valid` is false (the scan's chunk staging, gemm_rows.cu's whole-slice copies). A thread's
 * copies complete in groups: commit closes one, wait leaves at most NG of its groups in flight,
 * and a block barrier after the wait makes every thread's copies visible. */
#ifndef BYTELM_CP_ASYNC_CUH
#define BYTELM_CP_ASYNC_CUH

#include <cuda_runtime.h>
#include <stdint.h>

/* 16 bytes to the shared-space address s */
__device__ __forceinline__ void cp_async16_s(uint32_t s, const void *gsrc, bool valid)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gsrc),
                 "r"(valid ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void cp_async16(void *sdst, const void *gsrc, bool valid)
{
    cp_async16_s((uint32_t)__cvta_generic_to_shared(sdst), gsrc, valid);
}
__device__ __forceinline__ void cp_async4(void *sdst, const void *gsrc, bool valid)
{
    unsigned s = (unsigned)__cvta_generic_to_shared(sdst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gsrc),
                 "r"(valid ? 4 : 0)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int NG> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(NG) : "memory");
}
/* cp_async_wait for a count known only at run time (0-7; 7 for anything above) */
__device__ __forceinline__ void cp_async_wait_pending(int n)
{
    switch (n) {
    case 0: cp_async_wait<0>(); break;
    case 1: cp_async_wait<1>(); break;
    case 2: cp_async_wait<2>(); break;
    case 3: cp_async_wait<3>(); break;
    case 4: cp_async_wait<4>(); break;
    case 5: cp_async_wait<5>(); break;
    case 6: cp_async_wait<6>(); break;
    default: cp_async_wait<7>(); break;
    }
}

/* Asks L2 to fetch [g, g + bytes) from global memory and returns at once (sm_90's bulk prefetch,
 * no destination, no completion to wait for): g 16-byte aligned, bytes a multiple of 16. */
__device__ __forceinline__ void prefetch_l2_bulk(const void *g, uint32_t bytes)
{
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(g), "r"(bytes) : "memory");
}

#endif
