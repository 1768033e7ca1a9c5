/* localize.c: the public inference entry points for embeddings and localization (MODEL.md §8.1):
 *
 *   image ── preprocess (§2.2) ── encoder ──> img_emb_l (D, S, S)       S = 19 by default
 *   text  ── text encoder ──> text_emb_r (D)
 *   raw (S, S)      = Σ_d img_emb_l[d] · text_emb_r[d]       a plain dot product    §8.1 step 3
 *   smoothed (S, S) = gaussian_filter(raw, σ, mode=reflect)                        §8.2
 *   frame (c, c)    = bilinear resize S -> crop, align_corners=False                §8.3
 *                     (or, with map_alignment centred, each cell drawn at the centre of its
 *                     receptive field: cpu/bilinear_sample.c; centred cubic: the same places
 *                     read with bicubic interpolation, cpu/bicubic_sample.c)
 *   optional min–max to [−1, 1] over the whole frame (no evaluation margin)        §8.4
 *   original (W, H) = the frame mapped back through the letterbox (§2.6)
 *
 * Every call sets its OpenMP team size, takes its own workspace arena from the model's pool and
 * gives it back, so many threads may use one model and get bit-identical results. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "image_view.h"
#include "inference.h"
#include "options.h"

static const afloc_localize_options default_localize_options = {
    .struct_size           = sizeof(afloc_localize_options),
    .normalize             = 1,
    .keep_one_word_prompts = 0,
    .map_alignment         = AFLOC_MAP_ALIGN_MODEL,
};

afloc_status afloc_localize_options_default(afloc_localize_options *options) {
    return afloc_options_fill_defaults(options, &default_localize_options,
                                       sizeof default_localize_options,
                                       "afloc_localize_options_default");
}

afloc_status afloc_model_get_dims(const afloc_model *model, afloc_model_dims *dims) {
    static const char *fn = "afloc_model_get_dims";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    if (!dims) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: dims is NULL", fn);
    const struct afloc_inference *inf = model->inference;
    afloc_model_dims full = {
        .struct_size   = sizeof(afloc_model_dims),
        .embedding_dim = inf->D,
        .grid_side     = inf->side[2],
        .frame_size    = inf->crop,
        .token_length  = inf->T,
    };
    AFLOC_TRY(afloc_options_fill_defaults(dims, &full, sizeof full, fn));
    return AFLOC_OK;
}

/* ---- embeddings ---- */

afloc_status afloc_model_embed_image(const afloc_model *model, const afloc_image_view *image,
                                     float *global, size_t global_len, float *local,
                                     size_t local_len) {
    static const char *fn = "afloc_model_embed_image";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    AFLOC_TRY(afloc_image_view_check(image, fn));
    const struct afloc_inference *inf = model->inference;
    size_t D = (size_t)inf->D, S2 = (size_t)inf->side[2] * (size_t)inf->side[2];
    if (!global && !local)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: global and local are both NULL", fn);
    if (global && global_len < D)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: global_len %zu, needs %zu floats", fn,
                          global_len, D);
    if (local && local_len < D * S2)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: local_len %zu, needs %zu floats", fn,
                          local_len, D * S2);
    afloc_inference_set_threads(model);
    afloc_workspace *ws;
    AFLOC_TRY(afloc_workspace_acquire(inf->pool, &ws, fn));
    float *frame = afloc_workspace_floats(ws, (size_t)inf->crop * (size_t)inf->crop);
    float *g = afloc_workspace_floats(ws, D);
    float *l = afloc_workspace_floats(ws, D * S2);
    afloc_status status = afloc_inference_preprocess(model, image, frame, NULL, fn);
    if (status == AFLOC_OK) {
        afloc_image_outputs out = {0};
        out.global = global ? g : NULL;
        out.local = local ? l : NULL;
        status = afloc_image_encoder_forward(model, ws, frame, &out);
    }
    if (status == AFLOC_OK) {
        if (global) memcpy(global, g, D * sizeof(float));
        if (local) memcpy(local, l, D * S2 * sizeof(float));
    }
    afloc_workspace_release(inf->pool, ws);
    if (status == AFLOC_OK) afloc_clear_error();
    return status;
}

afloc_status afloc_model_embed_text(const afloc_model *model, const char *text, float *report,
                                    size_t report_len) {
    static const char *fn = "afloc_model_embed_text";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    size_t text_len;
    AFLOC_TRY(afloc_inference_check_text(text, &text_len, fn));
    const struct afloc_inference *inf = model->inference;
    if (!report) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: report is NULL", fn);
    if (report_len < (size_t)inf->D)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: report_len %zu, needs %d floats", fn,
                          report_len, (int)inf->D);
    afloc_inference_set_threads(model);
    afloc_workspace *ws;
    AFLOC_TRY(afloc_workspace_acquire(inf->pool, &ws, fn));
    float *r = afloc_workspace_floats(ws, (size_t)inf->D);
    afloc_text_outputs out = {0};
    out.report = r;
    afloc_status status = afloc_text_encoder_forward(model, ws, text, text_len, 0, &out, fn);
    if (status == AFLOC_OK) memcpy(report, r, (size_t)inf->D * sizeof(float));
    afloc_workspace_release(inf->pool, ws);
    if (status == AFLOC_OK) afloc_clear_error();
    return status;
}

/* ---- localization ---- */

/* Min–max to [−1, 1] in place; a constant map becomes all zeros (the reference divides by 0). */
static void normalize_minmax(float *map, size_t n) {
    float lo = map[0], hi = map[0];
    for (size_t i = 1; i < n; i++) {
        if (map[i] < lo) lo = map[i];
        if (map[i] > hi) hi = map[i];
    }
    if (!(hi > lo)) {
        memset(map, 0, n * sizeof(float));
        return;
    }
    float range = hi - lo;
    for (size_t i = 0; i < n; i++) map[i] = 2.0f * (map[i] - lo) / range - 1.0f;
}

/* The read-out after the raw S x S map (§8.2–§8.4): Gaussian smoothing, the map_alignment resize
 * onto the crop x crop frame, then the optional min–max. `scratch` holds S·S floats. */
static void read_out(const afloc_model *model, const afloc_localize_options *o, const float *raw,
                     float *smoothed, float *scratch, float *frame) {
    const struct afloc_inference *inf = model->inference;
    int32_t S = inf->side[2];
    model->ops->gaussian_smooth_forward(smoothed, raw, S, S, model->config.gaussian_sigma,
                                        model->config.gaussian_truncate, scratch);
    afloc_inference_map_to_frame(model, o->map_alignment, frame, smoothed);
    if (o->normalize) normalize_minmax(frame, (size_t)inf->crop * (size_t)inf->crop);
}

/* Reads and checks the caller's heatmaps struct (fields beyond its struct_size are "not wanted"). */
static afloc_status read_heatmaps(const afloc_model *model, const afloc_image_view *image,
                                  const afloc_heatmaps *caller, afloc_heatmaps *h,
                                  const char *fn) {
    static const afloc_heatmaps none = {.struct_size = sizeof(afloc_heatmaps)};
    if (!caller) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: heatmaps is NULL", fn);
    AFLOC_TRY(afloc_options_read(h, sizeof *h, caller, &none, fn));
    const struct afloc_inference *inf = model->inference;
    size_t S2 = (size_t)inf->side[2] * (size_t)inf->side[2];
    size_t crop2 = (size_t)inf->crop * (size_t)inf->crop;
    size_t orig = (size_t)image->width * (size_t)image->height;
    if (!h->grid && !h->smoothed && !h->frame && !h->original)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: no heatmap buffer given (all NULL)", fn);
    if (h->grid && h->grid_len < S2)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: grid_len %zu, needs %zu floats", fn,
                          h->grid_len, S2);
    if (h->smoothed && h->smoothed_len < S2)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: smoothed_len %zu, needs %zu floats",
                          fn, h->smoothed_len, S2);
    if (h->frame && h->frame_len < crop2)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: frame_len %zu, needs %zu floats", fn,
                          h->frame_len, crop2);
    if (h->original && h->original_len < orig)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL,
                          "%s: original_len %zu, needs %zu floats (width %d x height %d)", fn,
                          h->original_len, orig, (int)image->width, (int)image->height);
    return AFLOC_OK;
}

/* One localization with an acquired workspace; the checks are done. */
static afloc_status localize_one(const afloc_model *model, afloc_workspace *ws,
                                 const afloc_image_view *image, const char *text, size_t text_len,
                                 const afloc_localize_options *o, const afloc_heatmaps *h,
                                 const char *fn) {
    const struct afloc_inference *inf = model->inference;
    const afloc_ops *ops = model->ops;
    int32_t S = inf->side[2], crop = inf->crop;
    size_t S2 = (size_t)S * (size_t)S, crop2 = (size_t)crop * (size_t)crop, D = (size_t)inf->D;
    size_t mark = ws->used;
    float *input = afloc_workspace_floats(ws, crop2);
    float *emb_l = afloc_workspace_floats(ws, D * S2);
    float *report = afloc_workspace_floats(ws, D);
    float *raw = afloc_workspace_floats(ws, S2);
    float *smoothed = afloc_workspace_floats(ws, S2);
    float *scratch = afloc_workspace_floats(ws, S2);
    float *frame = afloc_workspace_floats(ws, crop2);

    afloc_letterbox_geometry geometry;
    afloc_status status = afloc_inference_preprocess(model, image, input, &geometry, fn);
    if (status == AFLOC_OK) {
        afloc_text_outputs tout = {0};
        tout.report = report;
        status = afloc_text_encoder_forward(model, ws, text, text_len,
                                            o->keep_one_word_prompts ? AFLOC_TEXT_PROMPT_KEEP_ONE
                                                                     : AFLOC_TEXT_PROMPT,
                                            &tout, fn);
    }
    if (status != AFLOC_OK) {
        ws->used = mark;
        return status;
    }
    afloc_image_outputs iout = {0};
    iout.local = emb_l;
    status = afloc_image_encoder_forward(model, ws, input, &iout);
    if (status != AFLOC_OK) {
        ws->used = mark;
        return status;
    }

    ops->similarity_map_forward(raw, emb_l, report, inf->D, S, S);
    read_out(model, o, raw, smoothed, scratch, frame);
    if (h->original) {
        status = afloc_heatmap_to_original(&geometry, frame, crop2, h->original, h->original_len);
        if (status != AFLOC_OK) {
            ws->used = mark;
            return afloc_fail(AFLOC_ERR_INTERNAL, "%s: mapping to the original grid failed: %s",
                              fn, afloc_last_error());
        }
    }
    if (h->grid) memcpy(h->grid, raw, S2 * sizeof(float));
    if (h->smoothed) memcpy(h->smoothed, smoothed, S2 * sizeof(float));
    if (h->frame) memcpy(h->frame, frame, crop2 * sizeof(float));
    ws->used = mark;
    return AFLOC_OK;
}

static afloc_status read_localize_options(const afloc_localize_options *caller,
                                          afloc_localize_options *o, const char *fn) {
    AFLOC_TRY(afloc_options_read(o, sizeof *o, caller, &default_localize_options, fn));
    if (o->normalize != 0 && o->normalize != 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: normalize %d is not 0 or 1", fn,
                          (int)o->normalize);
    if (o->keep_one_word_prompts != 0 && o->keep_one_word_prompts != 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: keep_one_word_prompts %d is not 0 or 1",
                          fn, (int)o->keep_one_word_prompts);
    if (o->map_alignment < AFLOC_MAP_ALIGN_MODEL ||
        o->map_alignment > AFLOC_MAP_ALIGN_CENTRED_CUBIC)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: map_alignment %d is not -1 (the model's), 0 (reference), 1 "
                          "(centred) or 2 (centred cubic)", fn, (int)o->map_alignment);
    return AFLOC_OK;
}

afloc_status afloc_model_localize(const afloc_model *model, const afloc_image_view *image,
                                  const char *text, const afloc_localize_options *options,
                                  afloc_heatmaps *heatmaps) {
    static const char *fn = "afloc_model_localize";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    AFLOC_TRY(afloc_image_view_check(image, fn));
    size_t text_len;
    AFLOC_TRY(afloc_inference_check_text(text, &text_len, fn));
    afloc_localize_options o;
    AFLOC_TRY(read_localize_options(options, &o, fn));
    afloc_heatmaps h;
    AFLOC_TRY(read_heatmaps(model, image, heatmaps, &h, fn));
    afloc_inference_set_threads(model);
    afloc_workspace *ws;
    AFLOC_TRY(afloc_workspace_acquire(model->inference->pool, &ws, fn));
    afloc_status status = localize_one(model, ws, image, text, text_len, &o, &h, fn);
    afloc_workspace_release(model->inference->pool, ws);
    if (status == AFLOC_OK) afloc_clear_error();
    return status;
}

afloc_status afloc_model_localize_batch(const afloc_model *model,
                                        const afloc_image_view *const *images,
                                        const char *const *texts, int32_t count,
                                        const afloc_localize_options *options,
                                        afloc_heatmaps *const *heatmaps) {
    static const char *fn = "afloc_model_localize_batch";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    if (count < 1 || count > AFLOC_MAX_BATCH)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: count %d outside 1..%d", fn, (int)count,
                          AFLOC_MAX_BATCH);
    if (!images || !texts || !heatmaps)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: images, texts or heatmaps is NULL", fn);
    afloc_localize_options o;
    AFLOC_TRY(read_localize_options(options, &o, fn));
    /* Check every item before computing any, so argument errors leave all outputs untouched. */
    for (int32_t i = 0; i < count; i++) {
        size_t text_len;
        afloc_heatmaps h;
        afloc_status status = afloc_image_view_check(images[i], fn);
        if (status == AFLOC_OK) status = afloc_inference_check_text(texts[i], &text_len, fn);
        if (status == AFLOC_OK) status = read_heatmaps(model, images[i], heatmaps[i], &h, fn);
        if (status != AFLOC_OK) {
            char message[AFLOC_ERROR_CAPACITY];
            snprintf(message, sizeof message, "%s", afloc_last_error());
            size_t skip = strlen(fn) + 2; /* "afloc_model_localize_batch: " */
            return afloc_fail(status, "%s: item %d: %s", fn, (int)i,
                              strlen(message) > skip ? message + skip : message);
        }
    }
    afloc_inference_set_threads(model);
    afloc_workspace *ws;
    AFLOC_TRY(afloc_workspace_acquire(model->inference->pool, &ws, fn));
    afloc_status status = AFLOC_OK;
    for (int32_t i = 0; i < count && status == AFLOC_OK; i++) {
        size_t text_len = strlen(texts[i]);
        afloc_heatmaps h;
        read_heatmaps(model, images[i], heatmaps[i], &h, fn);
        status = localize_one(model, ws, images[i], texts[i], text_len, &o, &h, fn);
    }
    afloc_workspace_release(model->inference->pool, ws);
    if (status == AFLOC_OK) afloc_clear_error();
    return status;
}

afloc_status afloc_model_grid_to_frame(const afloc_model *model, const float *grid,
                                       size_t grid_len, const afloc_localize_options *options,
                                       float *frame, size_t frame_len) {
    static const char *fn = "afloc_model_grid_to_frame";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    if (!grid || !frame) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: grid or frame is NULL", fn);
    afloc_localize_options o;
    AFLOC_TRY(read_localize_options(options, &o, fn));
    const struct afloc_inference *inf = model->inference;
    size_t S2 = (size_t)inf->side[2] * (size_t)inf->side[2];
    size_t crop2 = (size_t)inf->crop * (size_t)inf->crop;
    if (grid_len < S2)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: grid_len %zu, needs %zu floats", fn,
                          grid_len, S2);
    if (frame_len < crop2)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: frame_len %zu, needs %zu floats", fn,
                          frame_len, crop2);
    for (size_t i = 0; i < S2; i++)
        if (!isfinite(grid[i]))
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: grid[%zu] is not finite", fn, i);
    afloc_inference_set_threads(model);
    afloc_workspace *ws;
    AFLOC_TRY(afloc_workspace_acquire(inf->pool, &ws, fn));
    size_t mark = ws->used;
    float *smoothed = afloc_workspace_floats(ws, S2);
    float *scratch = afloc_workspace_floats(ws, S2);
    read_out(model, &o, grid, smoothed, scratch, frame); /* nothing can fail from here on */
    ws->used = mark;
    afloc_workspace_release(inf->pool, ws);
    afloc_clear_error();
    return AFLOC_OK;
}
