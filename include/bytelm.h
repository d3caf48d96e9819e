/* bytelm.h: the public C API of libbytelm, a byte-level Mamba language model.
 *
 * One header, one library (`cc prog.c $(pkg-config --cflags --libs bytelm)`). Every type is
 * opaque or plain data; nothing here exposes the library's internals, so programs built against
 * this header keep working across releases with the same BYTELM_VERSION_MAJOR.
 *
 *   bl_model   a checkpoint loaded onto a device (CPU or CUDA)
 *   bl_score   a scoring session: bits per byte over a byte stream of any length, in constant
 *              memory (the recurrent state is carried from one feed to the next)
 *   bl_gen     a generation session: a prompt, then the continuation, a few bytes at a time
 *
 * Errors: functions that can fail take a bl_error * (may be NULL) and return 0 / a handle on
 * success, -1 / NULL on failure with err->code set and err->message holding one line that names
 * the file and, where there is one, the byte offset ("DIR/model.safetensors: ... (offset N)"),
 * as the `bytelm` command prints it. Running out of host memory ends the process with one line
 * on stderr and exit status 1, as the command does.
 *
 * Threads: a bl_model may be shared by several threads only for bl_model_info and
 * bl_model_close-after-all-sessions-are-closed; sessions (bl_score, bl_gen) run the model, so at
 * most one session call on a given model may be running at a time. Distinct models are
 * independent. Each function's comment repeats what applies to it. */
#ifndef BYTELM_H
#define BYTELM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BYTELM_VERSION_MAJOR 0
#define BYTELM_VERSION_MINOR 1
#define BYTELM_VERSION_PATCH 0
#define BYTELM_VERSION_STRING "0.1.0"

/* "MAJOR.MINOR.PATCH" of the library actually linked (compare with BYTELM_VERSION_STRING).
 * Thread-safe. */
const char *bl_version(void);

/* ---- errors ---- */

typedef enum {
    BL_OK = 0,
    BL_ERR_ARG = 1,   /* an argument is invalid (NULL where a value is needed, out of range) */
    BL_ERR_INPUT = 2, /* a file could not be used: missing, unreadable, malformed; the message
                       * names it and the byte offset */
    BL_ERR_MODEL = 3, /* the model produced non-finite values (weights that overflow) */
    BL_ERR_STATE = 4, /* a call out of order (e.g. bl_gen_next before bl_gen_prompt) */
} bl_code;

typedef struct {
    int code;          /* a bl_code */
    char message[512]; /* one line, no trailing newline; empty on success */
} bl_error;

/* ---- models ---- */

typedef struct bl_model bl_model;

typedef struct {
    const char *device;    /* "cpu" (default) or "cuda" ("gpu" is the same) */
    int threads;           /* CPU threads; 0: all cores */
    int gpu;               /* CUDA device index */
    const char *precision; /* "fp32", "bf16", or NULL: the device's default (cpu fp32, cuda bf16) */
} bl_open_opts;

/* The defaults above. Thread-safe. */
void bl_open_opts_init(bl_open_opts *o);

/* Loads checkpoint directory `path` (a checkpoint, or a run directory holding checkpoint/),
 * every tensor checked (shapes, dtypes, finite values). opts may be NULL (the defaults).
 * Thread-safe (each call makes its own model). */
bl_model *bl_model_open(const char *path, const bl_open_opts *opts, bl_error *err);

/* Frees the model. Every session made from it must be closed first, and no other call on it
 * may be running. NULL is ignored. */
void bl_model_close(bl_model *m);

typedef struct {
    int n_layer, d_model, d_inner, d_state;
    uint64_t n_params;
    const char *device;    /* "cpu" or "cuda" */
    const char *precision; /* "fp32" or "bf16" */
    const char *path;      /* the checkpoint directory that was loaded */
} bl_info;

/* The model's shape and where it runs; the strings live as long as the model. Thread-safe
 * (it reads what bl_model_open set and nothing a session changes). */
void bl_model_info(const bl_model *m, bl_info *out);

/* ---- scoring ---- */

typedef struct bl_score bl_score;

typedef struct {
    uint64_t bytes;        /* bytes fed in this stream */
    uint64_t scored;       /* bytes scored: all but the first, which has no context */
    uint64_t chars;        /* UTF-8 characters with at least one scored byte */
    double bits;           /* total bits of the scored bytes */
    double bits_per_byte;  /* bits / scored (NaN when nothing was scored) */
    double bits_per_char;  /* bits / chars (NaN when no character was scored) */
} bl_score_result;

/* A scoring session on m that runs the model on `chunk` bytes at a time (0: 4096, the default
 * of `bytelm eval bpb`): memory grows with it, the result does not depend on it. Not thread-safe
 * with other sessions of the same model. */
bl_score *bl_score_open(bl_model *m, size_t chunk, bl_error *err);

/* The stream's next n bytes, in pieces of any size: the result does not depend on how the
 * stream is cut. bits (may be NULL) receives the total bits scored so far in this stream (bytes
 * still buffered, less than a chunk, are scored later or by bl_score_finish). Same thread rule
 * as bl_score_open. */
int bl_score_feed(bl_score *s, const void *bytes, size_t n, double *bits, bl_error *err);

/* The running result of the stream: what has been scored so far (for progress displays).
 * Same thread rule as bl_score_open. */
void bl_score_progress(const bl_score *s, bl_score_result *out);

/* Scores what is buffered and writes the stream's result (equal to `bytelm eval bpb` on the
 * same bytes); the next bl_score_feed starts a new stream from a fresh state. Fails with
 * BL_ERR_MODEL when the losses are not finite (out is still filled). Same thread rule as
 * bl_score_open. */
int bl_score_finish(bl_score *s, bl_score_result *out, bl_error *err);

/* Frees the session (not its model). NULL is ignored. Same thread rule as bl_score_open. */
void bl_score_close(bl_score *s);

/* ---- generation ---- */

typedef struct bl_gen bl_gen;

typedef enum {
    BL_UTF8_SAFE = 0,   /* only whole valid characters come out; invalid bytes and a cut-off
                         * last character become U+FFFD */
    BL_UTF8_STRICT = 1, /* never sample a byte that breaks UTF-8; end on a whole character */
    BL_UTF8_OFF = 2,    /* raw bytes */
} bl_utf8;

typedef struct {
    double temperature;      /* > 0: sample from softmax(logits / T); 0: greedy */
    int top_k;               /* sample among the k most likely bytes; 0: all */
    double top_p;            /* among the most likely bytes holding mass p; 1: all */
    uint64_t seed;           /* the same seed, prompt and options give the same bytes */
    int utf8;                /* a bl_utf8 */
    long max_bytes;          /* bytes to generate at most; 0: no limit (the caller stops) */
    const char *const *stop; /* n_stop strings: generation ends once the output ends with one
                              * of them (the string is part of the output) */
    int n_stop;
    /* each distinct byte among the last repetition_window bytes of the prompt and output has
     * its logit divided by repetition_penalty when positive, multiplied when not (CTRL's
     * penalty, as in llama.cpp and transformers); 1 or a window of 0: none */
    double repetition_penalty;
    int repetition_window; /* 0..BL_MAX_REPETITION_WINDOW */
} bl_gen_opts;

#define BL_MAX_REPETITION_WINDOW (1 << 20)

/* temperature 1, top_k 0, top_p 1, seed 0, BL_UTF8_SAFE, no limit, no stop strings, no
 * repetition penalty.
 * Thread-safe. */
void bl_gen_opts_init(bl_gen_opts *o);

/* A generation session on m; opts may be NULL (the defaults). The stop strings are copied.
 * Not thread-safe with other sessions of the same model. */
bl_gen *bl_gen_open(bl_model *m, const bl_gen_opts *opts, bl_error *err);

/* Starts a generation: resets the state and reads the prompt (n bytes; n = 0 starts from a
 * newline, which is not output); returns once the prompt is read. Can be called again for
 * another prompt. Same thread rule as bl_gen_open. */
int bl_gen_prompt(bl_gen *g, const void *prompt, size_t n, bl_error *err);

/* Makes bytes until some output is ready, then copies up to cap of them to out (*n of them).
 * Output comes as whole characters (in the safe and strict modes), so any piece can be printed
 * as it comes. Returns 1 when *n > 0, 0 at the end of the generation (max_bytes reached or a
 * stop string, *n = 0), -1 on error (BL_ERR_MODEL for non-finite logits: the generation ends).
 * Same thread rule as bl_gen_open. */
int bl_gen_next(bl_gen *g, void *out, size_t cap, size_t *n, bl_error *err);

/* Bytes the model has made since the last bl_gen_prompt (before any UTF-8 replacement).
 * Same thread rule as bl_gen_open. */
long bl_gen_produced(const bl_gen *g);

/* Frees the session (not its model). NULL is ignored. Same thread rule as bl_gen_open. */
void bl_gen_close(bl_gen *g);

#ifdef __cplusplus
}
#endif

#endif
