/* The transformers reference fixtures (tests/fixtures/tiny-ref) on the CUDA backend: logits,
 * loss, every gradient and the recurrent forms, with the same assertions as the CPU suite. */
#define REF_BACKEND() backend_cuda_create(0)
#include "tests/test_reference.c"
