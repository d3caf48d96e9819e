/* Bits per byte of a file under a bytelm checkpoint, through libbytelm.
 *
 *   cc score.c $(pkg-config --cflags --libs bytelm) -o score
 *   ./score CHECKPOINT FILE [cpu|cuda]
 *
 * Prints the bytes scored and the bits per byte (the same figure as `bytelm eval bpb`). The
 * file is read in pieces and fed as it comes: the model's state carries from one piece to the
 * next, so a file of any size is scored in constant memory. */
#include <stdio.h>

#include <bytelm.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: score CHECKPOINT FILE [cpu|cuda]\n");
        return 2;
    }
    bl_error err;
    bl_open_opts opts;
    bl_open_opts_init(&opts);
    if (argc == 4) opts.device = argv[3];
    bl_model *model = bl_model_open(argv[1], &opts, &err);
    if (!model) {
        fprintf(stderr, "score: %s\n", err.message);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        bl_model_close(model);
        return 1;
    }
    bl_score *s = bl_score_open(model, 0, &err);
    static unsigned char buf[1 << 16];
    size_t n;
    int rc = 0;
    while (s && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (bl_score_feed(s, buf, n, NULL, &err)) break;
    bl_score_result r;
    if (!s || err.code || ferror(f) || bl_score_finish(s, &r, &err)) {
        fprintf(stderr, "score: %s\n", ferror(f) ? "read error" : err.message);
        rc = 1;
    } else {
        printf("bytes %llu scored %llu bits_per_byte %.17g\n", (unsigned long long)r.bytes,
               (unsigned long long)r.scored, r.bits_per_byte);
    }
    fclose(f);
    bl_score_close(s);
    bl_model_close(model);
    return rc;
}
