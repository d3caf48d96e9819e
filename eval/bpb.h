/* Exact bits-per-byte of a model on a byte stream (docs/ARCHITECTURE.md, "Evaluation").
 *
 * Every byte after the stream's first is scored with its whole left context: the stream is cut
 * into chunks, and the model's recurrent state (ModelState) is carried from one chunk to the
 * next, so memory stays constant however long the stream. The first byte has no context and is
 * not scored. Inside a chunk the input at position t is the byte before target t; at a chunk
 * boundary that byte is the previous chunk's last target. */
#ifndef BYTELM_EVAL_BPB_H
#define BYTELM_EVAL_BPB_H

#include <stdint.h>

#include "byte_lm/model/model.h"

typedef struct {
    uint64_t bytes;  /* bytes in the stream */
    uint64_t scored; /* bytes scored: bytes - 1 (none for an empty stream) */
    uint64_t chars;  /* UTF-8 characters with at least one scored byte */
    double nats;     /* summed cross-entropy of the scored bytes */
} BpbTally;

double bpb_bits(const BpbTally *t);          /* total bits */
double bpb_bits_per_byte(const BpbTally *t); /* NAN when nothing was scored */
double bpb_bits_per_char(const BpbTally *t); /* NAN when no character was scored */
void bpb_tally_add(BpbTally *sum, const BpbTally *t);

typedef struct BpbScorer BpbScorer;

/* chunk: bytes per model call (the memory bound); any value >= 1 gives the same result. */
BpbScorer *bpb_scorer_create(Model *m, int chunk);
void bpb_scorer_free(BpbScorer *s);
/* Starts a new stream: empty context, fresh state. */
void bpb_begin(BpbScorer *s);
/* The stream's next n bytes, in pieces of any size: chunks are cut independently of them. */
void bpb_feed(BpbScorer *s, const uint8_t *p, size_t n);
/* Scores what is still buffered and returns the stream's tally. */
void bpb_end(BpbScorer *s, BpbTally *out);
/* Optional: the loss (nats) of scored byte i (the stream's byte i+1) is written to losses[i]
 * for i < cap, for the stream begun next. NULL stops recording. */
void bpb_record_losses(BpbScorer *s, float *losses, uint64_t cap);
/* The running tally of the current stream (bytes buffered but not yet scored excluded). */
BpbTally bpb_progress(const BpbScorer *s);

#endif
