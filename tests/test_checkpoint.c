/* Checkpoints: save then load gives back every weight, Adam moment and trainer field exactly;
 * a mismatched config is rejected with a one-line error; a save replaces the old one whole. */
#include "byte_lm/checkpoint/checkpoint.h"
#include "byte_lm/format/safetensors.h"
#include <sys/stat.h>
#include "tests/test_util.h"

static Model *make_model(Backend *be, int d, int layers)
{
    ModelConfig c;
    config_default(&c, d, layers);
    BlErr e;
    Model *m;
    ck_assert_msg(model_create(&m, &c, be, &e) == 0, "%s", e.msg);
    model_init_params(m, 42);
    return m;
}

static void fill_trainer(TrainerState *ts)
{
    memset(ts, 0, sizeof *ts);
    ts->step = 17;
    ts->bytes_seen = 123456789012345ull;
    ts->loader.seed = 0xFEDCBA9876543210ull;
    ts->loader.next_batch = 34;
    ts->elapsed_seconds = 12.5;
    ts->B = 3, ts->L = 77, ts->accum = 2, ts->seed = 18446744073709551557ull;
    ts->eval_every = 5, ts->eval_batches = 2, ts->ckpt_every = 9;
    optim_config_default(&ts->optim);
    ts->optim.lr = 1.5e-3f;
    ts->optim.total_steps = 99;
    snprintf(ts->data, sizeof ts->data, "data/sample.txt");
    ts->val[0] = 0;
}

START_TEST(test_round_trip)
{
    Backend *be = backend_cpu_create(1);
    Model *m = make_model(be, 32, 2);
    Optimizer opt;
    optimizer_init(&opt, m, &(OptimConfig){0});
    size_t np = model_num_params(m);
    uint64_t s = 1;
    tu_fill(opt.m, np, &s, -1, 1);
    tu_fill(opt.v, np, &s, 0, 1);
    opt.step = 17;
    TrainerState ts, ts2;
    fill_trainer(&ts);
    char *dir = tu_tmpdir("ckpt"), path[600];
    snprintf(path, sizeof path, "%s/run/checkpoint", dir);
    BlErr e;
    char parent[600];
    snprintf(parent, sizeof parent, "%s/run", dir);
    ck_assert_int_eq(mkdir(parent, 0755), 0);
    ck_assert_msg(checkpoint_save(path, m, &opt, &ts, &e) == 0, "%s", e.msg);

    char resolved[4096];
    ck_assert_msg(checkpoint_resolve(parent, resolved, sizeof resolved, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(resolved, path);
    ModelConfig c2;
    ck_assert_msg(checkpoint_load_config(path, &c2, &e) == 0, "%s", e.msg);
    Model *m2;
    ck_assert(model_create(&m2, &c2, be, &e) == 0);
    ck_assert_msg(checkpoint_load_weights(path, m2, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(memcmp(model_params(m), model_params(m2), np * sizeof(float)), 0);
    Optimizer opt2;
    optimizer_init(&opt2, m2, &(OptimConfig){0});
    memset(&ts2, 0, sizeof ts2);
    ck_assert_msg(checkpoint_load_trainer(path, m2, &opt2, &ts2, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(memcmp(opt.m, opt2.m, np * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(opt.v, opt2.v, np * sizeof(float)), 0);
    ck_assert_int_eq(opt2.step, 17);
    ck_assert_int_eq(ts2.step, ts.step);
    ck_assert(ts2.bytes_seen == ts.bytes_seen);
    ck_assert(ts2.loader.seed == ts.loader.seed);
    ck_assert(ts2.loader.next_batch == ts.loader.next_batch);
    ck_assert(ts2.seed == ts.seed);
    ck_assert_int_eq(ts2.B, 3);
    ck_assert_int_eq(ts2.L, 77);
    ck_assert_int_eq(ts2.accum, 2);
    ck_assert_int_eq(ts2.optim.total_steps, 99);
    ck_assert(ts2.optim.lr == ts.optim.lr);
    ck_assert_str_eq(ts2.data, "data/sample.txt");

    /* the weights file names tensors as transformers does, F32 */
    char wpath[700];
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", path);
    SafeTensors *st;
    ck_assert_msg(st_read(&st, wpath, &e) == 0, "%s", e.msg);
    const StTensor *t = st_find(st, "backbone.layers.1.mixer.conv1d.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->ndim, 3);
    ck_assert_int_eq(t->shape[0], 64);
    ck_assert_int_eq(t->shape[1], 1);
    ck_assert_int_eq(t->shape[2], 4);
    ck_assert_int_eq(t->dtype, ST_F32);
    ck_assert_int_eq(st_count(st), model_num_tensors(m));
    st_free(st);

    /* a second save replaces the first whole */
    ts.step = 18;
    ck_assert_msg(checkpoint_save(path, m, &opt, &ts, &e) == 0, "%s", e.msg);
    ck_assert_msg(checkpoint_load_trainer(path, m2, &opt2, &ts2, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(ts2.step, 18);

    tu_rmdir(dir);
    optimizer_free(&opt, m), optimizer_free(&opt2, m2);
    model_free(m), model_free(m2);
    be->destroy(be);
}
END_TEST

/* Weights whose shapes disagree with config.json: one line naming the file and the tensor. */
START_TEST(test_shape_mismatch_rejected)
{
    Backend *be = backend_cpu_create(1);
    Model *m = make_model(be, 32, 2), *wide = make_model(be, 48, 2);
    char *dir = tu_tmpdir("ckpt-bad"), path[600];
    snprintf(path, sizeof path, "%s/ckpt", dir);
    BlErr e;
    ck_assert_msg(checkpoint_save(path, m, NULL, NULL, &e) == 0, "%s", e.msg);
    int rc = checkpoint_load_weights(path, wide, &e);
    ck_assert_int_eq(rc, -1);
    printf("mismatch: %s\n", e.msg);
    ck_assert_ptr_nonnull(strstr(e.msg, "model.safetensors"));
    ck_assert_ptr_nonnull(strstr(e.msg, "backbone.embeddings.weight"));
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    /* fewer layers in the file than the config: the missing tensor is named */
    Model *deep = make_model(be, 32, 3);
    ck_assert_int_eq(checkpoint_load_weights(path, deep, &e), -1);
    printf("missing: %s\n", e.msg);
    ck_assert_ptr_nonnull(strstr(e.msg, "backbone.layers.2"));
    tu_rmdir(dir);
    model_free(m), model_free(wide), model_free(deep);
    be->destroy(be);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("io");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_shape_mismatch_rejected);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
