/* test_cuda_train.c: the device training step (src/device_train*.c) on the CUDA plugin against the
 * CPU step (src/train_step.c), and the public trainer on a CUDA context, on the trainer tests'
 * tiny model (tests/train/trainer_fixture.h, batch 4, dropout 0.1, lr 1e-4, batch 0 every step
 * with a new dropout seed each step).
 *
 * The CPU reference runs first (it also runs without a device, and its loss must fall over the
 * N = 5 steps); then, with a device:
 *  fp32 mode (TF32 off), per quantity:
 *   - losses and gradient norm: step 0 within LOSS0_REL relative (same weights: only the
 *     summation orders of cuDNN / cuBLAS / the reductions differ); later steps within LOSS_REL
 *     (the weights have drifted by those differences through Adam);
 *   - step 0 gradient, every tensor: max|gpu − cpu| ≤ GRAD_REL · max|cpu| (a backward through
 *     BatchNorm at batch 4 amplifies the forward's 1e-6 differences);
 *   - parameters after N steps, every tensor (running statistics included):
 *     max|gpu − cpu| ≤ PARAM_REL · max|cpu| + PARAM_ADAM, PARAM_ADAM = 4·lr·N: Adam moves a
 *     float by about lr per step whatever its gradient's size, so a float whose gradient is
 *     noise (sign differs between backends) may end up 2·lr per step apart.
 *  bf16 mode: the total loss must fall over the N steps and stay within BF16_REL of the fp32
 *  device run at every step (bf16 GEMM / conv inputs: ~3e-3 relative per op through the trunk).
 *  trainer: a model created on the CUDA context with the same seed (same weights), a trainer on
 *  it and one on the CPU model: 2 steps each (losses within LOSS_REL), a checkpoint written by the
 *  CUDA trainer resumed by the CPU trainer, one more step on both (within LOSS_REL), then
 *  afloc_trainer_update_model on the CUDA model (re-uploads its inference copy).
 *  Then the fp32 comparison again on the tiny model with config local_position 1.
 * Exits 77 without a device (cuda_test_open). */
#include "cuda_test.h"

#include "../train/trainer_fixture.h"
#include "device_train.h"
#include "tokenizer.h"
#include "train_step.h"

enum { B = 4, SIDE = 32, N = 5 };

static const double LR = 1e-4;
static const double LOSS0_REL = 1e-4, LOSS_REL = 1e-3;
static const double GRAD_REL = 1e-3;
static const double PARAM_REL = 1e-3;
static const double BF16_REL = 5e-2;

typedef struct run {
    double total[N], global[N], sentence[N], word[N], norm[N];
    float *grad0, *params; /* table.total_floats each */
} run;

static float images[B * SIDE * SIDE];
static char captions[B][160];
static int32_t ids[B * 128], lengths[B];

static void make_batch(afloc_model *model) {
    fixture_batch(0, B, SIDE, images, captions);
    const int32_t T = model->config.token_length;
    int32_t mask[B * 128];
    for (int i = 0; i < B; i++)
        CHECK_STATUS(afloc_tokenizer_encode(model->tokenizer, captions[i], strlen(captions[i]),
                                            ids + i * T, mask + i * T, T, &lengths[i]),
                     AFLOC_OK);
}

static void record(run *r, int k, const afloc_train_losses *l) {
    r->total[k] = l->total, r->global[k] = l->global, r->sentence[k] = l->sentence;
    r->word[k] = l->word, r->norm[k] = l->grad_norm;
}

static void cpu_run(afloc_model *model, run *r) {
    const size_t n = model->table.total_floats;
    afloc_train_step *s = NULL;
    CHECK_STATUS(afloc_train_step_create(&s, model, B, 0.1f), AFLOC_OK);
    if (!s) exit(1);
    for (int k = 0; k < N; k++) {
        afloc_train_losses l;
        CHECK_STATUS(afloc_train_step_run(s, images, ids, lengths, 1000 + (uint64_t)k, LR, &l), AFLOC_OK);
        record(r, k, &l);
        if (k == 0) memcpy(r->grad0, afloc_train_step_grads(s), n * sizeof(float));
    }
    memcpy(r->params, model->params, n * sizeof(float));
    afloc_train_step_free(s);
}

static void device_run(afloc_model *model, const afloc_device_ops *ops, int32_t math, run *r) {
    afloc_device_train *t = NULL;
    afloc_status st = afloc_device_train_create(model, ops, 0, math, B, 0.1f, "test", &t);
    if (st != AFLOC_OK) {
        fprintf(stderr, "afloc_device_train_create: %s: %s\n", afloc_status_string(st), afloc_last_error());
        exit(1);
    }
    double seconds = 0.0;
    for (int k = 0; k < N; k++) {
        afloc_train_losses l;
        memset(&l, 0, sizeof l);
        CHECK_STATUS(afloc_device_train_run(t, images, ids, lengths, 1000 + (uint64_t)k, LR, &l), AFLOC_OK);
        record(r, k, &l);
        seconds += afloc_device_train_last_seconds(t);
        if (k == 0) CHECK_STATUS(afloc_device_train_download(t, NULL, r->grad0, NULL, NULL), AFLOC_OK);
    }
    CHECK_STATUS(afloc_device_train_download(t, r->params, NULL, NULL, NULL), AFLOC_OK);
    printf("device step (%s): %d steps, %.2f ms of device time per step\n",
           math == AFLOC_DEVICE_MATH_FP32 ? "fp32" : "bf16", N, 1e3 * seconds / N);
    afloc_device_train_free(t);
}

static double rel(double got, double want) {
    return fabs(got - want) / (fabs(want) > 1e-30 ? fabs(want) : 1e-30);
}

static void compare_losses(const run *gpu, const run *cpu) {
    for (int k = 0; k < N; k++) {
        const double tol = k == 0 ? LOSS0_REL : LOSS_REL;
        const double e[5] = {rel(gpu->total[k], cpu->total[k]), rel(gpu->global[k], cpu->global[k]),
                             rel(gpu->sentence[k], cpu->sentence[k]), rel(gpu->word[k], cpu->word[k]),
                             rel(gpu->norm[k], cpu->norm[k])};
        double worst = 0.0;
        for (int i = 0; i < 5; i++) worst = e[i] > worst || isnan(e[i]) ? e[i] : worst;
        const int ok = worst <= tol;
        printf("step %d: total gpu %.7f cpu %.7f, grad norm gpu %.6g cpu %.6g; worst rel %.3g "
               "(tol %.0e) %s\n", k, gpu->total[k], cpu->total[k], gpu->norm[k], cpu->norm[k],
               worst, tol, ok ? "ok" : "FAIL");
        if (!ok) test_failures++;
    }
}

/* Per tensor: max|gpu − cpu| ≤ rel_tol · max|cpu| + abs_tol; prints the worst tensor. */
static void compare_tensors(const afloc_model *model, const char *what, const float *gpu,
                            const float *cpu, double rel_tol, double abs_tol) {
    const afloc_param_table *t = &model->table;
    double worst = 0.0;
    const char *worst_name = "";
    int failed = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        double max_ref = 0.0, max_diff = 0.0;
        for (size_t k = 0; k < p->count; k++) {
            const double w = cpu[p->offset + k], d = fabs((double)gpu[p->offset + k] - w);
            if (fabs(w) > max_ref) max_ref = fabs(w);
            if (!(d <= max_diff)) max_diff = d;
        }
        const double limit = rel_tol * max_ref + abs_tol;
        const double ratio = max_diff / (limit > 0.0 ? limit : 1e-30);
        if (ratio > worst || isnan(ratio)) worst = ratio, worst_name = p->name;
        if (!(max_diff <= limit)) {
            fprintf(stderr, "  %s %s: max|diff| %.3g > %.3g (max|cpu| %.3g)\n", what, p->name,
                    max_diff, limit, max_ref);
            failed++;
        }
    }
    printf("%s: %d tensors, worst at %.3g of its limit (%s), limit %.0e x max|cpu| + %.1g  %s\n",
           what, (int)t->count, worst, worst_name, rel_tol, abs_tol, failed ? "FAIL" : "ok");
    test_failures += failed;
}

static afloc_trainer_options trainer_options(void) {
    afloc_trainer_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_trainer_options_default(&o);
    o.batch_size = B;
    o.dropout = 0.1f;
    o.lr_schedule = AFLOC_LR_SCHEDULE_CONSTANT;
    o.learning_rate = LR;
    return o;
}

static afloc_trainer *make_trainer_with(afloc_model *model, double sentence_contrast) {
    afloc_trainer_options o = trainer_options();
    o.loss_weight_sentence_contrast = sentence_contrast;
    afloc_trainer *t = NULL;
    afloc_status st = afloc_trainer_create(model, &o, &t);
    if (st != AFLOC_OK) {
        fprintf(stderr, "afloc_trainer_create: %s: %s\n", afloc_status_string(st), afloc_last_error());
        exit(1);
    }
    return t;
}

static double trainer_step(afloc_trainer *t) {
    const char *list[B];
    for (int i = 0; i < B; i++) list[i] = captions[i];
    afloc_train_loss_terms terms;
    memset(&terms, 0, sizeof terms);
    terms.struct_size = sizeof terms;
    CHECK_STATUS(afloc_trainer_step(t, images, sizeof images / sizeof images[0], list, B, &terms),
                 AFLOC_OK);
    return terms.total;
}

static void trainer_check(afloc_context *cuda_context) {
    afloc_context *cpu_context = NULL;
    afloc_model *cpu_model = fixture_model(&cpu_context, 1, 5, "");
    afloc_model *gpu_model = fixture_model(&cuda_context, 1, 5, "");
    if (!cpu_model || !gpu_model) exit(1);
    CHECK(memcmp(cpu_model->params, gpu_model->params,
                 cpu_model->table.total_floats * sizeof(float)) == 0);
    afloc_trainer *tc = make_trainer_with(cpu_model, 0.0), *tg = make_trainer_with(gpu_model, 0.0);
    double worst = 0.0;
    for (int k = 0; k < 2; k++) {
        const double c = trainer_step(tc), g = trainer_step(tg);
        if (rel(g, c) > worst) worst = rel(g, c);
    }
    char path[256];
    snprintf(path, sizeof path, "/tmp/afloc_cuda_train_%d.ckpt", (int)getpid());
    CHECK_STATUS(afloc_trainer_save_checkpoint(tg, path), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_load_checkpoint(tc, path), AFLOC_OK); /* device → CPU */
    const double c = trainer_step(tc), g = trainer_step(tg);
    const double resumed = rel(g, c);
    afloc_trainer_state sc, sg;
    memset(&sc, 0, sizeof sc);
    memset(&sg, 0, sizeof sg);
    sc.struct_size = sg.struct_size = sizeof sc;
    CHECK_STATUS(afloc_trainer_get_state(tc, &sc), AFLOC_OK);
    CHECK_STATUS(afloc_trainer_get_state(tg, &sg), AFLOC_OK);
    CHECK(sc.step == 3 && sg.step == 3);
    CHECK_STATUS(afloc_trainer_update_model(tg), AFLOC_OK);
    const int ok = worst <= LOSS_REL && resumed <= LOSS_REL;
    printf("trainer on the CUDA context: 2 steps worst rel %.3g, step after a device checkpoint "
           "resumed on the CPU rel %.3g (tol %.0e); update_model ok  %s\n", worst, resumed,
           LOSS_REL, ok ? "ok" : "FAIL");
    if (!ok) test_failures++;
    remove(path);
    afloc_trainer_free(tc);
    afloc_trainer_free(tg);
    afloc_model_free(cpu_model);
    afloc_model_free(gpu_model);
    afloc_context_free(cpu_context);
}

/* The within-image sentence loss (trainer option loss_weight_sentence_contrast 0.3, the shipped
 * chest X-ray model's fourth stage; kernels/contrastive.cu): 2 trainer steps on the CUDA context
 * against the CPU's, the same bound. */
static void contrast_check(afloc_context *cuda_context) {
    afloc_context *cpu_context = NULL;
    afloc_model *cpu_model = fixture_model(&cpu_context, 1, 5, "");
    afloc_model *gpu_model = fixture_model(&cuda_context, 1, 5, "");
    if (!cpu_model || !gpu_model) exit(1);
    afloc_trainer *tc = make_trainer_with(cpu_model, 0.3), *tg = make_trainer_with(gpu_model, 0.3);
    double worst = 0.0;
    for (int k = 0; k < 2; k++) {
        const double c = trainer_step(tc), g = trainer_step(tg);
        if (rel(g, c) > worst) worst = rel(g, c);
    }
    const int ok = worst <= LOSS_REL;
    printf("trainer with sentence contrast 0.3 on the CUDA context: 2 steps worst rel %.3g (tol "
           "%.0e)  %s\n", worst, LOSS_REL, ok ? "ok" : "FAIL");
    if (!ok) test_failures++;
    afloc_trainer_free(tc);
    afloc_trainer_free(tg);
    afloc_model_free(cpu_model);
    afloc_model_free(gpu_model);
    afloc_context_free(cpu_context);
}

/* The tiny model with the position term of the deep-local embedding (config local_position 1,
 * kernels/position.cu): fp32 device steps against the CPU steps, the same bounds. The term is zero
 * at creation; the first step's update makes it non-zero, so steps 1-4 use its forward too. */
static void position_check(afloc_context *context, const afloc_device_ops *ops) {
    afloc_model *model = fixture_model(&context, 1, 5, ",\"local_position\":1");
    if (!model) {
        test_failures++;
        return;
    }
    const size_t n = model->table.total_floats;
    float *initial = cuda_test_host(n);
    memcpy(initial, model->params, n * sizeof(float));
    run cpu, fp32;
    cpu.grad0 = cuda_test_host(n), cpu.params = cuda_test_host(n);
    fp32.grad0 = cuda_test_host(n), fp32.params = cuda_test_host(n);
    cpu_run(model, &cpu);
    memcpy(model->params, initial, n * sizeof(float));
    device_run(model, ops, AFLOC_DEVICE_MATH_FP32, &fp32);
    printf("local_position 1:\n");
    compare_losses(&fp32, &cpu);
    compare_tensors(model, "step-0 gradient (local_position)", fp32.grad0, cpu.grad0, GRAD_REL, 0.0);
    compare_tensors(model, "parameters after 5 steps (local_position)", fp32.params, cpu.params,
                    PARAM_REL, 4.0 * LR * N);
    free(cpu.grad0);
    free(cpu.params);
    free(fp32.grad0);
    free(fp32.params);
    free(initial);
    afloc_model_free(model);
}

int main(void) {
    afloc_context *context = NULL;
    afloc_model *model = fixture_model(&context, 1, 5, "");
    if (!model) return 1;
    make_batch(model);
    const size_t n = model->table.total_floats;
    float *initial = cuda_test_host(n);
    memcpy(initial, model->params, n * sizeof(float));
    run cpu, fp32, bf16;
    run *runs[3] = {&cpu, &fp32, &bf16};
    for (int i = 0; i < 3; i++) {
        runs[i]->grad0 = cuda_test_host(n);
        runs[i]->params = cuda_test_host(n);
    }
    cpu_run(model, &cpu);
    printf("cpu step: total %.6f -> %.6f over %d steps on one batch\n", cpu.total[0],
           cpu.total[N - 1], N);
    CHECK(cpu.total[N - 1] < cpu.total[0]);
    memcpy(model->params, initial, n * sizeof(float));

    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32); /* exits 77 without a device */
    device_run(model, t.ops, AFLOC_DEVICE_MATH_FP32, &fp32);
    compare_losses(&fp32, &cpu);
    compare_tensors(model, "step-0 gradient", fp32.grad0, cpu.grad0, GRAD_REL, 0.0);
    compare_tensors(model, "parameters after 5 steps", fp32.params, cpu.params, PARAM_REL,
                    4.0 * LR * N);
    CHECK(memcmp(model->params, initial, n * sizeof(float)) == 0); /* the step never writes it */

    device_run(model, t.ops, AFLOC_DEVICE_MATH_BF16, &bf16);
    double band = 0.0;
    for (int k = 0; k < N; k++)
        if (rel(bf16.total[k], fp32.total[k]) > band) band = rel(bf16.total[k], fp32.total[k]);
    const int bf16_ok = bf16.total[N - 1] < bf16.total[0] && band <= BF16_REL;
    printf("bf16: total %.6f -> %.6f, worst rel to fp32 %.3g (tol %.0e)  %s\n", bf16.total[0],
           bf16.total[N - 1], band, BF16_REL, bf16_ok ? "ok" : "FAIL");
    if (!bf16_ok) test_failures++;

    position_check(context, t.ops);
    trainer_check(t.context);
    contrast_check(t.context);
    for (int i = 0; i < 3; i++) {
        free(runs[i]->grad0);
        free(runs[i]->params);
    }
    free(initial);
    afloc_model_free(model);
    afloc_context_free(context);
    cuda_test_close(&t);
    return test_finish("test_cuda_train");
}
