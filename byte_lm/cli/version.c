#include "byte_lm/cli/version.h"

#include <cJSON.h>
#include <cblas.h>
#include <utf8proc.h>
#include <zstd.h>
#ifdef BYTELM_CUDA
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#endif

#ifndef BYTELM_BUILD
#define BYTELM_BUILD "" /* the Makefile passes `git describe` when there is a repository */
#endif

#ifdef BYTELM_CUDA
/* "12.4" from the runtime's 12040. */
static const char *cuda_version(char *buf, size_t cap, int v)
{
    snprintf(buf, cap, "%d.%d", v / 1000, v % 1000 / 10);
    return buf;
}
#endif

void version_print(FILE *f)
{
    const char *build = BYTELM_BUILD[0] ? BYTELM_BUILD : BYTELM_VERSION;
    fprintf(f, "bytelm %s (build %s)\n", BYTELM_VERSION, build);
#ifdef BYTELM_CUDA
    fprintf(f, "backends: cpu, cuda\n");
    int rt = 0, drv = 0, major = 0, minor = 0, patch = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    cublasGetProperty(MAJOR_VERSION, &major);
    cublasGetProperty(MINOR_VERSION, &minor);
    cublasGetProperty(PATCH_LEVEL, &patch);
    char a[16], b[16];
    if (drv > 0)
        fprintf(f, "CUDA runtime %s (driver supports %s), cuBLAS %d.%d.%d\n", cuda_version(a, sizeof a, rt),
                cuda_version(b, sizeof b, drv), major, minor, patch);
    else
        fprintf(f, "CUDA runtime %s (no NVIDIA driver), cuBLAS %d.%d.%d\n", cuda_version(a, sizeof a, rt), major,
                minor, patch);
#else
    fprintf(f, "backends: cpu (built without CUDA)\n");
#endif
    char *blas = openblas_get_config();
    fprintf(f, "zstd %s, utf8proc %s, cJSON %s, %s\n", ZSTD_versionString(), utf8proc_version(), cJSON_Version(),
            blas ? blas : "OpenBLAS");
}
