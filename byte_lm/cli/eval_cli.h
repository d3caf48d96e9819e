/* Pieces shared by the `bytelm eval` subcommands: loading a checkpoint. */
#ifndef BYTELM_EVAL_CLI_H
#define BYTELM_EVAL_CLI_H

#include "byte_lm/model/model.h"

int eval_cmd_bpb(int argc, char **argv);
int eval_cmd_tasks(int argc, char **argv);  /* argv[0]: "tasks" or "memory" */
int eval_cmd_cute(int argc, char **argv);

/* Opens the checkpoint (a checkpoint or run directory) on the named backend, in `precision`
 * ("fp32", "bf16", or NULL for the backend's default). */
int eval_load_model(const char *ckpt, const char *device, int threads, const char *precision,
                    Backend **be, Model **m, BlErr *e);
void eval_close_model(Backend *be, Model *m);

#endif
