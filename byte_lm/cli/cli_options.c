#include "byte_lm/cli/cli_options.h"

#include <getopt.h>
#include <stdint.h>
#include <string.h>

#include "byte_lm/base/error.h"
#include "byte_lm/cli/cli_parse.h"

/* The most rows a table may have: the getopt_long arrays are built on the stack. */
#define CLI_MAX_OPTS 64
/* getopt_long returns this plus the row index for a long option. */
#define LONG_BASE 256

static int takes_value(const CliOpt *o)
{
    if (o->type == CLI_CALL) return o->arg != NULL;
    return o->type != CLI_FLAG && o->type != CLI_HELP;
}

/* The row of short option c, or NULL ('?' and ':' are getopt_long's errors, never a letter). */
static const CliOpt *by_letter(const CliOpt *opts, int c)
{
    for (const CliOpt *o = opts; o->name || o->letter; o++)
        if (o->letter && o->letter == c) return o;
    return NULL;
}

/* Checks and stores one option's value; 0, or 2 after the usage error. */
static int apply(const CliOpt *o, const char *cmd, const char *arg)
{
    char name[96];
    if (o->label) snprintf(name, sizeof name, "%s", o->label);
    else if (o->name) snprintf(name, sizeof name, "--%s", o->name);
    else snprintf(name, sizeof name, "-%c", o->letter);
    switch (o->type) {
    case CLI_FLAG: *(int *)o->to = 1; return 0;
    case CLI_INT: return cli_int(cmd, name, arg, (long)o->lo, (long)o->hi, o->to);
    case CLI_LONG: return cli_long(cmd, name, arg, (long)o->lo, (long)o->hi, o->to);
    case CLI_U64: {
        if (o->hi <= 0) return cli_u64(cmd, name, arg, o->to);
        long v;
        int rc = cli_long(cmd, name, arg, (long)o->lo, (long)o->hi, &v);
        if (!rc) *(uint64_t *)o->to = (uint64_t)v;
        return rc;
    }
    case CLI_FLOAT: return cli_float(cmd, name, arg, o->lo, o->hi, o->lo_open, o->to);
    case CLI_DOUBLE: return cli_double(cmd, name, arg, o->lo, o->hi, o->lo_open, o->to);
    case CLI_STRING: *(const char **)o->to = arg; return 0;
    case CLI_DEVICE:
        if (cli_device(cmd, arg)) return 2;
        *(const char **)o->to = arg;
        return 0;
    case CLI_PRECISION:
        if (cli_precision(cmd, arg)) return 2;
        *(const char **)o->to = arg;
        return 0;
    case CLI_CALL: return o->parse(o, cmd, arg);
    case CLI_HELP: break;
    }
    return 0;
}

int cli_parse_options(const char *cmd, const CliOpt *opts, unsigned *given, int argc, char **argv)
{
    struct option longs[CLI_MAX_OPTS + 1];
    /* ':' first: a missing value comes back as ':', which cli_getopt_error words */
    char shorts[2 + 2 * CLI_MAX_OPTS] = ":";
    size_t nl = 0, ns = 1;
    for (int i = 0; opts[i].name || opts[i].letter; i++) {
        BL_CHECK(i < CLI_MAX_OPTS);
        const CliOpt *o = &opts[i];
        int has = takes_value(o);
        if (o->name) longs[nl++] = (struct option){o->name, has ? required_argument : no_argument, NULL, LONG_BASE + i};
        if (o->letter) {
            shorts[ns++] = o->letter;
            if (has) shorts[ns++] = ':';
        }
    }
    longs[nl] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const CliOpt *o = c >= LONG_BASE ? &opts[c - LONG_BASE] : by_letter(opts, c);
        if (!o) return cli_getopt_error(cmd, c, argv);
        if (o->type == CLI_HELP) return CLI_HELP_ASKED;
        int rc = apply(o, cmd, optarg);
        if (rc) return rc;
        if (given) *given |= o->given;
    }
    return 0;
}

void cli_print_options(FILE *f, const CliOpt *opts, int group, int width)
{
    for (const CliOpt *o = opts; o->name || o->letter; o++) {
        if (!o->help || o->group != group) continue;
        char left[160];
        const char *sp = o->arg ? " " : "", *arg = o->arg ? o->arg : "";
        if (o->letter && o->name) snprintf(left, sizeof left, "-%c, --%s%s%s", o->letter, o->name, sp, arg);
        else if (o->name) snprintf(left, sizeof left, "--%s%s%s", o->name, sp, arg);
        else snprintf(left, sizeof left, "-%c%s%s", o->letter, sp, arg);
        fprintf(f, "  %s", left);
        /* a name too wide for the column gets its help on the next line */
        int col = 2 + (int)strlen(left);
        if (col > width + 2) fprintf(f, "\n"), col = 0;
        const char *h = o->help;
        for (;;) {
            size_t n = strcspn(h, "\n");
            fprintf(f, "%*s%.*s\n", width + 3 - col, "", (int)n, h);
            if (!h[n]) break;
            h += n + 1;
            col = 0;
        }
    }
}
