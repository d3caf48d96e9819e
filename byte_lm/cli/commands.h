/* The `bytelm` subcommands. Each parses its own arguments (argv[0] is the subcommand name) and
 * returns the process exit status: 0 success, 1 runtime error, 2 usage error. */
#ifndef BYTELM_COMMANDS_H
#define BYTELM_COMMANDS_H

#ifdef __cplusplus
extern "C" { /* bench_kernels.cu reports usage errors through cmd_usage_error */
#endif

int cmd_prepare(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Prints "bytelm: msg" on stderr and returns 1: the runtime-error exit. */
int cmd_error(const char *msg);
/* Prints "bytelm CMD: msg" and a hint to --help on stderr and returns 2: the usage exit. */
int cmd_usage_error(const char *cmd, const char *msg);

#ifdef __cplusplus
}
#endif

#endif
