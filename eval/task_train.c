#include "eval/task_train.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/base/progress.h"

#define LN2 0.69314718055994530942

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

/* mkdir -p: the run directory may be new and nested */
static int make_dirs(const char *path, BlErr *e)
{
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return bl_fail_errno(e, tmp, "cannot create directory");
            *p = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST) return bl_fail_errno(e, tmp, "cannot create directory");
    return 0;
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

/* Everything but the loss: what bytes/s and the checkpoint's trainer state record. */
static void trainer_state(TrainerState *ts, const TaskTrainOptions *o, const OptimConfig *oc,
                          const TaskGen *gens, int ngens, int step)
{
    memset(ts, 0, sizeof *ts);
    ts->step = step;
    ts->bytes_seen = (uint64_t)step * o->B * o->L;
    ts->B = o->B;
    ts->L = o->L;
    ts->accum = 1;
    ts->optim = *oc;
    ts->seed = o->seed;
    int n = snprintf(ts->data, sizeof ts->data, "synthetic:");
    for (int i = 0; i < ngens && n < (int)sizeof ts->data; i++)
        n += snprintf(ts->data + n, sizeof ts->data - (size_t)n, "%s%s", i ? "," : "", gens[i].name);
}

static void report_eval(Model *m, const TaskGen *gens, int ngens, const TaskEvalOptions *eo,
                        int step)
{
    for (int i = 0; i < ngens; i++) {
        TaskScore sc;
        BlErr e;
        TaskEvalOptions quiet = *eo;
        quiet.show = 0;
        if (task_evaluate(m, &gens[i], &quiet, &sc, &e)) {
            fprintf(stderr, "bytelm eval: %s\n", e.msg);
            continue;
        }
        fprintf(stderr, "\nstep %d: %s exact %.1f%%, characters %.1f%% (%d questions)\n", step,
                gens[i].name, 100.0 * sc.exact / sc.n, 100.0 * sc.char_correct / sc.n, sc.n);
    }
}

int task_train(const TaskTrainOptions *o, const TaskGen *gens, int ngens, Backend *be,
               Model **out, BlErr *e)
{
    ModelConfig cfg;
    if (config_load(&cfg, o->config, e)) return -1;
    Model *m;
    if (model_create(&m, &cfg, be, e)) return -1;
    model_init_params(m, o->seed);
    OptimConfig oc;
    optim_config_default(&oc);
    oc.lr = o->lr;
    oc.weight_decay = o->weight_decay;
    oc.total_steps = o->steps;
    oc.warmup_steps = o->warmup < o->steps ? o->warmup : o->steps / 10;
    Optimizer opt;
    optimizer_init(&opt, m, &oc);

    int B = o->B, L = o->L;
    uint8_t *batch = bl_malloc((size_t)B * (L + 1));
    Rng r = rng_stream(o->seed, 0x747261696e);
    fprintf(stderr, "bytelm eval: training %lld parameters on", config_num_params(&cfg));
    for (int i = 0; i < ngens; i++) fprintf(stderr, " %s", gens[i].name);
    fprintf(stderr, ", B=%d L=%d, %d steps\n", B, L, o->steps);
    Progress prog;
    progress_init(&prog, "train", (uint64_t)o->steps * B * L);
    prog.quiet = o->quiet;
    double t0 = now_seconds(), loss_avg = NAN;
    char extra[128] = "";
    int step = 0;
    while (step < o->steps) {
        for (int b = 0; b < B; b++)
            task_fill_row(&gens[rng_u64(&r) % (uint64_t)ngens], &r, batch + (size_t)b * (L + 1), L + 1);
        model_zero_grads(m);
        double loss = model_forward_backward(m, batch, B, L, 1.0f) / LN2;
        optimizer_step(&opt, m, NULL);
        step++;
        loss_avg = isnan(loss_avg) ? loss : 0.95 * loss_avg + 0.05 * loss;
        snprintf(extra, sizeof extra, "step %d/%d loss %.3f bpb", step, o->steps, loss_avg);
        progress_update(&prog, (uint64_t)step * B * L, extra);
        if (o->eval_every > 0 && step % o->eval_every == 0 && step < o->steps)
            report_eval(m, gens, ngens, &o->eval, step);
        if (o->time_budget > 0 && now_seconds() - t0 >= o->time_budget) break;
    }
    progress_finish(&prog, (uint64_t)step * B * L, extra);
    free(batch);
    int rc = 0;
    if (o->out) {
        char dir[2048];
        snprintf(dir, sizeof dir, "%.2000s/checkpoint", o->out);
        TrainerState ts;
        trainer_state(&ts, o, &oc, gens, ngens, step);
        ts.elapsed_seconds = now_seconds() - t0;
        if (make_dirs(o->out, e) || checkpoint_save(dir, m, &opt, &ts, e)) rc = -1;
        else fprintf(stderr, "bytelm eval: checkpoint %s\n", dir);
    }
    optimizer_free(&opt, m);
    if (rc) {
        model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int task_write_text(const char *path, const TaskGen *gens, int ngens, long n, int block,
                    uint64_t seed, BlErr *e)
{
    FILE *f = fopen(path, "wb");
    if (!f) return bl_fail_errno(e, path, "cannot create");
    Rng r = rng_stream(seed, 0x74657874);
    TaskExample ex;
    char line[2 * TASK_TEXT_MAX + 2];
    const TaskGen *g = &gens[0];
    for (long i = 0; i < n; i++) {
        if (i % block == 0) g = &gens[rng_u64(&r) % (uint64_t)ngens];
        if (task_make(g, &r, POOL_TRAIN, NULL, &ex, 1000) < 0) {
            fclose(f);
            return bl_fail(e, path, "task %s: no training example could be made", g->name);
        }
        int len = task_line(&ex, line, (int)sizeof line);
        if (fwrite(line, 1, (size_t)len, f) != (size_t)len) {
            fclose(f);
            return bl_fail_errno(e, path, "cannot write");
        }
    }
    if (fclose(f)) return bl_fail_errno(e, path, "cannot write");
    return 0;
}
