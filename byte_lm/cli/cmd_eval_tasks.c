/* `bytelm eval tasks` (character tasks on a word list) and `bytelm eval memory` (selective
 * copying, induction heads): score a checkpoint, train a small model on the task directly, or
 * write the task's training text for `bytelm train`. */
#include <cJSON.h>
#include <string.h>

#include "byte_lm/model/backend_select.h"
#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/commands.h"
#include "eval/char_tasks.h"
#include "byte_lm/cli/eval_cli.h"
#include "eval/memory_tasks.h"
#include "eval/task_train.h"

typedef struct {
    int memory;
    const char *ckpt, *words, *write_train, *device, *tasks;
    int train, json, threads, held_pct, min_len, max_len, pool_given, shots_given, L_given;
    long examples;
    MemoryTask mt; /* length/tokens/vocab as given (0 = default) */
    TaskTrainOptions tr;
} Args;

/* The sections of --help, one group of rows each. */
enum { G_MODE = 1, G_COMMON, G_MEMORY, G_WORDS, G_WRITE, G_TRAIN };
/* The options whose presence the command looks at after parsing. */
enum { GIVEN_SEED = 1, GIVEN_SHOTS = 2, GIVEN_L = 4, GIVEN_POOL = 8 };

static void usage(FILE *f, int memory, const CliOpt *rows)
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
    fprintf(f, "\nMODE, one of:\n");
    cli_print_options(f, rows, G_MODE, 19);
    fprintf(f, "\noptions:\n");
    cli_print_options(f, rows, G_COMMON, 19);
    cli_print_options(f, rows, memory ? G_MEMORY : G_WORDS, 19);
    fprintf(f, "\n--write-train:\n");
    cli_print_options(f, rows, G_WRITE, 19);
    fprintf(f, "--train:\n");
    cli_print_options(f, rows, G_TRAIN, 19);
}

/* --held-out and --seen: which words questions come from. */
static int pool_held_out(const CliOpt *o, const char *cmd, const char *arg)
{
    *(TaskPool *)o->to = POOL_HELD_OUT;
    return 0;
}

static int pool_seen(const CliOpt *o, const char *cmd, const char *arg)
{
    *(TaskPool *)o->to = POOL_TRAIN;
    return 0;
}

/* Parses argv into a; returns -1 when done, else the exit status (0 for --help, 2 on error). */
static int parse(Args *a, int argc, char **argv)
{
    const char *cmd = a->memory ? "eval memory" : "eval tasks";
    int m = a->memory;
    TaskEvalOptions *ev = &a->tr.eval;
    TaskTrainOptions *tr = &a->tr;
    const CliOpt rows[] = {
        {"ckpt", 0, CLI_STRING, &a->ckpt, .arg = "DIR", .help = "score a checkpoint", .group = G_MODE},
        {"train", 0, CLI_FLAG, &a->train, .group = G_MODE,
         .help = m ? "train a fresh model on the task (library, no files), then score it"
                   : "train a fresh model on the task (library, no files), then score it\n"
                     "(on training and on held-out words)"},
        {"write-train", 0, CLI_STRING, &a->write_train, .arg = "FILE", .group = G_MODE,
         .help = m ? "write training text for bytelm train --data"
                   : "write training text (training words only) for bytelm train --data"},
        {"task", 0, CLI_STRING, &a->tasks, .arg = "T"}, /* in the usage line */
        {"n", 'n', CLI_INT, &ev->n, 1, 1L << 30, .label = "-n", .arg = "N", .group = G_COMMON,
         .help = "questions per task (default 200)"},
        {"shots", 0, CLI_INT, &ev->shots, 0, 1000, .given = GIVEN_SHOTS, .arg = "K", .group = G_COMMON,
         .help = m ? "solved examples before each question (default 0)"
                   : "solved examples before each question (default 3)"},
        {"max-new", 0, CLI_INT, &ev->max_new, 1, 1 << 20, .arg = "N", .group = G_COMMON,
         .help = "bytes decoded before giving up on a newline (default 64)"},
        {"seed", 0, CLI_U64, &ev->seed, 0, (double)(1L << 62), .given = GIVEN_SEED, .arg = "N", .group = G_COMMON,
         .help = "which questions and shots; with --train also the init and data\n"
                 "(default 1; training text and --train: 1337)"},
        {"show", 0, CLI_INT, &ev->show, 0, 1L << 30, .arg = "N", .group = G_COMMON,
         .help = "print the first N questions with the model's answers on stderr"},
        {"device", 0, CLI_DEVICE, &a->device, .arg = "cpu|cuda", .group = G_COMMON, .help = "backend (default cpu)"},
        {"threads", 0, CLI_INT, &a->threads, 1, 4096, .arg = "N", .group = G_COMMON,
         .help = "CPU threads (default: all cores)"},
        {"json", 0, CLI_FLAG, &a->json, .group = G_COMMON, .help = "print the results as JSON on stdout"},
        {"quiet", 'q', CLI_FLAG, &tr->quiet, .group = G_COMMON, .help = "no training progress on stderr"},
        {"help", 'h', CLI_HELP, .group = G_COMMON, .help = "this help"},
        {"length", 0, CLI_INT, &a->mt.length, 1, TASK_TEXT_MAX, .arg = "N", .group = G_MEMORY,
         .help = "positions before the separator (default 32; induction 16)"},
        {"tokens", 0, CLI_INT, &a->mt.tokens, 1, TASK_TEXT_MAX, .arg = "N", .group = G_MEMORY,
         .help = "selective copying: letters to copy (default 4)"},
        {"vocab", 0, CLI_INT, &a->mt.vocab, 1, 26, .arg = "N", .group = G_MEMORY,
         .help = "letters used, from 'a' (default 8)"},
        {"words", 0, CLI_STRING, &a->words, .arg = "FILE", .group = G_WORDS,
         .help = "word list, one per line (e.g. /usr/share/dict/words)"},
        {"held-out", 0, CLI_CALL, &ev->pool, .parse = pool_held_out, .given = GIVEN_POOL, .group = G_WORDS,
         .help = "ask only held-out words (default: all words)"},
        {"seen", 0, CLI_CALL, &ev->pool, .parse = pool_seen, .given = GIVEN_POOL, .group = G_WORDS,
         .help = "ask only training words"},
        {"held-pct", 0, CLI_INT, &a->held_pct, 0, 100, .arg = "P", .group = G_WORDS,
         .help = "percent of words held out (default 10)"},
        {"min-len", 0, CLI_INT, &a->min_len, 1, 100, .arg = "N", .group = G_WORDS,
         .help = "shortest word used (default 3)"},
        {"max-len", 0, CLI_INT, &a->max_len, 1, 100, .arg = "N", .group = G_WORDS,
         .help = "longest word used (default 10)"},
        {"examples", 0, CLI_LONG, &a->examples, 1, 1L << 40, .arg = "N", .group = G_WRITE,
         .help = "lines to write (default 100000)"},
        {"config", 0, CLI_STRING, &tr->config, .arg = "FILE", .group = G_TRAIN,
         .help = "model config (e.g. configs/tiny.json)"},
        {"out", 'o', CLI_STRING, &tr->out, .arg = "DIR", .group = G_TRAIN,
         .help = "run directory: DIR/checkpoint, metrics.jsonl (default: not saved)"},
        {"steps", 0, CLI_INT, &tr->steps, 1, OPTIM_MAX_STEPS, .arg = "N", .group = G_TRAIN,
         .help = "optimizer steps (default 1000)"},
        {"batch", 'B', CLI_INT, &tr->B, 1, TS_MAX_BATCH, .arg = "N", .group = G_TRAIN,
         .help = "rows per step (default 16)"},
        {"seq-len", 'L', CLI_INT, &tr->L, 1, TS_MAX_SEQ_LEN, .given = GIVEN_L, .arg = "N", .group = G_TRAIN,
         .help = m ? "bytes per row (default one example line)" : "bytes per row (default 128)"},
        {"lr", 0, CLI_FLOAT, &tr->lr, 0, OPTIM_MAX_LR, .lo_open = 1, .arg = "X", .group = G_TRAIN,
         .help = "peak learning rate (default 3e-3)"},
        {"warmup", 0, CLI_INT, &tr->warmup, 0, OPTIM_MAX_STEPS, .arg = "N", .group = G_TRAIN,
         .help = "warmup steps (default 50)"},
        {"weight-decay", 0, CLI_FLOAT, &tr->weight_decay, 0, OPTIM_MAX_WEIGHT_DECAY, .arg = "X",
         .group = G_TRAIN, .help = "AdamW decay of matrices and embedding (default 0)"},
        {"eval-every", 0, CLI_INT, &tr->eval_every, 0, TS_MAX_PERIOD, .arg = "N", .group = G_TRAIN,
         .help = "print held-out accuracy every N steps (default 0: at the end)"},
        {"time-budget", 0, CLI_DOUBLE, &tr->time_budget, 0, 1e308, .arg = "SEC", .group = G_TRAIN,
         .help = "stop training after SEC seconds (default 0 = none)"},
        {0},
    };
    unsigned given = 0;
    int rc = cli_parse_options(cmd, rows, &given, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, a->memory, rows), 0;
    if (rc) return rc;
    if (given & GIVEN_SEED) tr->seed = ev->seed;
    a->shots_given = (given & GIVEN_SHOTS) != 0;
    a->L_given = (given & GIVEN_L) != 0;
    a->pool_given = (given & GIVEN_POOL) != 0;
    if (optind < argc) return cmd_usage_error(cmd, "unexpected argument");
    if (!a->tasks) return cmd_usage_error(cmd, "--task is required");
    if (!a->memory && !a->words) return cmd_usage_error(cmd, "--words FILE is required");
    if (a->write_train && a->words && file_same(a->write_train, a->words))
        return cmd_usage_error(cmd, "--write-train names the --words file");
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
