/* Greedy continuation of a prompt under a bytelm checkpoint, through libbytelm.
 *
 *   cc generate.c $(pkg-config --cflags --libs bytelm) -o generate
 *   ./generate CHECKPOINT PROMPT N [STOP]
 *
 * Writes up to N bytes after PROMPT to stdout as they are made (whole UTF-8 characters each
 * time), the same bytes as `bytelm generate --greedy -n N`; with STOP, ends once the output
 * ends with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bytelm.h>

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: generate CHECKPOINT PROMPT N [STOP]\n");
        return 2;
    }
    bl_error err;
    bl_model *model = bl_model_open(argv[1], NULL, &err);
    if (!model) {
        fprintf(stderr, "generate: %s\n", err.message);
        return 1;
    }
    bl_gen_opts opts;
    bl_gen_opts_init(&opts);
    opts.temperature = 0; /* greedy */
    opts.max_bytes = atol(argv[3]);
    const char *stop[1] = {argc == 5 ? argv[4] : NULL};
    opts.stop = stop;
    opts.n_stop = argc == 5;
    bl_gen *g = bl_gen_open(model, &opts, &err);
    /* rc: 1 while bytes come, 0 at the end, -1 on an error */
    int rc = g && !bl_gen_prompt(g, argv[2], strlen(argv[2]), &err) ? 1 : -1;
    char piece[64];
    size_t n;
    while (rc > 0 && (rc = bl_gen_next(g, piece, sizeof piece, &n, &err)) > 0) {
        fwrite(piece, 1, n, stdout);
        fflush(stdout);
    }
    if (rc < 0) fprintf(stderr, "generate: %s\n", err.message);
    bl_gen_close(g);
    bl_model_close(model);
    return rc < 0 ? 1 : 0;
}
