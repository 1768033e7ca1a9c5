/* test_train_step.c: one training step (src/train_step.c) against the PyTorch gradient oracle
 * tests/model/ref_train.py (small config, seed 1, batch 4, 10 steps). The oracle writes the
 * initial checkpoint, images and captions; the project's converter turns the checkpoint into a
 * model file, which is loaded. Images are preprocessed in C (afloc_inference_preprocess, as
 * ref_train.py's ref_afloc.preprocess) and compared with input.x_norm; captions are tokenized with
 * the model tokenizer and must give input.ids exactly. Then:
 *  1. afloc_train_step_compute: the four loss terms against loss64.* (float64 model), and every
 *     parameter gradient against grad64.<name> (float64 gradient rounded to float32), with a
 *     tolerance scaled from the oracle's own float32-vs-float64 spread (rule at GRAD_FACTOR);
 *     the trained flags against the oracle's grad_none list; untrained tensors get zero.
 *  2. 10 afloc_train_step_run steps (lr 2e-5) and a final forward: the loss trajectory against
 *     trajectory.loss (TRAJ_REL); grad-None tensors untouched by Adam; final.<name> parameters
 *     (FINAL_REL). Then misuse.
 * Usage: test_train_step [CONFIG] [--keep DIR]   (CONFIG: ref_afloc.py config name, default small;
 *        small_position adds the position term of config local_position) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "inference.h"
#include "model.h"
#include "safetensors.h"
#include "oracle_model.h"
#include "test_util.h"
#include "tokenizer.h"
#include "train_step.h"

enum { B = 4, STEPS = 10 };

/* Loss terms: relative error against the float64 losses. */
static const double LOSS_REL = 1e-5;
/* Gradients: per tensor, err = max|g_C − g64| / max(max|g64|, 1e-6·G), G the largest |g64| of
 * any tensor (the oracle's own grad_f32_vs_f64 measure), must stay below
 * GRAD_FACTOR · spread + GRAD_FLOOR, spread being torch float32's err for the same tensor:
 * the C float32 pass may be a few times noisier or quieter than torch's, never far off. */
static const double GRAD_FACTOR = 4.0, GRAD_FLOOR = 1e-4;
/* Trajectory: relative error of each of the 11 total losses against torch's float32 run. Both
 * runs carry float32 gradient noise (torch's own layer4 gradients are 2% off float64) that
 * Adam's sign-like early steps amplify: measured 1e-7 at step 0 growing to 7e-5 at step 10;
 * the limit leaves 4.5x. A wrong Adam detail (bias correction, clip, lr) moves step 1 by >1e-3. */
static const double TRAJ_REL = 3e-4;

static afloc_st_file *ref;

/* A reference tensor copied out (malloc'ed), or NULL when absent / of another dtype. */
static void *ref_tensor(const char *name, afloc_st_dtype want, size_t *n) {
    int32_t i = afloc_st_find(ref, name);
    if (i < 0 || ref->tensors[i].dtype != want) return NULL;
    const afloc_st_tensor *t = &ref->tensors[i];
    void *data = malloc(t->nbytes ? t->nbytes : 1);
    if (!data || afloc_st_tensor_copy(ref, i, data, t->nbytes) != AFLOC_OK) {
        free(data);
        return NULL;
    }
    if (n) *n = t->nbytes / afloc_st_dtype_size(t->dtype);
    return data;
}

static double ref_f64(const char *name) {
    double *x = ref_tensor(name, AFLOC_ST_F64, NULL);
    double v = x ? x[0] : NAN;
    free(x);
    return v;
}

static int in_json_list(const cJSON *list, const char *name) {
    const cJSON *e;
    cJSON_ArrayForEach(e, list) if (cJSON_IsString(e) && !strcmp(e->valuestring, name)) return 1;
    return 0;
}

/* Images preprocessed in C, in the oracle's order, checked against input.x_norm. */
static float *load_images(const char *dir, const afloc_model *model) {
    const int32_t c = model->inference->crop;
    const size_t per = (size_t)c * c;
    float *x = calloc((size_t)B * per, sizeof(float));
    cJSON *names = cJSON_Parse(afloc_st_metadata(ref, "images"));
    size_t n = 0;
    float *want = ref_tensor("input.x_norm", AFLOC_ST_F32, &n);
    CHECK(cJSON_GetArraySize(names) == B && want && n == (size_t)B * per);
    double worst = 0;
    for (int b = 0; b < B && want && n == (size_t)B * per; b++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/images/%s", dir,
                 cJSON_GetArrayItem(names, b)->valuestring);
        afloc_image *image = NULL;
        afloc_image_view view = {.struct_size = sizeof view};
        CHECK_STATUS(afloc_image_load_png(path, NULL, &image), AFLOC_OK);
        if (!image) continue;
        CHECK_STATUS(afloc_image_get_view(image, &view), AFLOC_OK);
        CHECK_STATUS(afloc_inference_preprocess(model, &view, x + b * per, NULL, "test"), AFLOC_OK);
        afloc_image_free(image);
        for (size_t k = 0; k < per; k++) {
            double e = fabs((double)x[b * per + k] - want[b * per + k]);
            if (e > worst) worst = e;
        }
    }
    printf("  images: %d preprocessed, max |x - input.x_norm| %.3g (limit 1e-6)\n", B, worst);
    CHECK(worst <= 1e-6);
    free(want);
    cJSON_Delete(names);
    return x;
}

/* Captions of captions.txt (one JSON string a line) tokenized; ids must equal input.ids. */
static void load_captions(const char *dir, const afloc_model *model, int32_t *ids,
                          int32_t *lengths) {
    const int32_t T = model->config.token_length;
    char path[1200], line[4096];
    snprintf(path, sizeof path, "%s/captions.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int32_t *mask = calloc((size_t)B * T, sizeof(int32_t));
    int b = 0;
    while (f && b < B && fgets(line, sizeof line, f)) {
        cJSON *s = cJSON_Parse(line);
        CHECK(cJSON_IsString(s));
        if (cJSON_IsString(s))
            CHECK_STATUS(afloc_tokenizer_encode(model->tokenizer, s->valuestring,
                                                strlen(s->valuestring), ids + (size_t)b * T,
                                                mask + (size_t)b * T, T, &lengths[b]),
                         AFLOC_OK);
        cJSON_Delete(s);
        b++;
    }
    if (f) fclose(f);
    CHECK(b == B);
    size_t n = 0;
    int32_t *want = ref_tensor("input.ids", AFLOC_ST_I32, &n);
    size_t differ = 0;
    for (size_t k = 0; want && k < n && k < (size_t)B * T; k++) differ += ids[k] != want[k];
    printf("  captions: %d tokenized (lengths %d %d %d %d), %zu ids differ from input.ids\n", b,
           lengths[0], lengths[1], lengths[2], lengths[3], differ);
    CHECK(want && n == (size_t)B * T && differ == 0);
    free(want);
    free(mask);
}

static void check_gradients(const afloc_train_step *step, const afloc_model *model,
                            const afloc_train_losses *l, int with_contrast) {
    const char *keys[5] = {"global", "sentence", "word", "total", "contrast"};
    const double got[5] = {l->global, l->sentence, l->word, l->total, l->contrast};
    double worst_loss = 0;
    CHECK(with_contrast ? l->contrast > 0.0 : l->contrast == 0.0);
    for (int k = 0; k < (with_contrast ? 5 : 4); k++) {
        char name[64];
        snprintf(name, sizeof name, "loss64.%s", keys[k]);
        const double want = ref_f64(name);
        const double rel = fabs(got[k] - want) / fabs(want);
        printf("  loss %-8s C %.7f  float64 %.7f  rel %.2e\n", keys[k], got[k], want, rel);
        if (!(rel <= worst_loss)) worst_loss = rel;
    }
    CHECK(worst_loss <= LOSS_REL);

    cJSON *spread = cJSON_Parse(afloc_st_metadata(ref, "grad_f32_vs_f64"));
    cJSON *none = cJSON_Parse(afloc_st_metadata(ref, "grad_none"));
    CHECK(spread && none);
    const afloc_param_table *t = &model->table;
    const float *g = afloc_train_step_grads(step);
    /* G: the largest |g64| of any tensor */
    double G = 0, sum64 = 0;
    for (int32_t i = 0; i < t->count; i++) {
        char name[AFLOC_PARAM_NAME_MAX + 16];
        snprintf(name, sizeof name, "grad64.%s", t->params[i].name);
        size_t n = 0;
        float *w = ref_tensor(name, AFLOC_ST_F32, &n);
        for (size_t k = 0; w && k < n; k++) {
            G = fmax(G, fabs(w[k]));
            sum64 += (double)w[k] * w[k];
        }
        free(w);
    }
    int compared = 0, untrained = 0;
    double worst_ratio = 0, worst_err = 0, median_sum = 0;
    const char *worst_name = "";
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        const int trained = afloc_train_step_is_trained(step, i);
        const float *gp = g + p->offset;
        if (!trained) {
            /* running statistics are not parameters; the rest must be on the oracle's list */
            const int stat =
                p->kind == AFLOC_PARAM_RUNNING_MEAN || p->kind == AFLOC_PARAM_RUNNING_VAR;
            if (!stat) {
                untrained++;
                if (!in_json_list(none, p->name)) {
                    fprintf(stderr, "%s: not trained in C but has a torch gradient\n", p->name);
                    test_failures++;
                }
            }
            size_t nz = 0;
            for (size_t k = 0; k < p->count; k++) nz += gp[k] != 0.0f;
            if (nz) {
                fprintf(stderr, "%s: untrained, %zu nonzero gradient entries\n", p->name, nz);
                test_failures++;
            }
            continue;
        }
        if (in_json_list(none, p->name)) {
            fprintf(stderr, "%s: trained in C but grad None in torch\n", p->name);
            test_failures++;
        }
        char name[AFLOC_PARAM_NAME_MAX + 16];
        snprintf(name, sizeof name, "grad64.%s", p->name);
        size_t n = 0;
        float *w = ref_tensor(name, AFLOC_ST_F32, &n);
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(spread, p->name);
        if (!w || n != p->count || !cJSON_IsNumber(sp)) {
            fprintf(stderr, "%s: oracle gradient or spread missing\n", p->name);
            test_failures++;
            free(w);
            continue;
        }
        double amax = 0, dmax = 0;
        for (size_t k = 0; k < n; k++) {
            amax = fmax(amax, fabs(w[k]));
            dmax = fmax(dmax, fabs((double)gp[k] - w[k]));
        }
        const double err = dmax / fmax(amax, 1e-6 * G);
        const double limit = GRAD_FACTOR * sp->valuedouble + GRAD_FLOOR;
        const double ratio = err / limit;
        if (!(err <= limit)) {
            fprintf(stderr, "%s: err %.3g > limit %.3g (torch f32 spread %.3g)\n", p->name, err,
                    limit, sp->valuedouble);
            test_failures++;
        }
        if (!(ratio <= worst_ratio)) {
            worst_ratio = ratio;
            worst_name = p->name;
        }
        if (err > 2.0 * sp->valuedouble)
            printf("  note: %s err %.3g > 2x torch f32 spread %.3g\n", p->name, err,
                   sp->valuedouble);
        worst_err = fmax(worst_err, err);
        median_sum += err;
        compared++;
        free(w);
    }
    printf("  gradients: %d trained tensors compared, %d untrained (grad None), worst err %.3g, "
           "mean err %.3g, worst err/limit %.3f (%s)\n", compared, untrained, worst_err,
           compared ? median_sum / compared : 0.0, worst_ratio, worst_name);
    CHECK(compared == cJSON_GetArraySize(spread));
    /* grad norm against the float64 one (from the grad64 tensors), with the same rule as the
     * tensors: C's relative error <= GRAD_FACTOR·(torch float32's) + GRAD_FLOOR */
    float *gn = ref_tensor("grad_norm", AFLOC_ST_F32, NULL);
    if (gn) {
        const double n64 = sqrt(sum64), rel_c = fabs(l->grad_norm - n64) / n64;
        const double rel_t = fabs(gn[0] - n64) / n64, limit = GRAD_FACTOR * rel_t + GRAD_FLOOR;
        printf("  grad norm C %.6f torch f32 %.6f f64 %.6f: rel C %.2e, torch %.2e (limit %.2e)\n",
               l->grad_norm, gn[0], n64, rel_c, rel_t, limit);
        CHECK(rel_c <= limit);
    }
    free(gn);
    cJSON_Delete(spread);
    cJSON_Delete(none);
}

/* After the steps: tensors Adam must skip (grad None in torch) are bit-identical to their
 * initial values (weight decay would move them by ~lr per element); the oracle's final.<name>
 * parameters match, measured as max|p_C − p_torch| / max|p_torch − p_0| (FINAL_REL: the
 * difference against the size of the whole 10-step update). */
static const double FINAL_REL = 0.1; /* measured worst 0.023 (conv1.weight) */

static void check_after_steps(const afloc_model *model, const float *initial) {
    if (!initial) {
        test_failures++;
        return;
    }
    const afloc_param_table *t = &model->table;
    cJSON *none = cJSON_Parse(afloc_st_metadata(ref, "grad_none"));
    int skipped = 0, finals = 0;
    double worst = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        const float *now_p = model->params + p->offset, *p0 = initial + p->offset;
        if (in_json_list(none, p->name)) {
            CHECK(memcmp(now_p, p0, p->count * sizeof(float)) == 0);
            skipped++;
        }
        char name[AFLOC_PARAM_NAME_MAX + 16];
        snprintf(name, sizeof name, "final.%s", p->name);
        size_t n = 0;
        float *w = ref_tensor(name, AFLOC_ST_F32, &n);
        if (!w) continue;
        CHECK(n == p->count);
        double dmax = 0, umax = 0;
        for (size_t k = 0; k < n && k < p->count; k++) {
            dmax = fmax(dmax, fabs((double)now_p[k] - w[k]));
            umax = fmax(umax, fabs((double)w[k] - p0[k]));
        }
        const double rel = dmax / fmax(umax, 1e-30);
        printf("  final %-62s diff/update %.3g\n", p->name, rel);
        worst = fmax(worst, rel);
        finals++;
        free(w);
    }
    printf("  after %d steps: %d grad-None tensors unchanged, %d final tensors worst diff/update "
           "%.3g (limit %.2g)\n", STEPS, skipped, finals, worst, FINAL_REL);
    CHECK(skipped == cJSON_GetArraySize(none) && finals >= 6 && worst <= FINAL_REL);
    cJSON_Delete(none);
}

int main(int argc, char **argv) {
    /* [CONFIG] [--sentence-contrast W] [--keep DIR]: CONFIG is ref_afloc.py's config name
     * (default small); W the weight of the within-image sentence loss (default 0) */
    const char *config = argc > 1 && strncmp(argv[1], "--", 2) ? argv[1] : "small";
    if (argc > 1 && strncmp(argv[1], "--", 2)) {
        argc--;
        argv++;
    }
    double contrast = 0.0;
    if (argc > 2 && !strcmp(argv[1], "--sentence-contrast")) {
        contrast = atof(argv[2]);
        CHECK(contrast > 0.0);
        argc -= 2;
        argv += 2;
    }
    const char *keep = argc > 2 && !strcmp(argv[1], "--keep") ? argv[2] : NULL;
    const char *py = getenv("AFLOC_ORACLE_PYTHON");
    const char *src = getenv("AFLOC_SOURCE_DIR");
    if (!py || !src) {
        fprintf(stderr, "test_train_step: AFLOC_ORACLE_PYTHON and AFLOC_SOURCE_DIR must be set\n");
        return 2;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "\"%s\" -c 'import torch, torchvision, cv2' 2>/dev/null", py);
    if (oracle_run(cmd) != 0) {
        printf("test_train_step: SKIP: %s lacks torch/torchvision/cv2\n", py);
        return TEST_SKIP;
    }
    char dir[512];
    if (keep) snprintf(dir, sizeof dir, "%s", keep);
    else {
        snprintf(dir, sizeof dir, "/tmp/afloc_train_step_XXXXXX");
        if (!mkdtemp(dir)) return 2;
    }
    const double t0 = test_now();
    snprintf(cmd, sizeof cmd,
             "\"%s\" \"%s/tests/model/ref_train.py\" --config %s --seed 1 --batch %d "
             "--steps %d --out \"%s\" --threads 2 --no-selfcheck --sentence-contrast %.17g >&2",
             py, src, config, B, STEPS, dir, contrast);
    if (oracle_run(cmd) != 0) {
        fprintf(stderr, "test_train_step: the oracle failed\n");
        return 1;
    }
    const double t_oracle = test_now() - t0;
    if (oracle_convert_checkpoint(py, src, dir) != 0) {
        fprintf(stderr, "test_train_step: the converter failed\n");
        return 1;
    }

    afloc_context *context = NULL;
    afloc_model *model = NULL;
    oracle_load_model(dir, &context, &model);
    char path[1024];
    snprintf(path, sizeof path, "%s/train_reference.safetensors", dir);
    afloc_st_limits limits;
    afloc_st_limits_default(&limits);
    CHECK_STATUS(afloc_st_read_file(path, &limits, "test", &ref), AFLOC_OK);
    if (!model || !ref) return test_finish("test_train_step");

    const int32_t T = model->config.token_length;
    float *images = load_images(dir, model);
    int32_t *ids = calloc((size_t)B * T, sizeof(int32_t)), lengths[B] = {0};
    load_captions(dir, model, ids, lengths);

    afloc_train_step *step = NULL;
    CHECK_STATUS(afloc_train_step_create(&step, model, B, 0.0f), AFLOC_OK);
    if (step) afloc_train_step_set_sentence_contrast(step, contrast);
    if (step && test_failures == 0) {
        /* 1. gradients at the initial weights */
        const double t1 = test_now();
        afloc_train_losses l;
        CHECK_STATUS(afloc_train_step_compute(step, images, ids, lengths, 1, &l), AFLOC_OK);
        const double t_compute = test_now() - t1;
        check_gradients(step, model, &l, contrast > 0.0);

        /* the initial parameters, for the checks after the steps */
        const size_t total = model->table.total_floats;
        float *initial = malloc(total * sizeof(float));
        if (initial) memcpy(initial, model->params, total * sizeof(float));

        /* 2. trajectory. The compute above already moved the BN running statistics once more
         * than the oracle's run; train-mode losses use batch statistics, so no loss sees it. */
        size_t nt = 0;
        float *traj = ref_tensor("trajectory.loss", AFLOC_ST_F32, &nt);
        CHECK(traj && nt == STEPS + 1);
        const double lr = 2e-5;
        double worst = 0;
        const double t2 = test_now();
        for (int k = 0; k <= STEPS && traj && nt == STEPS + 1; k++) {
            afloc_train_losses lk;
            afloc_status st = k < STEPS
                                  ? afloc_train_step_run(step, images, ids, lengths, 1, lr, &lk)
                                  : afloc_train_step_compute(step, images, ids, lengths, 1, &lk);
            CHECK_STATUS(st, AFLOC_OK);
            const double rel = fabs(lk.total - traj[k]) / fabs((double)traj[k]);
            printf("  step %2d: loss C %.6f torch %.6f rel %.2e\n", k, lk.total, traj[k], rel);
            if (!(rel <= worst)) worst = rel;
        }
        const double t_traj = test_now() - t2;
        check_after_steps(model, initial);
        CHECK(afloc_train_step_count(step) == STEPS);
        printf("test_train_step: losses vs float64 rel <= %.0e; trajectory %d steps worst rel %.2e "
               "(limit %.0e); oracle %.1f s, compute %.2f s, %d steps %.1f s\n", LOSS_REL, STEPS,
               worst, TRAJ_REL, t_oracle, t_compute, STEPS, t_traj);
        CHECK(worst <= TRAJ_REL);
        free(traj);
        free(initial);
    }
    /* misuse */
    CHECK_STATUS(afloc_train_step_create(NULL, model, B, 0.0f), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_step_create(&step, model, 0, 0.0f), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_step_compute(step, NULL, ids, lengths, 1, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_step_run(step, images, ids, lengths, 1, NAN, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    afloc_train_step_free(step);
    afloc_train_step_free(NULL);
    /* allocation failures in create: each becomes OUT_OF_MEMORY, *out untouched, nothing leaked
     * (ASan build) */
    int created = 0;
    long failures = 0;
    for (long k = 0; k < 64 && !created; k++) {
        step = NULL;
        afloc_test_inject_alloc_failure(k);
        afloc_status st = afloc_train_step_create(&step, model, 2, 0.0f);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_OK) created = 1;
        else {
            CHECK(st == AFLOC_ERR_OUT_OF_MEMORY && step == NULL);
            failures++;
        }
        afloc_train_step_free(step);
    }
    printf("  create: %ld injected allocation failures, all OUT_OF_MEMORY\n", failures);
    CHECK(created && failures > 0);
    free(images);
    free(ids);
    afloc_st_free(ref);
    afloc_model_free(model);
    afloc_context_free(context);
    if (!keep) {
        snprintf(cmd, sizeof cmd, "rm -rf \"%s\"", dir);
        oracle_run(cmd);
    }
    return test_finish("test_train_step");
}
