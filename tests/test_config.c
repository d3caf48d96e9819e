/* Model config: MambaConfig JSON round trips, transformers' defaults for missing fields, the
 * shipped configs' sizes, and one rejection per rule. */
#include "byte_lm/format/config.h"
#include "tests/test_util.h"

static int parse(ModelConfig *c, const char *json, BlErr *e)
{
    return config_parse(c, json, strlen(json), "c.json", e);
}

/* A valid minimal config with `extra` spliced in before the closing brace. */
static int parse_with(ModelConfig *c, const char *extra, BlErr *e)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"vocab_size\": 256, \"use_bias\": false, \"hidden_size\": 64, "
                              "\"num_hidden_layers\": 2%s%s}",
             extra[0] ? ", " : "", extra);
    return parse(c, buf, e);
}

START_TEST(num_params_by_hand)
{
    ModelConfig c;
    config_default(&c, 64, 2);
    /* d 64, d_inner 128, dt_rank 4, N 16, K 4; per layer: in_proj 16384, conv 512+128,
     * x_proj 36*128, dt_proj 512+128, A_log 2048, D 128, out_proj 8192, norm 64 */
    long long layer = 16384 + 640 + 4608 + 640 + 2048 + 128 + 8192 + 64;
    ck_assert_int_eq(config_num_params(&c), 256 * 64 + 2 * layer + 64);
    ck_assert_int_eq(config_num_params(&c), 81856);
}
END_TEST

START_TEST(save_load_round_trip)
{
    char *dir = tu_tmpdir("cfg");
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    ModelConfig c, r;
    BlErr e;
    config_default(&c, 200, 3);
    c.state_size = 8;
    c.expand = 3;
    c.conv_kernel = 3;
    c.time_step_rank = 7; /* explicit, not "auto" */
    c.layer_norm_epsilon = 1e-6f;
    c.initializer_range = 0.05f;
    c.time_step_min = 0.002f;
    c.time_step_max = 0.2f;
    c.time_step_floor = 3e-5f;
    c.time_step_scale = 0.5f;
    c.rescale_prenorm_residual = 0;
    ck_assert_msg(config_finalize(&c, "x", &e) == 0, "%s", e.msg);
    ck_assert_msg(config_save(&c, path, &e) == 0, "%s", e.msg);
    ck_assert_msg(config_load(&r, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(memcmp(&c, &r, sizeof c), 0);
    ck_assert_int_eq(r.intermediate_size, 600);
    ck_assert_int_eq(r.time_step_rank, 7);

    /* what PyTorch needs to see: names, the integer rank, floats written shortest */
    FILE *f = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *must[] = {"\"model_type\":\t\"mamba\"", "\"MambaForCausalLM\"",
                          "\"vocab_size\":\t256", "\"time_step_rank\":\t7",
                          "\"intermediate_size\":\t600", "\"layer_norm_epsilon\":\t1e-06",
                          "\"time_step_floor\":\t3e-05", "\"hidden_act\":\t\"silu\"",
                          "\"time_step_init_scheme\":\t\"random\"", "\"tie_word_embeddings\":\ttrue",
                          "\"use_bias\":\tfalse", "\"use_conv_bias\":\ttrue", "\"residual_in_fp32\":\ttrue",
                          "\"pad_token_id\":\t0", "\"bos_token_id\":\t0", "\"eos_token_id\":\t0",
                          "\"use_cache\":\ttrue", "\"rescale_prenorm_residual\":\tfalse",
                          "\"state_size\":\t8", "\"conv_kernel\":\t3", "\"expand\":\t3"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        ck_assert_msg(strstr(text, must[i]), "missing %s in\n%s", must[i], text);
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    remove(path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(missing_fields_take_transformers_defaults)
{
    ModelConfig c;
    BlErr e;
    ck_assert_msg(parse(&c, "{\"vocab_size\": 256, \"use_bias\": false}", &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.hidden_size, 768);
    ck_assert_int_eq(c.num_hidden_layers, 32);
    ck_assert_int_eq(c.state_size, 16);
    ck_assert_int_eq(c.expand, 2);
    ck_assert_int_eq(c.intermediate_size, 1536);
    ck_assert_int_eq(c.conv_kernel, 4);
    ck_assert_int_eq(c.time_step_rank, 48); /* "auto": ceil(768/16) */
    ck_assert_float_eq(c.layer_norm_epsilon, 1e-5f);
    ck_assert_float_eq(c.initializer_range, 0.1f);
    ck_assert_float_eq(c.time_step_min, 0.001f);
    ck_assert_float_eq(c.time_step_max, 0.1f);
    ck_assert_float_eq(c.time_step_floor, 1e-4f);
    ck_assert_float_eq(c.time_step_scale, 1.0f);
    ck_assert_int_eq(c.use_conv_bias, 1);
    ck_assert_int_eq(c.rescale_prenorm_residual, 0);
    ck_assert_int_eq(c.tie_word_embeddings, 1);

    /* "auto" rounds up; unknown fields are ignored */
    ck_assert_int_eq(parse_with(&c, "\"hidden_size\": 100, \"time_step_rank\": \"auto\", \"x\": [1]", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: field \"hidden_size\" appears twice");
    ck_assert_msg(parse(&c, "{\"vocab_size\": 256, \"use_bias\": false, \"hidden_size\": 100, "
                            "\"time_step_rank\": \"auto\", \"use_mambapy\": true, \"x\": [1]}",
                        &e) == 0,
                  "%s", e.msg);
    ck_assert_int_eq(c.time_step_rank, 7);
    ck_assert_msg(parse_with(&c, "\"pad_token_id\": null, \"intermediate_size\": 128", &e) == 0, "%s", e.msg);
}
END_TEST

typedef struct {
    const char *extra; /* spliced into a valid config (which sets vocab_size, use_bias, hidden_size
                          and num_hidden_layers: those rules are tested in bad_whole_file) */
    const char *want;  /* whole message after "c.json: " */
} BadCfg;

static const BadCfg BAD[] = {
    {"\"hidden_act\": \"silu\", \"hidden_act\": \"silu\"", "field \"hidden_act\" appears twice"},
    {"\"state_size\": 0", "state_size is 0; must be in 1..256"},
    {"\"state_size\": 257", "state_size is 257; must be in 1..256"},
    {"\"conv_kernel\": 0", "conv_kernel is 0; must be in 1..16"},
    {"\"conv_kernel\": 17", "conv_kernel is 17; must be in 1..16"},
    {"\"expand\": 0", "expand is 0; must be in 1..16"},
    {"\"expand\": 17", "expand is 17; must be in 1..16"},
    {"\"use_conv_bias\": false", "use_conv_bias is false; bytelm's conv1d always has a bias"},
    {"\"tie_word_embeddings\": false", "tie_word_embeddings is false; bytelm's head is the embedding"},
    {"\"hidden_act\": \"gelu\"", "hidden_act is \"gelu\"; bytelm supports only \"silu\""},
    {"\"hidden_act\": 1", "hidden_act: expected a string"},
    {"\"model_type\": \"mamba2\"", "model_type is \"mamba2\"; bytelm supports only \"mamba\""},
    {"\"time_step_init_scheme\": \"uniform\"",
     "time_step_init_scheme is \"uniform\"; bytelm supports only \"random\""},
    {"\"layer_norm_epsilon\": 0", "layer_norm_epsilon is 0; must be finite and > 0"},
    {"\"layer_norm_epsilon\": -1e-5", "layer_norm_epsilon is -1e-05; must be finite and > 0"},
    {"\"layer_norm_epsilon\": 1e300", "layer_norm_epsilon is inf; must be finite and > 0"},
    {"\"initializer_range\": -0.1", "initializer_range is -0.1; must be finite and >= 0"},
    {"\"time_step_min\": 0", "time_step_min is 0; must be finite and > 0"},
    {"\"time_step_min\": 0.5", "time_step_max (0.1) is below time_step_min (0.5)"},
    {"\"time_step_rank\": 0", "time_step_rank is 0; must be >= 1 or \"auto\""},
    {"\"time_step_rank\": 65537", "time_step_rank is 65537; must be in 1..65536"},
    {"\"time_step_rank\": \"big\"", "time_step_rank: expected an integer or \"auto\""},
    {"\"time_step_rank\": 2.5", "time_step_rank: expected an integer"},
    {"\"intermediate_size\": 100", "intermediate_size is 100 but expand * hidden_size is 128"},
    {"\"state_size\": 1.5", "state_size: expected an integer"},
    {"\"state_size\": \"16\"", "state_size: expected an integer"},
    {"\"state_size\": 1e12", "state_size: expected an integer"},
    {"\"use_conv_bias\": 1", "use_conv_bias: expected true or false"},
    {"\"use_cache\": \"yes\"", "use_cache: expected true or false"},
    {"\"eos_token_id\": 256", "eos_token_id is 256; must be a byte (0..255)"},
    {"\"state_size\": 16, \"state_size\": 16", "field \"state_size\" appears twice"},
};

START_TEST(bad_field)
{
    const BadCfg *c = &BAD[_i];
    ModelConfig cfg;
    memset(&cfg, 0x5A, sizeof cfg);
    ModelConfig before = cfg;
    BlErr e;
    ck_assert_msg(parse_with(&cfg, c->extra, &e) == -1, "accepted: %s", c->extra);
    ck_assert_int_eq(memcmp(&cfg, &before, sizeof cfg), 0); /* untouched on failure */
    char want[600];
    snprintf(want, sizeof want, "c.json: %s", c->want);
    ck_assert_str_eq(e.msg, want);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
}
END_TEST

START_TEST(bad_whole_file)
{
    ModelConfig c;
    BlErr e;
    /* these replace the minimal config entirely */
    ck_assert_int_eq(parse(&c, "{\"use_bias\": false}", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: vocab_size missing (transformers' default is 50280; bytelm needs 256)");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256}", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: use_bias missing (transformers' default is true; bytelm needs false)");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256, \"use_bias\": true}", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: use_bias is true; bytelm's in_proj/out_proj have no bias");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 255, \"use_bias\": false}", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: vocab_size is 255; a byte-level model needs 256");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256, \"use_bias\": false, \"hidden_size\": 0}", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: hidden_size is 0; must be in 1..65536");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256, \"use_bias\": false, \"hidden_size\": 65537}", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: hidden_size is 65537; must be in 1..65536");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256, \"use_bias\": false, \"num_hidden_layers\": 1025}", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: num_hidden_layers is 1025; must be in 1..1024");
    /* every size at its limit: billions of parameters per layer */
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256, \"use_bias\": false, \"hidden_size\": 65536, "
                               "\"num_hidden_layers\": 1024, \"expand\": 16, \"state_size\": 256}",
                           &e),
                     -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "c.json: parameter count "));
    ck_assert_ptr_nonnull(strstr(e.msg, " is absurd (limit 2^40): check the sizes"));

    /* JSON errors carry the byte offset */
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256,, }", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: invalid JSON (offset 20)");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: invalid JSON (offset 17)");
    ck_assert_int_eq(parse(&c, "{\"vocab_size\": 256, \"use_bias\": false} x", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: unexpected data after the JSON object (offset 39)");
    ck_assert_int_eq(parse(&c, "[1, 2]", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: expected a JSON object (offset 0)");
    ck_assert_int_eq(parse(&c, "", &e), -1);
    ck_assert_str_eq(e.msg, "c.json: invalid JSON (offset 0)");

    ck_assert_int_eq(config_load(&c, "/nonexistent-bytelm/config.json", &e), -1);
    ck_assert_str_eq(e.msg, "/nonexistent-bytelm/config.json: cannot open: No such file or directory");
    ck_assert_int_eq(config_load(&c, "/tmp", &e), -1);
    ck_assert_str_eq(e.msg, "/tmp: not a config file: not a regular file (a directory)");
    ck_assert_int_eq(config_load(&c, "/dev/null", &e), -1);
    ck_assert_str_eq(e.msg, "/dev/null: not a config file: not a regular file (a character device)");

    /* config_save refuses what config_finalize refuses, and writes nothing */
    config_default(&c, 64, 2);
    c.use_bias = 1;
    ck_assert_int_eq(config_save(&c, "/tmp/bytelm-never-written.json", &e), -1);
    ck_assert_str_eq(e.msg, "/tmp/bytelm-never-written.json: use_bias is true; bytelm's in_proj/out_proj have no bias");
    ck_assert_int_ne(access("/tmp/bytelm-never-written.json", F_OK), 0);
}
END_TEST

/* The shipped configs load, and land on the sizes they are named for. */
START_TEST(shipped_configs)
{
    static const struct {
        const char *path;
        int d, layers;
        long long params;
    } C[] = {
        {"configs/tiny.json", 64, 2, 81856},
        {"configs/small.json", 512, 12, 20474368},
        {"configs/mambabyte-353m.json", 1024, 53, 353628160},
        {"configs/mambabyte-972m.json", 1792, 48, 973387520},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        ModelConfig c, d;
        BlErr e;
        ck_assert_msg(config_load(&c, C[i].path, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(c.hidden_size, C[i].d);
        ck_assert_int_eq(c.num_hidden_layers, C[i].layers);
        ck_assert_int_eq(c.state_size, 16);
        ck_assert_int_eq(c.conv_kernel, 4);
        ck_assert_int_eq(c.expand, 2);
        ck_assert_int_eq(c.time_step_rank, (C[i].d + 15) / 16);
        ck_assert_int_eq(config_num_params(&c), C[i].params);
        /* each is exactly what config_default + config_save produce for its size */
        config_default(&d, C[i].d, C[i].layers);
        ck_assert_int_eq(memcmp(&c, &d, sizeof c), 0);
    }
}
END_TEST

/* What transformers' strict config classes need from a saved config: float fields written as
 * floats (1.0, not 1), and rescale_prenorm_residual false, since transformers re-applies that
 * rescale to loaded out_proj weights. */
START_TEST(saved_config_reads_strictly_in_transformers)
{
    ModelConfig c;
    config_default(&c, 64, 2);
    c.time_step_scale = 1.0f;
    c.rescale_prenorm_residual = 1;
    char *dir = tu_tmpdir("cfg-strict"), path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    BlErr e;
    ck_assert_msg(config_save(&c, path, &e) == 0, "%s", e.msg);
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    ck_assert_ptr_nonnull(strstr(buf, "\"time_step_scale\":\t1.0,"));
    ck_assert_ptr_nonnull(strstr(buf, "\"rescale_prenorm_residual\":\tfalse"));
    tu_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, num_params_by_hand);
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, missing_fields_take_transformers_defaults);
    tcase_add_loop_test(tc, bad_field, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, bad_whole_file);
    tcase_add_test(tc, shipped_configs);
    tcase_add_test(tc, saved_config_reads_strictly_in_transformers);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
