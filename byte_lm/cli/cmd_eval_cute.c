/* `bytelm eval cute`: a checkpoint scored on the CUTE benchmark's tasks (eval/cute.h), with the
 * published accuracies beside its own. */
#include <cJSON.h>
#include <string.h>

#include "byte_lm/base/atomic_dir.h"
#include "byte_lm/base/file_read.h"
#include "byte_lm/base/progress.h"
#include "byte_lm/cli/cli_options.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/cli/eval_cli.h"
#include "eval/cute.h"
#include "eval/cute_train.h"

#define CMD "eval cute"

static void usage(FILE *f, const CliOpt *rows)
{
    fprintf(f, "usage: bytelm eval cute --ckpt DIR --data DIR [options]\n"
               "       bytelm eval cute --write-train FILE --words FILE [--sentences FILE] --data DIR [options]\n"
               "\n"
               "CUTE (Edman et al., EMNLP 2024): 14 tasks of character and word manipulation, read\n"
               "from DIR/TASK.tsv with the prompts of DIR/prompts.json. Each row's prompt (the task's\n"
               "template with the inputs in its {} slots, then ' Answer: \"') is decoded greedily; the\n"
               "answer is the text before the first '\"' or newline, at most 100 bytes, and must equal\n"
               "the label exactly (lower-cased for the word-level tasks and contains_*). The published\n"
               "accuracies of four models are printed beside ours.\n"
               "\n"
               "--write-train writes training text in the same prompts: words from --words (a-z, 3 to\n"
               "12 letters), sentences cut from --sentences (3 to 10 words; without it the six tasks on\n"
               "sentences are left out) and related words from WordNet's files in --meanings (without\n"
               "it sem is left out), with every word and sentence of CUTE's files taken out, so the\n"
               "model is tested on words it never saw. Feed the file to bytelm train --data.\n"
               "\n");
    cli_print_options(f, rows, 0, 19);
    fprintf(f, "\ntasks: all, or a comma-separated list of:");
    for (int t = 0; t < CUTE_TASKS; t++) fprintf(f, "%s %s", t % 5 ? "" : "\n ", cute_task(t)->name);
    fprintf(f, "\n");
}

/* --shots: 4 (the benchmark's prompt) or 0 (its examples left out). */
static int parse_shots(const CliOpt *o, const char *cmd, const char *arg)
{
    if (strcmp(arg, "4") && strcmp(arg, "0")) {
        char msg[160];
        snprintf(msg, sizeof msg, "--shots must be 4 or 0, not '%.80s'", arg);
        return cmd_usage_error(cmd, msg);
    }
    *(int *)o->to = arg[0] - '0';
    return 0;
}

/* The task list of --task into sel (benchmark indices, duplicates dropped); the count, or 0
 * after a usage error has been printed. */
static int parse_tasks(const char *list, int *sel)
{
    if (!strcmp(list, "all")) {
        for (int t = 0; t < CUTE_TASKS; t++) sel[t] = t;
        return CUTE_TASKS;
    }
    char buf[512];
    if ((size_t)snprintf(buf, sizeof buf, "%s", list) >= sizeof buf)
        return cmd_usage_error(CMD, "--task: list too long"), 0;
    int n = 0, seen[CUTE_TASKS] = {0};
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int t = cute_task_by_name(tok);
        if (t < 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "--task: unknown task '%.80s' (bytelm eval cute --help lists them)", tok);
            return cmd_usage_error(CMD, msg), 0;
        }
        if (!seen[t]) sel[n++] = t;
        seen[t] = 1;
    }
    if (!n) return cmd_usage_error(CMD, "--task: no task named"), 0;
    return n;
}

/* --weights TASK=W[,TASK=W...] into weight[] (every task 1 unless named); 0, or 2 after a
 * usage error. */
static int parse_weights(const char *list, double *weight)
{
    for (int t = 0; t < CUTE_TASKS; t++) weight[t] = 1;
    char buf[512], msg[200];
    if ((size_t)snprintf(buf, sizeof buf, "%s", list) >= sizeof buf) return cmd_usage_error(CMD, "--weights: list too long");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end = NULL;
        if (eq) *eq = 0;
        int t = eq ? cute_task_by_name(tok) : -1;
        double w = eq ? strtod(eq + 1, &end) : 0;
        if (t < 0 || end == eq + 1 || *end || !(w > 0 && w <= 1e6)) {
            if (eq) *eq = '=';
            snprintf(msg, sizeof msg, "--weights: '%.80s' is not TASK=W with a known task and 0 < W <= 1e6", tok);
            return cmd_usage_error(CMD, msg);
        }
        weight[t] = w;
    }
    return 0;
}

typedef struct {
    Progress prog; /* in prompt bytes: the model's work grows with them */
    long rows;
    FILE *answers;     /* --answers, or NULL */
    const CuteSet *set;
} Hook;

/* The model's answer as a TSV field: any bytes may come out of a model, so backslash, tab,
 * CR, LF and other control bytes are written as \\, \t, \r, \n and \xHH, the rest as they are. */
static void put_field(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') fputs("\\\\", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
}

static void on_row(void *ctx, const CuteScore *sc, long row, const char *answer, size_t n, int correct)
{
    Hook *h = ctx;
    if (h->answers) { /* task, row (1-based, as the file's line after the header), correct, answer, label, inputs */
        const CuteRow *r = &h->set->rows[row];
        fprintf(h->answers, "%s\t%ld\t%d\t", cute_task(h->set->task)->name, row + 1, correct);
        put_field(h->answers, answer, n);
        fprintf(h->answers, "\t%s", r->label);
        for (int k = 0; k < CUTE_MAX_INPUTS && r->input[k]; k++) fprintf(h->answers, "\t%s", r->input[k]);
        fputc('\n', h->answers); /* a failed write shows at file_replace_end */
    }
    char extra[64];
    snprintf(extra, sizeof extra, "row %ld/%ld exact %.3f", sc->n, h->rows, (double)sc->correct / (double)sc->n);
    progress_update(&h->prog, sc->prompt_bytes, extra);
}

/* The bytes of every prompt of s, for the progress total. */
static uint64_t prompt_bytes(const CuteSet *s, const char *tmpl, int shots)
{
    uint64_t total = 0;
    for (long i = 0; i < s->n; i++) {
        size_t len;
        free(cute_prompt(tmpl, &s->rows[i], shots, &len));
        total += len;
    }
    return total;
}

static void print_json(int t, int shots, const CuteScore *sc)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", cute_task(t)->name);
    cJSON_AddNumberToObject(o, "examples", (double)sc->n);
    cJSON_AddNumberToObject(o, "shots", shots);
    cJSON_AddNumberToObject(o, "correct", (double)sc->correct);
    cJSON_AddNumberToObject(o, "accuracy", (double)sc->correct / (double)sc->n);
    cJSON *pub = cJSON_AddObjectToObject(o, "published");
    for (int k = 0; k < CUTE_PUBLISHED; k++)
        if (cute_published[k].acc[t] >= 0) cJSON_AddNumberToObject(pub, cute_published[k].model, cute_published[k].acc[t]);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void print_row(int t, const CuteScore *sc)
{
    printf("%-14s %8ld %9.3f  ", cute_task(t)->name, sc->n, (double)sc->correct / (double)sc->n);
    int last = -1; /* blank cells at the end are left out, not padded */
    for (int k = 0; k < CUTE_PUBLISHED; k++)
        if (cute_published[k].acc[t] >= 0) last = k;
    for (int k = 0; k <= last; k++) {
        double a = cute_published[k].acc[t];
        if (a >= 0) printf(" %12.3f", a);
        else printf(" %12s", "");
    }
    printf("\n");
}

/* --write-train: the sources read (CUTE's files for what to leave out), then the text. With
 * --task all, the tasks that cannot be made are left out and named; a named one is refused. */
static int write_train_text(const char *out, const char *data, const CutePrompts *prompts,
                            const char *words, const char *sentences, const char *meanings, int all,
                            int *sel, int nsel, const double *weight,
                            double four_shot_share, long examples, uint64_t seed)
{
    BlErr e;
    CuteTrainSource src;
    if (cute_train_source_load(&src, data, words, sentences, meanings, &e)) return cmd_error(e.msg);
    fprintf(stderr, "bytelm eval cute: %s: %zu usable words, %zu of them in CUTE's files left out\n",
            words, src.words_usable, src.words_excluded);
    if (sentences)
        fprintf(stderr, "bytelm eval cute: %s: %zu usable sentences, %zu of them in CUTE's files left out\n",
                sentences, src.sentences_usable, src.sentences_excluded);
    if (meanings)
        fprintf(stderr, "bytelm eval cute: %s: %zu usable words with related ones in WordNet, %zu pairs\n",
                meanings, src.nmeaning_words, src.meaning_first[src.nmeaning_words]);
    int k = 0, rc = 0;
    for (int i = 0; i < nsel && !rc; i++) {
        int t = sel[i];
        if (cute_train_has(&src, t)) {
            sel[k++] = t;
            continue;
        }
        const char *why = !strcmp(cute_task(t)->name, "sem") ? "it needs word meanings: --meanings DIR"
                                                               : "it needs --sentences";
        if (all) {
            fprintf(stderr, "bytelm eval cute: %s left out of the training text (%s)\n", cute_task(t)->name, why);
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "--task %s: no training text can be made (%s)", cute_task(t)->name, why);
            rc = cmd_usage_error(CMD, msg);
        }
    }
    long counts[CUTE_TASKS];
    if (!rc && !k) rc = cmd_usage_error(CMD, "no task left to write");
    if (!rc && cute_write_train(out, &src, prompts, sel, k, weight, four_shot_share, examples, seed, counts, &e))
        rc = cmd_error(e.msg);
    if (!rc) {
        if (four_shot_share >= 1 || four_shot_share <= 0)
            fprintf(stderr, "bytelm eval cute: wrote %ld examples (%d-shot prompts) to %s:", examples,
                    four_shot_share >= 1 ? 4 : 0, out);
        else
            fprintf(stderr, "bytelm eval cute: wrote %ld examples (%.0f%% in 4-shot prompts, the rest 0-shot) to %s:",
                    examples, 100 * four_shot_share, out);
        for (int i = 0; i < k; i++) fprintf(stderr, " %s %ld", cute_task(sel[i])->name, counts[sel[i]]);
        fprintf(stderr, "\n");
    }
    cute_train_source_free(&src);
    return rc;
}

int eval_cmd_cute(int argc, char **argv)
{
    const char *ckpt = NULL, *data = NULL, *tasks = "all", *device = "cpu";
    const char *write_train = NULL, *words = NULL, *sentences = NULL, *meanings = NULL, *answers = NULL;
    const char *weights = NULL;
    int shots = 4, threads = 0, json = 0, quiet = 0;
    long limit = 0, examples = 100000, seed = 1;
    double four_shot_share = -1;
    const CliOpt rows[] = {
        {"ckpt", 0, CLI_STRING, &ckpt, .arg = "DIR", .help = "checkpoint (or run directory)"},
        {"write-train", 0, CLI_STRING, &write_train, .arg = "FILE", .help = "write training text instead"},
        {"data", 0, CLI_STRING, &data, .arg = "DIR", .help = "the CUTE files: TASK.tsv and prompts.json"},
        {"task", 0, CLI_STRING, &tasks, .arg = "T[,T...]", .help = "tasks to score or write (default all)"},
        {"shots", 0, CLI_CALL, &shots, .parse = parse_shots, .arg = "4|0",
         .help = "4: the benchmark's prompt; 0: its four examples left out (default 4)"},
        {"limit", 0, CLI_LONG, &limit, 1, 1L << 40, .arg = "N", .help = "score the first N rows of each task (default all)"},
        {"device", 0, CLI_DEVICE, &device, .arg = "cpu|cuda", .help = "backend (default cpu)"},
        {"threads", 0, CLI_INT, &threads, 1, 4096, .arg = "N", .help = "CPU threads (default: all cores)"},
        {"json", 0, CLI_FLAG, &json, .help = "one JSON object a line per task, then a summary"},
        {"answers", 0, CLI_STRING, &answers, .arg = "FILE",
         .help = "write every row's answer to FILE (TSV: task, row, correct, answer, label, inputs)"},
        {"quiet", 'q', CLI_FLAG, &quiet, .help = "no progress on stderr"},
        {"words", 0, CLI_STRING, &words, .arg = "FILE", .help = "--write-train: word list, one a line"},
        {"sentences", 0, CLI_STRING, &sentences, .arg = "FILE", .help = "--write-train: text to take sentences from"},
        {"meanings", 0, CLI_STRING, &meanings, .arg = "DIR",
         .help = "--write-train: WordNet's data files (e.g. /usr/share/wordnet), for sem"},
        {"examples", 0, CLI_LONG, &examples, 1, 1L << 40, .arg = "N", .help = "--write-train: examples (default 100000)"},
        {"seed", 0, CLI_LONG, &seed, 0, (1L << 62), .arg = "N", .help = "--write-train: random seed (default 1)"},
        {"weights", 0, CLI_STRING, &weights, .arg = "T=W,...",
         .help = "--write-train: tasks drawn in proportion to these weights (default 1 each)"},
        {"four-shot-share", 0, CLI_DOUBLE, &four_shot_share, 0, 1, .arg = "F",
         .help = "--write-train: share of examples in 4-shot prompts, the rest 0-shot (default: --shots)"},
        {"help", 'h', CLI_HELP, .help = "this help"},
        {0},
    };
    int rc = cli_parse_options(CMD, rows, NULL, argc, argv);
    if (rc == CLI_HELP_ASKED) return usage(stdout, rows), 0;
    if (rc) return rc;
    if (optind < argc) {
        char msg[200];
        snprintf(msg, sizeof msg, "unexpected argument '%.100s'", argv[optind]);
        return cmd_usage_error(CMD, msg);
    }
    if ((ckpt != NULL) == (write_train != NULL))
        return cmd_usage_error(CMD, "give exactly one of --ckpt DIR and --write-train FILE");
    if (!data) return cmd_usage_error(CMD, "--data DIR is required");
    if (!write_train && (words || sentences || meanings))
        return cmd_usage_error(CMD, "--words, --sentences and --meanings go with --write-train");
    if (write_train && answers) return cmd_usage_error(CMD, "--answers goes with --ckpt");
    if (!write_train && (four_shot_share >= 0 || weights))
        return cmd_usage_error(CMD, "--four-shot-share and --weights go with --write-train");
    double weight[CUTE_TASKS];
    if (weights && parse_weights(weights, weight)) return 2;
    if (four_shot_share < 0) four_shot_share = shots == 4;
    int sel[CUTE_TASKS], nsel = parse_tasks(tasks, sel);
    if (!nsel) return 2;
    if (write_train && !words) return cmd_usage_error(CMD, "--write-train needs --words FILE");
    if (write_train && (file_same(write_train, words) || (sentences && file_same(write_train, sentences))))
        return cmd_usage_error(CMD, "--write-train names an input file");

    /* every file is read and checked before the model is loaded */
    BlErr e;
    char path[4096];
    snprintf(path, sizeof path, "%s/prompts.json", data);
    CutePrompts prompts;
    if (cute_prompts_load(&prompts, path, &e)) return cmd_error(e.msg);
    if (write_train) {
        rc = write_train_text(write_train, data, &prompts, words, sentences, meanings, !strcmp(tasks, "all"),
                              sel, nsel, weights ? weight : NULL, four_shot_share, examples, (uint64_t)seed);
        cute_prompts_free(&prompts);
        return rc;
    }
    CuteSet sets[CUTE_TASKS];
    memset(sets, 0, sizeof sets);
    for (int i = 0; i < nsel && !rc; i++)
        if (cute_set_load(&sets[i], data, sel[i], limit, &e)) rc = cmd_error(e.msg);

    Backend *be = NULL;
    Model *m = NULL;
    if (!rc && eval_load_model(ckpt, device, threads, NULL, &be, &m, &e)) rc = cmd_error(e.msg);
    /* the answers go beside their file and replace it only when every row was written */
    char answers_tmp[4200];
    FILE *af = NULL;
    if (!rc && answers) {
        af = file_replace_begin(answers, answers_tmp, sizeof answers_tmp, &e);
        if (!af) rc = cmd_error(e.msg);
        else fprintf(af, "task\trow\tcorrect\tanswer\tlabel\tinput1\tinput2\tinput3\n");
    }
    if (!rc && !json) {
        printf("%-14s %8s %9s  ", "task", "examples", "exact");
        for (int k = 0; k < CUTE_PUBLISHED; k++) printf(" %12s", cute_published[k].short_name);
        printf("\n");
    }
    long total_n = 0, total_correct = 0;
    double sum_acc = 0;
    for (int i = 0; i < nsel && !rc; i++) {
        Hook h = {.rows = sets[i].n, .answers = af, .set = &sets[i]};
        char label[32];
        snprintf(label, sizeof label, "cute %.20s", cute_task(sel[i])->name);
        progress_init(&h.prog, label, prompt_bytes(&sets[i], prompts.tmpl[sel[i]], shots));
        h.prog.quiet = quiet;
        CuteScore sc;
        cute_evaluate(m, &sets[i], prompts.tmpl[sel[i]], shots, &sc, on_row, &h);
        char extra[64];
        snprintf(extra, sizeof extra, "%ld rows exact %.3f", sc.n, (double)sc.correct / (double)sc.n);
        progress_finish(&h.prog, sc.prompt_bytes, extra);
        total_n += sc.n;
        total_correct += sc.correct;
        sum_acc += (double)sc.correct / (double)sc.n;
        if (json) print_json(sel[i], shots, &sc);
        else print_row(sel[i], &sc);
        fflush(stdout);
    }
    if (!rc) {
        if (json) {
            cJSON *o = cJSON_CreateObject(), *s = cJSON_AddObjectToObject(o, "summary");
            cJSON_AddStringToObject(s, "checkpoint", ckpt);
            cJSON_AddNumberToObject(s, "tasks", nsel);
            cJSON_AddNumberToObject(s, "shots", shots);
            cJSON_AddNumberToObject(s, "examples", (double)total_n);
            cJSON_AddNumberToObject(s, "correct", (double)total_correct);
            cJSON_AddNumberToObject(s, "accuracy", (double)total_correct / (double)total_n);
            cJSON_AddNumberToObject(s, "mean_task_accuracy", sum_acc / nsel);
            char *str = cJSON_PrintUnformatted(o);
            printf("%s\n", str);
            free(str);
            cJSON_Delete(o);
        } else {
            printf("%-14s %8ld %9.3f   (mean over tasks %.3f; %d-shot prompts)\n", "all", total_n,
                   (double)total_correct / (double)total_n, sum_acc / nsel, shots);
        }
    }
    if (af && file_replace_end(af, answers_tmp, answers, !rc, &e) && !rc) rc = cmd_error(e.msg);
    eval_close_model(be, m);
    for (int i = 0; i < nsel; i++) cute_set_free(&sets[i]);
    cute_prompts_free(&prompts);
    return rc;
}
