/* The arithmetic a model trains and runs in: fp32 throughout, or bf16 mixed precision (bf16
 * weights copies and activations feeding matmuls and the scan; fp32 master weights, optimizer
 * moments, residual stream, scan state, statistics and sums). */
#ifndef BYTELM_PRECISION_H
#define BYTELM_PRECISION_H

#include <string.h>

typedef enum { PREC_FP32 = 0, PREC_BF16 = 1 } Precision;

static inline const char *precision_name(Precision p) { return p == PREC_BF16 ? "bf16" : "fp32"; }

/* 0 and *out set for "fp32" or "bf16"; -1 for anything else */
static inline int precision_parse(const char *s, Precision *out)
{
    if (!strcmp(s, "fp32")) return *out = PREC_FP32, 0;
    if (!strcmp(s, "bf16")) return *out = PREC_BF16, 0;
    return -1;
}

#endif
