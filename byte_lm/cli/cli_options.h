/* One option table per command: each row names an option once (long name, short letter, what
 * it fills, its bounds, its help text with the default), and the same table drives
 * getopt_long, the value checks of cli_parse.h and the options part of --help. */
#ifndef BYTELM_CLI_OPTIONS_H
#define BYTELM_CLI_OPTIONS_H

#include <getopt.h> /* optind: the first positional argument after parsing */
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CLI_FLAG,      /* no value: *(int *)to = 1 */
    CLI_INT,       /* int in [lo, hi] */
    CLI_LONG,      /* long in [lo, hi] */
    CLI_U64,       /* uint64_t: any when hi is 0 (a seed), else in [lo, hi] */
    CLI_FLOAT,     /* finite float in [lo, hi], (lo, hi] when lo_open */
    CLI_DOUBLE,    /* the same, double */
    CLI_STRING,    /* const char *: the argument as given */
    CLI_DEVICE,    /* const char *: cpu, cuda or gpu (cli_device) */
    CLI_PRECISION, /* const char *: fp32 or bf16 (cli_precision) */
    CLI_CALL,      /* parse(row, cmd, arg) does it; takes a value when the row has a placeholder */
    CLI_HELP,      /* -h/--help: parsing stops with CLI_HELP_ASKED */
} CliType;

typedef struct CliOpt CliOpt;
struct CliOpt {
    const char *name;  /* long name without "--", or NULL */
    char letter;       /* short option letter, or 0 */
    CliType type;
    void *to;          /* the field the value goes into, of the type's C type */
    double lo, hi;     /* bounds; integer bounds here are exact in a double (at most 2^62) */
    int lo_open;       /* floats: lo itself is out */
    unsigned given;    /* bits ORed into the parser's given mask when the option appears */
    /* CLI_CALL: checks arg (NULL for a row without placeholder) and fills o->to; returns 0,
     * or 2 after printing the usage error */
    int (*parse)(const CliOpt *o, const char *cmd, const char *arg);
    const char *label; /* the name errors give it; default "--NAME" (or "-L" without a name) */
    const char *arg;   /* value placeholder in help ("N", "FILE"); NULL for flags */
    const char *help;  /* help text with the default, '\n' between lines; NULL: not listed */
    int group;         /* help section: cli_print_options prints one group at a time */
};

/* Returned by cli_parse_options for -h/--help. */
enum { CLI_HELP_ASKED = -1 };

/* Parses the options of argv[1..argc) by the table opts (ended by a row with neither name nor
 * letter) for command cmd ("train", "eval bpb"): each value checked and stored as its row says,
 * errors as cli_parse.h words them. Returns 0, CLI_HELP_ASKED, or 2 after a usage error; stops
 * at the first bad option. getopt_long moves positional arguments to the end: they are
 * argv[optind..argc) afterwards. given (may be NULL) collects the rows' given bits. */
int cli_parse_options(const char *cmd, const CliOpt *opts, unsigned *given, int argc, char **argv);

/* Prints the rows of one group that have help, as "  -o, --out DIR  help" with the help
 * starting at column width + 3 and its further lines indented to it. */
void cli_print_options(FILE *f, const CliOpt *opts, int group, int width);

#ifdef __cplusplus
}
#endif

#endif
