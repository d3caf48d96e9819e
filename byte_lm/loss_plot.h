/* The loss curve as an SVG, drawn from metrics.jsonl so it survives resumes unchanged. */
#ifndef BYTELM_LOSS_PLOT_H
#define BYTELM_LOSS_PLOT_H

/* Reads "bpb" and "val_bpb" against "step" from metrics_path and writes svg_path (via a
 * temporary file and rename). Returns 0, or -1 if either file cannot be used. */
int loss_plot_write(const char *metrics_path, const char *svg_path);

#endif
