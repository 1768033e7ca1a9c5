/* test_trainer.c: the public trainer's core (afloc.h "training"), on a tiny model made in
 * memory: (1) two runs with the same seed and threads give bit-identical weights and Adam
 * moments after N steps; (2) save at step K, load into a fresh trainer, continue: bit-identical
 * to the uninterrupted run (weights, m, v, step); (3) the trained model saves and loads as a
 * normal model; (4) bad inputs: NULLs, sizes, options, a corrupt / foreign / plain-model
 * checkpoint each give their status and leave the trainer unchanged; (5) a batch smaller than
 * batch_size; (6) allocation-failure injection over create, step, save and load (RELIABILITY T13;
 * leaks are caught by the ASan build); (7) the word-loss share of the step time. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "test_util.h"
#include "trainer_fixture.h"

enum { B = 4, N = 6, K = 3, THREADS = 2 };

static char dir[256];
static float images[N][B * 32 * 32];
static char captions[N][B][160];
static const char *caption_ptrs[N][B];

static void make_data(void) {
    for (int k = 0; k < N; k++) {
        fixture_batch(k, B, 32, images[k], captions[k]);
        for (int i = 0; i < B; i++) caption_ptrs[k][i] = captions[k][i];
    }
}

static afloc_trainer_options options(void) {
    afloc_trainer_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_trainer_options_default(&o);
    o.batch_size = B;
    o.seed = 42;
    o.threads = THREADS;
    o.learning_rate = 1e-3; /* large enough that every step moves the weights visibly */
    return o;
}

/* Steps from..to-1 of the stream; returns the last loss total. */
static double run_steps(afloc_trainer *t, int from, int to) {
    afloc_train_loss_terms terms = {.struct_size = sizeof terms};
    for (int k = from; k < to; k++)
        CHECK_STATUS(afloc_trainer_step(t, images[k], sizeof images[k] / sizeof(float),
                                        caption_ptrs[k], B, &terms),
                     AFLOC_OK);
    return terms.total;
}

static void path_of(char *out, const char *name) { snprintf(out, 512, "%s/%s", dir, name); }

/* ---- 1-3: determinism, resume, model file ---- */

static fixture_snapshot reference;
static double step_time_sum, word_time_sum;

static void test_determinism_and_resume(void) {
    afloc_trainer_options o = options();
    fixture_snapshot runs[2];
    double losses[2] = {0, 0};
    for (int r = 0; r < 2; r++) {
        afloc_context *ctx = NULL;
        afloc_model *model = fixture_model(&ctx, THREADS, 7, "");
        afloc_trainer *t = NULL;
        CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_OK);
        if (!t) return;
        afloc_train_loss_terms first = {.struct_size = sizeof first};
        CHECK_STATUS(afloc_trainer_step(t, images[0], sizeof images[0] / sizeof(float),
                                        caption_ptrs[0], B, &first), AFLOC_OK);
        CHECK(isfinite(first.total) && first.total > 0 && first.grad_norm > 0);
        CHECK(fabs(first.total - (first.global + first.sentence + first.word)) < 1e-5 * first.total);
        CHECK(first.learning_rate == 1e-3 && first.word_loss_seconds > 0 &&
              first.step_seconds >= first.word_loss_seconds);
        losses[r] = run_steps(t, 1, N);
        runs[r] = fixture_snap(t);
        if (r == 0) {
            /* the trained model is a normal model file */
            char path[512];
            path_of(path, "trained.safetensors");
            CHECK_STATUS(afloc_model_save(model, path), AFLOC_OK);
            afloc_model *back = NULL;
            CHECK_STATUS(afloc_model_load(ctx, path, &back), AFLOC_OK);
            CHECK(back && memcmp(back->params, model->params,
                                 model->table.total_floats * sizeof(float)) == 0);
            afloc_model_free(back);
        }
        afloc_trainer_free(t);
        afloc_model_free(model);
        afloc_context_free(ctx);
    }
    CHECK(runs[0].step == N);
    const int same = fixture_same(&runs[0], &runs[1]);
    printf("  determinism: 2 runs x %d steps (B=%d, %d threads): weights/m/v %s, loss %.6f\n", N,
           B, THREADS, same ? "bit-identical" : "DIFFER", losses[0]);
    CHECK(same && losses[0] == losses[1]);
    fixture_snap_free(&runs[1]);
    reference = runs[0];

    /* resume: K steps, checkpoint, a new model (other init seed) + trainer, load, N-K steps */
    char ckpt[512];
    path_of(ckpt, "resume.ckpt");
    afloc_context *ctx = NULL;
    afloc_model *model = fixture_model(&ctx, THREADS, 7, "");
    afloc_trainer *t = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_OK);
    if (!t) return;
    run_steps(t, 0, K);
    CHECK_STATUS(afloc_trainer_save_checkpoint(t, ckpt), AFLOC_OK);
    afloc_trainer_free(t);
    afloc_model_free(model);
    model = fixture_model(&ctx, THREADS, 99, "");
    afloc_trainer_options o2 = o;
    o2.seed = 5; /* replaced by the checkpoint's */
    CHECK_STATUS(afloc_trainer_create(model, &o2, &t), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_load_checkpoint(t, ckpt), AFLOC_OK);
    afloc_trainer_state s = {.struct_size = sizeof s};
    CHECK_STATUS(afloc_trainer_get_state(t, &s), AFLOC_OK);
    CHECK(s.step == K && s.epoch == 0 && s.batch == K && s.seed == 42 && s.learning_rate == 1e-3);
    run_steps(t, K, N);
    fixture_snapshot resumed = fixture_snap(t);
    const int same_resume = fixture_same(&reference, &resumed);
    printf("  resume: save at step %d, load into a fresh trainer, %d more steps: %s\n", K, N - K,
           same_resume ? "bit-identical to the uninterrupted run" : "DIFFERS");
    CHECK(same_resume);
    fixture_snap_free(&resumed);

    /* timing for the report: the word-level loss against the whole step */
    for (int k = 0; k < 5; k++) {
        afloc_train_loss_terms terms = {.struct_size = sizeof terms};
        CHECK_STATUS(afloc_trainer_step(t, images[k], sizeof images[k] / sizeof(float),
                                        caption_ptrs[k], B, &terms), AFLOC_OK);
        step_time_sum += terms.step_seconds;
        word_time_sum += terms.word_loss_seconds;
    }
    afloc_trainer_free(t);
    afloc_model_free(model);
    afloc_context_free(ctx);
}

/* ---- 4: bad inputs ---- */

static void flip_byte(const char *from, const char *to, long at, int truncate) {
    FILE *f = fopen(from, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    CHECK(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    if (at < 0) at += n;
    if (!truncate) b[at] ^= 0x10;
    f = fopen(to, "wb");
    fwrite(b, 1, truncate ? (size_t)at : (size_t)n, f);
    fclose(f);
    free(b);
}

static void test_bad_inputs(void) {
    afloc_context *ctx = NULL;
    afloc_model *model = fixture_model(&ctx, THREADS, 7, "");
    afloc_trainer_options o = options();
    afloc_trainer *t = NULL, *none = (afloc_trainer *)0x1;
    const size_t len = sizeof images[0] / sizeof(float);

    /* create */
    CHECK_STATUS(afloc_trainer_create(NULL, &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_create(model, &o, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    struct { const char *what; afloc_trainer_options o; } bad[8];
    for (int i = 0; i < 8; i++) bad[i].o = o;
    bad[0].what = "batch_size"; bad[0].o.batch_size = 0;
    bad[1].what = "dropout"; bad[1].o.dropout = 1.0f;
    bad[2].what = "schedule kind"; bad[2].o.lr_schedule = 7;
    bad[3].what = "base learning rate"; bad[3].o.learning_rate = -1;
    bad[4].what = "caption_mode"; bad[4].o.caption_mode = 2;
    bad[5].what = "gamma"; bad[5].o.lr_gamma = NAN;
    bad[6].what = "threads"; bad[6].o.threads = -1;
    bad[7].what = "struct_size"; bad[7].o.struct_size = 2;
    for (int i = 0; i < 8; i++) {
        afloc_trainer *x = none;
        CHECK_STATUS(afloc_trainer_create(model, &bad[i].o, &x), AFLOC_ERR_INVALID_ARGUMENT);
        CHECK(x == none);
        if (!strstr(afloc_last_error(), bad[i].what)) {
            fprintf(stderr, "  message lacks \"%s\": %s\n", bad[i].what, afloc_last_error());
            test_failures++;
        }
    }
    CHECK_STATUS(afloc_trainer_options_default(NULL), AFLOC_ERR_INVALID_ARGUMENT);

    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_OK);
    if (!t) return;
    fixture_snapshot before = fixture_snap(t);
    /* step */
    CHECK_STATUS(afloc_trainer_step(NULL, images[0], len, caption_ptrs[0], B, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_step(t, NULL, len, caption_ptrs[0], B, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_step(t, images[0], len, NULL, B, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_step(t, images[0], len, caption_ptrs[0], 0, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_step(t, images[0], len, caption_ptrs[0], B + 1, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_step(t, images[0], len - 1, caption_ptrs[0], B, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    const char *with_null[B] = {captions[0][0], NULL, captions[0][2], captions[0][3]};
    CHECK_STATUS(afloc_trainer_step(t, images[0], len, with_null, B, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_train_loss_terms odd = {.struct_size = 1};
    CHECK_STATUS(afloc_trainer_step(t, images[0], len, caption_ptrs[0], B, &odd), AFLOC_ERR_INVALID_ARGUMENT);
    float *nan_images = malloc(sizeof images[0]);
    memcpy(nan_images, images[0], sizeof images[0]);
    nan_images[5] = NAN;
    afloc_train_loss_terms terms = {.struct_size = sizeof terms};
    CHECK_STATUS(afloc_trainer_step(t, nan_images, len, caption_ptrs[0], B, &terms), AFLOC_ERR_INVALID_ARGUMENT);
    free(nan_images);
    CHECK_STATUS(afloc_trainer_set_epoch(t, -1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_set_epoch(NULL, 0), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_get_state(t, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_update_model(NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_fit(t, NULL, NULL, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_fit(t, "/nonexistent/m.csv", NULL, 1), AFLOC_ERR_IO);
    /* the NaN step was skipped: weights (BatchNorm running statistics too), m, v, step as before */
    fixture_snapshot after = fixture_snap(t);
    CHECK(fixture_same(&before, &after));
    CHECK(isfinite(terms.total) || !isfinite(terms.grad_norm));
    fixture_snap_free(&after);

    /* checkpoints */
    char good[512], broken[512], plain[512], other[512];
    path_of(good, "good.ckpt");
    path_of(broken, "broken.ckpt");
    path_of(plain, "plain.safetensors");
    path_of(other, "other.ckpt");
    CHECK_STATUS(afloc_trainer_save_checkpoint(NULL, good), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_save_checkpoint(t, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_save_checkpoint(t, "/nonexistent-dir/x.ckpt"), AFLOC_ERR_IO);
    CHECK_STATUS(afloc_trainer_step(t, images[0], len, caption_ptrs[0], B, NULL), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_save_checkpoint(t, good), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_step(t, images[1], len, caption_ptrs[1], B, NULL), AFLOC_OK);
    fixture_snap_free(&before);
    before = fixture_snap(t);
    CHECK_STATUS(afloc_trainer_load_checkpoint(NULL, good), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_load_checkpoint(t, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_trainer_load_checkpoint(t, "/nonexistent/x.ckpt"), AFLOC_ERR_IO);
    flip_byte(good, broken, -100, 0); /* a bit in the data region */
    CHECK_STATUS(afloc_trainer_load_checkpoint(t, broken), AFLOC_ERR_CORRUPT);
    flip_byte(good, broken, -1, 1); /* one byte short */
    afloc_status st = afloc_trainer_load_checkpoint(t, broken);
    CHECK(st == AFLOC_ERR_CORRUPT || st == AFLOC_ERR_FORMAT);
    CHECK_STATUS(afloc_model_save(model, plain), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_load_checkpoint(t, plain), AFLOC_ERR_SCHEMA);
    CHECK(strstr(afloc_last_error(), "trainer.adam_m.") != NULL);
    /* a model file loader refuses a checkpoint */
    afloc_model *not_a_model = NULL;
    CHECK_STATUS(afloc_model_load(ctx, good, &not_a_model), AFLOC_ERR_SCHEMA);
    /* a checkpoint of another config: same shapes, other temperature; then other shapes */
    const char *variants[2] = {",\"temp3\":9", ",\"use_local_f_embedder\":1"};
    for (int k = 0; k < 2; k++) {
        afloc_model *m2 = fixture_model(&ctx, THREADS, 7, variants[k]);
        afloc_trainer *t2 = NULL;
        CHECK_STATUS(afloc_trainer_create(m2, &o, &t2), AFLOC_OK);
        CHECK_STATUS(afloc_trainer_save_checkpoint(t2, other), AFLOC_OK);
        CHECK_STATUS(afloc_trainer_load_checkpoint(t, other), AFLOC_ERR_SCHEMA);
        CHECK(strstr(afloc_last_error(), "config") != NULL);
        afloc_trainer_free(t2);
        afloc_model_free(m2);
    }
    /* another batch size */
    afloc_trainer_options o3 = o;
    o3.batch_size = 2;
    afloc_trainer *t3 = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &o3, &t3), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_load_checkpoint(t3, good), AFLOC_ERR_SCHEMA);
    CHECK(strstr(afloc_last_error(), "batch_size") != NULL);
    afloc_trainer_free(t3);
    after = fixture_snap(t);
    CHECK(fixture_same(&before, &after)); /* every failed load left the trainer untouched */
    fixture_snap_free(&after);
    CHECK_STATUS(afloc_trainer_load_checkpoint(t, good), AFLOC_OK);
    afloc_trainer_state s = {.struct_size = sizeof s};
    CHECK_STATUS(afloc_trainer_get_state(t, &s), AFLOC_OK);
    CHECK(s.step == 1 && s.batch == 1);
    fixture_snap_free(&before);

    /* cosine without a total step count refuses a manual step */
    afloc_trainer_options oc = o;
    oc.lr_schedule = AFLOC_LR_SCHEDULE_WARMUP_COSINE;
    oc.warmup_steps = 2;
    afloc_trainer *tc = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &oc, &tc), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_step(tc, images[0], len, caption_ptrs[0], B, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_trainer_free(tc);
    afloc_trainer_free(NULL);
    afloc_trainer_free(t);
    afloc_model_free(model);
    afloc_context_free(ctx);
}

/* ---- 5: a smaller batch shares the Adam state ---- */

static void test_small_batch(void) {
    afloc_context *ctx = NULL;
    afloc_model *model = fixture_model(&ctx, THREADS, 7, "");
    afloc_trainer_options o = options();
    afloc_trainer *t = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_OK);
    if (!t) return;
    const size_t len = sizeof images[0] / sizeof(float);
    CHECK_STATUS(afloc_trainer_step(t, images[0], len, caption_ptrs[0], B, NULL), AFLOC_OK);
    fixture_snapshot a = fixture_snap(t);
    CHECK_STATUS(afloc_trainer_step(t, images[1], len, caption_ptrs[1], 3, NULL), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_step(t, images[2], len, caption_ptrs[2], B, NULL), AFLOC_OK);
    fixture_snapshot b = fixture_snap(t);
    size_t moved = 0;
    for (size_t i = 0; i < a.floats; i++) moved += a.m[i] != b.m[i];
    printf("  small batch: B=3 between B=4 steps, step count %lld, %zu m entries moved\n",
           (long long)b.step, moved);
    CHECK(b.step == 3 && moved > a.floats / 4);
    fixture_snap_free(&a);
    fixture_snap_free(&b);
    afloc_trainer_free(t);
    afloc_model_free(model);
    afloc_context_free(ctx);
}

/* ---- 6: allocation failures ---- */

static void test_oom(void) {
    afloc_context *ctx = NULL;
    afloc_model *model = fixture_model(&ctx, THREADS, 7, "");
    afloc_trainer_options o = options();
    const size_t len = sizeof images[0] / sizeof(float);
    char ckpt[512];
    path_of(ckpt, "oom.ckpt");
    int create_failures = 0, save_failures = 0, load_failures = 0, step_failures = 0, wrong = 0;
    for (long k = 0;; k++) {
        afloc_trainer *t = NULL;
        afloc_test_inject_alloc_failure(k);
        afloc_status st = afloc_trainer_create(model, &o, &t);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_OK) {
            afloc_trainer_free(t);
            break;
        }
        create_failures++;
        wrong += st != AFLOC_ERR_OUT_OF_MEMORY || t != NULL;
    }
    afloc_trainer *t = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_OK);
    if (!t) return;
    for (long k = 0;; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_status st = afloc_trainer_save_checkpoint(t, ckpt);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_OK) break;
        save_failures++;
        wrong += st != AFLOC_ERR_OUT_OF_MEMORY;
    }
    for (long k = 0;; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_status st = afloc_trainer_load_checkpoint(t, ckpt);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_OK) break;
        load_failures++;
        wrong += st != AFLOC_ERR_OUT_OF_MEMORY;
    }
    /* a step allocates only for a first smaller batch (the side step) and in the tokenizer */
    for (long k = 0;; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_status st = afloc_trainer_step(t, images[0], len, caption_ptrs[0], 2, NULL);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_OK) break;
        step_failures++;
        wrong += st != AFLOC_ERR_OUT_OF_MEMORY;
        afloc_trainer_state s = {.struct_size = sizeof s};
        afloc_trainer_get_state(t, &s);
        wrong += s.step != 0;
    }
    printf("  allocation failures: create %d, save %d, load %d, step %d, wrong status %d\n",
           create_failures, save_failures, load_failures, step_failures, wrong);
    CHECK(create_failures > 5 && save_failures > 0 && load_failures > 0 && wrong == 0);
    afloc_trainer_free(t);
    afloc_model_free(model);
    afloc_context_free(ctx);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/afloc_trainer_XXXXXX");
    if (!mkdtemp(dir)) return 2;
    const double t0 = fixture_now();
    make_data();
    test_determinism_and_resume();
    test_bad_inputs();
    test_small_batch();
    test_oom();
    printf("test_trainer: word-level loss %.1f%% of the step time (%.2f of %.2f ms, B=%d, tiny "
           "model, %d threads); %.1f s total\n", 100.0 * word_time_sum / step_time_sum,
           1e3 * word_time_sum / 5, 1e3 * step_time_sum / 5, B, THREADS, fixture_now() - t0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    fixture_snap_free(&reference);
    return test_finish("test_trainer");
}
