#include "eval/task_train.h"

#include <string.h>

#include "byte_lm/base/atomic_dir.h"
#include "byte_lm/train/train.h"

void task_train_options_default(TaskTrainOptions *o)
{
    memset(o, 0, sizeof *o);
    o->B = 16;
    o->L = 128;
    o->steps = 1000;
    o->warmup = 50;
    o->lr = 3e-3f;
    /* no decay by default: these tasks are learned in a sudden drop after a plateau, and decay
     * 0.1 lengthened the plateau (selective copying, 16 positions, 2 letters: 600 steps vs more
     * than 1500 for one init, 1200 vs 1400 for another) */
    o->weight_decay = 0.0f;
    o->seed = 1337;
    task_eval_options_default(&o->eval);
}

void task_fill_row(const TaskGen *g, Rng *r, uint8_t *row, int len)
{
    TaskExample ex;
    char line[2 * TASK_TEXT_MAX + 2];
    int k = 0;
    while (k < len) {
        BL_CHECK(task_make(g, r, POOL_TRAIN, NULL, &ex, 1000) == 0);
        int n = task_line(&ex, line, (int)sizeof line);
        BL_CHECK(n > 0);
        if (n > len - k) n = len - k;
        memcpy(row + k, line, (size_t)n);
        k += n;
    }
}

typedef struct {
    const TaskGen *gens;
    int ngens;
    uint64_t seed;
    char name[1024]; /* "synthetic:" and the task names: the run's data */
} TaskSource;

/* Batch `index` of task rows, each from one task chosen at random: every batch has its own
 * random stream, so any batch can be made alone and the run is the same however it is cut. */
static int task_source_next(void *ctx, uint8_t *batch, int B, int L, uint64_t index, BlErr *e)
{
    const TaskSource *s = ctx;
    Rng r = rng_stream(s->seed, index);
    for (int b = 0; b < B; b++)
        task_fill_row(&s->gens[rng_u64(&r) % (uint64_t)s->ngens], &r, batch + (size_t)b * (L + 1), L + 1);
    return 0;
}

typedef struct {
    const TaskGen *gens;
    int ngens;
    const TaskEvalOptions *eval;
} TaskReport;

/* The periodic held-out score on stderr; the last step is left to the caller's final scoring. */
static void report_eval(void *ctx, Model *m, int step, int last)
{
    const TaskReport *t = ctx;
    if (last) return;
    for (int i = 0; i < t->ngens; i++) {
        TaskScore sc;
        BlErr e;
        TaskEvalOptions quiet = *t->eval;
        quiet.show = 0;
        if (task_evaluate(m, &t->gens[i], &quiet, &sc, &e)) {
            fprintf(stderr, "bytelm eval: %s\n", e.msg);
            continue;
        }
        fprintf(stderr, "\nstep %d: %s exact %.1f%%, characters %.1f%% (%d questions)\n", step,
                t->gens[i].name, 100.0 * sc.exact / sc.n, 100.0 * sc.char_correct / sc.n, sc.n);
    }
}

int task_train(const TaskTrainOptions *o, const TaskGen *gens, int ngens, Backend *be,
               Model **out, BlErr *e)
{
    TaskSource src = {gens, ngens, rng_stream(o->seed, 0x747261696e).s, ""};
    int n = snprintf(src.name, sizeof src.name, "synthetic:");
    for (int i = 0; i < ngens && n < (int)sizeof src.name; i++)
        n += snprintf(src.name + n, sizeof src.name - (size_t)n, "%s%s", i ? "," : "", gens[i].name);
    TrainSource source = {src.name, task_source_next, &src};
    TaskReport report = {gens, ngens, &o->eval};

    TrainOptions t;
    train_options_default(&t);
    t.config = o->config;
    t.out = o->out;
    t.force = 1;            /* --out is overwritten, as long as it holds only a run */
    t.precision = "fp32";   /* on every backend, as the scoring reads the model */
    t.time_budget = o->time_budget;
    t.quiet = o->quiet;
    t.source = &source;
    t.on_eval = (TrainHook){report_eval, &report};
    t.backend = be;
    t.model_out = out;
    TrainerState *ts = &t.ts;
    ts->B = o->B;
    ts->L = o->L;
    ts->seed = o->seed;
    ts->eval_every = o->eval_every;
    ts->ckpt_every = 0; /* saved once, at the end */
    ts->optim.lr = o->lr;
    ts->optim.weight_decay = o->weight_decay;
    ts->optim.total_steps = o->steps;
    ts->optim.warmup_steps = o->warmup < o->steps ? o->warmup : o->steps / 10;

    ModelConfig cfg;
    if (config_load(&cfg, o->config, e)) return -1;
    fprintf(stderr, "bytelm eval: training %lld parameters on", config_num_params(&cfg));
    for (int i = 0; i < ngens; i++) fprintf(stderr, " %s", gens[i].name);
    fprintf(stderr, ", B=%d L=%d, %d steps\n", o->B, o->L, o->steps);
    *out = NULL;
    int rc = train_run(&t, e);
    if (rc == 130 && *out) {
        model_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Written through file_replace_begin/end: a failure or an interrupt leaves the old file. */
int task_write_text(const char *path, const TaskGen *gens, int ngens, long n, int block,
                    uint64_t seed, BlErr *e)
{
    char tmp[4200];
    FILE *f = file_replace_begin(path, tmp, sizeof tmp, e);
    if (!f) return -1;
    Rng r = rng_stream(seed, 0x74657874);
    TaskExample ex;
    char line[2 * TASK_TEXT_MAX + 2];
    const TaskGen *g = &gens[0];
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        if (i % block == 0) g = &gens[rng_u64(&r) % (uint64_t)ngens];
        if (task_make(g, &r, POOL_TRAIN, NULL, &ex, 1000) < 0) {
            rc = bl_fail(e, path, "task %s: no training example could be made", g->name);
            break;
        }
        int len = task_line(&ex, line, (int)sizeof line);
        if (fwrite(line, 1, (size_t)len, f) != (size_t)len) rc = bl_fail_errno(e, tmp, "cannot write");
    }
    return file_replace_end(f, tmp, path, !rc, e) ? -1 : rc;
}
