/* test_device_train.c: the device training step (src/device_train*.c) run on a host-memory
 * "device" (tests/common/host_device_ops.h: the CPU ops behind the device table) against the CPU
 * step (src/train_step.c), on the trainer tests' tiny model (tests/train/trainer_fixture.h:
 * bottlenecks with projections, a 2-layer BERT, batch 4).
 *
 * Both steps start from the same weights and see the same batches and seeds; after each of K = 3
 * steps the loss terms, the gradient norm, every gradient float (downloaded) and every parameter
 * float (BatchNorm running statistics included) must agree. The device step calls the very CPU
 * ops the CPU step calls, in the same order, so the expected difference is zero; the limit is
 * 1e-6 of each tensor's largest value (TOL), and the number of floats that differ in any bit is
 * printed. Runs: dropout 0.1 with weights (1, 1, 1) (the masks must be the same draws), dropout
 * 0.1 with (1, 1, 0) (the word level skipped), dropout 0 with (0.5, 2, 1) (weights through the
 * device's scaling), dropout 0.1 with (1, 1, 0) and the within-image sentence loss at 0.3 (the
 * shipped chest X-ray model's fourth stage). Also: Adam's skip rules (the pooler, local_f_embedder and running
 * statistics get no update, their m / v stay 0), running statistics move, a set_batch(3) step
 * against a batch-3 CPU step, and allocation failures (device and host) at every point of
 * create give OUT_OF_MEMORY with no device allocation left. Last, the public trainer's device
 * path (trainer.c on a context that says CUDA, with the host table as its plugin): 3 steps of
 * which one of 3 samples (the side batch), equal to the CPU trainer bit for bit; a checkpoint
 * written by the device trainer and resumed by the CPU trainer continues bit-identically (and
 * the other way round); update_model and free leave the trained weights in the model. */
#include <math.h>
#include <unistd.h>

#include "../train/trainer_fixture.h"
#include "alloc.h"
#include "context.h"
#include "device_train.h"
#include "host_device_ops.h"
#include "test_util.h"
#include "tokenizer.h"
#include "train_step.h"

enum { B = 4, SIDE = 32, K = 3 };

/* Scale-relative limit: max|device − cpu| ≤ TOL · max|cpu| per tensor (expected 0). */
static const double TOL = 1e-6;

static double worst_rel = 0.0;
static size_t differing = 0, compared = 0;

static double rel(double got, double want) {
    double d = fabs(got - want), s = fabs(want) > 1e-30 ? fabs(want) : 1e-30;
    return d / s;
}

/* Per table tensor: device vs cpu floats in the model layout. */
static void compare_tensors(const afloc_model *model, const char *what, int step,
                            const float *got, const float *want) {
    const afloc_param_table *t = &model->table;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        double max_ref = 0.0, max_diff = 0.0;
        for (size_t k = 0; k < p->count; k++) {
            const float g = got[p->offset + k], w = want[p->offset + k];
            if (fabs(w) > max_ref) max_ref = fabs(w);
            const double d = fabs((double)g - (double)w);
            if (!(d <= max_diff)) max_diff = d; /* NaN propagates */
            if (memcmp(&g, &w, sizeof g) != 0) differing++;
            compared++;
        }
        const double err = max_diff / (max_ref > 0.0 ? max_ref : 1.0);
        if (err > worst_rel || isnan(err)) worst_rel = err;
        if (!(err <= TOL)) {
            fprintf(stderr, "step %d %s %s: max|diff| %.3g of max %.3g > %.0e\n", step, what,
                    p->name, max_diff, max_ref, TOL);
            test_failures++;
        }
    }
}

static void compare_losses(int step, const afloc_train_losses *got, const afloc_train_losses *want) {
    const double pairs[6][2] = {{got->global, want->global}, {got->sentence, want->sentence},
                                {got->word, want->word}, {got->total, want->total},
                                {got->grad_norm, want->grad_norm},
                                {got->contrast, want->contrast}};
    const char *names[6] = {"global", "sentence", "word", "total", "grad_norm", "contrast"};
    for (int k = 0; k < 6; k++) {
        const double e = pairs[k][1] == 0.0 ? fabs(pairs[k][0]) : rel(pairs[k][0], pairs[k][1]);
        if (e > worst_rel) worst_rel = e;
        if (!(e <= TOL)) {
            fprintf(stderr, "step %d loss %s: device %.9g cpu %.9g\n", step, names[k],
                    pairs[k][0], pairs[k][1]);
            test_failures++;
        }
    }
}

/* Tokenized batch k of `count` samples. */
static void batch(afloc_model *model, int k, int count, float *images, int32_t *ids,
                  int32_t *lengths) {
    static char captions[B][160];
    fixture_batch(k, count, SIDE, images, captions);
    const int32_t T = model->config.token_length;
    int32_t mask[B * 128];
    for (int i = 0; i < count; i++)
        CHECK_STATUS(afloc_tokenizer_encode(model->tokenizer, captions[i], strlen(captions[i]),
                                            ids + i * T, mask + i * T, T, &lengths[i]),
                     AFLOC_OK);
}

/* K steps of both from the model's current weights (restored after). */
static void run_pair(afloc_model *model, float dropout, double wg, double ws, double ww,
                     double wc, int count, const char *label) {
    const size_t n = model->table.total_floats;
    float *initial = malloc(n * sizeof(float)), *params = malloc(n * sizeof(float));
    float *grads = malloc(n * sizeof(float)), *m = malloc(n * sizeof(float));
    float *v = malloc(n * sizeof(float));
    memcpy(initial, model->params, n * sizeof(float));
    afloc_train_step *cpu = NULL;
    afloc_device_train *dev = NULL;
    CHECK_STATUS(afloc_train_step_create(&cpu, model, count, dropout), AFLOC_OK);
    CHECK_STATUS(afloc_device_train_create(model, host_device_ops(), 0, AFLOC_DEVICE_MATH_FP32, B,
                                           dropout, "test", &dev),
                 AFLOC_OK);
    if (!cpu || !dev) exit(test_finish("model_device_train"));
    if (count != B) CHECK_STATUS(afloc_device_train_set_batch(dev, count), AFLOC_OK);
    afloc_train_step_set_weights(cpu, wg, ws, ww);
    afloc_device_train_set_weights(dev, wg, ws, ww);
    afloc_train_step_set_sentence_contrast(cpu, wc);
    afloc_device_train_set_sentence_contrast(dev, wc);
    const int32_t T = model->config.token_length;
    static float images[B * SIDE * SIDE];
    int32_t ids[B * 128], lengths[B];
    const size_t before = differing;
    afloc_train_losses lc, ld;
    for (int k = 0; k < K; k++) {
        batch(model, k, count, images, ids, lengths);
        const uint64_t seed = 1000 + (uint64_t)k;
        CHECK_STATUS(afloc_train_step_run(cpu, images, ids, lengths, seed, 2e-3, &lc), AFLOC_OK);
        CHECK_STATUS(afloc_device_train_run(dev, images, ids, lengths, seed, 2e-3, &ld), AFLOC_OK);
        CHECK_STATUS(afloc_device_train_download(dev, params, grads, m, v), AFLOC_OK);
        compare_losses(k, &ld, &lc);
        CHECK(wc == 0.0 ? ld.contrast == 0.0 : ld.contrast > 0.0);
        compare_tensors(model, "grad", k, grads, afloc_train_step_grads(cpu));
        compare_tensors(model, "param", k, params, model->params);
        float *cm, *cv;
        afloc_train_step_adam_state(cpu, &cm, &cv);
        compare_tensors(model, "adam_m", k, m, cm);
        compare_tensors(model, "adam_v", k, v, cv);
        (void)T;
    }
    CHECK(afloc_device_train_count(dev) == K && afloc_train_step_count(cpu) == K);
    /* skip rules: untrained tensors keep their values (running statistics move in the forward
     * instead), and their m / v stay 0 */
    const afloc_param_table *t = &model->table;
    int skipped = 0, stats_moved = 0, pooler = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        const int stat = p->kind == AFLOC_PARAM_RUNNING_MEAN || p->kind == AFLOC_PARAM_RUNNING_VAR;
        CHECK(afloc_device_train_is_trained(dev, i) == afloc_train_step_is_trained(cpu, i));
        if (afloc_device_train_is_trained(dev, i)) continue;
        skipped++;
        if (strstr(p->name, ".pooler.")) pooler++;
        const int same = memcmp(params + p->offset, initial + p->offset, p->count * sizeof(float)) == 0;
        if (stat) stats_moved += !same;
        else CHECK(same);
        for (size_t k = 0; k < p->count; k++) CHECK(m[p->offset + k] == 0.0f && v[p->offset + k] == 0.0f);
    }
    CHECK(pooler >= 2 && stats_moved > 0);
    printf("%-34s %d steps: last total %.6f (cpu %.6f), grad norm %.6g; %zu floats differ in any bit; "
           "%d untrained tensors (%d pooler), %d running statistics moved\n", label, K, ld.total,
           lc.total, ld.grad_norm, differing - before, skipped, pooler, stats_moved);
    afloc_device_train_free(dev);
    afloc_train_step_free(cpu);
    memcpy(model->params, initial, n * sizeof(float));
    free(initial);
    free(params);
    free(grads);
    free(m);
    free(v);
}

static void allocation_failures(afloc_model *model) {
    int device_points = 0, host_points = 0;
    for (int k = 1;; k++) {
        host_fail_countdown = k;
        afloc_device_train *dev = NULL;
        afloc_status st = afloc_device_train_create(model, host_device_ops(), 0,
                                                    AFLOC_DEVICE_MATH_FP32, B, 0.1f, "test", &dev);
        host_fail_countdown = -1;
        if (st == AFLOC_OK) {
            afloc_device_train_free(dev);
            break;
        }
        device_points++;
        CHECK_STATUS(st, AFLOC_ERR_OUT_OF_MEMORY);
        CHECK(dev == NULL && host_live_allocations == 0);
        if (k > 10000) break;
    }
    for (long k = 0;; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_device_train *dev = NULL;
        afloc_status st = afloc_device_train_create(model, host_device_ops(), 0,
                                                    AFLOC_DEVICE_MATH_FP32, B, 0.1f, "test", &dev);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_OK) {
            afloc_device_train_free(dev);
            break;
        }
        host_points++;
        CHECK_STATUS(st, AFLOC_ERR_OUT_OF_MEMORY);
        CHECK(dev == NULL && host_live_allocations == 0);
        if (k > 10000) break;
    }
    CHECK(device_points > 10 && host_points > 5 && host_live_allocations == 0);
    printf("allocation failures: %d device and %d host failure points in create, each "
           "OUT_OF_MEMORY with 0 device allocations left\n", device_points, host_points);
}

static void trainer_step(afloc_trainer *t, int k, int count, double *total) {
    static float images[B * SIDE * SIDE];
    static char captions[B][160];
    fixture_batch(k, count, SIDE, images, captions);
    const char *list[B];
    for (int i = 0; i < count; i++) list[i] = captions[i];
    afloc_train_loss_terms terms;
    memset(&terms, 0, sizeof terms);
    terms.struct_size = sizeof terms;
    CHECK_STATUS(afloc_trainer_step(t, images, (size_t)count * SIDE * SIDE, list, count, &terms),
                 AFLOC_OK);
    *total = terms.total;
}

static afloc_trainer *make_trainer(afloc_model *model) {
    afloc_trainer_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_trainer_options_default(&o);
    o.batch_size = B;
    o.lr_schedule = AFLOC_LR_SCHEDULE_CONSTANT;
    o.learning_rate = 1e-3;
    afloc_trainer *t = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_OK);
    if (!t) exit(test_finish("model_device_train"));
    return t;
}

/* The trainer on a "CUDA" context whose plugin table is the host one. */
static void trainer_device_path(afloc_context *cpu_context) {
    afloc_context *c2 = NULL;
    afloc_model *host = fixture_model(&c2, 1, 5, ""), *dev = fixture_model(&c2, 1, 5, "");
    afloc_model *host2 = fixture_model(&c2, 1, 5, ""), *dev2 = fixture_model(&c2, 1, 5, "");
    if (!host || !dev || !host2 || !dev2) exit(1);
    const size_t n = host->table.total_floats;
    afloc_backend_table table;
    memset(&table, 0, sizeof table);
    table.device = host_device_ops();
    struct afloc_context fake = *cpu_context;
    fake.backend = AFLOC_BACKEND_CUDA;
    fake.cuda = &table;
    const afloc_context *real = dev->context;
    dev->context = &fake;
    dev2->context = &fake;
    afloc_trainer *tc = make_trainer(host), *tg = make_trainer(dev);
    CHECK(tg->device != NULL && tg->step == NULL && tc->device == NULL);
    const int counts[4] = {B, 3, B, B};
    size_t same = 0;
    for (int k = 0; k < 3; k++) {
        double lc = 0, lg = 0;
        trainer_step(tc, k, counts[k], &lc);
        trainer_step(tg, k, counts[k], &lg);
        same += lc == lg;
    }
    char path[256], path2[256];
    snprintf(path, sizeof path, "/tmp/afloc_device_train_%d.ckpt", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/afloc_device_train_%d_cpu.ckpt", (int)getpid());
    CHECK_STATUS(afloc_trainer_save_checkpoint(tg, path), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_save_checkpoint(tc, path2), AFLOC_OK);
    /* after save the device trainer's model holds the trained weights: equal to the CPU's */
    CHECK(memcmp(host->params, dev->params, n * sizeof(float)) == 0);
    afloc_trainer *resumed_cpu = make_trainer(host2), *resumed_dev = make_trainer(dev2);
    CHECK_STATUS(afloc_trainer_load_checkpoint(resumed_cpu, path), AFLOC_OK); /* device → CPU */
    CHECK_STATUS(afloc_trainer_load_checkpoint(resumed_dev, path2), AFLOC_OK); /* CPU → device */
    double l[4];
    trainer_step(tc, 3, counts[3], &l[0]);
    trainer_step(tg, 3, counts[3], &l[1]);
    trainer_step(resumed_cpu, 3, counts[3], &l[2]);
    trainer_step(resumed_dev, 3, counts[3], &l[3]);
    CHECK(l[0] == l[1] && l[0] == l[2] && l[0] == l[3]);
    CHECK(same == 3);
    /* a transfer that fails (the device is lost) leaves the model's host parameters whole */
    float *before = malloc(n * sizeof(float));
    if (!before) exit(1);
    memcpy(before, dev2->params, n * sizeof(float));
    host_transfer_fail_countdown = 1;
    CHECK(afloc_trainer_load_checkpoint(resumed_dev, path) == AFLOC_ERR_DEVICE_LOST);
    int whole = memcmp(before, dev2->params, n * sizeof(float)) == 0;
    host_transfer_fail_countdown = 1;
    CHECK(afloc_trainer_update_model(resumed_dev) == AFLOC_ERR_DEVICE_LOST);
    whole &= memcmp(before, dev2->params, n * sizeof(float)) == 0;
    CHECK(whole);
    free(before);
    CHECK_STATUS(afloc_trainer_update_model(tg), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_update_model(tc), AFLOC_OK);
    CHECK(memcmp(host->params, dev->params, n * sizeof(float)) == 0);
    afloc_trainer_free(resumed_cpu);
    afloc_trainer_free(resumed_dev);
    afloc_trainer_free(tc);
    afloc_trainer_free(tg);
    CHECK(host_live_allocations == 0);
    printf("trainer device path: 3 steps (one of 3 samples) equal to the CPU trainer in %zu/3 "
           "totals; step 4 after device->CPU and CPU->device resumes: totals %.9g %.9g %.9g %.9g; "
           "failed upload / download left the model whole: %s\n",
           same, l[0], l[1], l[2], l[3], whole ? "yes" : "NO");
    remove(path);
    remove(path2);
    dev->context = real;
    dev2->context = real;
    afloc_model_free(host);
    afloc_model_free(dev);
    afloc_model_free(host2);
    afloc_model_free(dev2);
    afloc_context_free(c2);
}

int main(int argc, char **argv) {
    /* `position`: the model with the position term of the deep-local embedding (config
     * local_position 1; zero at creation, so the first step's update makes it non-zero and the
     * later steps compare its forward as well as its gradient) */
    const int position = argc > 1 && !strcmp(argv[1], "position");
    afloc_context *context = NULL;
    afloc_model *model = fixture_model(&context, 1, 5, position ? ",\"local_position\":1" : "");
    if (!model) return 1;
    run_pair(model, 0.1f, 1, 1, 1, 0, B, "dropout 0.1, weights (1,1,1)");
    run_pair(model, 0.1f, 1, 1, 0, 0, B, "dropout 0.1, weights (1,1,0)");
    run_pair(model, 0.0f, 0.5, 2, 1, 0, B, "dropout 0, weights (0.5,2,1)");
    run_pair(model, 0.1f, 1, 1, 1, 0, 3, "set_batch(3), dropout 0.1");
    run_pair(model, 0.1f, 1, 1, 0, 0.3, B, "dropout 0.1, weights (1,1,0), sentence contrast 0.3");
    allocation_failures(model);
    trainer_device_path(context);

    /* misuse */
    afloc_device_train *dev = NULL;
    CHECK_STATUS(afloc_device_train_create(model, host_device_ops(), 0, 0, 0, 0.1f, "test", &dev),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_device_train_create(model, host_device_ops(), 0, 0, B, 1.0f, "test", &dev),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_device_train_create(model, host_device_ops(), 0, 0, B, 0.0f, "test", &dev),
                 AFLOC_OK);
    if (dev) {
        CHECK_STATUS(afloc_device_train_set_batch(dev, B + 1), AFLOC_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(afloc_device_train_run(dev, NULL, NULL, NULL, 1, 1e-3, NULL),
                     AFLOC_ERR_INVALID_ARGUMENT);
        static float images[B * SIDE * SIDE];
        int32_t ids[B * 128], lengths[B];
        batch(model, 0, B, images, ids, lengths);
        lengths[1] += 1; /* no longer where its [SEP] is */
        CHECK_STATUS(afloc_device_train_run(dev, images, ids, lengths, 1, 1e-3, NULL),
                     AFLOC_ERR_INVALID_ARGUMENT);
        CHECK(afloc_device_train_count(dev) == 0);
        afloc_device_train_free(dev);
    }
    CHECK(host_live_allocations == 0);
    printf("device step vs CPU step: worst scale-relative difference %.3g (limit %.0e) over %zu "
           "compared floats, %zu differ in any bit\n", worst_rel, TOL, compared, differing);
    afloc_model_free(model);
    afloc_context_free(context);
    return test_finish("model_device_train");
}
