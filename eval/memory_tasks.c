#include "eval/memory_tasks.h"

#include <stdio.h>
#include <string.h>

static const char *const NAMES[MT_COUNT] = {"selective-copy", "induction"};

const char *memory_task_name(MemoryTaskKind k)
{
    return k >= 0 && k < MT_COUNT ? NAMES[k] : "?";
}

int memory_task_by_name(const char *name)
{
    for (int i = 0; i < MT_COUNT; i++)
        if (!strcmp(name, NAMES[i])) return i;
    return -1;
}

void memory_task_default(MemoryTask *t, MemoryTaskKind kind)
{
    t->kind = kind;
    t->length = kind == MT_SELECTIVE_COPY ? 32 : 16;
    t->tokens = kind == MT_SELECTIVE_COPY ? 4 : 1;
    t->vocab = 8;
}

int memory_task_check(const MemoryTask *t, BlErr *e)
{
    if (t->vocab < 2 || t->vocab > 26) return bl_fail(e, NULL, "--vocab must be 2..26");
    if (t->length < 3 || t->length > TASK_TEXT_MAX - 2)
        return bl_fail(e, NULL, "--length must be 3..%d", TASK_TEXT_MAX - 2);
    if (t->kind == MT_SELECTIVE_COPY && (t->tokens < 1 || t->tokens > t->length))
        return bl_fail(e, NULL, "--tokens must be 1..length (%d)", t->length);
    return 0;
}

int memory_task_line_len(const MemoryTask *t)
{
    return t->length + 1 + (t->kind == MT_SELECTIVE_COPY ? t->tokens : 1) + 1;
}

static char letter(const MemoryTask *t, Rng *r)
{
    return (char)('a' + rng_u64(r) % (uint64_t)t->vocab);
}

int memory_task_example(const MemoryTask *t, Rng *r, TaskExample *ex)
{
    int T = t->length;
    char *p = ex->prompt, *a = ex->answer;
    if (T < 3 || T > TASK_TEXT_MAX - 2 || t->tokens > T || t->vocab < 1) return -1;
    if (t->kind == MT_SELECTIVE_COPY) {
        /* choose `tokens` distinct positions: a partial Fisher-Yates over 0..T-1 */
        int pos[TASK_TEXT_MAX];
        for (int i = 0; i < T; i++) pos[i] = i;
        memset(p, '.', (size_t)T);
        for (int i = 0; i < t->tokens; i++) {
            int j = i + (int)(rng_u64(r) % (uint64_t)(T - i));
            int tmp = pos[i];
            pos[i] = pos[j];
            pos[j] = tmp;
            p[pos[i]] = letter(t, r);
        }
        int k = 0;
        for (int i = 0; i < T; i++)
            if (p[i] != '.') a[k++] = p[i];
        a[k] = 0;
        p[T] = '|';
        p[T + 1] = 0;
        return 0;
    }
    /* induction: the key sits at least one position before the end, so it is never simply the
     * byte before the query */
    for (int i = 0; i < T; i++) p[i] = letter(t, r);
    int at = (int)(rng_u64(r) % (uint64_t)(T - 2));
    char key = letter(t, r);
    p[at] = '#';
    p[at + 1] = key;
    p[T] = '#';
    p[T + 1] = 0;
    a[0] = key;
    a[1] = 0;
    return 0;
}

static int make(const TaskGen *g, Rng *r, TaskPool pool, long index, TaskExample *ex)
{
    return memory_task_example(g->ctx, r, ex);
}

void memory_task_gen(TaskGen *g, const MemoryTask *t)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", memory_task_name(t->kind));
    g->make = make;
    g->ctx = t;
    g->kind = (int)t->kind;
}
