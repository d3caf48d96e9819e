/* Fuzz target: the MambaConfig JSON reader (config_parse in byte_lm/format/config.c). The input is the
 * file's bytes, not NUL-terminated, so a read past the end is caught by ASan. A refused input must
 * give one line "config.json: ..."; an accepted one must hold a model bytelm can build: every size
 * in range, the derived sizes consistent, and config_finalize leaving it unchanged. */
#include "byte_lm/format/config.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    ModelConfig c;
    BlErr e = {{0}};
    if (config_parse(&c, (const char *)data, size, "config.json", &e)) {
        FUZZ_REQUIRE(fuzz_msg_ok(e.msg, "config.json"), "bad error message \"%s\"", e.msg);
        return 0;
    }
    FUZZ_REQUIRE(c.vocab_size == 256, "vocab_size %d", c.vocab_size);
    FUZZ_REQUIRE(c.hidden_size >= 1 && c.num_hidden_layers >= 1 && c.state_size >= 1 && c.expand >= 1 &&
                     c.conv_kernel >= 1 && c.time_step_rank >= 1,
                 "a size below 1 accepted");
    FUZZ_REQUIRE(c.intermediate_size == c.expand * c.hidden_size, "intermediate_size %d", c.intermediate_size);
    FUZZ_REQUIRE(!c.use_bias && c.use_conv_bias && c.tie_word_embeddings, "unsupported flags accepted");
    FUZZ_REQUIRE(c.layer_norm_epsilon > 0 && c.time_step_min > 0 && c.time_step_max >= c.time_step_min,
                 "bad floats accepted");
    long long p = config_num_params(&c);
    FUZZ_REQUIRE(p > 0 && p <= (1LL << 40), "parameter count %lld", p);
    ModelConfig again = c;
    FUZZ_REQUIRE(config_finalize(&again, "config.json", &e) == 0, "finalize refused a parsed config: %s", e.msg);
    FUZZ_REQUIRE(!memcmp(&again, &c, sizeof c), "finalize changed a parsed config");
    return 0;
}
