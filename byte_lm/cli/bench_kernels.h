/* `bytelm bench kernels`: each CUDA kernel's time against its roofline (built with CUDA only). */
#ifndef BYTELM_BENCH_KERNELS_H
#define BYTELM_BENCH_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/* argv[0] is "kernels"; returns the process exit status (0, 1 runtime error, 2 usage). */
int bench_kernels(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
