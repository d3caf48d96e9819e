/* `bytelm train`: argument parsing; the loop itself is in train.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/train/launch.h"
#include "byte_lm/train/train.h"

/* The options of `bytelm train`, in the order --help lists them. */
static void train_table(CliOpt *rows, size_t cap, TrainOptions *o, const char **data, const char **val,
                        int *procs, int *gpus, int *rank)
{
    TrainerState *t = &o->ts;
    const CliOpt table[] = {
        {"config", 0, CLI_STRING, &o->config, .given = TRAIN_GIVEN_CONFIG, .arg = "FILE",
         .help = "model config (MambaConfig JSON, e.g. configs/tiny.json)"},
        {"data", 0, CLI_STRING, data, .given = TRAIN_GIVEN_DATA, .arg = "PATH", .help = "training data"},
        {"val", 0, CLI_STRING, val, .given = TRAIN_GIVEN_VAL, .arg = "PATH",
         .help = "validation data (default: the corpus's val split when PATH is\n"
                 "a corpus directory, else none)"},
        {"out", 'o', CLI_STRING, &o->out, .arg = "DIR",
         .help = "run directory: DIR/checkpoint, DIR/metrics.jsonl, DIR/loss.svg\n"
                 "(default runs/NAME for --config NAME.json; on --resume, the\n"
                 "run the checkpoint belongs to)"},
        {"resume", 0, CLI_STRING, &o->resume, .arg = "DIR",
         .help = "continue a run from its checkpoint (run or checkpoint dir);\n"
                 "-B, -L, --accum, --seed, --data, --val, --config and\n"
                 "--precision must then match the run, the schedule and\n"
                 "optimizer options change it"},
        {"force", 0, CLI_FLAG, &o->force,
         .help = "let a new run replace an existing run in --out (once the new\n"
                 "run's first checkpoint is complete)"},
        {"device", 0, CLI_DEVICE, &o->device, .arg = "cpu|cuda", .help = "backend (default cpu)"},
        {"threads", 0, CLI_INT, &o->threads, 1, 4096, .arg = "N", .help = "CPU threads (default: all cores)"},
        {"precision", 0, CLI_PRECISION, &o->precision, .arg = "P",
         .help = "fp32 or bf16 (mixed precision: bf16 matmuls and activations,\n"
                 "fp32 weights, moments, residual stream and sums); default bf16\n"
                 "on cuda, fp32 on cpu; a resumed run keeps its own"},
        {"batch", 'B', CLI_INT, &t->B, 1, TS_MAX_BATCH, .given = TRAIN_GIVEN_B, .arg = "N",
         .help = "windows per micro-batch (default 8)"},
        {"seq-len", 'L', CLI_INT, &t->L, 1, TS_MAX_SEQ_LEN, .given = TRAIN_GIVEN_L, .arg = "N",
         .help = "bytes per window (default 512)"},
        {"accum", 0, CLI_INT, &t->accum, 1, TS_MAX_ACCUM, .given = TRAIN_GIVEN_ACCUM, .arg = "N",
         .help = "micro-batches per step (default 1)"},
        {"steps", 0, CLI_INT, &t->optim.total_steps, 1, OPTIM_MAX_STEPS, .given = TRAIN_GIVEN_STEPS,
         .arg = "N", .help = "total optimizer steps (default 1000)"},
        {"lr", 0, CLI_FLOAT, &t->optim.lr, 0, OPTIM_MAX_LR, .lo_open = 1, .given = TRAIN_GIVEN_LR,
         .arg = "X",
         .help = "peak learning rate (default 2e-3)"},
        {"min-lr-ratio", 0, CLI_FLOAT, &t->optim.min_lr_ratio, 0, 1, .given = TRAIN_GIVEN_MIN_LR,
         .arg = "X", .help = "final lr / peak lr of the cosine (default 0.1)"},
        {"warmup", 0, CLI_INT, &t->optim.warmup_steps, 0, OPTIM_MAX_STEPS, .given = TRAIN_GIVEN_WARMUP,
         .arg = "N", .help = "warmup steps (default 100)"},
        {"weight-decay", 0, CLI_FLOAT, &t->optim.weight_decay, 0, OPTIM_MAX_WEIGHT_DECAY,
         .given = TRAIN_GIVEN_WD, .arg = "X", .help = "AdamW decay of matrices and embedding (default 0.1)"},
        {"clip", 0, CLI_FLOAT, &t->optim.clip, 0, OPTIM_MAX_CLIP, .given = TRAIN_GIVEN_CLIP, .arg = "X",
         .help = "max gradient norm, 0 = off (default 1.0)"},
        {"seed", 0, CLI_U64, &t->seed, .given = TRAIN_GIVEN_SEED, .arg = "N",
         .help = "init and data order seed (default 1337)"},
        {"eval-every", 0, CLI_INT, &t->eval_every, 0, TS_MAX_PERIOD, .given = TRAIN_GIVEN_EVAL_EVERY,
         .arg = "N", .help = "steps between validations (default 100)"},
        {"eval-batches", 0, CLI_INT, &t->eval_batches, 1, TS_MAX_EVAL_BATCHES,
         .given = TRAIN_GIVEN_EVAL_BATCHES, .arg = "N",
         .help = "validation batches (default 8): validation is the mean over\n"
                 "N x B random windows of L bytes of the val split, each read\n"
                 "from a fresh state, so it reads higher than eval bpb, which\n"
                 "reads the whole split once with the state carried"},
        {"ckpt-every", 0, CLI_INT, &t->ckpt_every, 0, TS_MAX_PERIOD, .given = TRAIN_GIVEN_CKPT_EVERY,
         .arg = "N", .help = "steps between checkpoints (default 500; always at the end)"},
        {"log-every", 0, CLI_INT, &o->log_every, 1, TS_MAX_PERIOD, .arg = "N",
         .help = "steps between metrics lines (default 1)"},
        {"time-budget", 0, CLI_DOUBLE, &o->time_budget, 0, 1e308, .arg = "SEC",
         .help = "stop after SEC seconds of training and save (default 0 = none)"},
        {"stop-after", 0, CLI_INT, &o->stop_after, 1, OPTIM_MAX_STEPS, .arg = "N",
         .help = "stop after N steps of this invocation and save (the schedule\n"
                 "still runs to --steps; continue with --resume)"},
        {"procs", 0, CLI_INT, procs, 1, TS_MAX_WORLD, .arg = "N",
         .help = "data parallel over N processes on this host (CPU backend):\n"
                 "each runs --accum micro-batches, so a step covers N x accum"},
        {"gpus", 0, CLI_INT, gpus, 1, TS_MAX_WORLD, .arg = "N",
         .help = "data parallel over GPUs 0..N-1 through NCCL (CUDA backend)"},
        {"json", 0, CLI_FLAG, &o->json, .help = "print a JSON summary on stdout"},
        {"quiet", 'q', CLI_FLAG, &o->quiet, .help = "no start line, progress or summary on stderr"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        /* set by an external launcher for each rank; described after the list */
        {"rank", 0, CLI_INT, rank, 0, TS_MAX_WORLD - 1, .arg = "R"},
        {"world", 0, CLI_INT, &o->world, 1, TS_MAX_WORLD, .arg = "N"},
        {"rendezvous", 0, CLI_STRING, &o->rendezvous, .arg = "NAME"},
        {0},
    };
    BL_CHECK(sizeof table <= cap * sizeof *rows);
    memcpy(rows, table, sizeof table);
}

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm train --config FILE --data PATH [options]\n"
               "       bytelm train --resume DIR [--steps N]\n"
               "\n"
               "Trains a byte-level Mamba model. PATH is a prepared corpus directory, a seekable\n"
               "shard, a .zst file or a plain file of any bytes.\n"
               "\n");
    cli_print_options(f, rows, 0, 19);
    fprintf(f, "\n"
               "An external launcher may start the ranks itself, passing each --rank R --world N\n"
               "--rendezvous NAME (a shared-memory name on the CPU, a file path for the NCCL id).\n");
}

int cmd_train(int argc, char **argv)
{
    TrainOptions o;
    train_options_default(&o);
    TrainerState *t = &o.ts;
    const char *data = NULL, *val = NULL;
    int procs = 0, gpus = 0, rank = -1;
    CliOpt rows[48];
    train_table(rows, sizeof rows / sizeof rows[0], &o, &data, &val, &procs, &gpus, &rank);
    int rc = cli_parse_options("train", rows, &o.given, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    if (data) snprintf(t->data, sizeof t->data, "%s", data);
    if (val) snprintf(t->val, sizeof t->val, "%s", val);
    if (optind < argc) return cmd_usage_error("train", "unexpected argument");
    if (!o.resume && (!o.config || !t->data[0]))
        return cmd_usage_error("train", "--config and --data are required (or --resume)");
    char out[1024];
    if (!o.resume && !o.out) {
        const char *base = strrchr(o.config, '/');
        base = base ? base + 1 : o.config;
        snprintf(out, sizeof out, "runs/%.*s", (int)strcspn(base, "."), base);
        o.out = out;
    }
    /* a corpus directory has its own val split: use it unless --val says otherwise */
    if (!o.resume && !t->val[0]) {
        char probe[1100];
        snprintf(probe, sizeof probe, "%s/corpus.json", t->data);
        struct stat st;
        if (stat(probe, &st) == 0) snprintf(t->val, sizeof t->val, "%s", t->data);
    }
    if (t->optim.warmup_steps > t->optim.total_steps) t->optim.warmup_steps = t->optim.total_steps / 10;
    if (procs && gpus) return cmd_usage_error("train", "--procs and --gpus exclude each other");
    if (gpus) {
        o.device = "cuda";
        setenv("NCCL_NVLS_ENABLE", "0", 1); /* before NCCL starts, here and in every rank */
    }
    int launch = rank < 0 && (procs > 1 || gpus > 1);
    if (rank >= 0) {
        if (o.world < 2 || rank >= o.world || !o.rendezvous)
            return cmd_usage_error("train", "--rank needs --world N > rank and --rendezvous");
        o.rank = rank;
    } else if (o.world > 1) {
        return cmd_usage_error("train", "--world needs --rank (or use --procs/--gpus)");
    } else if (launch) {
        o.world = procs > 1 ? procs : gpus;
    }
    /* ranks on one host share its cores */
    if (o.world > 1 && !o.threads && !strcmp(o.device, "cpu")) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = cores / o.world > 1 ? (int)(cores / o.world) : 1;
    }
    BlErr e;
    if (o.resume) {
        /* refused before anything starts: an option that would make the resumed run another run */
        char dir[4096], msg[1024];
        if (checkpoint_resolve(o.resume, dir, sizeof dir, &e)) return cmd_error(e.msg);
        int r = train_resume_check(&o, dir, msg, sizeof msg, &e);
        if (r < 0) return cmd_error(e.msg);
        if (r > 0) return cmd_usage_error("train", msg);
    }
    pid_t pids[TS_MAX_WORLD];
    char rdv[1100];
    if (launch) {
        if (backend_check(o.device, gpus, &e)) return cmd_error(e.msg);
        launch_rendezvous(rdv, sizeof rdv, gpus > 1);
        o.rendezvous = rdv;
        if (launch_ranks(argc, argv, o.world, rdv, pids, &e)) return cmd_error(e.msg);
    }
    rc = train_run(&o, &e);
    if (rc < 0) cmd_error(e.msg);
    if (launch) {
        /* when rank 0 failed the others fail too, soon: give them a moment, then end them */
        int others = launch_wait(pids, o.world - 1, rc < 0 ? 5.0 : -1);
        if (rc == 0 && others) rc = others == 130 ? 130 : 1;
    }
    return rc < 0 ? 1 : rc;
}
