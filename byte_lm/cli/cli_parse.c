#include "byte_lm/cli/cli_parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte_lm/base/precision.h"
#include "byte_lm/cli/commands.h"
#include "byte_lm/model/backend_select.h"

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) return -1; /* strtoull would take "-1" as 2^64-1 */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno == ERANGE) return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, int lo_open, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* ERANGE on underflow gives a tiny finite value, which the range decides on */
    if (*end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1)) return -1;
    if (lo_open ? !(v > lo) : !(v >= lo)) return -1;
    if (!(v <= hi)) return -1;
    *out = v;
    return 0;
}

/* "bad value" usage error, with what was expected. */
static int bad(const char *cmd, const char *opt, const char *s, const char *expected)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s must be %s, not '%.60s'", opt, expected, s);
    return cmd_usage_error(cmd, msg);
}

int cli_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    if (!cli_parse_long(s, lo, hi, out)) return 0;
    char expected[96];
    snprintf(expected, sizeof expected, "an integer in %ld..%ld", lo, hi);
    return bad(cmd, opt, s, expected);
}

int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out)
{
    long v;
    int rc = cli_long(cmd, opt, s, lo, hi, &v);
    if (!rc) *out = (int)v;
    return rc;
}

int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
    return cli_parse_u64(s, out) ? bad(cmd, opt, s, "an integer in 0..18446744073709551615") : 0;
}

int cli_double(const char *cmd, const char *opt, const char *s, double lo, double hi, int lo_open,
               double *out)
{
    if (!cli_parse_double(s, lo, hi, lo_open, out)) return 0;
    char expected[96];
    if (hi >= 1e300) snprintf(expected, sizeof expected, "a finite number %s %g", lo_open ? ">" : ">=", lo);
    else snprintf(expected, sizeof expected, "a number in %s%g, %g]", lo_open ? "(" : "[", lo, hi);
    return bad(cmd, opt, s, expected);
}

int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, int lo_open,
              float *out)
{
    double v;
    int rc = cli_double(cmd, opt, s, lo, hi, lo_open, &v);
    if (!rc) *out = (float)v;
    return rc;
}

int cli_getopt_error(const char *cmd, int c, char **argv)
{
    char name[128], msg[200];
    const char *a = argv[optind - 1];
    int is_long = !strncmp(a, "--", 2);
    /* a long option is named by its argument (up to any '='), a short one by its letter */
    if (is_long) snprintf(name, sizeof name, "%.*s", (int)(strcspn(a, "=") < 100 ? strcspn(a, "=") : 100), a);
    else snprintf(name, sizeof name, "-%c", optopt > 32 && optopt < 127 ? optopt : '?');
    if (c == ':') snprintf(msg, sizeof msg, "option '%s' needs a value", name);
    else if (is_long && optopt && strchr(a, '=')) snprintf(msg, sizeof msg, "option '%s' takes no value", name);
    else snprintf(msg, sizeof msg, "unknown option '%s'", name);
    return cmd_usage_error(cmd, msg);
}

int cli_no_positionals(const char *cmd, int first, int argc, char **argv)
{
    if (first >= argc) return 0;
    char msg[300];
    snprintf(msg, sizeof msg, "unknown option '%.200s'", argv[first]);
    return cmd_usage_error(cmd, msg);
}

int cli_device(const char *cmd, const char *s)
{
    if (backend_name_known(s)) return 0;
    return bad(cmd, "--device", s, "cpu or cuda");
}

int cli_precision(const char *cmd, const char *s)
{
    Precision p;
    return precision_parse(s, &p) ? bad(cmd, "--precision", s, "fp32 or bf16") : 0;
}
