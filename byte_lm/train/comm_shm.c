/* The shared-memory communicator (byte_lm/train/comm.h): ranks on one host map one POSIX shared-memory
 * segment holding a barrier, one robust mutex per rank (its liveness), and N+1 buffers of CHUNK
 * floats: each rank's contribution and the sum.
 *
 * Allreduce, per chunk: every rank copies its part into its buffer; barrier; rank r sums slice r
 * of the chunk over the ranks' buffers in rank order into the sum buffer; barrier; every rank
 * copies the sum out; barrier. One sum per element, always in the same order: every rank gets
 * the same bits. A dead rank is seen through its robust mutex (pthread_mutex_trylock returns
 * EOWNERDEAD once the kernel has released it), a rank that left through its state; either makes
 * the waiting ranks fail instead of waiting forever. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byte_lm/train/comm.h"
#include "byte_lm/base/progress.h"

#define SHM_MAGIC 0x62796c6dU /* "bylm" */
#define CHUNK ((size_t)1 << 18) /* floats per buffer: 1 MiB */

enum { RANK_ABSENT, RANK_JOINED, RANK_LEFT };

typedef struct {
    pthread_mutex_t alive; /* robust; held by the rank while it is in the group */
    _Atomic int state;
    char pad[64];
} RankSlot;

typedef struct {
    _Atomic unsigned magic; /* stored last by rank 0 when the segment is ready */
    int size;
    _Atomic int count;      /* ranks arrived at the current barrier */
    _Atomic unsigned gen;   /* barriers completed */
    _Atomic int failed;     /* the first failure seen (FAIL_*), 0 while all are well */
    char pad[64];
} Header;

typedef struct {
    char name[256];
    void *base;
    size_t bytes;
    Header *h;
    RankSlot *slots;
    float *bufs; /* size + 1 buffers of CHUNK floats; the last holds the sum */
    int unlinked;
} Shm;

static size_t slots_off(void) { return (sizeof(Header) + 63) / 64 * 64; }
static size_t bufs_off(int size) { return (slots_off() + (size_t)size * sizeof(RankSlot) + 63) / 64 * 64; }
static size_t total_bytes(int size) { return bufs_off(size) + (size_t)(size + 1) * CHUNK * sizeof(float); }

static void pause_briefly(unsigned long spin)
{
    if (spin < 64) return;
    if (spin < 1024) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, 50 * 1000};
    nanosleep(&ts, NULL);
}

/* The first failure seen by any rank, kept in the header so every rank reports the cause (rank 1
 * died) rather than its echo (rank 2 left after seeing rank 1 die). */
enum { FAIL_DIED = 1, FAIL_LEFT = 1 + 256 };

static int fail_with(Comm *c, int code, BlErr *e)
{
    Shm *s = c->ctx;
    int none = 0;
    if (!atomic_compare_exchange_strong(&s->h->failed, &none, code)) code = none;
    if (code >= FAIL_LEFT) return bl_fail(e, s->name, "rank %d of %d left the group", code - FAIL_LEFT, c->size);
    return bl_fail(e, s->name, "rank %d of %d died", code - FAIL_DIED, c->size);
}

/* Whether every other rank that has joined is still there; -1 with a message when one died or
 * left. Checked while waiting, so a lost rank ends the wait rather than hanging it. */
static int check_peers(Comm *c, BlErr *e)
{
    Shm *s = c->ctx;
    int code = atomic_load(&s->h->failed);
    if (code) return fail_with(c, code, e);
    for (int p = 0; p < c->size; p++) {
        if (p == c->rank) continue;
        RankSlot *r = &s->slots[p];
        int st = atomic_load(&r->state);
        if (st == RANK_LEFT) return fail_with(c, FAIL_LEFT + p, e);
        if (st != RANK_JOINED) continue;
        int rc = pthread_mutex_trylock(&r->alive);
        if (rc == EBUSY) continue;
        if (rc == 0) { /* it unlocked: it left between our two looks */
            pthread_mutex_unlock(&r->alive);
            return fail_with(c, FAIL_LEFT + p, e);
        }
        /* EOWNERDEAD (we now hold it; the others learn it through `failed`) or ENOTRECOVERABLE */
        return fail_with(c, FAIL_DIED + p, e);
    }
    return 0;
}

static int shm_barrier(Comm *c, BlErr *e)
{
    Shm *s = c->ctx;
    Header *h = s->h;
    unsigned gen = atomic_load(&h->gen);
    if (atomic_fetch_add(&h->count, 1) == c->size - 1) {
        atomic_store(&h->count, 0);
        atomic_fetch_add(&h->gen, 1);
        return 0;
    }
    for (unsigned long spin = 0;; spin++) {
        if (atomic_load(&h->gen) != gen) return 0;
        pause_briefly(spin);
        if (spin % 256 == 255 && check_peers(c, e)) {
            /* a rank that passed this barrier and then left is not a failure */
            if (atomic_load(&h->gen) != gen) return 0;
            return -1;
        }
    }
}

static int shm_allreduce(Comm *c, float *buf, size_t n, BlErr *e)
{
    Shm *s = c->ctx;
    float *mine = s->bufs + (size_t)c->rank * CHUNK, *sum = s->bufs + (size_t)c->size * CHUNK;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        memcpy(mine, buf + off, m * sizeof(float));
        if (shm_barrier(c, e)) return -1;
        size_t lo = m * (size_t)c->rank / (size_t)c->size, hi = m * (size_t)(c->rank + 1) / (size_t)c->size;
        memcpy(sum + lo, s->bufs + lo, (hi - lo) * sizeof(float));
        for (int p = 1; p < c->size; p++) {
            const float *src = s->bufs + (size_t)p * CHUNK;
            for (size_t i = lo; i < hi; i++) sum[i] += src[i];
        }
        if (shm_barrier(c, e)) return -1;
        memcpy(buf + off, sum, m * sizeof(float));
        if (shm_barrier(c, e)) return -1;
    }
    return 0;
}

static int shm_broadcast(Comm *c, void *buf, size_t bytes, BlErr *e)
{
    Shm *s = c->ctx;
    char *stage = (char *)(s->bufs + (size_t)c->size * CHUNK), *p = buf;
    const size_t cap = CHUNK * sizeof(float);
    for (size_t off = 0; off < bytes; off += cap) {
        size_t m = bytes - off < cap ? bytes - off : cap;
        if (c->rank == 0) memcpy(stage, p + off, m);
        if (shm_barrier(c, e)) return -1;
        if (c->rank != 0) memcpy(p + off, stage, m);
        if (shm_barrier(c, e)) return -1;
    }
    return 0;
}

static void shm_destroy(Comm *c)
{
    if (!c) return;
    Shm *s = c->ctx;
    if (s) {
        if (s->slots) {
            RankSlot *me = &s->slots[c->rank];
            if (atomic_load(&me->state) == RANK_JOINED) {
                atomic_store(&me->state, RANK_LEFT);
                pthread_mutex_unlock(&me->alive);
            }
        }
        if (c->rank == 0 && !s->unlinked) shm_unlink(s->name);
        if (s->base) munmap(s->base, s->bytes);
        free(s);
    }
    free(c);
}

static void map_layout(Shm *s, void *base, int size)
{
    s->base = base;
    s->h = base;
    s->slots = (RankSlot *)((char *)base + slots_off());
    s->bufs = (float *)((char *)base + bufs_off(size));
}

/* Rank 0: creates and initialises the segment; the magic word, stored last, says it is ready. */
static int create_segment(Shm *s, int size, BlErr *e)
{
    int fd = shm_open(s->name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
        s->unlinked = 1; /* the name is not ours to remove */
        if (errno == EEXIST)
            return bl_fail(e, s->name, "shared memory already exists (a stale run? remove /dev/shm%s)", s->name);
        return bl_fail_errno(e, s->name, "cannot create shared memory");
    }
    if (ftruncate(fd, (off_t)s->bytes)) {
        close(fd);
        shm_unlink(s->name);
        return bl_fail_errno(e, s->name, "cannot size shared memory");
    }
    void *base = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        shm_unlink(s->name);
        return bl_fail_errno(e, s->name, "cannot map shared memory");
    }
    map_layout(s, base, size);
    s->h->size = size;
    atomic_store(&s->h->count, 0);
    atomic_store(&s->h->gen, 0);
    atomic_store(&s->h->failed, 0);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    for (int p = 0; p < size; p++) {
        pthread_mutex_init(&s->slots[p].alive, &a);
        atomic_store(&s->slots[p].state, RANK_ABSENT);
    }
    pthread_mutexattr_destroy(&a);
    atomic_store(&s->h->magic, SHM_MAGIC);
    return 0;
}

/* Other ranks: waits for rank 0's segment to exist, have its full size and be marked ready.
 * 1 while not there yet, 0 when mapped, -1 on a real error. */
static int open_segment(Shm *s, int size, BlErr *e)
{
    int fd = shm_open(s->name, O_RDWR, 0600);
    if (fd < 0) return errno == ENOENT ? 1 : bl_fail_errno(e, s->name, "cannot open shared memory");
    struct stat st;
    if (fstat(fd, &st) || (size_t)st.st_size != s->bytes) {
        close(fd);
        return 1; /* rank 0 has not sized it yet */
    }
    void *base = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return bl_fail_errno(e, s->name, "cannot map shared memory");
    if (atomic_load(&((Header *)base)->magic) != SHM_MAGIC) {
        munmap(base, s->bytes);
        return 1;
    }
    map_layout(s, base, size);
    if (s->h->size != size) return bl_fail(e, s->name, "group has %d ranks, this rank expects %d", s->h->size, size);
    return 0;
}

Comm *comm_shm_create(const char *name, int rank, int size, double timeout, BlErr *e)
{
    if (size < 1 || rank < 0 || rank >= size) {
        bl_fail(e, name, "bad rank %d of %d", rank, size);
        return NULL;
    }
    Comm *c = bl_calloc(1, sizeof *c);
    Shm *s = bl_calloc(1, sizeof *s);
    c->rank = rank;
    c->size = size;
    c->kind = "shm";
    c->ctx = s;
    c->allreduce_sum = shm_allreduce;
    c->broadcast = shm_broadcast;
    c->barrier = shm_barrier;
    c->destroy = shm_destroy;
    snprintf(s->name, sizeof s->name, "%s%s", name[0] == '/' ? "" : "/", name);
    s->bytes = total_bytes(size);
    double t0 = now_seconds();
    if (rank == 0) {
        if (create_segment(s, size, e)) goto fail;
    } else {
        for (unsigned long spin = 0;; spin++) {
            int rc = open_segment(s, size, e);
            if (rc < 0) goto fail;
            if (rc == 0) break;
            if (now_seconds() - t0 > timeout) {
                bl_fail(e, s->name, "rank 0 did not create the group within %.0f s", timeout);
                goto fail;
            }
            pause_briefly(1024 + spin);
        }
    }
    RankSlot *me = &s->slots[rank];
    if (pthread_mutex_lock(&me->alive) == EOWNERDEAD) pthread_mutex_consistent(&me->alive);
    atomic_store(&me->state, RANK_JOINED);
    /* wait until everyone has joined: from then on a lost rank is seen by its mutex */
    for (unsigned long spin = 0;; spin++) {
        int joined = 0;
        for (int p = 0; p < size; p++) joined += atomic_load(&s->slots[p].state) != RANK_ABSENT;
        if (joined == size) break;
        if (now_seconds() - t0 > timeout) {
            bl_fail(e, s->name, "only %d of %d ranks joined within %.0f s", joined, size, timeout);
            goto fail;
        }
        if (spin % 64 == 63 && check_peers(c, e)) goto fail;
        pause_briefly(1024 + spin);
    }
    if (shm_barrier(c, e)) goto fail;
    if (rank == 0) { /* everyone has it mapped: the name is no longer needed */
        shm_unlink(s->name);
        s->unlinked = 1;
    }
    return c;
fail:
    shm_destroy(c);
    return NULL;
}
