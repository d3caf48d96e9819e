/* The loss curve as an SVG, drawn from metrics.jsonl so it survives resumes unchanged. */
#ifndef BYTELM_LOSS_PLOT_H
#define BYTELM_LOSS_PLOT_H

/* Reads "bpb" and "val_bpb" against "step" from metrics_path and writes svg_path (via a
 * temporary file and rename): step ticks, a y axis fitted to the data, each step's train bpb with
 * a smoothed curve over it, validation, and a dashed mark where the run was resumed (a
 * "resumed_at_step" record, or steps going back after a crash). Returns 0, or -1 if either file
 * cannot be used. */
int loss_plot_write(const char *metrics_path, const char *svg_path);

#endif
