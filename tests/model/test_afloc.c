/* test_afloc.c: the whole inference engine against the independent PyTorch oracle
 * (tests/model/ref_afloc.py, DESIGN.md §8, MODEL.md §13 items 1-5).
 *
 * At test time: the oracle builds a random AFLoc at the given config and seed and writes its
 * Lightning checkpoint, vocabulary, images, prompts and named reference tensors into a temporary
 * directory; the project's converter (bindings/python/afloc/convert.py) turns the checkpoint into
 * a model file, which afloc_model_load loads. Then every named tensor is recomputed and compared:
 * images (letterbox, normalised input, x299, layer2/3/4, the three heads), texts (ids, mask, the
 * used hidden states on the real tokens, word/sentence/report embeddings), training captions (read
 * as written: sentence units with "." delimiters), the maps of every image x prompt pair through
 * the public afloc_model_localize (also with the centred read-out, map_alignment 1, against
 * grid_sample), and the classification through afloc_model_classify (identical
 * argmax required). One line per tensor: name, count, max |diff|, max |diff| / max |ref|, OK/FAIL.
 *
 * Usage: test_afloc CONFIG SEED [--keep DIR]   (CONFIG: small | default)
 * Environment: AFLOC_ORACLE_PYTHON, AFLOC_SOURCE_DIR (set by CMake). Exit 77 when the oracle's
 * Python or its packages are missing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "inference.h"
#include "model.h"
#include "safetensors.h"
#include "oracle_model.h"
#include "test_util.h"

/* ---- tolerances: max |got − want| <= rel · max |want| (+ abs for all-zero tensors) ---- */

typedef struct tolerance {
    const char *suffix;
    double      rel;
    const char *why;
} tolerance;

static const tolerance tolerances[] = {
    /* the same float32 formula (v/255 − 0.5)/0.5 as torch: exact up to one rounding */
    {".x_norm", 1e-6, "same float formula"},
    /* fp32 vs fp32, other summation orders (BLAS blocking, im2col, folded BatchNorm, layer sum
     * before word groups); measured ~1e-6 relative, limit = the 1e-4 of max |ref| */
    {"", 1e-4, "fp32 vs fp32, other summation order"},
};

static double tolerance_for(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof tolerances / sizeof tolerances[0]; i++) {
        size_t m = strlen(tolerances[i].suffix);
        if (m <= n && !strcmp(name + n - m, tolerances[i].suffix)) return tolerances[i].rel;
    }
    return 1e-4;
}

static double worst_ratio = 0.0;
static int tensors_compared = 0;

/* Compares n floats (`got` with stride 1; `want` read from the reference). */
static void compare_f32(const char *name, const float *got, const float *want, size_t n) {
    double max_ref = 0.0, max_abs = 0.0;
    size_t worst = 0;
    int nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)want[i]);
        if (r > max_ref) max_ref = r;
        if (!isfinite(got[i])) nonfinite = 1;
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > max_abs) {
            max_abs = d;
            worst = i;
        }
    }
    double rel = tolerance_for(name);
    double limit = rel * max_ref + 1e-30;
    double ratio = max_ref > 0 ? max_abs / max_ref : max_abs;
    int ok = !nonfinite && max_abs <= limit;
    printf("%-28s %9zu  max|d| %.3e  max|d|/max|ref| %.3e (limit %.0e)  %s\n", name, n, max_abs,
           ratio, rel, ok ? "OK" : "FAIL");
    if (!ok) {
        printf("    worst index %zu: got %.9g want %.9g%s\n", worst, (double)got[worst],
               (double)want[worst], nonfinite ? " (non-finite output)" : "");
        test_failures++;
    }
    if (ratio > worst_ratio && strstr(name, ".normalized") == NULL) worst_ratio = ratio;
    tensors_compared++;
}

static void compare_i32(const char *name, const int32_t *got, const int32_t *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && bad++ == 0) first = i;
    printf("%-28s %9zu  exact: %zu differ  %s\n", name, n, bad, bad ? "FAIL" : "OK");
    if (bad) {
        printf("    first at %zu: got %d want %d\n", first, (int)got[first], (int)want[first]);
        test_failures++;
    }
    tensors_compared++;
}

/* ---- the reference file ---- */

static afloc_st_file *ref;

/* A copy of reference tensor `name` (malloc), its element count in *n; exits on absence. */
static void *ref_tensor(const char *name, size_t *n, afloc_st_dtype want) {
    int32_t i = afloc_st_find(ref, name);
    if (i < 0) {
        fprintf(stderr, "reference tensor %s missing\n", name);
        exit(1);
    }
    const afloc_st_tensor *t = &ref->tensors[i];
    if (t->dtype != want) {
        fprintf(stderr, "reference tensor %s has dtype %s\n", name, afloc_st_dtype_name(t->dtype));
        exit(1);
    }
    void *data = malloc(t->nbytes ? t->nbytes : 1);
    if (!data || afloc_st_tensor_copy(ref, i, data, t->nbytes) != AFLOC_OK) exit(1);
    *n = t->nbytes / afloc_st_dtype_size(t->dtype);
    return data;
}

static const afloc_st_tensor *ref_info(const char *name) {
    int32_t i = afloc_st_find(ref, name);
    return i < 0 ? NULL : &ref->tensors[i];
}

static void check_f32(const char *name, const float *got, size_t n_got) {
    size_t n;
    float *want = ref_tensor(name, &n, AFLOC_ST_F32);
    if (n < n_got) {
        printf("%-28s size %zu, expected at least %zu  FAIL\n", name, n, n_got);
        test_failures++;
    } else {
        compare_f32(name, got, want, n_got);
    }
    free(want);
}

/* ---- setup: oracle, converter, model ---- */

/* ---- per-area checks ---- */

static void check_image(const afloc_model *model, int32_t i, const char *path) {
    const struct afloc_inference *inf = model->inference;
    afloc_image *image = NULL;
    afloc_image_view view = {.struct_size = sizeof view};
    CHECK_STATUS(afloc_image_load_png(path, NULL, &image), AFLOC_OK);
    if (!image) return;
    CHECK_STATUS(afloc_image_get_view(image, &view), AFLOC_OK);
    char name[96];

    /* 1. letterbox (exact) and normalised input */
    int32_t s = model->config.image_size, c = inf->crop;
    uint8_t *lb = malloc((size_t)s * s);
    CHECK_STATUS(afloc_image_letterbox_u8(&view, s, lb, (size_t)s * s, NULL), AFLOC_OK);
    snprintf(name, sizeof name, "img%d.x224_u8", (int)i);
    size_t n;
    uint8_t *want_lb = ref_tensor(name, &n, AFLOC_ST_U8);
    size_t bad = 0;
    for (size_t k = 0; k < n && k < (size_t)s * s; k++) bad += lb[k] != want_lb[k];
    printf("%-28s %9zu  exact: %zu differ  %s\n", name, n, bad, bad ? "FAIL" : "OK");
    if (bad || n != (size_t)s * s) test_failures++;
    free(want_lb);
    free(lb);

    float *x = malloc((size_t)c * c * sizeof(float));
    CHECK_STATUS(afloc_inference_preprocess(model, &view, x, NULL, "test"), AFLOC_OK);
    snprintf(name, sizeof name, "img%d.x_norm", (int)i);
    check_f32(name, x, (size_t)c * c); /* channel 0 of [1, 3, c, c]; the channels are equal */

    /* 2. encoder intermediates */
    size_t up2 = (size_t)inf->up * inf->up, D = (size_t)inf->D;
    size_t n2 = (size_t)inf->chans[1] * inf->side[1] * inf->side[1];
    size_t n3 = (size_t)inf->chans[2] * inf->side[2] * inf->side[2];
    size_t n4 = (size_t)inf->chans[3] * inf->side[3] * inf->side[3];
    size_t nl = D * inf->side[2] * inf->side[2], nl2 = D * inf->side[1] * inf->side[1];
    afloc_image_outputs o = {
        .x299 = malloc(up2 * 4), .layer2 = malloc(n2 * 4), .layer3 = malloc(n3 * 4),
        .layer4 = malloc(n4 * 4), .global = malloc(D * 4), .local = malloc(nl * 4),
        .local2 = malloc(nl2 * 4)};
    afloc_workspace *ws = NULL;
    CHECK_STATUS(afloc_workspace_acquire(inf->pool, &ws, "test"), AFLOC_OK);
    CHECK_STATUS(afloc_image_encoder_forward(model, ws, x, &o), AFLOC_OK);
    afloc_workspace_release(inf->pool, ws);
    const char *keys[7] = {"x299", "layer2", "layer3", "layer4", "img_emb_g", "img_emb_l",
                           "img_emb_l2"};
    float *vals[7] = {o.x299, o.layer2, o.layer3, o.layer4, o.global, o.local, o.local2};
    size_t counts[7] = {up2, n2, n3, n4, D, nl, nl2};
    for (int k = 0; k < 7; k++) {
        snprintf(name, sizeof name, "img%d.%s", (int)i, keys[k]);
        check_f32(name, vals[k], counts[k]);
    }
    /* the public entry point gives the same embeddings, bit for bit */
    float *g = malloc(D * 4), *l = malloc(nl * 4);
    CHECK_STATUS(afloc_model_embed_image(model, &view, g, D, l, nl), AFLOC_OK);
    int same_g = !memcmp(g, o.global, D * 4), same_l = !memcmp(l, o.local, nl * 4);
    printf("img%d.embed_image (public)    %9zu  bit-identical to the internal encoder: %s\n",
           (int)i, D + nl, same_g && same_l ? "OK" : "FAIL");
    if (!same_g || !same_l) test_failures++;
    for (int k = 0; k < 7; k++) free(vals[k]);
    free(g);
    free(l);
    free(x);
    afloc_image_free(image);
}

/* Compares one text (prompt or caption) with its reference under `prefix` ("txt3", "cap1"). */
static void check_text(const afloc_model *model, const char *prefix, const char *text,
                       int32_t mode) {
    const struct afloc_inference *inf = model->inference;
    size_t T = (size_t)inf->T, D = (size_t)inf->D, C = (size_t)inf->C;
    int32_t nl = model->config.last_n_layers, L = 0;
    int32_t *ids = malloc(T * 4), *mask = malloc(T * 4);
    float *hidden = malloc((size_t)nl * T * C * 4), *w = malloc(D * T * 4), *s = malloc(D * T * 4);
    float *r = malloc(D * 4);
    afloc_text_outputs o = {.ids = ids, .mask = mask, .length = &L, .hidden_last = hidden,
                            .words = w, .sentences = s, .report = r};
    afloc_workspace *ws = NULL;
    CHECK_STATUS(afloc_workspace_acquire(inf->pool, &ws, "test"), AFLOC_OK);
    CHECK_STATUS(afloc_text_encoder_forward(model, ws, text, strlen(text), mode, &o, "test"),
                 AFLOC_OK);
    afloc_workspace_release(inf->pool, ws);
    char name[96];
    size_t n;
    snprintf(name, sizeof name, "%s.ids", prefix);
    int32_t *want_ids = ref_tensor(name, &n, AFLOC_ST_I32);
    compare_i32(name, ids, want_ids, n < T ? n : T);
    free(want_ids);
    snprintf(name, sizeof name, "%s.mask", prefix);
    int32_t *want_mask = ref_tensor(name, &n, AFLOC_ST_I32);
    compare_i32(name, mask, want_mask, n < T ? n : T);
    free(want_mask);
    /* hidden_last4 [1, n, T, C] over all T slots; ours covers the L real tokens. */
    snprintf(name, sizeof name, "%s.hidden_last4", prefix);
    float *want_h = ref_tensor(name, &n, AFLOC_ST_F32);
    if (n == (size_t)nl * T * C) {
        float *real = malloc((size_t)nl * L * C * 4);
        for (int32_t k = 0; k < nl; k++)
            memcpy(real + (size_t)k * L * C, want_h + (size_t)k * T * C, (size_t)L * C * 4);
        compare_f32(name, hidden, real, (size_t)nl * L * C);
        free(real);
    } else {
        printf("%s: unexpected size %zu  FAIL\n", name, n);
        test_failures++;
    }
    free(want_h);
    snprintf(name, sizeof name, "%s.text_emb_w", prefix);
    check_f32(name, w, D * T);
    snprintf(name, sizeof name, "%s.text_emb_s", prefix);
    check_f32(name, s, D * T);
    snprintf(name, sizeof name, "%s.text_emb_r", prefix);
    check_f32(name, r, D);
    if (mode == AFLOC_TEXT_PROMPT) { /* the public entry point: bit-identical */
        float *r2 = malloc(D * 4);
        CHECK_STATUS(afloc_model_embed_text(model, text, r2, D), AFLOC_OK);
        CHECK(!memcmp(r, r2, D * 4));
        free(r2);
    }
    free(ids);
    free(mask);
    free(hidden);
    free(w);
    free(s);
    free(r);
}

static void check_maps(const afloc_model *model, int32_t i, const char *path, char **prompts,
                       int32_t prompt_count) {
    const struct afloc_inference *inf = model->inference;
    afloc_image *image = NULL;
    afloc_image_view view = {.struct_size = sizeof view};
    CHECK_STATUS(afloc_image_load_png(path, NULL, &image), AFLOC_OK);
    if (!image) return;
    CHECK_STATUS(afloc_image_get_view(image, &view), AFLOC_OK);
    size_t S2 = (size_t)inf->side[2] * inf->side[2], c2 = (size_t)inf->crop * inf->crop;
    size_t orig = (size_t)view.width * view.height;
    float *grid = malloc(S2 * 4), *sm = malloc(S2 * 4), *fr = malloc(c2 * 4);
    float *nz = malloc(c2 * 4), *og = malloc(orig * 4);
    char name[96];
    for (int32_t k = 0; k < prompt_count; k++) {
        afloc_localize_options opt = {.struct_size = sizeof opt};
        afloc_localize_options_default(&opt);
        opt.normalize = 0;
        afloc_heatmaps h = {.struct_size = sizeof h, .grid = grid, .grid_len = S2,
                            .smoothed = sm, .smoothed_len = S2, .frame = fr, .frame_len = c2};
        CHECK_STATUS(afloc_model_localize(model, &view, prompts[k], &opt, &h), AFLOC_OK);
        afloc_heatmaps hn = {.struct_size = sizeof hn, .frame = nz, .frame_len = c2,
                             .original = og, .original_len = orig};
        CHECK_STATUS(afloc_model_localize(model, &view, prompts[k], NULL, &hn), AFLOC_OK);
        snprintf(name, sizeof name, "map%d_%d.raw", (int)i, (int)k);
        check_f32(name, grid, S2);
        snprintf(name, sizeof name, "map%d_%d.smoothed", (int)i, (int)k);
        check_f32(name, sm, S2);
        snprintf(name, sizeof name, "map%d_%d.frame224", (int)i, (int)k);
        check_f32(name, fr, c2);
        snprintf(name, sizeof name, "map%d_%d.normalized", (int)i, (int)k);
        check_f32(name, nz, c2);
        /* libafloc's centred read-out (map_alignment, not in the paper) against grid_sample */
        opt.map_alignment = AFLOC_MAP_ALIGN_CENTRED;
        h.grid = h.smoothed = NULL;
        CHECK_STATUS(afloc_model_localize(model, &view, prompts[k], &opt, &h), AFLOC_OK);
        snprintf(name, sizeof name, "map%d_%d.frame224_centred", (int)i, (int)k);
        check_f32(name, fr, c2);
        for (size_t p = 0; p < orig; p++)
            if (!(og[p] >= -1.0f && og[p] <= 1.0f)) {
                printf("map%d_%d.original: value %g outside [-1, 1] at %zu  FAIL\n", (int)i,
                       (int)k, (double)og[p], p);
                test_failures++;
                break;
            }
    }
    /* classification against all prompts: cosine scores, softmax, same argmax */
    float *scores = malloc((size_t)prompt_count * 4), *probs = malloc((size_t)prompt_count * 4);
    CHECK_STATUS(afloc_model_classify(model, &view, (const char *const *)prompts, prompt_count,
                                      1.0f, scores, probs), AFLOC_OK);
    snprintf(name, sizeof name, "cls%d.scores", (int)i);
    check_f32(name, scores, (size_t)prompt_count);
    size_t n;
    float *want = ref_tensor(name, &n, AFLOC_ST_F32);
    int32_t a = 0, b = 0;
    for (int32_t k = 1; k < prompt_count; k++) {
        if (scores[k] > scores[a]) a = k;
        if (want[k] > want[b]) b = k;
    }
    printf("cls%d.argmax                  got %d want %d  %s\n", (int)i, (int)a, (int)b,
           a == b ? "OK" : "FAIL");
    if (a != b) test_failures++;
    free(want);
    snprintf(name, sizeof name, "cls%d.probs", (int)i);
    check_f32(name, probs, (size_t)prompt_count);
    free(scores);
    free(probs);
    free(grid);
    free(sm);
    free(fr);
    free(nz);
    free(og);
    afloc_image_free(image);
}

/* ---- main ---- */

static char **json_strings(const char *json, int32_t *count) {
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsArray(root)) exit(1);
    *count = cJSON_GetArraySize(root);
    char **out = calloc((size_t)*count + 1, sizeof *out);
    for (int32_t k = 0; k < *count; k++)
        out[k] = strdup(cJSON_GetArrayItem(root, k)->valuestring);
    cJSON_Delete(root);
    return out;
}

static void free_strings(char **s, int32_t n) {
    for (int32_t k = 0; k < n; k++) free(s[k]);
    free(s);
}

int main(int argc, char **argv) {
    const char *config = argc > 1 ? argv[1] : "small";
    const char *seed = argc > 2 ? argv[2] : "1";
    const char *keep = argc > 4 && !strcmp(argv[3], "--keep") ? argv[4] : NULL;
    const char *py = getenv("AFLOC_ORACLE_PYTHON");
    const char *src = getenv("AFLOC_SOURCE_DIR");
    if (!py || !src) {
        fprintf(stderr, "test_afloc: AFLOC_ORACLE_PYTHON and AFLOC_SOURCE_DIR must be set\n");
        return 2;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "\"%s\" -c 'import torch, torchvision, cv2, scipy' 2>/dev/null", py);
    if (oracle_run(cmd) != 0) {
        printf("test_afloc: SKIP: %s lacks torch/torchvision/cv2/scipy\n", py);
        return TEST_SKIP;
    }
    char dir[512];
    if (keep) {
        snprintf(dir, sizeof dir, "%s", keep);
    } else {
        snprintf(dir, sizeof dir, "/tmp/afloc_model_XXXXXX");
        if (!mkdtemp(dir)) return 2;
    }
    snprintf(cmd, sizeof cmd,
             "\"%s\" \"%s/tests/model/ref_afloc.py\" --config %s --seed %s --out \"%s\" "
             "--threads 2 --no-selfcheck >&2", py, src, config, seed, dir);
    if (oracle_run(cmd) != 0) {
        fprintf(stderr, "test_afloc: the oracle failed\n");
        return 1;
    }
    if (oracle_convert_checkpoint(py, src, dir) != 0) {
        fprintf(stderr, "test_afloc: the converter failed\n");
        return 1;
    }

    afloc_context *context = NULL;
    afloc_model *model = NULL;
    oracle_load_model(dir, &context, &model);
    char path[1024];
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    afloc_st_limits limits;
    afloc_st_limits_default(&limits);
    CHECK_STATUS(afloc_st_read_file(path, &limits, "test", &ref), AFLOC_OK);
    if (!model || !ref) return test_finish("test_afloc");

    int32_t n_images = 0, n_prompts = 0, n_captions = 0;
    char **images = json_strings(afloc_st_metadata(ref, "images"), &n_images);
    char **prompts = json_strings(afloc_st_metadata(ref, "prompts"), &n_prompts);
    char **captions = json_strings(afloc_st_metadata(ref, "captions"), &n_captions);
    for (int32_t i = 0; i < n_images; i++) {
        snprintf(path, sizeof path, "%s/images/%s", dir, images[i]);
        check_image(model, i, path);
    }
    char prefix[32];
    for (int32_t k = 0; k < n_prompts; k++) {
        snprintf(prefix, sizeof prefix, "txt%d", (int)k);
        check_text(model, prefix, prompts[k], AFLOC_TEXT_PROMPT);
    }
    for (int32_t k = 0; k < n_captions; k++) {
        snprintf(prefix, sizeof prefix, "cap%d", (int)k);
        if (ref_info("cap0.ids")) check_text(model, prefix, captions[k], AFLOC_TEXT_AS_WRITTEN);
    }
    for (int32_t i = 0; i < n_images; i++) {
        snprintf(path, sizeof path, "%s/images/%s", dir, images[i]);
        check_maps(model, i, path, prompts, n_prompts);
    }
    printf("test_afloc %s: %d tensors compared, worst max|d|/max|ref| %.3e (limit 1e-4), "
           "%d images x %d prompts, %d captions\n", config, tensors_compared, worst_ratio,
           (int)n_images, (int)n_prompts, (int)n_captions);
    free_strings(images, n_images);
    free_strings(prompts, n_prompts);
    free_strings(captions, n_captions);
    afloc_st_free(ref);
    afloc_model_free(model);
    afloc_context_free(context);
    if (!keep) {
        snprintf(cmd, sizeof cmd, "rm -rf \"%s\"", dir);
        oracle_run(cmd);
    }
    return test_finish("test_afloc");
}
