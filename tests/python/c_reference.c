/* c_reference: the C side of the Python bindings' parity tests (tests/python/test_c_parity.py).
 *
 *   c_reference sizes
 *       prints "struct field offset" and "struct sizeof N" lines for every public struct, so the
 *       ctypes mirrors can be checked against the compiler's layout;
 *   c_reference run MODEL PNG OUTDIR TEXT PROMPT...
 *       loads MODEL and PNG through the public API and writes the raw float32 outputs (native byte
 *       order) of preprocess, embed_image (global, local), embed_text, localize (all four maps),
 *       localize_batch (the same pair twice), classify and classify_prompt_set into OUTDIR/<name>.f32,
 *       plus the letterbox geometry as OUTDIR/geometry.txt.
 *
 * Uses only afloc.h, as a Python caller does. Exit status 0 on success, 1 with a message. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"

#define FIELD(s, f) printf("%s %s %zu\n", #s, #f, offsetof(s, f))
#define SIZE(s) printf("%s sizeof %zu\n", #s, sizeof(s))

static void print_sizes(void) {
    FIELD(afloc_context_options, backend); FIELD(afloc_context_options, device_index);
    FIELD(afloc_context_options, num_threads); FIELD(afloc_context_options, log);
    FIELD(afloc_context_options, log_user); FIELD(afloc_context_options, plugin_path);
    FIELD(afloc_context_options, precision);
    SIZE(afloc_context_options);
    FIELD(afloc_image_view, pixel_type); FIELD(afloc_image_view, channels);
    FIELD(afloc_image_view, width); FIELD(afloc_image_view, height);
    FIELD(afloc_image_view, row_stride); FIELD(afloc_image_view, pixels);
    FIELD(afloc_image_view, significant_bits);
    SIZE(afloc_image_view);
    FIELD(afloc_png_options, max_width); FIELD(afloc_png_options, max_height);
    FIELD(afloc_png_options, max_file_bytes); FIELD(afloc_png_options, max_decode_bytes);
    SIZE(afloc_png_options);
    FIELD(afloc_preprocess_options, image_size); FIELD(afloc_preprocess_options, crop_size);
    FIELD(afloc_preprocess_options, mean); FIELD(afloc_preprocess_options, std);
    SIZE(afloc_preprocess_options);
    FIELD(afloc_letterbox_geometry, source_width); FIELD(afloc_letterbox_geometry, source_height);
    FIELD(afloc_letterbox_geometry, resized_width); FIELD(afloc_letterbox_geometry, resized_height);
    FIELD(afloc_letterbox_geometry, pad_left); FIELD(afloc_letterbox_geometry, pad_top);
    FIELD(afloc_letterbox_geometry, image_size); FIELD(afloc_letterbox_geometry, crop_left);
    FIELD(afloc_letterbox_geometry, crop_top); FIELD(afloc_letterbox_geometry, crop_size);
    SIZE(afloc_letterbox_geometry);
    FIELD(afloc_tokenizer_options, lowercase); FIELD(afloc_tokenizer_options, max_length);
    FIELD(afloc_tokenizer_options, max_chars_per_word);
    SIZE(afloc_tokenizer_options);
    FIELD(afloc_model_dims, embedding_dim); FIELD(afloc_model_dims, grid_side);
    FIELD(afloc_model_dims, frame_size); FIELD(afloc_model_dims, token_length);
    SIZE(afloc_model_dims);
    FIELD(afloc_localize_options, normalize); FIELD(afloc_localize_options, keep_one_word_prompts);
    FIELD(afloc_localize_options, map_alignment);
    SIZE(afloc_localize_options);
    FIELD(afloc_heatmaps, grid); FIELD(afloc_heatmaps, grid_len);
    FIELD(afloc_heatmaps, smoothed); FIELD(afloc_heatmaps, smoothed_len);
    FIELD(afloc_heatmaps, frame); FIELD(afloc_heatmaps, frame_len);
    FIELD(afloc_heatmaps, original); FIELD(afloc_heatmaps, original_len);
    SIZE(afloc_heatmaps);
    FIELD(afloc_train_loss_terms, global); FIELD(afloc_train_loss_terms, sentence);
    FIELD(afloc_train_loss_terms, word); FIELD(afloc_train_loss_terms, total);
    FIELD(afloc_train_loss_terms, grad_norm); FIELD(afloc_train_loss_terms, learning_rate);
    FIELD(afloc_train_loss_terms, step_seconds); FIELD(afloc_train_loss_terms, word_loss_seconds);
    SIZE(afloc_train_loss_terms);
    FIELD(afloc_train_progress, step); FIELD(afloc_train_progress, epoch);
    FIELD(afloc_train_progress, epochs); FIELD(afloc_train_progress, batch);
    FIELD(afloc_train_progress, batches_per_epoch); FIELD(afloc_train_progress, loss);
    FIELD(afloc_train_progress, images_per_second); FIELD(afloc_train_progress, eta_seconds);
    SIZE(afloc_train_progress);
    FIELD(afloc_trainer_options, batch_size); FIELD(afloc_trainer_options, epochs);
    FIELD(afloc_trainer_options, seed); FIELD(afloc_trainer_options, threads);
    FIELD(afloc_trainer_options, lr_schedule); FIELD(afloc_trainer_options, learning_rate);
    FIELD(afloc_trainer_options, lr_gamma); FIELD(afloc_trainer_options, lr_step_epochs);
    FIELD(afloc_trainer_options, warmup_steps); FIELD(afloc_trainer_options, total_steps);
    FIELD(afloc_trainer_options, min_learning_rate); FIELD(afloc_trainer_options, caption_mode);
    FIELD(afloc_trainer_options, dropout); FIELD(afloc_trainer_options, drop_last);
    FIELD(afloc_trainer_options, progress); FIELD(afloc_trainer_options, progress_user);
    FIELD(afloc_trainer_options, loss_weight_global); FIELD(afloc_trainer_options, loss_weight_sentence);
    FIELD(afloc_trainer_options, loss_weight_word);
    FIELD(afloc_trainer_options, mirror_pairs);
    SIZE(afloc_trainer_options);
    FIELD(afloc_trainer_state, step); FIELD(afloc_trainer_state, epoch);
    FIELD(afloc_trainer_state, batch); FIELD(afloc_trainer_state, seed);
    FIELD(afloc_trainer_state, learning_rate);
    SIZE(afloc_trainer_state);
}

static int failed(const char *what, afloc_status status) {
    fprintf(stderr, "c_reference: %s: %s: %s\n", what, afloc_status_string(status), afloc_last_error());
    return 1;
}

/* Writes `count` floats to dir/name.f32; 0 on success. */
static int write_floats(const char *dir, const char *name, const float *data, size_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "c_reference: cannot write %s\n", path);
        return 1;
    }
    size_t written = fwrite(data, sizeof *data, count, f);
    int bad = fclose(f) != 0 || written != count;
    if (bad) fprintf(stderr, "c_reference: short write on %s\n", path);
    return bad;
}

static float *floats(size_t count) {
    float *p = calloc(count ? count : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "c_reference: out of memory\n");
        exit(1);
    }
    return p;
}

static int run(const char *model_path, const char *png_path, const char *dir, const char *text,
               const char *const *prompts, int32_t count) {
    afloc_context_options co = {.struct_size = sizeof co};
    afloc_context_options_default(&co);
    co.backend = AFLOC_BACKEND_CPU;
    afloc_context *context = NULL;
    afloc_model *model = NULL;
    afloc_image *image = NULL;
    afloc_prompt_set *set = NULL;
    afloc_status s;
    int bad = 1;
    if ((s = afloc_context_create(&co, &context)) != AFLOC_OK) return failed("context", s);
    if ((s = afloc_model_load(context, model_path, &model)) != AFLOC_OK) {
        bad = failed("model_load", s);
        goto done;
    }
    if ((s = afloc_image_load_png(png_path, NULL, &image)) != AFLOC_OK) {
        bad = failed("image_load_png", s);
        goto done;
    }
    afloc_image_view view = {.struct_size = sizeof view};
    afloc_image_get_view(image, &view);
    afloc_model_dims dims = {.struct_size = sizeof dims};
    afloc_model_get_dims(model, &dims);
    size_t d = (size_t)dims.embedding_dim, ss = (size_t)dims.grid_side * (size_t)dims.grid_side;
    size_t ff = (size_t)dims.frame_size * (size_t)dims.frame_size;
    size_t wh = (size_t)view.width * (size_t)view.height;
    float *pre = floats(224 * 224), *global = floats(d), *local = floats(d * ss), *report = floats(d);
    float *maps[2][4], *scores = floats((size_t)count), *probabilities = floats((size_t)count);
    float *set_scores = floats((size_t)count), *set_probabilities = floats((size_t)count);
    afloc_heatmaps heatmaps[2];
    for (int k = 0; k < 2; k++) {
        maps[k][0] = floats(ss), maps[k][1] = floats(ss), maps[k][2] = floats(ff), maps[k][3] = floats(wh);
        heatmaps[k] = (afloc_heatmaps){.struct_size = sizeof heatmaps[k],
            .grid = maps[k][0], .grid_len = ss, .smoothed = maps[k][1], .smoothed_len = ss,
            .frame = maps[k][2], .frame_len = ff, .original = maps[k][3], .original_len = wh};
    }
    afloc_letterbox_geometry geometry = {.struct_size = sizeof geometry};
    const afloc_image_view *views[2] = {&view, &view};
    const char *texts[2] = {text, text};
    afloc_heatmaps *batch[2] = {&heatmaps[0], &heatmaps[1]};
    if ((s = afloc_image_preprocess(&view, NULL, pre, 224 * 224, &geometry)) != AFLOC_OK)
        bad = failed("preprocess", s);
    else if ((s = afloc_model_embed_image(model, &view, global, d, local, d * ss)) != AFLOC_OK)
        bad = failed("embed_image", s);
    else if ((s = afloc_model_embed_text(model, text, report, d)) != AFLOC_OK)
        bad = failed("embed_text", s);
    else if ((s = afloc_model_localize(model, &view, text, NULL, &heatmaps[0])) != AFLOC_OK)
        bad = failed("localize", s);
    else if (write_floats(dir, "localize_grid", maps[0][0], ss) ||
             write_floats(dir, "localize_smoothed", maps[0][1], ss) ||
             write_floats(dir, "localize_frame", maps[0][2], ff) ||
             write_floats(dir, "localize_original", maps[0][3], wh))
        bad = 1;
    else if ((s = afloc_model_localize_batch(model, views, texts, 2, NULL, batch)) != AFLOC_OK)
        bad = failed("localize_batch", s);
    else if ((s = afloc_model_classify(model, &view, prompts, count, 1.0f, scores,
                                       probabilities)) != AFLOC_OK)
        bad = failed("classify", s);
    else if ((s = afloc_prompt_set_create(model, prompts, count, &set)) != AFLOC_OK)
        bad = failed("prompt_set_create", s);
    else if ((s = afloc_model_classify_prompt_set(model, &view, set, 0.5f, set_scores,
                                                  set_probabilities)) != AFLOC_OK)
        bad = failed("classify_prompt_set", s);
    else {
        char path[4096];
        snprintf(path, sizeof path, "%s/geometry.txt", dir);
        FILE *g = fopen(path, "w");
        bad = !g;
        if (g) {
            fprintf(g, "%d %d %d %d %d %d %d %d %d %d\n", geometry.source_width,
                    geometry.source_height, geometry.resized_width, geometry.resized_height,
                    geometry.pad_left, geometry.pad_top, geometry.image_size, geometry.crop_left,
                    geometry.crop_top, geometry.crop_size);
            bad = fclose(g) != 0;
        }
        bad = bad || write_floats(dir, "preprocess", pre, 224 * 224) ||
              write_floats(dir, "embed_image_global", global, d) ||
              write_floats(dir, "embed_image_local", local, d * ss) ||
              write_floats(dir, "embed_text", report, d) ||
              write_floats(dir, "batch_original", maps[1][3], wh) ||
              write_floats(dir, "batch_frame", maps[1][2], ff) ||
              write_floats(dir, "classify_scores", scores, (size_t)count) ||
              write_floats(dir, "classify_probabilities", probabilities, (size_t)count) ||
              write_floats(dir, "prompt_set_scores", set_scores, (size_t)count) ||
              write_floats(dir, "prompt_set_probabilities", set_probabilities, (size_t)count);
    }
    for (int k = 0; k < 2; k++)
        for (int m = 0; m < 4; m++) free(maps[k][m]);
    free(pre), free(global), free(local), free(report), free(scores), free(probabilities);
    free(set_scores), free(set_probabilities);
done:
    afloc_prompt_set_free(set);
    afloc_image_free(image);
    afloc_model_free(model);
    afloc_context_free(context);
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "sizes") == 0) {
        print_sizes();
        return 0;
    }
    if (argc >= 7 && strcmp(argv[1], "run") == 0)
        return run(argv[2], argv[3], argv[4], argv[5], (const char *const *)(argv + 6), argc - 6);
    fprintf(stderr, "usage: c_reference sizes | run MODEL PNG OUTDIR TEXT PROMPT...\n");
    return 2;
}
