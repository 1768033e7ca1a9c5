/* localize_overlay.c: localize one finding in a PNG radiograph and write a colour overlay, using
 * only the public API: load the model, decode the PNG (8- or 16-bit), ask for the heatmap on the
 * original pixel grid, colour it (blue = low, red = high) and blend it half and half onto the
 * image, then save the result as an 8-bit RGB PNG of the same size as the input.
 *
 *   localize_overlay MODEL.safetensors IMAGE.png "small left pleural effusion" OVERLAY.png
 *
 * It prints the map's range and where it peaks, so a caller (or a test) can check the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <afloc/afloc.h>

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static float absf(float v) { return v < 0.0f ? -v : v; }

/* A jet-like colour map for t in [0, 1]: dark blue, blue, cyan, yellow, red, dark red. Red
 * exceeds blue exactly when t > 0.5. */
static void colour_map(float t, float rgb[3]) {
    rgb[0] = clamp01(1.5f - absf(4.0f * t - 3.0f));
    rgb[1] = clamp01(1.5f - absf(4.0f * t - 2.0f));
    rgb[2] = clamp01(1.5f - absf(4.0f * t - 1.0f));
}

/* The intensity in [0, 1] of pixel (x, y) of a U8 or U16 view (RGB is averaged). */
static float intensity(const afloc_image_view *view, int32_t x, int32_t y) {
    const uint8_t *row = (const uint8_t *)view->pixels + (size_t)y * view->row_stride;
    float sum = 0.0f;
    for (int32_t c = 0; c < view->channels; c++) {
        size_t i = (size_t)x * (size_t)view->channels + (size_t)c;
        if (view->pixel_type == AFLOC_PIXEL_U8) {
            sum += row[i] / 255.0f;
        } else {
            uint16_t sample;
            memcpy(&sample, row + 2 * i, sizeof sample); /* rows need not be 2-byte aligned */
            int bits = view->significant_bits > 0 ? view->significant_bits : 16;
            sum += clamp01((float)sample / (float)((1u << bits) - 1u));
        }
    }
    return sum / (float)view->channels;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, afloc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL.safetensors IMAGE.png \"finding\" OVERLAY.png\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1], *image_path = argv[2], *text = argv[3], *out_path = argv[4];

    /* Models run on the CPU backend in 0.1 (a CUDA context refuses them), so ask for it. */
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CPU;
    afloc_context *context = NULL;
    afloc_model *model = NULL;
    afloc_image *image = NULL;
    float *map = NULL;
    uint8_t *overlay = NULL;
    int rc = 1;
    if (afloc_context_create(&options, &context) != AFLOC_OK) return fail("afloc_context_create");
    if (afloc_model_load(context, model_path, &model) != AFLOC_OK) {
        rc = fail("afloc_model_load");
        goto done;
    }
    if (afloc_image_load_png(image_path, NULL, &image) != AFLOC_OK) {
        rc = fail("afloc_image_load_png");
        goto done;
    }
    afloc_image_view view = {0};
    view.struct_size = sizeof view;
    afloc_image_get_view(image, &view);

    size_t n = (size_t)view.width * (size_t)view.height;
    map = malloc(n * sizeof *map);
    overlay = malloc(n * 3);
    if (!map || !overlay) {
        fprintf(stderr, "out of memory for a %dx%d image\n", (int)view.width, (int)view.height);
        goto done;
    }
    /* Only the map on the original grid is wanted; the other buffers stay NULL (not computed). */
    afloc_heatmaps maps = {0};
    maps.struct_size = sizeof maps;
    maps.original = map;
    maps.original_len = n;
    if (afloc_model_localize(model, &view, text, NULL, &maps) != AFLOC_OK) {
        rc = fail("afloc_model_localize");
        goto done;
    }

    /* The map is normalised to [-1, 1] in the model frame; t = (m + 1) / 2 picks the colour. */
    size_t peak = 0, lowest = 0;
    for (size_t i = 0; i < n; i++) {
        if (map[i] > map[peak]) peak = i;
        if (map[i] < map[lowest]) lowest = i;
        float rgb[3];
        colour_map(clamp01(0.5f * (map[i] + 1.0f)), rgb);
        float gray = intensity(&view, (int32_t)(i % (size_t)view.width),
                               (int32_t)(i / (size_t)view.width));
        for (int c = 0; c < 3; c++)
            overlay[3 * i + (size_t)c] = (uint8_t)(255.0f * (0.5f * gray + 0.5f * rgb[c]) + 0.5f);
    }
    afloc_image_view out = {0};
    out.struct_size = sizeof out;
    out.pixel_type = AFLOC_PIXEL_U8;
    out.channels = 3;
    out.width = view.width;
    out.height = view.height;
    out.row_stride = (size_t)view.width * 3;
    out.pixels = overlay;
    if (afloc_image_save_png(&out, out_path) != AFLOC_OK) {
        rc = fail("afloc_image_save_png");
        goto done;
    }
    size_t w = (size_t)view.width;
    printf("heatmap for \"%s\" on the %dx%d grid: range [%.3f, %.3f]\n", text, (int)view.width,
           (int)view.height, (double)map[lowest], (double)map[peak]);
    printf("peak at (%zu, %zu), lowest at (%zu, %zu)\n", peak % w, peak / w, lowest % w, lowest / w);
    printf("wrote %s (%dx%d RGB overlay)\n", out_path, (int)view.width, (int)view.height);
    rc = 0;
done:
    free(overlay);
    free(map);
    afloc_image_free(image);
    afloc_model_free(model);
    afloc_context_free(context);
    return rc;
}
