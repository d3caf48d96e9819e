/* Starting the other ranks of a data-parallel run on this host: copies of this very binary
 * (/proc/self/exe), each with the same arguments plus the hidden --rank/--world/--rendezvous
 * options that an external launcher would pass. */
#ifndef BYTELM_LAUNCH_H
#define BYTELM_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

#include "byte_lm/base/error.h"

/* A rendezvous unique to this launch: a shared-memory name (nccl = 0) or a file path under
 * TMPDIR for the NCCL id (nccl = 1). */
void launch_rendezvous(char *out, size_t cap, int nccl);
/* Starts ranks 1..world-1 of `bytelm CMD ARGS...` (argv[0] = CMD); pids[r-1] gets rank r's. */
int launch_ranks(int argc, char **argv, int world, const char *rendezvous, pid_t *pids, BlErr *e);
/* Waits for the n ranks started above. grace < 0: as long as they run; else they get grace
 * seconds, then are killed (rank 0 has failed: the run is over). 0 when all exited with 0, else
 * the first nonzero status (128 + signal for a killed rank). */
int launch_wait(const pid_t *pids, int n, double grace);

#endif
