/* What `train --resume` does with the options given beside it. A run is fixed by its batch
 * shape, data, seed and model: changing any of them would make the resumed run another run, so
 * a differing value is refused (exit 2). The schedule, the optimizer's hyperparameters and the
 * validation and checkpoint periods may change: they are applied, said on stderr and recorded by
 * the next checkpoint. The precision is the run's too: --precision may repeat it, not change it.
 * Per-invocation options (--time-budget, --stop-after, --log-every,
 * --threads, --device, --procs, --gpus, --json) apply as always. Nothing given is ignored. */
#include <stdio.h>
#include <string.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/train/train.h"

/* 1 when the two paths are one file or directory, by name or by identity. */
static int same_path(const char *a, const char *b)
{
    return !strcmp(a, b) || file_same(a, b);
}

/* The fields of a config that shape the model (the init-only ones do not matter once trained). */
static int same_model(const ModelConfig *a, const ModelConfig *b)
{
    return a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
           a->num_hidden_layers == b->num_hidden_layers && a->state_size == b->state_size &&
           a->expand == b->expand && a->intermediate_size == b->intermediate_size &&
           a->conv_kernel == b->conv_kernel && a->time_step_rank == b->time_step_rank &&
           a->layer_norm_epsilon == b->layer_norm_epsilon && a->use_bias == b->use_bias &&
           a->use_conv_bias == b->use_conv_bias && a->tie_word_embeddings == b->tie_word_embeddings;
}

int train_resume_check(const TrainOptions *o, const char *dir, char *msg, size_t cap, BlErr *e)
{
    TrainerState run;
    int opt_step;
    if (checkpoint_read_state(dir, &run, &opt_step, e)) return -1;
    const TrainerState *t = &o->ts;
    const char *fixed = "; B, L, accum, seed, data, val and the model are fixed for a run (start a new one with --out)";
    msg[0] = 0;
    if ((o->given & TRAIN_GIVEN_B) && t->B != run.B)
        snprintf(msg, cap, "-B %d differs from the run's %d%s", t->B, run.B, fixed);
    else if ((o->given & TRAIN_GIVEN_L) && t->L != run.L)
        snprintf(msg, cap, "-L %d differs from the run's %d%s", t->L, run.L, fixed);
    else if ((o->given & TRAIN_GIVEN_ACCUM) && (long long)t->accum * o->world != run.accum)
        snprintf(msg, cap, "--accum %d%s differs from the run's %d micro-batches per step%s", t->accum,
                 o->world > 1 ? " per rank" : "", run.accum, fixed);
    else if ((o->given & TRAIN_GIVEN_SEED) && t->seed != run.seed)
        snprintf(msg, cap, "--seed %llu differs from the run's %llu%s", (unsigned long long)t->seed,
                 (unsigned long long)run.seed, fixed);
    else if ((o->given & TRAIN_GIVEN_DATA) && !same_path(t->data, run.data))
        snprintf(msg, cap, "--data %.200s differs from the run's %.200s%s", t->data, run.data, fixed);
    else if ((o->given & TRAIN_GIVEN_VAL) && !same_path(t->val, run.val))
        snprintf(msg, cap, "--val %.200s differs from the run's %.200s%s", t->val, run.val[0] ? run.val : "(none)",
                 fixed);
    else if (o->precision && strcmp(o->precision, precision_name(run.precision)))
        snprintf(msg, cap, "--precision %s differs from the run's %s; a run keeps its precision",
                 o->precision, precision_name(run.precision));
    else if (o->given & TRAIN_GIVEN_CONFIG) {
        ModelConfig given, ours;
        if (config_load(&given, o->config, e) || checkpoint_load_config(dir, &ours, e)) return -1;
        if (!same_model(&given, &ours))
            snprintf(msg, cap, "--config %.200s describes another model than the run's%s", o->config, fixed);
    }
    return msg[0] ? 1 : 0;
}

/* Sets *field to v when given, saying so when it changes. */
static void apply_int(int given, int *field, int v, const char *opt, int loud)
{
    if (!given || *field == v) return;
    if (loud) fprintf(stderr, "bytelm train: resuming with %s %d (the run had %d)\n", opt, v, *field);
    *field = v;
}

static void apply_float(int given, float *field, float v, const char *opt, int loud)
{
    if (!given || *field == v) return;
    if (loud) fprintf(stderr, "bytelm train: resuming with %s %g (the run had %g)\n", opt, v, *field);
    *field = v;
}

void train_resume_apply(const TrainOptions *o, TrainerState *ts, int loud)
{
    const TrainerState *t = &o->ts;
    unsigned g = o->given;
    apply_int(g & TRAIN_GIVEN_STEPS, &ts->optim.total_steps, t->optim.total_steps, "--steps", loud);
    apply_float(g & TRAIN_GIVEN_LR, &ts->optim.lr, t->optim.lr, "--lr", loud);
    apply_float(g & TRAIN_GIVEN_MIN_LR, &ts->optim.min_lr_ratio, t->optim.min_lr_ratio, "--min-lr-ratio", loud);
    apply_int(g & TRAIN_GIVEN_WARMUP, &ts->optim.warmup_steps, t->optim.warmup_steps, "--warmup", loud);
    apply_float(g & TRAIN_GIVEN_WD, &ts->optim.weight_decay, t->optim.weight_decay, "--weight-decay", loud);
    apply_float(g & TRAIN_GIVEN_CLIP, &ts->optim.clip, t->optim.clip, "--clip", loud);
    apply_int(g & TRAIN_GIVEN_EVAL_EVERY, &ts->eval_every, t->eval_every, "--eval-every", loud);
    apply_int(g & TRAIN_GIVEN_EVAL_BATCHES, &ts->eval_batches, t->eval_batches, "--eval-batches", loud);
    apply_int(g & TRAIN_GIVEN_CKPT_EVERY, &ts->ckpt_every, t->ckpt_every, "--ckpt-every", loud);
}
