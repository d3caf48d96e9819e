#include "byte_lm/train/train.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/checkpoint/checkpoint_open.h"
#include "byte_lm/train/comm.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/base/interrupt.h"
#include "byte_lm/base/json_out.h"
#include "byte_lm/train/loss_plot.h"
#include "byte_lm/base/progress.h"
#include "byte_lm/train/run_dir.h"

#define LN2 0.69314718055994530942

void train_options_default(TrainOptions *o)
{
    memset(o, 0, sizeof *o);
    o->device = "cpu";
    o->log_every = 1;
    o->world = 1;
    TrainerState *t = &o->ts;
    optim_config_default(&t->optim);
    t->B = 8;
    t->L = 512;
    t->accum = 1;
    t->seed = 1337;
    t->eval_every = 100;
    t->eval_batches = 8;
    t->ckpt_every = 500;
}

/* JSON has no NaN or infinity: a non-finite value is written as null. buf holds 32 bytes. */
static const char *json_num(char *buf, double v)
{
    if (isfinite(v)) snprintf(buf, 32, "%.6f", v);
    else snprintf(buf, 32, "null");
    return buf;
}

/* Validation bpb on a fixed set of batches: the val loader is rewound to the same position each
 * time so successive evaluations are comparable. It is the mean over eval_batches x B random
 * windows of L bytes of the val split, each window scored from a fresh state (its first bytes
 * have little context), so it reads higher than `eval bpb`, which reads the split once, front to
 * back, carrying the state. 0, or -1 with e filled (a loader error, or a non-finite loss). */
static int validate(Model *m, Loader *val, const TrainerState *ts, uint8_t *batch, double *out, BlErr *e)
{
    if (ts->eval_batches < 1) return bl_fail(e, NULL, "train: eval_batches is %d: validation needs at least 1 batch", ts->eval_batches);
    LoaderPos start = {ts->seed ^ 0x5eed, 0};
    loader_set_pos(val, start);
    int B = ts->B, L = ts->L;
    double sum = 0;
    long long n = 0;
    for (int k = 0; k < ts->eval_batches; k++) {
        if (loader_next(val, batch, e)) return -1;
        sum += (double)model_loss(m, batch, B, L) * B * L;
        n += (long long)B * L;
    }
    *out = sum / (double)n / LN2;
    if (!isfinite(*out))
        return bl_fail(e, NULL, "train: the validation loss is not finite at step %d (the weights overflowed)", ts->step);
    return 0;
}

typedef struct {
    Backend *be;
    int own_be;      /* opened here (else the caller's TrainOptions.backend) */
    Comm *comm;      /* NULL when training alone */
    float *scalars;  /* backend memory: loss and stop flags summed over the ranks */
    Model *model;
    Optimizer opt;
    int have_opt;
    Loader *train, *val;
    uint8_t *batch;
    TrainerState ts;
    Metrics metrics;
    RunDir rd;
    int have_rd;
    TrainerState loaded; /* as the checkpoint had it, before the options of a resume */
    char ckpt_dir[2048], metrics_path[2048], svg_path[2048];
} Run;

/* The run's file names under dir (the run directory, or where a forced run grows until its
 * first checkpoint). */
static void run_paths(Run *r, const char *dir)
{
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%.2000s/checkpoint", dir);
    snprintf(r->metrics_path, sizeof r->metrics_path, "%.2000s/metrics.jsonl", dir);
    snprintf(r->svg_path, sizeof r->svg_path, "%.2000s/loss.svg", dir);
}

static void run_close(Run *r)
{
    if (r->have_opt) optimizer_free(&r->opt, r->model);
    if (r->model) model_free(r->model);
    if (r->train) loader_close(r->train);
    if (r->val) loader_close(r->val);
    if (r->comm) r->comm->destroy(r->comm);
    if (r->scalars) r->be->free(r->be, r->scalars);
    if (r->be && r->own_be) r->be->destroy(r->be);
    metrics_close(&r->metrics);
    if (r->have_rd) run_dir_close(&r->rd);
    free(r->batch);
}

/* Builds the model and optimizer: fresh from the config, or from a checkpoint to resume. */
static int run_setup(Run *r, const TrainOptions *o, BlErr *e)
{
    ModelConfig cfg;
    char resume_dir[2048] = "";
    if (o->resume) {
        if (checkpoint_resolve(o->resume, resume_dir, sizeof resume_dir, e)) return -1;
        if (checkpoint_load_config(resume_dir, &cfg, e)) return -1;
    } else {
        if (!o->config) return bl_fail(e, NULL, "train: --config (or --resume) is required");
        if (config_load(&cfg, o->config, e)) return -1;
        r->ts = o->ts;
    }
    /* rank r of a data-parallel run drives GPU r */
    int gpu = o->world > 1 && o->device && strcmp(o->device, "cpu") ? o->rank : 0;
    if (o->backend) {
        r->be = o->backend;
    } else {
        if (!(r->be = backend_open(o->device, o->threads, gpu, e))) return -1;
        r->own_be = 1;
    }
    if (o->world > 1) {
        if (!o->rendezvous) return bl_fail(e, NULL, "train: --rendezvous is required with --world");
#ifdef BYTELM_CUDA
        if (r->be->kind == BACKEND_CUDA)
            r->comm = comm_nccl_create(o->rendezvous, o->rank, o->world, r->be, 600, e);
        else
#endif
            r->comm = comm_shm_create(o->rendezvous, o->rank, o->world, 120, e);
        if (!r->comm) return -1;
        r->scalars = r->be->alloc(r->be, 4 * sizeof(float));
    }
    const char *cfg_file = o->resume ? resume_dir : o->config;
    /* the model check in model_create counts weights and gradients; a step also holds the AdamW
     * moments and B x L rows of activations, which is where an absurd -B or -L shows */
    if (r->be->kind == BACKEND_CPU) {
        double need = config_train_bytes(&cfg, r->ts.B, r->ts.L), have = (double)r->be->mem_total_bytes(r->be);
        if (have > 0 && need > have)
            return bl_fail(e, cfg_file, "training B=%d x L=%d needs %.1f GiB (weights, gradients, AdamW moments, "
                                        "activations), more than this machine's %.1f GiB",
                           r->ts.B, r->ts.L, need / (1 << 30), have / (1 << 30));
    }
    if (o->resume) {
        if (checkpoint_load_model(resume_dir, r->be, &r->model, e)) return -1;
    } else if (model_create(&r->model, &cfg, r->be, e)) {
        BlErr inner = *e;
        return bl_fail(e, cfg_file, "%s", inner.msg);
    }
    Precision want;
    if (precision_for(r->be, o->precision, &want))
        return bl_fail(e, NULL, "train: --precision must be fp32 or bf16, not '%s'", o->precision);
    if (o->resume) {
        optimizer_init(&r->opt, r->model, &r->ts.optim);
        r->have_opt = 1;
        if (checkpoint_load_trainer(resume_dir, r->model, &r->opt, &r->ts, e)) return -1;
        r->loaded = r->ts;
        train_resume_apply(o, &r->ts, 0); /* said once the run directory is ours (below) */
        char ts_file[2100];
        snprintf(ts_file, sizeof ts_file, "%s/trainer_state.json", resume_dir);
        if (optim_config_check(&r->ts.optim, ts_file, e)) return -1;
        if (r->ts.eval_batches < 1)
            return bl_fail(e, ts_file, "eval_batches is %d: validation needs at least 1 batch", r->ts.eval_batches);
        r->opt.cfg = r->ts.optim;
        /* the checkpoint holds the micro-batches of a whole step: split them over the ranks */
        if (r->ts.accum % o->world)
            return bl_fail(e, resume_dir, "accum %d of the checkpoint does not split over %d ranks",
                           r->ts.accum, o->world);
        r->ts.accum /= o->world;
    } else {
        r->ts.precision = want;
        if (optim_config_check(&r->ts.optim, NULL, e)) return -1;
        model_init_params(r->model, r->ts.seed);
        optimizer_init(&r->opt, r->model, &r->ts.optim);
        r->have_opt = 1;
        r->ts.loader.seed = r->ts.seed;
        r->ts.loader.next_batch = 0;
    }
    model_set_precision(r->model, r->ts.precision);
    /* every rank starts from rank 0's weights, whatever their own init or files said */
    if (r->comm && r->comm->broadcast(r->comm, model_params(r->model),
                                      model_num_params(r->model) * sizeof(float), e))
        return -1;
    if (o->source) {
        if (!o->resume) snprintf(r->ts.data, sizeof r->ts.data, "%s", o->source->name);
    } else {
        if (!r->ts.data[0]) return bl_fail(e, NULL, "train: --data is required");
        if (loader_open(&r->train, r->ts.data, "train", r->ts.B, r->ts.L, r->ts.loader.seed, e)) return -1;
        loader_set_pos(r->train, r->ts.loader);
    }
    r->batch = bl_malloc((size_t)r->ts.B * (r->ts.L + 1));
    if (o->rank > 0) return 0; /* rank 0 alone validates, logs and saves */
    const char *val = r->ts.val[0] ? r->ts.val : NULL;
    if (val && loader_open(&r->val, val, "val", r->ts.B, r->ts.L, r->ts.seed ^ 0x5eed, e)) return -1;

    const char *out = o->out;
    char derived[2048];
    RunDirMode mode = o->force ? RUN_FORCE : RUN_NEW;
    if (o->resume) {
        /* the run the checkpoint belongs to; checkpoint.old is what a crash between a save's
         * two renames leaves: the run is its parent all the same */
        snprintf(derived, sizeof derived, "%s", resume_dir);
        char *slash = strrchr(derived, '/');
        if (slash && (!strcmp(slash, "/checkpoint") || !strcmp(slash, "/checkpoint.old"))) *slash = 0;
        /* resuming without --out (or with --out naming that run) keeps writing into it */
        if (!out || file_same(out, derived)) {
            out = derived;
            mode = RUN_RESUME;
        }
    }
    if (!out && o->model_out) return 0; /* a run in memory: the caller takes the model */
    if (!out) return bl_fail(e, NULL, "train: --out DIR is required");
    if (run_dir_open(&r->rd, out, mode, e)) {
        run_dir_close(&r->rd);
        return -1;
    }
    r->have_rd = 1;
    run_paths(r, r->rd.work);
    if (o->resume) train_resume_apply(o, &r->loaded, 1); /* says what the options change */
    /* a crash after the checkpoint logged steps that will be run (and logged) again */
    if (mode == RUN_RESUME && run_dir_trim_metrics(r->metrics_path, r->ts.step, e)) return -1;
    if (metrics_open(&r->metrics, r->metrics_path, mode == RUN_RESUME))
        return bl_fail_errno(e, r->metrics_path, "cannot open");
    return 0;
}

/* The checkpoint describes the step as a whole (accum = micro-batches over all ranks, the loader
 * at the first global batch of the next step), so it resumes alone or over any rank count that
 * divides accum. */
static int save(Run *r, int world, BlErr *e)
{
    r->ts.optim = r->opt.cfg;
    TrainerState whole = r->ts;
    whole.accum *= world;
    return checkpoint_save(r->ckpt_dir, r->model, &r->opt, &whole, e);
}

/* Sums the gradients and the step's scalars (loss, stop requests) over the ranks. */
static int reduce_step(Run *r, double *loss, int *time_up, int *sig, BlErr *e)
{
    Comm *c = r->comm;
    if (c->allreduce_sum(c, model_grads(r->model), model_num_params(r->model), e)) return -1;
    float s[4] = {(float)*loss, (float)*time_up, (float)*sig, 0};
    r->be->upload(r->be, r->scalars, s, sizeof s);
    if (c->allreduce_sum(c, r->scalars, 4, e)) return -1;
    r->be->download(r->be, s, r->scalars, sizeof s);
    *loss = s[0];
    *time_up = s[1] > 0;
    if (!*sig && s[2] > 0) *sig = 15; /* another rank was signalled: stop as if terminated */
    return 0;
}

int train_run(const TrainOptions *o, BlErr *e)
{
    Run r;
    memset(&r, 0, sizeof r);
    if (run_setup(&r, o, e)) {
        run_close(&r);
        return -1;
    }
    TrainerState *ts = &r.ts;
    int total = ts->optim.total_steps, world = o->world, lead = o->rank == 0;
    uint64_t per_step = (uint64_t)ts->accum * world; /* loader batches per step, all ranks */
    uint64_t bytes_per_step = (uint64_t)ts->B * ts->L * per_step;
    char ranks[64] = "";
    if (world > 1) snprintf(ranks, sizeof ranks, " on each of %d ranks (%s)", world, r.comm->kind);
    if (lead && !o->quiet)
        fprintf(stderr, "bytelm train: %s backend, %lld parameters, B=%d L=%d accum=%d%s, steps %d..%d\n",
                r.be->name, config_num_params(model_config(r.model)), ts->B, ts->L, ts->accum, ranks,
                ts->step + 1, total);

    Progress prog;
    if (lead) progress_init(&prog, "train", (uint64_t)(total - ts->step) * bytes_per_step);
    prog.quiet = o->quiet;
    double t0 = now_seconds(), elapsed0 = ts->elapsed_seconds;
    int start_step = ts->step, rc = 0;
    interrupt_install();
    double last_loss = NAN, last_val = NAN;
    if (lead && o->resume) metrics_write(&r.metrics, "\"resumed_at_step\":%d", ts->step); /* loss.svg marks it */
    char extra[160] = "";
    while (ts->step < total) {
        double ts_step = now_seconds();
        model_zero_grads(r.model);
        double loss = 0;
        uint64_t first = ts->loader.next_batch;
        for (int k = 0; k < ts->accum; k++) {
            /* micro-batch k of rank r is global batch first + k*world + r: the step over all
             * ranks reads the batches one process with accum*world would */
            uint64_t index = first + (uint64_t)k * world + (uint64_t)o->rank;
            int bad;
            if (o->source) {
                bad = o->source->next(o->source->ctx, r.batch, ts->B, ts->L, index, e);
            } else {
                if (world > 1) loader_set_pos(r.train, (LoaderPos){ts->loader.seed, index});
                bad = loader_next(r.train, r.batch, e);
            }
            if (bad) {
                rc = -1;
                goto done;
            }
            loss += model_forward_backward(r.model, r.batch, ts->B, ts->L, 1.0f / (float)per_step);
        }
        int sig = interrupt_requested();
        int time_up = o->time_budget > 0 && now_seconds() - t0 >= o->time_budget;
        if (r.comm && reduce_step(&r, &loss, &time_up, &sig, e)) {
            rc = -1;
            goto done;
        }
        loss /= (double)per_step;
        float lr = 0;
        /* a non-finite loss or gradient must not reach the weights: skip the update (the
         * optimizer itself refuses a non-finite gradient norm) */
        double gnorm = isfinite(loss) ? optimizer_step(&r.opt, r.model, &lr) : NAN;
        r.be->sync(r.be);
        ts->step++;
        ts->bytes_seen += bytes_per_step;
        ts->loader.next_batch = first + per_step;
        double now = now_seconds(), dt = now - ts_step;
        ts->elapsed_seconds = elapsed0 + (now - t0);
        last_loss = loss / LN2;
        int last = ts->step == total || time_up ||
                   (o->stop_after > 0 && ts->step - start_step >= o->stop_after) || sig;
        if (!lead) {
            if (last) break;
            continue;
        }
        if (!isfinite(gnorm) || !isfinite(loss))
            fprintf(stderr, "\nbytelm train: warning: non-finite loss or gradient at step %d, update skipped\n",
                    ts->step);
        if (ts->step % o->log_every == 0 || ts->step == total) {
            char jl[32], jb[32], jg[32];
            metrics_write(&r.metrics,
                          "\"step\":%d,\"loss\":%s,\"bpb\":%s,\"lr\":%.6g,\"grad_norm\":%s,"
                          "\"bytes\":%llu,\"bytes_per_s\":%.1f,\"elapsed\":%.3f",
                          ts->step, json_num(jl, loss), json_num(jb, last_loss), lr,
                          json_num(jg, gnorm), (unsigned long long)ts->bytes_seen,
                          bytes_per_step / dt, ts->elapsed_seconds);
        }
        if (sig) fprintf(stderr, "\nbytelm train: %s at step %d: saving a checkpoint and stopping\n",
                         sig == 2 ? "interrupted" : "terminated", ts->step);
        if (r.val && ts->eval_every > 0 && (ts->step % ts->eval_every == 0 || last)) {
            if (validate(r.model, r.val, ts, r.batch, &last_val, e)) {
                rc = -1;
                goto done;
            }
            metrics_write(&r.metrics, "\"step\":%d,\"val_bpb\":%.6f,\"bytes\":%llu", ts->step,
                          last_val, (unsigned long long)ts->bytes_seen);
            loss_plot_write(r.metrics_path, r.svg_path);
        }
        if (o->on_eval.fn && ts->eval_every > 0 && (ts->step % ts->eval_every == 0 || last))
            o->on_eval.fn(o->on_eval.ctx, r.model, ts->step, last);
        char loss_txt[32] = "not finite";
        if (isfinite(last_loss)) snprintf(loss_txt, sizeof loss_txt, "%.3f bpb", last_loss);
        int n = snprintf(extra, sizeof extra, "step %d/%d loss %s lr %.2e", ts->step, total, loss_txt, lr);
        if (!isnan(last_val)) snprintf(extra + n, sizeof extra - (size_t)n, " val %.3f bpb", last_val);
        progress_update(&prog, (uint64_t)(ts->step - start_step) * bytes_per_step, extra);
        if (r.have_rd && ((ts->ckpt_every > 0 && ts->step % ts->ckpt_every == 0) || last)) {
            if (save(&r, world, e)) {
                rc = -1;
                goto done;
            }
            int moved = run_dir_saved(&r.rd, e); /* a forced run takes the old one's place now */
            if (moved < 0) {
                rc = -1;
                goto done;
            }
            if (moved) run_paths(&r, r.rd.dir);
        }
        if (last) break;
    }
    if (!lead) goto done;
    progress_finish(&prog, (uint64_t)(ts->step - start_step) * bytes_per_step, extra);
    if (!r.val && r.have_rd) loss_plot_write(r.metrics_path, r.svg_path);
    char val_txt[32] = "none", train_txt[32] = "not finite";
    if (isfinite(last_val)) snprintf(val_txt, sizeof val_txt, "%.6f", last_val);
    if (isfinite(last_loss)) snprintf(train_txt, sizeof train_txt, "%.4f", last_loss);
    if (o->json) {
        printf("{\"step\":%d,\"loss_bpb\":", ts->step);
        json_put_number(stdout, "%.6f", last_loss);
        printf(",\"val_bpb\":");
        json_put_number(stdout, "%.6f", last_val);
        printf(",\"bytes_seen\":%llu,\"elapsed\":%.3f,\"checkpoint\":", (unsigned long long)ts->bytes_seen,
               ts->elapsed_seconds);
        if (r.have_rd) json_put_string(stdout, r.ckpt_dir);
        else printf("null");
        printf("}\n");
    }
    /* what the two numbers are, since `eval bpb` on the same split reads lower */
    char val_means[160] = "";
    if (isfinite(last_val))
        snprintf(val_means, sizeof val_means,
                 " (mean over %d x %d random %d-byte windows of the val split, each from a fresh state; "
                 "eval bpb reads the split whole, carrying the state)",
                 ts->eval_batches, ts->B, ts->L);
    if (!o->quiet)
        fprintf(stderr, "bytelm train: step %d, train %s bpb (last step), val %s bpb%s%s%s\n", ts->step,
                train_txt, val_txt, val_means, r.have_rd ? ", checkpoint " : "", r.have_rd ? r.ckpt_dir : "");
done:
    interrupt_uninstall();
    if (!rc && o->model_out) { /* the optimizer's moments go; the model is the caller's now */
        optimizer_free(&r.opt, r.model);
        r.have_opt = 0;
        *o->model_out = r.model;
        r.model = NULL;
    }
    run_close(&r);
    if (!rc && interrupt_requested()) return 130; /* the shell's code for an interrupted job */
    return rc;
}
