#include "eval/task.h"

#include <stdio.h>
#include <string.h>

int task_make(const TaskGen *g, Rng *r, TaskPool pool, long *index, TaskExample *ex, int tries)
{
    for (int k = 0; k < tries; k++) {
        long idx = index ? *index : -1;
        int rc = g->make(g, r, pool, idx, ex);
        if (index) (*index)++;
        if (rc == 0) return 0;
    }
    return -1;
}

int task_line(const TaskExample *ex, char *buf, int cap)
{
    int n = snprintf(buf, (size_t)cap, "%s%s\n", ex->prompt, ex->answer);
    return n < 0 || n >= cap ? -1 : n;
}
