/* Communicators for data-parallel training: N ranks that sum gradients and share bytes.
 *
 * Two implementations behind one table of functions:
 * - shm (comm_shm.c): processes on one host through POSIX shared memory, for the CPU backend.
 *   The sum is taken in rank order 0..N-1 by every rank, so all ranks get bit-identical results.
 *   A rank that dies or leaves makes the others' next collective fail (no timeout needed once
 *   every rank has joined); joining waits at most `timeout` seconds.
 * - nccl (kernels/comm_nccl.cu, CUDA builds only): NCCL on the CUDA backend's stream, the
 *   ncclUniqueId passed through a file that rank 0 writes.
 * Every function returns 0, or -1 with a one-line message in e. */
#ifndef BYTELM_COMM_H
#define BYTELM_COMM_H

#include <stddef.h>

#include "byte_lm/model/backend.h"
#include "byte_lm/base/error.h"

typedef struct Comm Comm;

struct Comm {
    int rank, size;
    const char *kind; /* "shm" or "nccl" */
    void *ctx;
    /* buf: n floats of backend memory, replaced by the sum over ranks */
    int (*allreduce_sum)(Comm *c, float *buf, size_t n, BlErr *e);
    /* buf: bytes of backend memory, replaced on every rank by rank 0's */
    int (*broadcast)(Comm *c, void *buf, size_t bytes, BlErr *e);
    int (*barrier)(Comm *c, BlErr *e);
    /* Leaves the group (peers still waiting on this rank fail) and frees everything. */
    void (*destroy)(Comm *c);
};

/* name: a POSIX shared-memory name ("/bytelm-..."), the same for all ranks; rank 0 creates it
 * and removes the name once everyone has joined. */
Comm *comm_shm_create(const char *name, int rank, int size, double timeout, BlErr *e);

#ifdef BYTELM_CUDA
/* path: a file rank 0 writes the NCCL id to (tmp + rename) and the others wait for; be: the CUDA
 * backend of this rank (its stream carries the collectives). */
Comm *comm_nccl_create(const char *path, int rank, int size, Backend *be, double timeout, BlErr *e);
#endif

#endif
