/* test_train_image.c: the image encoder's training forward and backward (src/train_image.c)
 * against PyTorch autograd (ref_train_image.py: torchvision ResNet in train() mode, loaded from
 * the same model file). A tiny model (tests/model/tiny_model.h: blocks [1,1,1,1], planes
 * [8,16,32,64], stem 16, image 64 → 80) is created in C with random weights, its BatchNorm
 * affine and running statistics randomised here, and saved; for B = 2 and 3 both sides run the
 * same x and the same upstream gradients for img_emb_g / img_emb_l / img_emb_l2. Compared by
 * checkpoint name: the three outputs, every parameter gradient, the updated running statistics.
 * Also: a second backward doubles the gradients (accumulation), and no gradient outside the
 * image encoder's trained tensors is touched. */
#include <math.h>
#include <sys/stat.h>

#include "../model/tiny_model.h"
#include "../ops/ops_io.h"
#include "alloc.h"
#include "model.h"
#include "train_image.h"

/* Tolerances; atol is relative to the tensor's max |want| (scale). fp32 on both sides with other
 * summation orders (im2col GEMM vs PyTorch's conv, double BN statistics vs PyTorch's), amplified
 * by train-mode BatchNorm on as few as B·3·3 = 18 values per channel in layer4. Worst seen over
 * B = 2, 3 (max |err| / scale): outputs 1.6e-6, running stats 2.6e-7, conv weight grads 4.2e-6,
 * BN grads 4.1e-6, head grads 3.0e-6. Limits about 10x that. */
static const ops_tolerance TOLERANCES[] = {
    {"output", 2e-5f, 1e-4f},  /* img_emb_g / l / l2                                      */
    {"running", 3e-6f, 1e-5f}, /* running_mean / running_var after one momentum step      */
    {"conv", 5e-5f, 1e-3f},    /* conv weight grads: reductions over B·H·W and the chain   */
    {"bn", 5e-5f, 1e-3f},      /* BatchNorm weight / bias grads                           */
    {"head", 3e-5f, 1e-4f},    /* global / local / local2 embedder weight and bias        */
};
enum { G_OUTPUT, G_RUNNING, G_CONV, G_BN, G_HEAD, G_COUNT };
/* Per group, the largest |got − want| / max|want| over its tensors (the figure atol bounds). */
static double worst_scaled[G_COUNT];

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float uniform(float lo, float hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static int write_tensor(const char *dir, const char *name, const float *x, int32_t ndim,
                        const int64_t *dims) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    uint32_t head[2] = {OPS_F32, (uint32_t)ndim};
    size_t n = 1;
    for (int32_t i = 0; i < ndim; i++) n *= (size_t)dims[i];
    int ok = fwrite("AFT1", 1, 4, f) == 4 && fwrite(head, 4, 2, f) == 2 &&
             fwrite(dims, 8, (size_t)ndim, f) == (size_t)ndim && fwrite(x, 4, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* BatchNorm of the image encoder: γ U(0.5, 1.5), β U(-0.2, 0.2), running mean U(-0.5, 0.5), running
 * var U(0.5, 2), so no term of the train-mode formula is trivial. */
static void randomise_batchnorm(afloc_model *model) {
    for (int32_t i = 0; i < model->table.count; i++) {
        const afloc_param *p = &model->table.params[i];
        if (strncmp(p->name, "img_encoder.", 12) != 0) continue;
        float lo, hi;
        switch (p->kind) {
        case AFLOC_PARAM_NORM_WEIGHT: lo = 0.5f, hi = 1.5f; break;
        case AFLOC_PARAM_NORM_BIAS: lo = -0.2f, hi = 0.2f; break;
        case AFLOC_PARAM_RUNNING_MEAN: lo = -0.5f, hi = 0.5f; break;
        case AFLOC_PARAM_RUNNING_VAR: lo = 0.5f, hi = 2.0f; break;
        default: continue;
        }
        for (size_t k = 0; k < p->count; k++) model->params[p->offset + k] = uniform(lo, hi);
    }
}

static int group_of(const afloc_param *p) {
    if (p->kind == AFLOC_PARAM_RUNNING_MEAN || p->kind == AFLOC_PARAM_RUNNING_VAR) return G_RUNNING;
    if (strstr(p->name, "embedder")) return G_HEAD;
    if (p->kind == AFLOC_PARAM_NORM_WEIGHT || p->kind == AFLOC_PARAM_NORM_BIAS) return G_BN;
    return G_CONV;
}

/* One batch size: inputs written before the oracle runs (see write_inputs), then compared. */
typedef struct batch_case {
    int32_t B, D, S2, S3;
    float *x, *dg, *dl, *dl2;
} batch_case;

static int write_inputs(const char *dir, batch_case *c, const afloc_config *cfg, int32_t s2,
                        int32_t s3) {
    const int32_t B = c->B, D = cfg->embedding_dim, crop = cfg->crop_size;
    c->D = D, c->S2 = s2 * s2, c->S3 = s3 * s3;
    const size_t nx = (size_t)B * crop * crop;
    c->x = malloc(nx * sizeof(float));
    c->dg = malloc((size_t)B * D * sizeof(float));
    c->dl = malloc((size_t)B * D * c->S3 * sizeof(float));
    c->dl2 = malloc((size_t)B * D * c->S2 * sizeof(float));
    /* a smooth image plus noise, in the normalised range [-1, 1] */
    for (int32_t b = 0; b < B; b++)
        for (int32_t y = 0; y < crop; y++)
            for (int32_t x = 0; x < crop; x++)
                c->x[((size_t)b * crop + y) * crop + x] =
                    0.6f * sinf(0.11f * (float)(x + 7 * b)) * cosf(0.07f * (float)y) +
                    uniform(-0.4f, 0.4f);
    for (size_t i = 0; i < (size_t)B * D; i++) c->dg[i] = uniform(-1, 1);
    for (size_t i = 0; i < (size_t)B * D * c->S3; i++) c->dl[i] = uniform(-1, 1);
    for (size_t i = 0; i < (size_t)B * D * c->S2; i++) c->dl2[i] = uniform(-1, 1);
    char name[64];
    int64_t dx[4] = {B, 1, crop, crop}, dg[2] = {B, D}, dl[3] = {B, D, c->S3}, dl2[3] = {B, D, c->S2};
    int ok = 1;
    snprintf(name, sizeof name, "b%d.x", B);
    ok &= write_tensor(dir, name, c->x, 4, dx);
    snprintf(name, sizeof name, "b%d.d_g", B);
    ok &= write_tensor(dir, name, c->dg, 2, dg);
    snprintf(name, sizeof name, "b%d.d_l", B);
    ok &= write_tensor(dir, name, c->dl, 3, dl);
    snprintf(name, sizeof name, "b%d.d_l2", B);
    ok &= write_tensor(dir, name, c->dl2, 3, dl2);
    return ok;
}

static int compare_named(const char *dir, ops_summary *groups, int group, const char *prefix,
                         const char *name, const float *got, size_t n) {
    char full[256];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    size_t count = 0;
    float *want = ops_tensor_read(dir, full, OPS_F32, &count);
    if (!want) return -1; /* not written by the oracle */
    if (count != n) {
        fprintf(stderr, "%s: %zu elements, expected %zu\n", full, count, n);
        test_failures++;
        free(want);
        return 1;
    }
    const float scale = ops_max_abs(want, n);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (scale > 0 ? scale : 1.0f);
        if (!(e <= worst_scaled[group])) worst_scaled[group] = e; /* NaN sticks */
    }
    int bad = ops_compare(&groups[group], full, &TOLERANCES[group], scale > 0 ? scale : 1.0f, got,
                          want, n);
    free(want);
    return bad;
}

static void run_case(const char *dir, afloc_model *model, const batch_case *c, ops_summary *groups) {
    const afloc_param_table *t = &model->table;
    const size_t total = t->total_floats;
    float *params = malloc(total * sizeof(float));
    float *grads = calloc(total, sizeof(float));
    memcpy(params, model->params, total * sizeof(float));
    afloc_train_image_plan *plan = NULL;
    CHECK_STATUS(afloc_train_image_plan_create(&plan, model, c->B), AFLOC_OK);
    if (!plan) {
        free(params);
        free(grads);
        return;
    }
    CHECK_STATUS(afloc_train_image_forward(plan, params, c->x), AFLOC_OK);
    CHECK_STATUS(afloc_train_image_backward(plan, grads, params, c->dg, c->dl, c->dl2), AFLOC_OK);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "b%d", c->B);
    const float *g, *l, *l2;
    afloc_train_image_outputs(plan, &g, &l, &l2);
    const size_t BD = (size_t)c->B * c->D;
    CHECK(compare_named(dir, groups, G_OUTPUT, prefix, "img_emb_g", g, BD) == 0);
    CHECK(compare_named(dir, groups, G_OUTPUT, prefix, "img_emb_l", l, BD * c->S3) == 0);
    CHECK(compare_named(dir, groups, G_OUTPUT, prefix, "img_emb_l2", l2, BD * c->S2) == 0);
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        if (strncmp(p->name, "img_encoder.", 12) != 0) continue;
        const int group = group_of(p);
        char name[AFLOC_PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s.%s", group == G_RUNNING ? "run" : "grad", p->name);
        const float *got = (group == G_RUNNING ? params : grads) + p->offset;
        int r = compare_named(dir, groups, group, prefix, name, got, p->count);
        /* the oracle has no gradient only for local_f_embedder, which no output uses */
        if (r < 0 && !strstr(p->name, "local_f_embedder")) {
            fprintf(stderr, "oracle tensor %s.%s missing\n", prefix, name);
            test_failures++;
        }
    }
    /* Nothing outside the image encoder's trained tensors was written. */
    size_t stray = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        int trained = strncmp(p->name, "img_encoder.", 12) == 0 && !strstr(p->name, "local_f_") &&
                      p->kind != AFLOC_PARAM_RUNNING_MEAN && p->kind != AFLOC_PARAM_RUNNING_VAR;
        if (!trained)
            for (size_t k = 0; k < p->count; k++) stray += grads[p->offset + k] != 0.0f;
    }
    CHECK(stray == 0);
    /* Accumulation: a second backward of the same forward adds the same gradients again. */
    float *once = malloc(total * sizeof(float));
    memcpy(once, grads, total * sizeof(float));
    CHECK_STATUS(afloc_train_image_backward(plan, grads, params, c->dg, c->dl, c->dl2), AFLOC_OK);
    double worst = 0.0, big = 0.0;
    for (size_t k = 0; k < total; k++) {
        double e = fabs((double)grads[k] - 2.0 * once[k]);
        if (e > worst) worst = e;
        if (fabs(once[k]) > big) big = fabs(once[k]);
    }
    printf("  b%d accumulation: max |2·g − (g + g')| %.3e (max |g| %.3e)\n", c->B, worst, big);
    CHECK(worst <= 1e-5 * big);
    afloc_train_image_plan_free(plan);
    free(once);
    free(params);
    free(grads);
}

static void misuse(afloc_model *model) {
    afloc_train_image_plan *plan = NULL;
    CHECK_STATUS(afloc_train_image_plan_create(NULL, model, 2), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_image_plan_create(&plan, model, 0), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(plan == NULL);
    CHECK_STATUS(afloc_train_image_plan_create(&plan, model, 2), AFLOC_OK);
    float g = 0.0f;
    CHECK_STATUS(afloc_train_image_backward(plan, model->params, model->params, &g, NULL, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT); /* no forward yet */
    CHECK_STATUS(afloc_train_image_forward(plan, NULL, &g), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_train_image_plan_free(plan);
    afloc_train_image_plan_free(NULL);
    /* Each allocation of plan_create failing in turn: OUT_OF_MEMORY, *out untouched (ASan: no
     * leak); then a count large enough succeeds. */
    int created = 0;
    for (long k = 0; k < 16 && !created; k++) {
        plan = NULL;
        afloc_test_inject_alloc_failure(k);
        afloc_status s = afloc_train_image_plan_create(&plan, model, 2);
        afloc_test_inject_alloc_failure(-1);
        if (s == AFLOC_OK) created = 1;
        else CHECK(s == AFLOC_ERR_OUT_OF_MEMORY && plan == NULL);
        afloc_train_image_plan_free(plan);
    }
    CHECK(created);
}

int main(void) {
    (void)tiny_image; /* tiny_model.h's image helper is not needed here */
    afloc_context *context = NULL;
    afloc_model *model = tiny_model_create(&context, 2, 7);
    if (!model) {
        fprintf(stderr, "cannot create the tiny model\n");
        return 1;
    }
    misuse(model);
    randomise_batchnorm(model);
    const char *python = getenv("AFLOC_ORACLE_PYTHON");
    const char *source = getenv("AFLOC_SOURCE_DIR");
    if (!python || !source) {
        printf("SKIP: AFLOC_ORACLE_PYTHON / AFLOC_SOURCE_DIR not set (run through ctest)\n");
        afloc_model_free(model);
        afloc_context_free(context);
        return TEST_SKIP;
    }
    char dir[64] = "/tmp/afloc_train_image_XXXXXX", path[4200];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/model.afloc", dir);
    CHECK_STATUS(afloc_model_save(model, path), AFLOC_OK);
    int32_t s2, s3, s4;
    afloc_config_feature_sides(&model->config, &s2, &s3, &s4);
    batch_case cases[2] = {{.B = 2}, {.B = 3}};
    const float batches[2] = {2, 3};
    int64_t nb = 2;
    int ok = write_tensor(dir, "batches", batches, 1, &nb);
    for (int i = 0; i < 2; i++) ok &= write_inputs(dir, &cases[i], &model->config, s2, s3);
    CHECK(ok);
    char command[8400];
    snprintf(command, sizeof command, "'%s' '%s/tests/train/ref_train_image.py' '%s'", python,
             source, dir);
    int rc = system(command);
    int skip = 0;
    if (rc != 0) {
        skip = WIFEXITED(rc) && WEXITSTATUS(rc) == TEST_SKIP;
        if (skip) printf("SKIP: the PyTorch oracle is not available\n");
        else {
            fprintf(stderr, "oracle failed (%d): %s\n", rc, command);
            test_failures++;
        }
    }
    ops_summary groups[G_COUNT] = {{0}};
    if (rc == 0)
        for (int i = 0; i < 2; i++) run_case(dir, model, &cases[i], groups);
    for (int i = 0; i < 2; i++) {
        free(cases[i].x);
        free(cases[i].dg);
        free(cases[i].dl);
        free(cases[i].dl2);
    }
    ops_oracle_remove(dir);
    afloc_model_free(model);
    afloc_context_free(context);
    if (skip) return TEST_SKIP;
    printf("train_image_vs_torch (B = 2, 3):");
    for (int g = 0; g < G_COUNT; g++)
        printf(" %s %d tensors max abs %.2e, max |err|/max|want| %.2e%s", TOLERANCES[g].name,
               groups[g].tensors, groups[g].max_abs, worst_scaled[g], g + 1 < G_COUNT ? ";" : "\n");
    return test_finish("train_image_vs_torch");
}
