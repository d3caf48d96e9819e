/* BL_HD marks the small inline functions that the C code and the CUDA kernels share (the UTF-8
 * rules, the random stream), so both compile one definition instead of keeping two in step. */
#ifndef BYTELM_HOSTDEV_H
#define BYTELM_HOSTDEV_H

#ifdef __CUDACC__
#define BL_HD __host__ __device__
#else
#define BL_HD
#endif

#endif
