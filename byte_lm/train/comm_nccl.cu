/* The NCCL communicator (byte_lm/train/comm.h), one process per GPU. Rank 0 makes the ncclUniqueId and
 * publishes it in a file (written to a temporary name, then renamed, so a reader never sees half
 * of it); the others poll for the file. The communicator is non-blocking (ncclConfig blocking = 0)
 * so that every wait below can look at NCCL's asynchronous error and at a clock: a lost peer
 * ends in ncclCommAbort and a one-line error instead of a process hung forever. Collectives run on
 * the CUDA backend's stream, after the backward that produced the gradients. */
#ifndef BYTELM_CUDA
#define BYTELM_CUDA 1
#endif
extern "C" {
#include "byte_lm/train/comm.h"
#include "byte_lm/base/progress.h"
}
#include <errno.h>
#include <nccl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernels/cuda_ctx.h"

struct NcclComm {
    char path[1024];
    ncclComm_t comm;
    cudaStream_t stream;
    Backend *be;
    float *one; /* device float for the barrier */
    double timeout;
};

static void nap(void)
{
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
}

/* Waits until the communicator has no operation in progress (non-blocking mode). */
static int wait_comm(NcclComm *n, const char *what, BlErr *e)
{
    double t0 = now_seconds();
    for (;;) {
        ncclResult_t st;
        ncclResult_t rc = ncclCommGetAsyncError(n->comm, &st);
        if (rc != ncclSuccess) st = rc;
        if (st == ncclSuccess) return 0;
        if (st != ncclInProgress) {
            ncclCommAbort(n->comm);
            n->comm = NULL;
            return bl_fail(e, n->path, "NCCL %s: %s", what, ncclGetErrorString(st));
        }
        if (now_seconds() - t0 > n->timeout) {
            ncclCommAbort(n->comm);
            n->comm = NULL;
            return bl_fail(e, n->path, "NCCL %s: not done within %.0f s (a rank lost?)", what, n->timeout);
        }
        nap();
    }
}

/* Waits for the stream (the collective just queued) while watching NCCL's error state. */
static int wait_stream(NcclComm *n, const char *what, BlErr *e)
{
    double t0 = now_seconds();
    for (;;) {
        cudaError_t q = cudaStreamQuery(n->stream);
        if (q == cudaSuccess) return 0;
        if (q != cudaErrorNotReady)
            return bl_fail(e, n->path, "NCCL %s: CUDA: %s", what, cudaGetErrorString(q));
        ncclResult_t st;
        if (ncclCommGetAsyncError(n->comm, &st) == ncclSuccess && st != ncclSuccess && st != ncclInProgress) {
            ncclCommAbort(n->comm);
            n->comm = NULL;
            return bl_fail(e, n->path, "NCCL %s: %s", what, ncclGetErrorString(st));
        }
        if (now_seconds() - t0 > n->timeout) {
            ncclCommAbort(n->comm);
            n->comm = NULL;
            return bl_fail(e, n->path, "NCCL %s: not done within %.0f s (a rank lost?)", what, n->timeout);
        }
        nap();
    }
}

static int finish(NcclComm *n, ncclResult_t rc, const char *what, BlErr *e)
{
    if (!n->comm) return bl_fail(e, n->path, "NCCL %s: communicator aborted earlier", what);
    if (rc != ncclSuccess && rc != ncclInProgress) {
        ncclCommAbort(n->comm);
        n->comm = NULL;
        return bl_fail(e, n->path, "NCCL %s: %s", what, ncclGetErrorString(rc));
    }
    if (wait_comm(n, what, e)) return -1;
    return wait_stream(n, what, e);
}

static int nccl_allreduce(Comm *c, float *buf, size_t count, BlErr *e)
{
    NcclComm *n = static_cast<NcclComm *>(c->ctx);
    if (!n->comm) return bl_fail(e, n->path, "NCCL allreduce: communicator aborted earlier");
    return finish(n, ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, n->comm, n->stream),
                  "allreduce", e);
}

static int nccl_broadcast(Comm *c, void *buf, size_t bytes, BlErr *e)
{
    NcclComm *n = static_cast<NcclComm *>(c->ctx);
    if (!n->comm) return bl_fail(e, n->path, "NCCL broadcast: communicator aborted earlier");
    return finish(n, ncclBroadcast(buf, buf, bytes, ncclChar, 0, n->comm, n->stream), "broadcast", e);
}

static int nccl_barrier(Comm *c, BlErr *e)
{
    NcclComm *n = static_cast<NcclComm *>(c->ctx);
    return nccl_allreduce(c, n->one, 1, e);
}

static void nccl_destroy(Comm *c)
{
    if (!c) return;
    NcclComm *n = static_cast<NcclComm *>(c->ctx);
    if (n) {
        if (n->comm) {
            /* a clean finalize needs every rank; abort frees this rank's part without waiting */
            ncclCommAbort(n->comm);
        }
        if (n->one) n->be->free(n->be, n->one);
        if (c->rank == 0) unlink(n->path);
        free(n);
    }
    free(c);
}

/* Rank 0: the id, written whole under a temporary name and renamed into place. */
static int publish_id(const char *path, const ncclUniqueId *id, BlErr *e)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return bl_fail_errno(e, tmp, "cannot create");
    int bad = fwrite(id, sizeof *id, 1, f) != 1;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        unlink(tmp);
        return bl_fail_errno(e, path, "cannot write the NCCL id");
    }
    return 0;
}

static int read_id(const char *path, ncclUniqueId *id, double timeout, BlErr *e)
{
    double t0 = now_seconds();
    for (;;) {
        FILE *f = fopen(path, "rb");
        if (f) {
            size_t got = fread(id, 1, sizeof *id, f);
            fclose(f);
            if (got == sizeof *id) return 0;
            return bl_fail_at(e, path, got, "truncated NCCL id");
        }
        if (errno != ENOENT) return bl_fail_errno(e, path, "cannot read the NCCL id");
        if (now_seconds() - t0 > timeout)
            return bl_fail(e, path, "rank 0 did not publish the NCCL id within %.0f s", timeout);
        nap();
    }
}

extern "C" Comm *comm_nccl_create(const char *path, int rank, int size, Backend *be, double timeout,
                                  BlErr *e)
{
    if (be->kind != BACKEND_CUDA) {
        bl_fail(e, path, "NCCL needs the CUDA backend");
        return NULL;
    }
    /* NVLink SHARP (multicast) stays off: every process must see this before NCCL starts */
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    Comm *c = static_cast<Comm *>(bl_calloc(1, sizeof *c));
    NcclComm *n = static_cast<NcclComm *>(bl_calloc(1, sizeof *n));
    c->rank = rank;
    c->size = size;
    c->kind = "nccl";
    c->ctx = n;
    c->allreduce_sum = nccl_allreduce;
    c->broadcast = nccl_broadcast;
    c->barrier = nccl_barrier;
    c->destroy = nccl_destroy;
    snprintf(n->path, sizeof n->path, "%s", path);
    n->be = be;
    n->stream = static_cast<CudaCtx *>(be->ctx)->stream;
    n->timeout = timeout;
    n->one = static_cast<float *>(be->alloc(be, sizeof(float)));
    be->zero(be, n->one, sizeof(float));

    ncclUniqueId id;
    if (rank == 0) {
        ncclResult_t rc = ncclGetUniqueId(&id);
        if (rc != ncclSuccess) {
            bl_fail(e, path, "ncclGetUniqueId: %s", ncclGetErrorString(rc));
            goto fail;
        }
        if (publish_id(path, &id, e)) goto fail;
    } else if (read_id(path, &id, timeout, e)) {
        goto fail;
    }
    {
        ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
        cfg.blocking = 0;
        ncclResult_t rc = ncclCommInitRankConfig(&n->comm, size, id, rank, &cfg);
        if (rc != ncclSuccess && rc != ncclInProgress) {
            n->comm = NULL;
            bl_fail(e, path, "ncclCommInitRank (rank %d of %d): %s", rank, size, ncclGetErrorString(rc));
            goto fail;
        }
        if (wait_comm(n, "init", e)) goto fail;
    }
    if (nccl_barrier(c, e)) goto fail; /* everyone has read the id: rank 0 may remove it */
    if (rank == 0) unlink(path);
    return c;
fail:
    nccl_destroy(c);
    return NULL;
}
