/* Picks a backend by name for the command line. */
#include <string.h>

#include "backend_select.h"

Backend *backend_by_name(const char *name, int threads, BlErr *e)
{
    if (!name || !strcmp(name, "cpu")) return backend_cpu_create(threads);
    if (!strcmp(name, "cuda") || !strcmp(name, "gpu")) {
#ifdef BYTELM_CUDA
        return backend_cuda_create(0);
#else
        bl_fail(e, NULL, "this bytelm was built without CUDA (no nvcc at build time)");
        return NULL;
#endif
    }
    bl_fail(e, NULL, "unknown device '%s' (cpu or cuda)", name);
    return NULL;
}
