/* Strict parsing of command-line values, shared by every subcommand: a value is the whole
 * argument (no trailing junk), in range, and for floats finite; a bad one is a usage error that
 * names the option. Also the messages for getopt_long's unknown options and missing values. */
#ifndef BYTELM_CLI_PARSE_H
#define BYTELM_CLI_PARSE_H

#include <getopt.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Integer in [lo, hi], decimal: 0 ok, -1 malformed, out of range or overflowing. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* Unsigned 64-bit decimal integer (a seed): 0 ok, -1 malformed or overflowing. */
int cli_parse_u64(const char *s, uint64_t *out);
/* Finite number in [lo, hi] (in (lo, hi] when lo_open): 0 ok, -1 malformed, NaN, infinite,
 * overflowing or out of range. */
int cli_parse_double(const char *s, double lo, double hi, int lo_open, double *out);

/* The same, printing the usage error "bytelm CMD: OPT must be ..., not 'S'" on failure:
 * each returns 0 when the value is good, else 2 (the usage exit status). */
int cli_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out);
int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
int cli_double(const char *cmd, const char *opt, const char *s, double lo, double hi, int lo_open,
               double *out);
int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, int lo_open,
              float *out);

/* For commands that take no positional argument: 0 when argv[first..argc) is empty, else the
 * usage error "unknown option 'ARG'" for the first one (returns 2). */
int cli_no_positionals(const char *cmd, int first, int argc, char **argv);

/* --device: cpu, cuda (or gpu); else the usage error. Returns 0 or 2. */
int cli_device(const char *cmd, const char *s);
/* --precision: fp32 or bf16; else the usage error. Returns 0 or 2. */
int cli_precision(const char *cmd, const char *s);

/* The usage error for what getopt_long returned as c ('?' or ':'; the option string must start
 * with ':' so that a missing value is ':'): "unknown option '--x'" or "option '--x' needs a
 * value". Returns 2. */
int cli_getopt_error(const char *cmd, int c, char **argv);

#ifdef __cplusplus
}
#endif

#endif
