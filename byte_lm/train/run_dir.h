/* The run directory a trainer writes (checkpoint/, metrics.jsonl, loss.svg, train.lock):
 *   - one writer at a time: rank 0 holds an exclusive flock on DIR/train.lock for its whole life,
 *     and a second trainer on the same directory is refused ("is in use by another bytelm
 *     process (pid N)").
 *   - an existing run is never overwritten by accident: a new run onto it is refused unless
 *     --force; with --force the new run is written in DIR.tmp-PID and exchanged with DIR
 *     (renameat2) only once its first checkpoint is complete, so the old run, its checkpoint and
 *     its metrics stay whole until then, whatever happens to the new one.
 *   - on resume, metrics.jsonl is cut back to the checkpoint (run_dir_trim_metrics). */
#ifndef BYTELM_RUN_DIR_H
#define BYTELM_RUN_DIR_H

#include "byte_lm/base/error.h"

#define RUN_DIR_PATH_MAX 2048

typedef enum {
    RUN_NEW,    /* a new run: DIR must be absent, empty or not a run */
    RUN_FORCE,  /* a new run that replaces any run in DIR after its first checkpoint */
    RUN_RESUME, /* continuing the run in DIR */
} RunDirMode;

typedef struct {
    char dir[RUN_DIR_PATH_MAX];  /* the run directory */
    char work[RUN_DIR_PATH_MAX + 64]; /* where files go now: dir, or DIR.tmp-PID until a forced run's first save */
    int lock_fd;                 /* train.lock of work */
    int old_lock_fd;             /* train.lock of the run being replaced, held until the swap; -1 */
} RunDir;

/* 1 if dir holds a run: a checkpoint (or the checkpoint.old a crash mid-save leaves). */
int run_dir_holds_run(const char *dir);
/* Creates and locks the run directory for mode, refusing what the mode does not allow. */
int run_dir_open(RunDir *rd, const char *dir, RunDirMode mode, BlErr *e);
/* After every checkpoint save: the first one of a forced run swaps the new run into place and
 * removes the old one. Returns 1 when the paths under work changed (work is now dir). */
int run_dir_saved(RunDir *rd, BlErr *e);
/* Releases the lock; a forced run that never saved removes its DIR.tmp-PID (the old run in DIR
 * is untouched). */
void run_dir_close(RunDir *rd);

/* Rewrites metrics.jsonl so it holds only complete JSON lines of steps up to `step` (the
 * checkpoint's), one per step and one validation per step at most, in order: what a crash after
 * the checkpoint logged, and a line cut off in the middle, are dropped. Written to a temporary
 * file that replaces the old one only when complete; nothing changes when nothing is dropped. */
int run_dir_trim_metrics(const char *path, int step, BlErr *e);

#endif
