/* The tensor cores' bf16 product with fp32 sums, for the kernels that call mma.sync directly
 * (gemm_rows.cu, scan_step_mma.cu). */
#ifndef BYTELM_MMA_BF16_CUH
#define BYTELM_MMA_BF16_CUH

#include <stdint.h>

/* d += a b: a 16 x 16 bf16 (row), b 16 x 8 bf16 (column), d 16 x 8 fp32. Lane (g, t) = (lane / 4,
 * lane % 4) holds a's rows g, g + 8 at k 2t, 2t + 1 (a[0], a[1]) and 2t + 8, 2t + 9 (a[2], a[3]),
 * b's column g at the same k (b0, b1), and d's rows g (d[0], d[1]) and g + 8 (d[2], d[3]) at
 * columns 2t, 2t + 1. */
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#endif
