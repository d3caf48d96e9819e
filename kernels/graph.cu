/* Recording a sequence of ops as a CUDA graph and replaying it (Backend.graph_*): the
 * generation step is a few hundred small kernels per byte, and a replayed graph launches them
 * with a fraction of the host's per-launch cost and no gaps for the host to fill.
 *
 * The recording holds raw device pointers, the op's internal scratch and the cuBLASLt workspace
 * among them; a replay after either moved would touch freed memory, so the graph keeps the
 * pointers it saw and graph_run refuses (-1) once they differ. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_ctx.h"

struct CudaGraph {
    cudaGraphExec_t exec;
    void *scratch, *lt_ws;
};

void cuda_graph_begin(CudaCtx *c)
{
    CUDA_CHECK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
}

void *cuda_graph_end(CudaCtx *c)
{
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (e != cudaSuccess || !g) {
        (void)cudaGetLastError();
        return NULL;
    }
    cudaGraphExec_t exec = NULL;
    e = cudaGraphInstantiate(&exec, g, 0);
    CUDA_CHECK(cudaGraphDestroy(g));
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    CudaGraph *r = static_cast<CudaGraph *>(calloc(1, sizeof *r));
    if (!r) {
        fprintf(stderr, "bytelm: out of host memory\n");
        abort();
    }
    r->exec = exec;
    r->scratch = c->scratch;
    r->lt_ws = c->lt_ws;
    return r;
}

int cuda_graph_run(CudaCtx *c, void *graph)
{
    CudaGraph *g = static_cast<CudaGraph *>(graph);
    if (g->scratch != c->scratch || g->lt_ws != c->lt_ws) return -1;
    CUDA_CHECK(cudaGraphLaunch(g->exec, c->stream));
    return 0;
}

void cuda_graph_free(CudaCtx *c, void *graph)
{
    (void)c;
    CudaGraph *g = static_cast<CudaGraph *>(graph);
    if (!g) return;
    CUDA_CHECK(cudaGraphExecDestroy(g->exec));
    free(g);
}
