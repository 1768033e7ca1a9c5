/* test_misuse.c: the inference API under misuse (RELIABILITY §0): NULLs, zero-size and oversize
 * images, empty and huge texts, too small buffers, bad options, foreign prompt sets, and
 * allocation failures injected at every allocation of a localize/classify call. Each must give
 * its documented status with a message, leave caller buffers untouched, and leak nothing (run
 * under ASan). Also: one-word prompts vanish by default and survive with keep_one_word_prompts. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "test_util.h"
#include "tiny_model.h"

#define SENTINEL 12345.0f

static int untouched(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != SENTINEL) return 0;
    return 1;
}

static void fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = SENTINEL;
}

int main(void) {
    afloc_context *context = NULL, *context2 = NULL;
    afloc_model *model = tiny_model_create(&context, 2, 7);
    afloc_model *other = tiny_model_create(&context2, 2, 8);
    CHECK(model && other);
    if (!model || !other) return test_finish("test_misuse");
    afloc_model_dims dims = {.struct_size = sizeof dims};
    CHECK_STATUS(afloc_model_get_dims(model, &dims), AFLOC_OK);
    CHECK(dims.embedding_dim == 32 && dims.frame_size == 64 && dims.token_length == 97);
    CHECK_STATUS(afloc_model_get_dims(NULL, &dims), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_get_dims(model, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    size_t D = (size_t)dims.embedding_dim, S2 = (size_t)dims.grid_side * dims.grid_side;
    size_t F2 = (size_t)dims.frame_size * dims.frame_size;

    afloc_image_view img = tiny_image(80, 60, 1, 3);
    float *buf = malloc(100000 * sizeof(float));
    const char *text = "small left pleural effusion";

    /* ---- embed ---- */
    fill(buf, D);
    CHECK_STATUS(afloc_model_embed_image(NULL, &img, buf, D, NULL, 0), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_embed_image(model, NULL, buf, D, NULL, 0), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_embed_image(model, &img, NULL, 0, NULL, 0), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_embed_image(model, &img, buf, D - 1, NULL, 0), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(afloc_model_embed_image(model, &img, NULL, 0, buf, D * S2 - 1), AFLOC_ERR_BUFFER_TOO_SMALL);
    afloc_image_view bad = img;
    bad.width = 0;
    CHECK_STATUS(afloc_model_embed_image(model, &bad, buf, D, NULL, 0), AFLOC_ERR_INVALID_ARGUMENT);
    bad = img;
    bad.width = 20000; /* above AFLOC_MAX_IMAGE_SIDE */
    bad.row_stride = 20000;
    CHECK_STATUS(afloc_model_embed_image(model, &bad, buf, D, NULL, 0), AFLOC_ERR_INVALID_ARGUMENT);
    bad = img;
    bad.pixels = NULL;
    CHECK_STATUS(afloc_model_embed_image(model, &bad, buf, D, NULL, 0), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(untouched(buf, D));
    CHECK_STATUS(afloc_model_embed_image(model, &img, buf, D, buf + D, D * S2), AFLOC_OK);
    afloc_image_view one = tiny_image(1, 1, 1, 9); /* 1x1: letterboxed to 64x1, then padded */
    CHECK_STATUS(afloc_model_embed_image(model, &one, buf, D, NULL, 0), AFLOC_OK);

    fill(buf, D);
    CHECK_STATUS(afloc_model_embed_text(NULL, text, buf, D), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_embed_text(model, NULL, buf, D), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_embed_text(model, text, NULL, D), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_embed_text(model, text, buf, D - 1), AFLOC_ERR_BUFFER_TOO_SMALL);
    size_t huge_len = (size_t)AFLOC_MAX_TEXT_BYTES + 1;
    char *huge = malloc(huge_len + 1);
    memset(huge, 'a', huge_len);
    huge[huge_len] = '\0';
    CHECK_STATUS(afloc_model_embed_text(model, huge, buf, D), AFLOC_ERR_LIMIT);
    CHECK(untouched(buf, D));
    huge[huge_len - 1] = '\0'; /* exactly the limit: accepted (one long word -> [UNK]) */
    for (size_t i = 0; i + 1 < huge_len; i += 6) huge[i] = ' ';
    CHECK_STATUS(afloc_model_embed_text(model, huge, buf, D), AFLOC_OK);
    CHECK_STATUS(afloc_model_embed_text(model, "", buf, D), AFLOC_OK);
    for (size_t i = 0; i < D; i++) CHECK(isfinite(buf[i]));

    /* ---- localize ---- */
    afloc_heatmaps h = {.struct_size = sizeof h, .grid = buf, .grid_len = S2,
                        .frame = buf + S2, .frame_len = F2};
    fill(buf, S2 + F2);
    CHECK_STATUS(afloc_model_localize(NULL, &img, text, NULL, &h), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_localize(model, NULL, text, NULL, &h), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_localize(model, &img, NULL, NULL, &h), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_localize(model, &img, text, NULL, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_localize(model, &img, huge, NULL, &h), AFLOC_OK);
    fill(buf, S2 + F2);
    afloc_heatmaps empty = {.struct_size = sizeof empty};
    CHECK_STATUS(afloc_model_localize(model, &img, text, NULL, &empty), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_heatmaps small = h;
    small.frame_len = F2 - 1;
    CHECK_STATUS(afloc_model_localize(model, &img, text, NULL, &small), AFLOC_ERR_BUFFER_TOO_SMALL);
    small = h;
    small.original = buf + S2 + F2;
    small.original_len = 80 * 60 - 1;
    CHECK_STATUS(afloc_model_localize(model, &img, text, NULL, &small), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK(strstr(afloc_last_error(), "original_len") != NULL);
    afloc_localize_options o = {.struct_size = sizeof o};
    CHECK_STATUS(afloc_localize_options_default(&o), AFLOC_OK);
    CHECK(o.normalize == 1 && o.keep_one_word_prompts == 0);
    o.normalize = 2;
    CHECK_STATUS(afloc_model_localize(model, &img, text, &o, &h), AFLOC_ERR_INVALID_ARGUMENT);
    o.normalize = 1;
    o.struct_size = 3;
    CHECK_STATUS(afloc_model_localize(model, &img, text, &o, &h), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(untouched(buf, S2 + F2));
    /* an old caller whose heatmaps struct ends after `grid_len` */
    afloc_heatmaps old = {.struct_size = offsetof(afloc_heatmaps, smoothed), .grid = buf,
                          .grid_len = S2, .frame = (float *)1 /* beyond struct_size: ignored */};
    CHECK_STATUS(afloc_model_localize(model, &img, text, NULL, &old), AFLOC_OK);
    /* normalised frame lies in [-1, 1] and reaches both ends */
    CHECK_STATUS(afloc_model_localize(model, &img, text, NULL, &h), AFLOC_OK);
    float lo = 2, hi = -2;
    for (size_t i = 0; i < F2; i++) {
        lo = fminf(lo, buf[S2 + i]);
        hi = fmaxf(hi, buf[S2 + i]);
    }
    CHECK(lo == -1.0f && hi == 1.0f);

    /* ---- grid_to_frame: localize's read-out of a caller's grid ---- */
    float *frame2 = buf + 2 * (S2 + F2);
    CHECK_STATUS(afloc_model_grid_to_frame(model, buf, S2, NULL, frame2, F2), AFLOC_OK);
    CHECK(memcmp(frame2, buf + S2, F2 * sizeof(float)) == 0); /* h: grid then frame, just above */
    fill(frame2, F2);
    CHECK_STATUS(afloc_model_grid_to_frame(NULL, buf, S2, NULL, frame2, F2), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_grid_to_frame(model, NULL, S2, NULL, frame2, F2), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_grid_to_frame(model, buf, S2, NULL, NULL, F2), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_grid_to_frame(model, buf, S2 - 1, NULL, frame2, F2), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK(strstr(afloc_last_error(), "grid_len") != NULL);
    CHECK_STATUS(afloc_model_grid_to_frame(model, buf, S2, NULL, frame2, F2 - 1), AFLOC_ERR_BUFFER_TOO_SMALL);
    o.normalize = 2;
    CHECK_STATUS(afloc_model_grid_to_frame(model, buf, S2, &o, frame2, F2), AFLOC_ERR_INVALID_ARGUMENT);
    o.normalize = 1;
    float keep = buf[S2 - 1];
    buf[S2 - 1] = INFINITY;
    CHECK_STATUS(afloc_model_grid_to_frame(model, buf, S2, NULL, frame2, F2), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(afloc_last_error(), "is not finite") != NULL);
    buf[S2 - 1] = keep;
    CHECK(untouched(frame2, F2));

    /* one-word prompts: dropped by default (same map as ""), kept on request */
    float *a = malloc(S2 * 4), *b = malloc(S2 * 4), *c = malloc(S2 * 4);
    afloc_heatmaps ha = {.struct_size = sizeof ha, .grid = a, .grid_len = S2};
    afloc_heatmaps hb = {.struct_size = sizeof hb, .grid = b, .grid_len = S2};
    afloc_heatmaps hc = {.struct_size = sizeof hc, .grid = c, .grid_len = S2};
    CHECK_STATUS(afloc_model_localize(model, &img, "effusion", NULL, &ha), AFLOC_OK);
    CHECK_STATUS(afloc_model_localize(model, &img, "", NULL, &hb), AFLOC_OK);
    o.struct_size = sizeof o;
    o.keep_one_word_prompts = 1;
    CHECK_STATUS(afloc_model_localize(model, &img, "effusion", &o, &hc), AFLOC_OK);
    CHECK(!memcmp(a, b, S2 * 4));
    CHECK(memcmp(a, c, S2 * 4) != 0);
    free(a);
    free(b);
    free(c);

    /* batch: an argument error in item 1 leaves item 0 untouched and names the item */
    afloc_heatmaps h0 = {.struct_size = sizeof h0, .grid = buf, .grid_len = S2};
    afloc_heatmaps h1 = {.struct_size = sizeof h1, .grid = buf + S2, .grid_len = S2 - 1};
    const afloc_image_view *views[2] = {&img, &img};
    const char *texts[2] = {text, "no pneumothorax"};
    afloc_heatmaps *hs[2] = {&h0, &h1};
    fill(buf, 2 * S2);
    CHECK_STATUS(afloc_model_localize_batch(model, views, texts, 2, NULL, hs),
                 AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK(strstr(afloc_last_error(), "item 1") != NULL);
    CHECK(untouched(buf, 2 * S2));
    CHECK_STATUS(afloc_model_localize_batch(model, views, texts, 0, NULL, hs),
                 AFLOC_ERR_INVALID_ARGUMENT);
    h1.grid_len = S2;
    CHECK_STATUS(afloc_model_localize_batch(model, views, texts, 2, NULL, hs), AFLOC_OK);
    float *single = malloc(S2 * 4);
    afloc_heatmaps hsingle = {.struct_size = sizeof hsingle, .grid = single, .grid_len = S2};
    CHECK_STATUS(afloc_model_localize(model, &img, texts[1], NULL, &hsingle), AFLOC_OK);
    CHECK(!memcmp(single, buf + S2, S2 * 4)); /* batch item == single call, bit for bit */
    free(single);

    /* ---- classify and prompt sets ---- */
    const char *prompts[3] = {"small left pleural effusion", "no pneumothorax", ""};
    float scores[3] = {SENTINEL, SENTINEL, SENTINEL}, probs[3] = {SENTINEL, SENTINEL, SENTINEL};
    CHECK_STATUS(afloc_model_classify(model, &img, prompts, 0, 1.0f, scores, probs), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_classify(model, &img, prompts, AFLOC_MAX_PROMPTS + 1, 1.0f, scores, probs),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_classify(model, &img, NULL, 3, 1.0f, scores, probs), AFLOC_ERR_INVALID_ARGUMENT);
    const char *with_null[2] = {"a b", NULL};
    CHECK_STATUS(afloc_model_classify(model, &img, with_null, 2, 1.0f, scores, probs), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_classify(model, &img, prompts, 3, 0.0f, scores, probs), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_classify(model, &img, prompts, 3, NAN, scores, probs), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_classify(model, &img, prompts, 3, 1.0f, NULL, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(untouched(scores, 3) && untouched(probs, 3));
    CHECK_STATUS(afloc_model_classify(model, &img, prompts, 3, 1.0f, scores, probs), AFLOC_OK);
    CHECK(fabsf(probs[0] + probs[1] + probs[2] - 1.0f) < 1e-6f);
    for (int k = 0; k < 3; k++) CHECK(scores[k] >= -1.0f && scores[k] <= 1.0f);
    afloc_prompt_set *set = NULL, *foreign = NULL;
    CHECK_STATUS(afloc_prompt_set_create(model, prompts, 3, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create(model, prompts, 3, &set), AFLOC_OK);
    CHECK_STATUS(afloc_prompt_set_create(other, prompts, 3, &foreign), AFLOC_OK);
    float s2[3], p2[3];
    CHECK_STATUS(afloc_model_classify_prompt_set(model, &img, set, 1.0f, s2, p2), AFLOC_OK);
    CHECK(!memcmp(scores, s2, sizeof s2) && !memcmp(probs, p2, sizeof p2));
    CHECK_STATUS(afloc_model_classify_prompt_set(model, &img, foreign, 1.0f, s2, p2), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_classify_prompt_set(model, &img, NULL, 1.0f, s2, p2), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_prompt_set_free(foreign);
    afloc_prompt_set_free(NULL);
    /* ensembles: bad groupings are refused and leave *out alone; one prompt per ensemble gives
     * exactly the plain set's scores and probabilities */
    const int32_t singles[3] = {0, 1, 2}, out_of_range[3] = {0, 3, 1}, negative[3] = {0, -1, 1},
                  gap[3] = {0, 0, 2};
    afloc_prompt_set *ens = NULL;
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, NULL, 3, &ens), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, out_of_range, 3, &ens), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, negative, 3, &ens), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, gap, 3, &ens), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, singles, 0, &ens), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, singles, 4, &ens), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, singles, 3, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(NULL, prompts, 3, singles, 3, &ens), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(ens == NULL);
    CHECK_STATUS(afloc_prompt_set_create_ensembles(model, prompts, 3, singles, 3, &ens), AFLOC_OK);
    CHECK_STATUS(afloc_model_classify_prompt_set(model, &img, ens, 1.0f, s2, p2), AFLOC_OK);
    CHECK(!memcmp(scores, s2, sizeof s2) && !memcmp(probs, p2, sizeof p2));
    afloc_prompt_set_free(ens);

    /* ---- allocation failures: every one becomes OUT_OF_MEMORY, nothing leaks ---- */
    int failures_seen = 0, k;
    for (k = 0; k < 200; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_status s = afloc_model_localize(model, &img, text, NULL, &h);
        afloc_test_inject_alloc_failure(-1);
        if (s == AFLOC_OK) break;
        CHECK(s == AFLOC_ERR_OUT_OF_MEMORY);
        failures_seen++;
    }
    for (int j = 0; j < 200; j++) {
        afloc_prompt_set *x = NULL;
        afloc_test_inject_alloc_failure(j);
        afloc_status s = afloc_prompt_set_create(model, prompts, 3, &x);
        afloc_test_inject_alloc_failure(-1);
        afloc_prompt_set_free(x);
        if (s == AFLOC_OK) break;
        CHECK(s == AFLOC_ERR_OUT_OF_MEMORY && x == NULL);
        failures_seen++;
    }
    const int32_t pair_and_one[3] = {0, 0, 1};
    for (int j = 0; j < 200; j++) {
        afloc_prompt_set *x = NULL;
        afloc_test_inject_alloc_failure(j);
        afloc_status s = afloc_prompt_set_create_ensembles(model, prompts, 3, pair_and_one, 2, &x);
        afloc_test_inject_alloc_failure(-1);
        afloc_prompt_set_free(x);
        if (s == AFLOC_OK) break;
        CHECK(s == AFLOC_ERR_OUT_OF_MEMORY && x == NULL);
        failures_seen++;
    }
    printf("test_misuse: localize needs %d allocations outside the workspace; %d injected "
           "failures all gave AFLOC_ERR_OUT_OF_MEMORY\n", k, failures_seen);

    afloc_prompt_set_free(set);
    free(huge);
    free(buf);
    free((void *)img.pixels);
    free((void *)one.pixels);
    afloc_model_free(model);
    afloc_model_free(other);
    afloc_context_free(context);
    afloc_context_free(context2);
    return test_finish("test_misuse");
}
