/* A short training run for the model-level suites: AdamW on random windows of a repeated
 * sentence, which a tiny model learns in tens of steps. */
#ifndef BYTELM_TEST_TRAIN_UTIL_H
#define BYTELM_TEST_TRAIN_UTIL_H

#include <math.h>

#include "byte_lm/model/model.h"
#include "byte_lm/model/optimizer.h"
#include "tests/test_util.h"

/* `steps` steps (lr 5e-3, warmup 5, 4 windows of 32 bytes); the first and last step's loss in
 * bits per byte. The same seed and model give the same losses. */
static inline void tu_train_sentence(Model *m, int steps, double *first, double *last)
{
    OptimConfig oc;
    optim_config_default(&oc);
    oc.lr = 5e-3f;
    oc.warmup_steps = 5;
    oc.total_steps = steps;
    Optimizer opt;
    optimizer_init(&opt, m, &oc);
    const char *text = "the quick brown fox jumps over the lazy dog. ";
    size_t tl = strlen(text);
    int B = 4, L = 32;
    uint8_t *batch = malloc((size_t)B * (L + 1));
    uint64_t s = 3;
    for (int step = 0; step < steps; step++) {
        for (int b = 0; b < B; b++) {
            size_t off = tu_next(&s) % tl;
            for (int t = 0; t <= L; t++) batch[b * (L + 1) + t] = (uint8_t)text[(off + t) % tl];
        }
        model_zero_grads(m);
        double bits = model_forward_backward(m, batch, B, L, 1.0f) / log(2.0);
        if (step == 0) *first = bits;
        *last = bits;
        optimizer_step(&opt, m, NULL);
    }
    optimizer_free(&opt, m);
    free(batch);
}

#endif
