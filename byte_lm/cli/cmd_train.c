/* `bytelm train`: argument parsing; the loop itself is in train.c. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/train/launch.h"
#include "byte_lm/train/train.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bytelm train --config FILE --data PATH [options]\n"
            "       bytelm train --resume DIR [--steps N]\n"
            "\n"
            "Trains a byte-level Mamba model. PATH is a prepared corpus directory, a seekable\n"
            "shard, a .zst file or a plain file of any bytes.\n"
            "\n"
            "  --config FILE       model config (MambaConfig JSON, e.g. configs/tiny.json)\n"
            "  --data PATH         training data\n"
            "  --val PATH          validation data (default: the corpus's val split when PATH is\n"
            "                      a corpus directory, else none)\n"
            "  -o, --out DIR       run directory: DIR/checkpoint, DIR/metrics.jsonl, DIR/loss.svg\n"
            "                      (default runs/NAME for --config NAME.json; on --resume, the\n"
            "                      run the checkpoint belongs to)\n"
            "  --resume DIR        continue a run from its checkpoint (run or checkpoint dir);\n"
            "                      -B, -L, --accum, --seed, --data, --val, --config and\n"
            "                      --precision must then match the run, the schedule and\n"
            "                      optimizer options change it\n"
            "  --force             let a new run replace an existing run in --out (once the new\n"
            "                      run's first checkpoint is complete)\n"
            "  --device cpu|cuda   backend (default cpu)\n"
            "  --threads N         CPU threads (default: all cores)\n"
            "  --precision P       fp32 or bf16 (mixed precision: bf16 matmuls and activations,\n"
            "                      fp32 weights, moments, residual stream and sums); default bf16\n"
            "                      on cuda, fp32 on cpu; a resumed run keeps its own\n"
            "  -B, --batch N       windows per micro-batch (default 8)\n"
            "  -L, --seq-len N     bytes per window (default 512)\n"
            "  --accum N           micro-batches per step (default 1)\n"
            "  --steps N           total optimizer steps (default 1000)\n"
            "  --lr X              peak learning rate (default 2e-3)\n"
            "  --min-lr-ratio X    final lr / peak lr of the cosine (default 0.1)\n"
            "  --warmup N          warmup steps (default 100)\n"
            "  --weight-decay X    AdamW decay of matrices and embedding (default 0.1)\n"
            "  --clip X            max gradient norm, 0 = off (default 1.0)\n"
            "  --seed N            init and data order seed (default 1337)\n"
            "  --eval-every N      steps between validations (default 100)\n"
            "  --eval-batches N    validation batches (default 8): validation is the mean over\n"
            "                      N x B random windows of L bytes of the val split, each read\n"
            "                      from a fresh state, so it reads higher than eval bpb, which\n"
            "                      reads the whole split once with the state carried\n"
            "  --ckpt-every N      steps between checkpoints (default 500; always at the end)\n"
            "  --log-every N       steps between metrics lines (default 1)\n"
            "  --time-budget SEC   stop after SEC seconds of training and save (default 0 = none)\n"
            "  --stop-after N      stop after N steps of this invocation and save (the schedule\n"
            "                      still runs to --steps; continue with --resume)\n"
            "  --procs N           data parallel over N processes on this host (CPU backend):\n"
            "                      each runs --accum micro-batches, so a step covers N x accum\n"
            "  --gpus N            data parallel over GPUs 0..N-1 through NCCL (CUDA backend)\n"
            "  --json              print a JSON summary on stdout\n"
            "  -q, --quiet         no start line, progress or summary on stderr\n"
            "  -h, --help          this help\n"
            "\n"
            "An external launcher may start the ranks itself, passing each --rank R --world N\n"
            "--rendezvous NAME (a shared-memory name on the CPU, a file path for the NCCL id).\n");
}

int cmd_train(int argc, char **argv)
{
    TrainOptions o;
    train_options_default(&o);
    TrainerState *t = &o.ts;
    enum { O_CONFIG = 256, O_DATA, O_VAL, O_OUT, O_RESUME, O_DEVICE, O_THREADS, O_ACCUM, O_STEPS,
           O_LR, O_MINLR, O_WARMUP, O_WD, O_CLIP, O_SEED, O_EVAL, O_EVALB, O_CKPT, O_LOG, O_TIME,
           O_JSON, O_HELP, O_STOP, O_PROCS, O_GPUS, O_RANK, O_WORLD, O_RDV, O_PREC, O_FORCE };
    static const struct option opts[] = {
        {"config", 1, 0, O_CONFIG}, {"data", 1, 0, O_DATA}, {"val", 1, 0, O_VAL},
        {"out", 1, 0, O_OUT}, {"resume", 1, 0, O_RESUME}, {"device", 1, 0, O_DEVICE},
        {"threads", 1, 0, O_THREADS}, {"batch", 1, 0, 'B'}, {"seq-len", 1, 0, 'L'},
        {"accum", 1, 0, O_ACCUM}, {"steps", 1, 0, O_STEPS}, {"lr", 1, 0, O_LR},
        {"min-lr-ratio", 1, 0, O_MINLR}, {"warmup", 1, 0, O_WARMUP},
        {"weight-decay", 1, 0, O_WD}, {"clip", 1, 0, O_CLIP}, {"seed", 1, 0, O_SEED},
        {"eval-every", 1, 0, O_EVAL}, {"eval-batches", 1, 0, O_EVALB},
        {"ckpt-every", 1, 0, O_CKPT}, {"log-every", 1, 0, O_LOG}, {"time-budget", 1, 0, O_TIME},
        {"stop-after", 1, 0, O_STOP}, {"procs", 1, 0, O_PROCS}, {"gpus", 1, 0, O_GPUS},
        {"rank", 1, 0, O_RANK}, {"world", 1, 0, O_WORLD}, {"rendezvous", 1, 0, O_RDV},
        {"precision", 1, 0, O_PREC}, {"json", 0, 0, O_JSON}, {"quiet", 0, 0, 'q'},
        {"help", 0, 0, O_HELP}, {"force", 0, 0, O_FORCE}, {0, 0, 0, 0}};
    int c, procs = 0, gpus = 0, rank = -1, rc = 0;
    double d = 0;
    const char *T = "train";
    const double BIG = 1e308;
    optind = 1;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, ":B:L:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: o.config = optarg, o.given |= TRAIN_GIVEN_CONFIG; break;
        case O_DATA: snprintf(t->data, sizeof t->data, "%s", optarg), o.given |= TRAIN_GIVEN_DATA; break;
        case O_VAL: snprintf(t->val, sizeof t->val, "%s", optarg), o.given |= TRAIN_GIVEN_VAL; break;
        case 'o':
        case O_OUT: o.out = optarg; break;
        case 'q': o.quiet = 1; break;
        case O_RESUME: o.resume = optarg; break;
        case O_DEVICE: rc = cli_device(T, optarg), o.device = optarg; break;
        case O_THREADS: rc = cli_int(T, "--threads", optarg, 1, 4096, &o.threads); break;
        case 'B': rc = cli_int(T, "--batch", optarg, 1, 1 << 16, &t->B), o.given |= TRAIN_GIVEN_B; break;
        case 'L': rc = cli_int(T, "--seq-len", optarg, 1, 1 << 24, &t->L), o.given |= TRAIN_GIVEN_L; break;
        case O_ACCUM: rc = cli_int(T, "--accum", optarg, 1, 1 << 16, &t->accum), o.given |= TRAIN_GIVEN_ACCUM; break;
        case O_STEPS: rc = cli_int(T, "--steps", optarg, 1, 1L << 30, &t->optim.total_steps), o.given |= TRAIN_GIVEN_STEPS; break;
        case O_LR: rc = cli_float(T, "--lr", optarg, 0, 1e3, 1, &t->optim.lr), o.given |= TRAIN_GIVEN_LR; break;
        case O_MINLR: rc = cli_float(T, "--min-lr-ratio", optarg, 0, 1, 0, &t->optim.min_lr_ratio), o.given |= TRAIN_GIVEN_MIN_LR; break;
        case O_WARMUP: rc = cli_int(T, "--warmup", optarg, 0, 1L << 30, &t->optim.warmup_steps), o.given |= TRAIN_GIVEN_WARMUP; break;
        case O_WD: rc = cli_float(T, "--weight-decay", optarg, 0, 1e3, 0, &t->optim.weight_decay), o.given |= TRAIN_GIVEN_WD; break;
        case O_CLIP: rc = cli_float(T, "--clip", optarg, 0, 1e9, 0, &t->optim.clip), o.given |= TRAIN_GIVEN_CLIP; break;
        case O_SEED: rc = cli_u64(T, "--seed", optarg, &t->seed), o.given |= TRAIN_GIVEN_SEED; break;
        case O_EVAL: rc = cli_int(T, "--eval-every", optarg, 0, 1L << 30, &t->eval_every), o.given |= TRAIN_GIVEN_EVAL_EVERY; break;
        case O_EVALB: rc = cli_int(T, "--eval-batches", optarg, 1, 1L << 20, &t->eval_batches), o.given |= TRAIN_GIVEN_EVAL_BATCHES; break;
        case O_CKPT: rc = cli_int(T, "--ckpt-every", optarg, 0, 1L << 30, &t->ckpt_every), o.given |= TRAIN_GIVEN_CKPT_EVERY; break;
        case O_LOG: rc = cli_int(T, "--log-every", optarg, 1, 1L << 30, &o.log_every); break;
        case O_TIME: if (!(rc = cli_double(T, "--time-budget", optarg, 0, BIG, 0, &d))) o.time_budget = d; break;
        case O_STOP: rc = cli_int(T, "--stop-after", optarg, 1, 1L << 30, &o.stop_after); break;
        case O_PROCS: rc = cli_int(T, "--procs", optarg, 1, 256, &procs); break;
        case O_GPUS: rc = cli_int(T, "--gpus", optarg, 1, 256, &gpus); break;
        case O_RANK: rc = cli_int(T, "--rank", optarg, 0, 255, &rank); break;
        case O_WORLD: rc = cli_int(T, "--world", optarg, 1, 256, &o.world); break;
        case O_RDV: o.rendezvous = optarg; break;
        case O_PREC: rc = cli_precision(T, optarg), o.precision = optarg; break;
        case O_JSON: o.json = 1; break;
        case O_FORCE: o.force = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default: return cli_getopt_error(T, c, argv);
        }
    }
    if (rc) return rc;
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
    pid_t pids[256];
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
