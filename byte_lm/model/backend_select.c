/* Picks a backend by name for the command line, and says in one line why a GPU cannot be had. */
#include <string.h>
#include <unistd.h>

#include "byte_lm/model/backend_select.h"

#ifdef BYTELM_CUDA
/* Fills e with why GPU `gpu` cannot be used, or returns 0 when it can. The CUDA runtime reports
 * a machine without any NVIDIA driver as "driver version is insufficient", so the driver's
 * presence is looked up first. */
static int cuda_usable(int gpu, BlErr *e)
{
    int why = 0;
    const char *text = "";
    int count = backend_cuda_probe(&why, &text);
    int driver = access("/proc/driver/nvidia/version", F_OK) == 0;
    if (count < 0 && why == CUDA_PROBE_NO_DRIVER && !driver)
        return bl_fail(e, "--device cuda", "no CUDA GPU found (no NVIDIA driver); use --device cpu");
    if (count < 0 && why == CUDA_PROBE_NO_DRIVER)
        return bl_fail(e, "--device cuda", "the NVIDIA driver is too old for this build's CUDA runtime (%s); use --device cpu",
                       text);
    if (count == 0 || (count < 0 && why == CUDA_PROBE_NO_DEVICE))
        return bl_fail(e, "--device cuda", "no CUDA GPU found%s; use --device cpu",
                       driver ? "" : " (no NVIDIA driver)");
    if (count < 0) return bl_fail(e, "--device cuda", "CUDA cannot start (%s); use --device cpu", text);
    if (gpu >= count) return bl_fail(e, "--device cuda", "no GPU %d (%d found)", gpu, count);
    return 0;
}
#endif

int backend_name_known(const char *name)
{
    return !strcmp(name, "cpu") || !strcmp(name, "cuda") || !strcmp(name, "gpu");
}

Backend *backend_open(const char *name, int threads, int gpu, BlErr *e)
{
    if (!name || !strcmp(name, "cpu")) return backend_cpu_create(threads);
    if (!strcmp(name, "cuda") || !strcmp(name, "gpu")) {
#ifdef BYTELM_CUDA
        if (cuda_usable(gpu, e)) return NULL;
        Backend *be = backend_cuda_create(gpu);
        if (!be) bl_fail(e, "--device cuda", "GPU %d cannot be used; use --device cpu", gpu);
        return be;
#else
        (void)gpu;
        bl_fail(e, "--device cuda", "this bytelm was built without CUDA (no nvcc at build time); use --device cpu");
        return NULL;
#endif
    }
    bl_fail(e, NULL, "unknown device '%s' (cpu or cuda)", name);
    return NULL;
}

int backend_check(const char *name, int gpus, BlErr *e)
{
    if (!name || !strcmp(name, "cpu")) return 0;
#ifdef BYTELM_CUDA
    return cuda_usable(gpus > 0 ? gpus - 1 : 0, e);
#else
    (void)gpus;
    return bl_fail(e, "--device cuda", "this bytelm was built without CUDA (no nvcc at build time); use --device cpu");
#endif
}

Backend *backend_by_name(const char *name, int threads, BlErr *e)
{
    return backend_open(name, threads, 0, e);
}
