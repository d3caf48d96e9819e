/* Programmatic dependent launch (sm_90) for the generation step's kernels.
 *
 * A kernel launched with launch_pdl may start while the kernel before it on the stream is still
 * running: it does what needs nothing of its predecessor first (fetching its weights), then
 * pdl_wait() blocks until the predecessor has finished and its writes are visible, and
 * pdl_release() lets the next kernel start its own prologue. A step is a chain of short kernels
 * that each wait on the one before; this overlaps every launch and weight fetch with the
 * previous kernel instead of leaving a gap. Both instructions do nothing in a kernel launched
 * the ordinary way, and the wait is transitive (the predecessor finished only after its own
 * wait), so a kernel may read anything written earlier in the stream once pdl_wait returns.
 * Rule: nothing before pdl_wait may write memory or read what an earlier kernel writes, with one
 * exception: what only kernels two or more launches back can have written. Every kernel here
 * releases only after its own wait, so by the time a kernel may start, the one before has
 * passed its wait, and everything before that one has finished and is visible (the scan step
 * reads its states early on this ground). */
#ifndef BYTELM_PDL_CUH
#define BYTELM_PDL_CUH

#include <cuda_runtime.h>

__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_release() { asm volatile("griddepcontrol.launch_dependents;"); }

/* A programmatic dependent launch of a grid of clusters of cluster_y blocks along y (distributed
 * shared memory between them); cluster_y 1 is an ordinary grid (launch_pdl). */
template <typename... KArgs, typename... Args>
static void launch_pdl_cluster(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                               cudaStream_t stream, int cluster_y, Args... args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    attr[1].id = cudaLaunchAttributeClusterDimension;
    attr[1].val.clusterDim.x = 1;
    attr[1].val.clusterDim.y = (unsigned)cluster_y;
    attr[1].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = cluster_y > 1 ? 2 : 1;
    CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...));
}

template <typename... KArgs, typename... Args>
static void launch_pdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                       cudaStream_t stream, Args... args)
{
    launch_pdl_cluster(kernel, grid, block, smem, stream, 1, args...);
}

#endif
