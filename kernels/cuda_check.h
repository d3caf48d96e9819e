/* Error checks for every CUDA runtime and cuBLAS call, and for every kernel launch.
 *
 * An error here is a bug or an exhausted device, never bad input, so it is fatal: one line
 * naming the call, the error and the source position, then abort() (as BL_CHECK does). It also
 * holds the shared-memory opt-in that launches above 48 KB need. */
#ifndef BYTELM_CUDA_CHECK_H
#define BYTELM_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CUDA_CHECK(call)                                                                     \
    do {                                                                                     \
        cudaError_t err_ = (call);                                                           \
        if (err_ != cudaSuccess) {                                                           \
            fprintf(stderr, "bytelm: CUDA error: %s: %s (%s:%d)\n", #call,                   \
                    cudaGetErrorString(err_), __FILE__, __LINE__);                           \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#define CUBLAS_CHECK(call)                                                                   \
    do {                                                                                     \
        cublasStatus_t st_ = (call);                                                         \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                  \
            fprintf(stderr, "bytelm: cuBLAS error: %s: %s (%s:%d)\n", #call,                 \
                    cublasGetStatusString(st_), __FILE__, __LINE__);                         \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* After every <<<...>>> or cudaLaunchKernelEx: launch-configuration errors show up here;
 * errors while the kernel runs show up at the next synchronizing call. */
#define CUDA_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

/* A kernel launched with more than the default 48 KB of dynamic shared memory needs this
 * attribute set first; the launchers call it before each launch, with the size they pass. */
template <typename Kernel> static inline void cuda_allow_smem(Kernel kern, size_t smem)
{
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
}

#endif
