/* `bytelm eval tasks` (character tasks on a word list) and `bytelm eval memory` (selective
 * copying, induction heads): score a checkpoint, train a small model on the task directly, or
 * write the task's training text for `bytelm train`. */
#include <cJSON.h>
#include <getopt.h>
#include <string.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/cli/cli_parse.h"
#include "byte_lm/cli/commands.h"
#include "eval/char_tasks.h"
#include "byte_lm/cli/eval_cli.h"
#include "eval/memory_tasks.h"
#include "eval/task_train.h"

static void usage(FILE *f, int memory)
{
    if (memory)
        fprintf(f,
                "usage: bytelm eval memory --task selective-copy|induction MODE [options]\n"
                "\n"
                "Selective copying: LENGTH positions of noise '.' hide TOKENS data letters; after '|'\n"
                "the model must write them in order (..c...a..f.|caf). Induction heads: LENGTH random\n"
                "letters with '#' once followed by a key; after a final '#' the model must write the\n"
                "key (dkam#fpkbq#f). Questions are fresh random sequences, asked without context\n"
                "(--shots 0); scored by greedy decoding until a newline, exact match.\n");
    else
        fprintf(f,
                "usage: bytelm eval tasks --words FILE --task T[,T...]|all MODE [options]\n"
                "\n"
                "CUTE-style character tasks, one line each, prompt then answer:\n"
                "  spell word = w o r d        spell-inverse: join w o r d = word\n"
                "  reverse word = drow         contains: contains r word = yes\n"
                "  insert x after o word = woxrd   delete o foot = ft   swap w d word = dorw\n"
                "Each question follows --shots solved examples (training words); the model's greedy\n"
                "continuation up to a newline must equal the answer. Words are lowercase a-z; a hash\n"
                "of each word holds --held-pct percent of them out of all training text.\n");
    fprintf(f,
            "\n"
            "MODE, one of:\n"
            "  --ckpt DIR          score a checkpoint\n"
            "  --train             train a fresh model on the task (library, no files), then score it%s\n"
            "  --write-train FILE  write training text%s for bytelm train --data\n"
            "\n"
            "options:\n"
            "  -n, --n N           questions per task (default 200)\n"
            "  --shots K           solved examples before each question (default %d)\n"
            "  --max-new N         bytes decoded before giving up on a newline (default 64)\n"
            "  --seed N            which questions and shots; with --train also the init and data\n"
            "                      (default 1; training text and --train: 1337)\n"
            "  --show N            print the first N questions with the model's answers on stderr\n"
            "  --device cpu|cuda   backend (default cpu)\n"
            "  --threads N         CPU threads (default: all cores)\n"
            "  --json              print the results as JSON on stdout\n"
            "  -q, --quiet         no training progress on stderr\n"
            "  -h, --help          this help\n",
            memory ? "" : "\n                      (on training and on held-out words)",
            memory ? "" : " (training words only)", memory ? 0 : 3);
    if (memory)
        fprintf(f,
                "  --length N          positions before the separator (default 32; induction 16)\n"
                "  --tokens N          selective copying: letters to copy (default 4)\n"
                "  --vocab N           letters used, from 'a' (default 8)\n");
    else
        fprintf(f,
                "  --words FILE        word list, one per line (e.g. /usr/share/dict/words)\n"
                "  --held-out          ask only held-out words (default: all words)\n"
                "  --seen              ask only training words\n"
                "  --held-pct P        percent of words held out (default 10)\n"
                "  --min-len N         shortest word used (default 3)\n"
                "  --max-len N         longest word used (default 10)\n");
    fprintf(f,
            "\n"
            "--write-train:\n"
            "  --examples N        lines to write (default 100000)\n"
            "--train:\n"
            "  --config FILE       model config (e.g. configs/tiny.json)\n"
            "  -o, --out DIR       run directory: DIR/checkpoint, metrics.jsonl (default: not saved)\n"
            "  --steps N           optimizer steps (default 1000)\n"
            "  -B, --batch N       rows per step (default 16)\n"
            "  -L, --seq-len N     bytes per row (default %s)\n"
            "  --lr X              peak learning rate (default 3e-3)\n"
            "  --warmup N          warmup steps (default 50)\n"
            "  --weight-decay X    AdamW decay of matrices and embedding (default 0)\n"
            "  --eval-every N      print held-out accuracy every N steps (default 0: at the end)\n"
            "  --time-budget SEC   stop training after SEC seconds (default 0 = none)\n",
            memory ? "one example line" : "128");
}

typedef struct {
    int memory;
    const char *ckpt, *words, *write_train, *device, *tasks;
    int train, json, threads, held_pct, min_len, max_len, pool_given, shots_given, L_given;
    long examples;
    MemoryTask mt; /* length/tokens/vocab as given (0 = default) */
    TaskTrainOptions tr;
} Args;

/* Parses argv into a; returns -1 when done, else the exit status (0 for --help, 2 on error). */
static int parse(Args *a, int argc, char **argv)
{
    const char *cmd = a->memory ? "eval memory" : "eval tasks";
    enum { O_CKPT = 256, O_WORDS, O_TASK, O_WRITE, O_EXAMPLES, O_TRAIN, O_CONFIG, O_OUT, O_STEPS,
           O_LR, O_WD, O_WARMUP, O_EVAL_EVERY, O_TIME, O_N, O_SHOTS, O_MAXNEW, O_SEED, O_SHOW, O_DEVICE,
           O_THREADS, O_JSON, O_HELDOUT, O_SEEN, O_HELDPCT, O_MINLEN, O_MAXLEN, O_LENGTH, O_TOKENS,
           O_VOCAB, O_HELP };
    static const struct option opts[] = {
        {"ckpt", 1, 0, O_CKPT}, {"words", 1, 0, O_WORDS}, {"task", 1, 0, O_TASK},
        {"write-train", 1, 0, O_WRITE}, {"examples", 1, 0, O_EXAMPLES}, {"train", 0, 0, O_TRAIN},
        {"config", 1, 0, O_CONFIG}, {"out", 1, 0, O_OUT}, {"steps", 1, 0, O_STEPS},
        {"batch", 1, 0, 'B'}, {"seq-len", 1, 0, 'L'}, {"lr", 1, 0, O_LR},
        {"warmup", 1, 0, O_WARMUP}, {"weight-decay", 1, 0, O_WD}, {"eval-every", 1, 0, O_EVAL_EVERY},
        {"time-budget", 1, 0, O_TIME}, {"n", 1, 0, O_N}, {"shots", 1, 0, O_SHOTS},
        {"max-new", 1, 0, O_MAXNEW}, {"seed", 1, 0, O_SEED}, {"show", 1, 0, O_SHOW},
        {"device", 1, 0, O_DEVICE}, {"threads", 1, 0, O_THREADS}, {"json", 0, 0, O_JSON},
        {"held-out", 0, 0, O_HELDOUT}, {"seen", 0, 0, O_SEEN}, {"held-pct", 1, 0, O_HELDPCT},
        {"min-len", 1, 0, O_MINLEN}, {"max-len", 1, 0, O_MAXLEN}, {"length", 1, 0, O_LENGTH},
        {"tokens", 1, 0, O_TOKENS}, {"vocab", 1, 0, O_VOCAB}, {"help", 0, 0, O_HELP}, {"quiet", 0, 0, 'q'},
        {0, 0, 0, 0}};
    TaskEvalOptions *ev = &a->tr.eval;
    int c, rc = 0;
    long v;
    optind = 1;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, ":B:L:n:o:qh", opts, NULL)) != -1) {
#define LONG_OPT(name, lo, hi, dst) \
    if (!(rc = cli_long(cmd, name, optarg, lo, hi, &v))) dst = v
        switch (c) {
        case O_CKPT: a->ckpt = optarg; break;
        case O_WORDS: a->words = optarg; break;
        case O_TASK: a->tasks = optarg; break;
        case O_WRITE: a->write_train = optarg; break;
        case O_EXAMPLES: LONG_OPT("--examples", 1, 1L << 40, a->examples); break;
        case O_TRAIN: a->train = 1; break;
        case O_CONFIG: a->tr.config = optarg; break;
        case 'o':
        case O_OUT: a->tr.out = optarg; break;
        case 'q': a->tr.quiet = 1; break;
        case O_STEPS: LONG_OPT("--steps", 1, 1L << 30, a->tr.steps); break;
        case 'B': LONG_OPT("--batch", 1, 1 << 16, a->tr.B); break;
        case 'L': LONG_OPT("--seq-len", 1, 1 << 24, a->tr.L); a->L_given = 1; break;
        case O_LR: rc = cli_float(cmd, "--lr", optarg, 0, 1e3, 1, &a->tr.lr); break;
        case O_WD: rc = cli_float(cmd, "--weight-decay", optarg, 0, 1e3, 0, &a->tr.weight_decay); break;
        case O_WARMUP: LONG_OPT("--warmup", 0, 1L << 30, a->tr.warmup); break;
        case O_EVAL_EVERY: LONG_OPT("--eval-every", 0, 1L << 30, a->tr.eval_every); break;
        case O_TIME: rc = cli_double(cmd, "--time-budget", optarg, 0, 1e308, 0, &a->tr.time_budget); break;
        case 'n':
        case O_N: LONG_OPT("-n", 1, 1L << 30, ev->n); break;
        case O_SHOTS: LONG_OPT("--shots", 0, 1000, ev->shots); a->shots_given = 1; break;
        case O_MAXNEW: LONG_OPT("--max-new", 1, 1 << 20, ev->max_new); break;
        case O_SEED: LONG_OPT("--seed", 0, 1L << 62, ev->seed); a->tr.seed = ev->seed; break;
        case O_SHOW: LONG_OPT("--show", 0, 1L << 30, ev->show); break;
        case O_DEVICE: rc = cli_device(cmd, optarg), a->device = optarg; break;
        case O_THREADS: LONG_OPT("--threads", 1, 4096, a->threads); break;
        case O_JSON: a->json = 1; break;
        case O_HELDOUT: ev->pool = POOL_HELD_OUT; a->pool_given = 1; break;
        case O_SEEN: ev->pool = POOL_TRAIN; a->pool_given = 1; break;
        case O_HELDPCT: LONG_OPT("--held-pct", 0, 100, a->held_pct); break;
        case O_MINLEN: LONG_OPT("--min-len", 1, 100, a->min_len); break;
        case O_MAXLEN: LONG_OPT("--max-len", 1, 100, a->max_len); break;
        case O_LENGTH: LONG_OPT("--length", 1, TASK_TEXT_MAX, a->mt.length); break;
        case O_TOKENS: LONG_OPT("--tokens", 1, TASK_TEXT_MAX, a->mt.tokens); break;
        case O_VOCAB: LONG_OPT("--vocab", 1, 26, a->mt.vocab); break;
        case 'h':
        case O_HELP: usage(stdout, a->memory); return 0;
        default: return cli_getopt_error(cmd, c, argv);
        }
#undef LONG_OPT
    }
    if (rc) return rc;
    if (optind < argc) return cmd_usage_error(cmd, "unexpected argument");
    if (!a->tasks) return cmd_usage_error(cmd, "--task is required");
    if (!a->memory && !a->words) return cmd_usage_error(cmd, "--words FILE is required");
    if ((a->ckpt != NULL) + a->train + (a->write_train != NULL) != 1)
        return cmd_usage_error(cmd, "give exactly one of --ckpt, --train, --write-train");
    if (a->train && !a->tr.config) return cmd_usage_error(cmd, "--train needs --config FILE");
    if (a->min_len > a->max_len) return cmd_usage_error(cmd, "--min-len is above --max-len");
    return -1;
}

/* Builds one generator per name in the comma-separated list; returns the count or -1. */
static int make_gens(Args *a, const WordList *w, MemoryTask *mts, TaskGen *gens, int cap)
{
    char list[512];
    snprintf(list, sizeof list, "%s", a->tasks);
    if (!a->memory && !strcmp(list, "all")) {
        for (int t = 0; t < CT_COUNT; t++) char_task_gen(&gens[t], (CharTask)t, w);
        return CT_COUNT;
    }
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == cap) return -1;
        if (a->memory) {
            int k = memory_task_by_name(tok);
            if (k < 0) return -1;
            memory_task_default(&mts[n], (MemoryTaskKind)k);
            if (a->mt.length) mts[n].length = a->mt.length;
            if (a->mt.tokens) mts[n].tokens = a->mt.tokens;
            if (a->mt.vocab) mts[n].vocab = a->mt.vocab;
            memory_task_gen(&gens[n], &mts[n]);
        } else {
            int k = char_task_by_name(tok);
            if (k < 0) return -1;
            char_task_gen(&gens[n], (CharTask)k, w);
        }
        n++;
    }
    return n;
}

static const char *pool_name(int memory, TaskPool p)
{
    if (memory) return "fresh";
    return p == POOL_TRAIN ? "train" : p == POOL_HELD_OUT ? "held-out" : "all";
}

/* Scores every task on the given pools and prints a table or JSON. */
static int score_all(Args *a, Model *m, const TaskGen *gens, int ngens, const MemoryTask *mts,
                     const TaskPool *pools, int npools)
{
    cJSON *root = cJSON_CreateObject(), *results = cJSON_AddArrayToObject(root, "results");
    if (a->ckpt) cJSON_AddStringToObject(root, "checkpoint", a->ckpt);
    if (!a->json)
        printf("%-16s %-9s %6s %6s %9s %11s\n", "task", "words", "n", "shots", "exact", "characters");
    int rc = 0;
    for (int p = 0; p < npools && !rc; p++)
        for (int i = 0; i < ngens && !rc; i++) {
            TaskEvalOptions eo = a->tr.eval;
            eo.pool = pools[p];
            eo.log = stderr;
            TaskScore sc;
            BlErr e;
            if (eo.show) fprintf(stderr, "%s (%s):\n", gens[i].name, pool_name(a->memory, pools[p]));
            if (task_evaluate(m, &gens[i], &eo, &sc, &e)) {
                rc = cmd_error(e.msg);
                break;
            }
            double exact = (double)sc.exact / sc.n, chars = sc.char_correct / sc.n;
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "task", gens[i].name);
            cJSON_AddStringToObject(r, "words", pool_name(a->memory, pools[p]));
            cJSON_AddNumberToObject(r, "n", sc.n);
            cJSON_AddNumberToObject(r, "shots", eo.shots);
            cJSON_AddNumberToObject(r, "exact", exact);
            cJSON_AddNumberToObject(r, "char_accuracy", chars);
            if (a->memory) {
                cJSON_AddNumberToObject(r, "length", mts[i].length);
                if (mts[i].kind == MT_SELECTIVE_COPY) cJSON_AddNumberToObject(r, "tokens", mts[i].tokens);
                cJSON_AddNumberToObject(r, "vocab", mts[i].vocab);
            }
            cJSON_AddItemToArray(results, r);
            if (!a->json)
                printf("%-16s %-9s %6d %6d %8.1f%% %10.1f%%\n", gens[i].name,
                       pool_name(a->memory, pools[p]), sc.n, eo.shots, 100 * exact, 100 * chars);
        }
    if (!rc && a->json) {
        char *s = cJSON_PrintUnformatted(root);
        printf("%s\n", s);
        free(s);
    }
    cJSON_Delete(root);
    return rc;
}

int eval_cmd_tasks(int argc, char **argv)
{
    Args a;
    memset(&a, 0, sizeof a);
    a.memory = !strcmp(argv[0], "memory");
    a.device = "cpu";
    a.held_pct = 10;
    a.min_len = 3;
    a.max_len = 10;
    a.examples = 100000;
    task_train_options_default(&a.tr);
    int st = parse(&a, argc, argv);
    if (st >= 0) return st;
    const char *cmd = a.memory ? "eval memory" : "eval tasks";
    TaskEvalOptions *ev = &a.tr.eval;
    if (a.memory && !a.shots_given) ev->shots = 0;

    BlErr e;
    WordList words;
    memset(&words, 0, sizeof words);
    if (!a.memory && words_load(&words, a.words, a.min_len, a.max_len, a.held_pct, &e))
        return cmd_error(e.msg);
    enum { MAXG = 16 };
    TaskGen gens[MAXG];
    MemoryTask mts[MAXG];
    int ngens = make_gens(&a, &words, mts, gens, MAXG);
    if (ngens <= 0) {
        words_free(&words);
        return cmd_usage_error(cmd, a.memory ? "--task: selective-copy or induction"
                                             : "--task: spell, spell-inverse, reverse, contains, "
                                               "insert, delete, swap or all");
    }
    for (int i = 0; a.memory && i < ngens; i++)
        if (memory_task_check(&mts[i], &e)) return cmd_usage_error(cmd, e.msg);
    if (!a.memory)
        fprintf(stderr, "bytelm eval: %zu training words, %zu held out (%d%%), %zu lines skipped\n",
                words.ntrain, words.nheld, a.held_pct, words.skipped);

    int rc = 0;
    if (a.write_train) {
        if (task_write_text(a.write_train, gens, ngens, a.examples, 8, a.tr.seed, &e)) rc = cmd_error(e.msg);
        else fprintf(stderr, "bytelm eval: wrote %ld lines to %s\n", a.examples, a.write_train);
        words_free(&words);
        return rc;
    }

    Backend *be = NULL;
    Model *m = NULL;
    TaskPool pools[2] = {ev->pool, POOL_HELD_OUT};
    int npools = 1;
    if (a.train) {
        if (a.memory && !a.L_given) a.tr.L = memory_task_line_len(&mts[0]) - 1;
        /* a trained model is scored on both sides of the split unless one was asked for */
        if (!a.memory && !a.pool_given) pools[0] = POOL_TRAIN, npools = 2;
        a.tr.eval.pool = a.memory ? POOL_ALL : POOL_HELD_OUT;
        int trained = -1;
        if (!(be = backend_by_name(a.device, a.threads, &e)) || (trained = task_train(&a.tr, gens, ngens, be, &m, &e)) < 0)
            rc = cmd_error(e.msg);
        else if (trained) rc = trained; /* stopped by a signal: saved (with --out), not scored */
    } else if (eval_load_model(a.ckpt, a.device, a.threads, NULL, &be, &m, &e)) {
        rc = cmd_error(e.msg);
    }
    if (!rc) rc = score_all(&a, m, gens, ngens, mts, pools, npools);
    eval_close_model(be, m);
    words_free(&words);
    return rc;
}
