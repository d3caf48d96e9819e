/* The training loader: batches of random windows, built ahead of time by background threads.
 *
 * Since every window's position is a pure function of (seed, batch, row), the whole future
 * sequence is known: worker t builds batches start+t, start+t+T, ... straight into a ring of
 * batch buffers, and loader_next waits for its batch and copies it out. Workers decode the
 * frames a window touches into a small per-thread cache of decoded frames (so small corpora end
 * up fully cached); plain files and plain .zst are in memory and need no decoding at all. */
#include "corpus/loader.h"

#include <pthread.h>
#include <string.h>

#include "corpus/shard_set.h"
#include "corpus/source.h"

enum { SLOT_EMPTY, SLOT_READY, SLOT_FAILED };

typedef struct {
    uint64_t frame; /* UINT64_MAX when unused */
    uint64_t used;  /* tick of the last use, for least-recently-used eviction */
    uint8_t *buf;
} CacheSlot;

typedef struct {
    Loader *ld;
    int id;
    pthread_t thread;
    FrameDecoder dec;
    CacheSlot *slots;
    int nslots;
    uint64_t tick;
} Worker;

struct Loader {
    int B, L;
    size_t row, batch_bytes;
    uint64_t seed;
    uint64_t total, npos; /* npos: number of valid window starts, total - L */
    /* the data: a shard set, or bytes in memory */
    int is_set;
    ShardSet set;
    uint8_t *mem;
    uint64_t mem_len;
    int mem_mapped;
    /* the ring: slot k % ahead holds batch k */
    int ahead;
    uint8_t *ring;
    uint64_t *slot_batch;
    int *slot_state;
    BlErr *slot_err;
    pthread_mutex_t mu;
    pthread_cond_t ready, room;
    uint64_t next;  /* the batch loader_next returns next */
    uint64_t start; /* the batch the workers started from */
    int stop;
    int running; /* the workers were started (not for a position out of range) */
    char *path;  /* for messages */
    int nworkers;
    Worker *workers;
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t loader_window_start(const Loader *ld, uint64_t k, int i)
{
    /* Chained splitmix finalizers: each stage is a bijection, so distinct (seed, k, i) give
     * unrelated outputs; the 128-bit multiply maps them onto [0, npos) without a division. */
    const uint64_t g = 0x9E3779B97F4A7C15ull;
    uint64_t h = mix64(ld->seed + g);
    h = mix64(h ^ (k + g));
    h = mix64(h ^ ((uint64_t)i + 2 * g));
    return (uint64_t)(((unsigned __int128)h * ld->npos) >> 64);
}

void loader_default_options(LoaderOptions *o)
{
    o->threads = 2;
    o->ahead = 8;
    o->cache_bytes = (size_t)256 << 20;
}

/* The decoded bytes of frame f, from the cache or freshly decoded into the least recently used slot. */
static const uint8_t *frame_bytes(Worker *w, uint64_t f, BlErr *e)
{
    const ShardSet *s = &w->ld->set;
    CacheSlot *victim = &w->slots[0];
    w->tick++;
    for (int i = 0; i < w->nslots; i++) {
        CacheSlot *c = &w->slots[i];
        if (c->frame == f) {
            c->used = w->tick;
            return c->buf;
        }
        if (c->used < victim->used) victim = c;
    }
    if (!victim->buf) victim->buf = bl_malloc(s->max_frame);
    victim->frame = UINT64_MAX;
    if (shardset_decode(s, f, victim->buf, &w->dec, e)) return NULL;
    victim->frame = f;
    victim->used = w->tick;
    return victim->buf;
}

/* Copies n decoded bytes starting at pos, across as many frames (and shards) as they span. */
static int copy_range(Worker *w, uint64_t pos, size_t n, uint8_t *dst, BlErr *e)
{
    const Loader *ld = w->ld;
    if (!ld->is_set) {
        memcpy(dst, ld->mem + pos, n);
        return 0;
    }
    uint64_t f = shardset_find(&ld->set, pos);
    while (n) {
        const SetFrame *fr = &ld->set.frames[f];
        const uint8_t *b = frame_bytes(w, f, e);
        if (!b) return -1;
        uint64_t off = pos - fr->doff;
        size_t take = fr->dsize - off < n ? (size_t)(fr->dsize - off) : n;
        memcpy(dst, b + off, take);
        dst += take, pos += take, n -= take, f++;
    }
    return 0;
}

static int build_batch(Worker *w, uint64_t k, uint8_t *dst, BlErr *e)
{
    const Loader *ld = w->ld;
    for (int i = 0; i < ld->B; i++)
        if (copy_range(w, loader_window_start(ld, k, i), ld->row, dst + (size_t)i * ld->row, e)) return -1;
    return 0;
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    Loader *ld = w->ld;
    for (uint64_t k = ld->start + (uint64_t)w->id;; k += (uint64_t)ld->nworkers) {
        pthread_mutex_lock(&ld->mu);
        while (!ld->stop && k >= ld->next + (uint64_t)ld->ahead) pthread_cond_wait(&ld->room, &ld->mu);
        int stop = ld->stop;
        pthread_mutex_unlock(&ld->mu);
        if (stop) break;
        size_t slot = (size_t)(k % (uint64_t)ld->ahead);
        BlErr err = {{0}};
        int rc = build_batch(w, k, ld->ring + slot * ld->batch_bytes, &err);
        pthread_mutex_lock(&ld->mu);
        ld->slot_batch[slot] = k;
        ld->slot_state[slot] = rc ? SLOT_FAILED : SLOT_READY;
        if (rc) ld->slot_err[slot] = err;
        pthread_cond_broadcast(&ld->ready);
        pthread_mutex_unlock(&ld->mu);
        if (rc) break; /* the error reaches the caller when it asks for batch k */
    }
    return NULL;
}

static void start_workers(Loader *ld)
{
    for (int s = 0; s < ld->ahead; s++) ld->slot_batch[s] = UINT64_MAX, ld->slot_state[s] = SLOT_EMPTY;
    ld->start = ld->next;
    ld->stop = 0;
    /* beyond LOADER_MAX_BATCH, k + ahead would wrap and every thread would wait for a batch that
     * never comes: no workers, and loader_next reports the position instead */
    ld->running = ld->next <= LOADER_MAX_BATCH;
    if (!ld->running) return;
    for (int i = 0; i < ld->nworkers; i++) BL_CHECK(!pthread_create(&ld->workers[i].thread, NULL, worker_main, &ld->workers[i]));
}

static void stop_workers(Loader *ld)
{
    if (!ld->running) return;
    ld->running = 0;
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->room);
    pthread_mutex_unlock(&ld->mu);
    for (int i = 0; i < ld->nworkers; i++) pthread_join(ld->workers[i].thread, NULL);
}

/* Opens the data behind path: a shard set for corpora and seekable files, memory otherwise. */
static int open_data(Loader *ld, const char *path, const char *split, BlErr *e)
{
    SourceKind kind;
    if (source_probe(path, &kind, e)) return -1;
    switch (kind) {
    case SOURCE_CORPUS_DIR:
        ld->is_set = 1;
        if (shardset_open_dir(&ld->set, path, split, e)) return -1;
        ld->total = ld->set.total;
        return 0;
    case SOURCE_SEEKABLE:
        ld->is_set = 1;
        if (shardset_open_file(&ld->set, path, e)) return -1;
        ld->total = ld->set.total;
        return 0;
    case SOURCE_ZSTD:
        if (zstd_decode_file(path, &ld->mem, &ld->mem_len, e)) return -1;
        ld->total = ld->mem_len;
        return 0;
    case SOURCE_PLAIN:
        if (map_file(path, &ld->mem, &ld->mem_len, e)) return -1;
        ld->mem_mapped = 1;
        ld->total = ld->mem_len;
        return 0;
    }
    return bl_fail(e, path, "unknown source kind");
}

static void free_data(Loader *ld)
{
    if (ld->is_set) shardset_close(&ld->set);
    else if (ld->mem_mapped) unmap_file(ld->mem, ld->mem_len);
    else free(ld->mem);
    ld->is_set = 0;
    ld->mem = NULL;
}

int loader_open_opts(Loader **out, const char *path, const char *split, int B, int L, uint64_t seed,
                     const LoaderOptions *opt, BlErr *e)
{
    *out = NULL;
    if (B < 1 || L < 1 || (uint64_t)B * ((uint64_t)L + 1) > ((uint64_t)1 << 32))
        return bl_fail(e, path, "bad batch shape B=%d L=%d", B, L);
    LoaderOptions o;
    if (opt) o = *opt;
    else loader_default_options(&o);
    Loader *ld = bl_calloc(1, sizeof *ld);
    ld->B = B, ld->L = L, ld->seed = seed;
    ld->path = strdup(path);
    ld->row = (size_t)L + 1;
    ld->batch_bytes = (size_t)B * ld->row;
    if (open_data(ld, path, split, e)) {
        free_data(ld);
        free(ld->path);
        free(ld);
        return -1;
    }
    if (ld->total < ld->row) {
        bl_fail_at(e, path, ld->total, "too short: %llu bytes, fewer than one window of L+1 = %zu",
                   (unsigned long long)ld->total, ld->row);
        free_data(ld);
        free(ld->path);
        free(ld);
        return -1;
    }
    ld->npos = ld->total - (uint64_t)L;
    ld->nworkers = o.threads < 1 ? 1 : o.threads;
    ld->ahead = o.ahead < ld->nworkers ? ld->nworkers : o.ahead;
    ld->ring = bl_malloc((size_t)ld->ahead * ld->batch_bytes);
    ld->slot_batch = bl_calloc((size_t)ld->ahead, sizeof *ld->slot_batch);
    ld->slot_state = bl_calloc((size_t)ld->ahead, sizeof *ld->slot_state);
    ld->slot_err = bl_calloc((size_t)ld->ahead, sizeof *ld->slot_err);
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->ready, NULL);
    pthread_cond_init(&ld->room, NULL);
    ld->workers = bl_calloc((size_t)ld->nworkers, sizeof *ld->workers);
    for (int i = 0; i < ld->nworkers; i++) {
        Worker *w = &ld->workers[i];
        w->ld = ld;
        w->id = i;
        if (!ld->is_set) continue;
        framedec_init(&w->dec);
        size_t per = o.cache_bytes / (size_t)ld->nworkers / (ld->set.max_frame ? ld->set.max_frame : 1);
        w->nslots = per < 2 ? 2 : per > 4096 ? 4096 : (int)per;
        w->slots = bl_calloc((size_t)w->nslots, sizeof *w->slots);
        for (int s = 0; s < w->nslots; s++) w->slots[s].frame = UINT64_MAX;
    }
    start_workers(ld);
    *out = ld;
    return 0;
}

int loader_open(Loader **out, const char *path, const char *split, int B, int L, uint64_t seed, BlErr *e)
{
    return loader_open_opts(out, path, split, B, L, seed, NULL, e);
}

int loader_next(Loader *ld, uint8_t *batch, BlErr *e)
{
    if (ld->next > LOADER_MAX_BATCH)
        return bl_fail(e, ld->path, "loader position %llu is out of range (at most 2^53)",
                       (unsigned long long)ld->next);
    size_t slot = (size_t)(ld->next % (uint64_t)ld->ahead);
    pthread_mutex_lock(&ld->mu);
    while (!(ld->slot_batch[slot] == ld->next && ld->slot_state[slot] != SLOT_EMPTY))
        pthread_cond_wait(&ld->ready, &ld->mu);
    int failed = ld->slot_state[slot] == SLOT_FAILED;
    if (failed && e) *e = ld->slot_err[slot];
    pthread_mutex_unlock(&ld->mu);
    if (failed) return -1; /* the position stays: every later call reports the same error */
    /* no worker writes this slot until next moves past it, so the copy needs no lock */
    memcpy(batch, ld->ring + slot * ld->batch_bytes, ld->batch_bytes);
    pthread_mutex_lock(&ld->mu);
    ld->next++;
    pthread_cond_broadcast(&ld->room);
    pthread_mutex_unlock(&ld->mu);
    return 0;
}

LoaderPos loader_get_pos(const Loader *ld)
{
    return (LoaderPos){ld->seed, ld->next};
}

void loader_set_pos(Loader *ld, LoaderPos pos)
{
    stop_workers(ld);
    ld->seed = pos.seed;
    ld->next = pos.next_batch;
    start_workers(ld);
}

uint64_t loader_total_bytes(const Loader *ld)
{
    return ld->total;
}

void loader_close(Loader *ld)
{
    if (!ld) return;
    stop_workers(ld);
    for (int i = 0; i < ld->nworkers; i++) {
        Worker *w = &ld->workers[i];
        for (int s = 0; s < w->nslots; s++) free(w->slots[s].buf);
        free(w->slots);
        if (ld->is_set) framedec_free(&w->dec);
    }
    free(ld->workers);
    free_data(ld);
    free(ld->ring);
    free(ld->slot_batch);
    free(ld->slot_state);
    free(ld->slot_err);
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->ready);
    pthread_cond_destroy(&ld->room);
    free(ld->path);
    free(ld);
}
