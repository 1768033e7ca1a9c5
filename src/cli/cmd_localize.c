/* cmd_localize.c: `afloc localize MODEL IMAGE.png "text" [--out DIR] [--align A]`: localizes a finding and
 * writes DIR/heatmap.png (the [-1, 1] map on the original pixel grid, as 8-bit gray: 0 = -1,
 * 255 = +1) and DIR/overlay.png (a jet-like colormap blended half and half onto the image), then
 * prints where the map peaks. Public API only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_model.h"
#include "commands.h"

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

/* Jet-like colormap: blue -> cyan -> yellow -> red for t in [0, 1]. */
static void jet(float t, float rgb[3]) {
    rgb[0] = clamp01(1.5f - (4.0f * t - 3.0f < 0 ? 3.0f - 4.0f * t : 4.0f * t - 3.0f));
    rgb[1] = clamp01(1.5f - (4.0f * t - 2.0f < 0 ? 2.0f - 4.0f * t : 4.0f * t - 2.0f));
    rgb[2] = clamp01(1.5f - (4.0f * t - 1.0f < 0 ? 1.0f - 4.0f * t : 4.0f * t - 1.0f));
}

/* Gray intensity in [0, 1] of pixel (x, y) of a U8 or U16 view. */
static float gray_at(const afloc_image_view *v, int32_t x, int32_t y) {
    const uint8_t *row = (const uint8_t *)v->pixels + (size_t)y * v->row_stride;
    float sum = 0.0f;
    for (int32_t c = 0; c < v->channels; c++) {
        if (v->pixel_type == AFLOC_PIXEL_U8) {
            sum += row[(size_t)x * v->channels + c] / 255.0f;
        } else {
            uint16_t s;
            memcpy(&s, row + 2 * ((size_t)x * v->channels + c), 2);
            int bits = v->significant_bits > 0 ? v->significant_bits : 16;
            sum += clamp01((float)s / (float)((1u << bits) - 1u));
        }
    }
    return sum / (float)v->channels;
}

static int save(const char *command, const afloc_image_view *view, const char *dir,
                const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    afloc_status s = afloc_image_save_png(view, path);
    if (s != AFLOC_OK) return cli_fail(command, "afloc_image_save_png", s);
    printf("wrote %s\n", path);
    return 0;
}

static const char localize_usage[] =
    "usage: afloc localize MODEL IMAGE.png \"text\" [--out DIR] [--align A]\n"
    "  --out DIR    where heatmap.png and overlay.png go (default .)\n"
    "  --align A    how the map is drawn: model (default: the model config's map_alignment),\n"
    "               reference (the paper's resize), centred (each cell at the centre of its\n"
    "               receptive field) or centred-cubic (the same places, bicubic between them)\n";

int afloc_cli_localize(int argc, char **argv) {
    const char *cmd = "localize";
    const char *out_dir = ".";
    afloc_localize_options options;
    options.struct_size = sizeof options;
    afloc_localize_options_default(&options);
    if (argc < 3) {
        fputs(localize_usage, stderr);
        return 2;
    }
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc || (strcmp(argv[i], "--out") && strcmp(argv[i], "--align"))) {
            fprintf(stderr, "afloc localize: unexpected argument '%s'\n%s", argv[i], localize_usage);
            return 2;
        }
        if (!strcmp(argv[i], "--out")) out_dir = argv[i + 1];
        else if (cli_parse_alignment(cmd, argv[i + 1], &options.map_alignment)) return 2;
    }
    cli_model m;
    if (cli_model_load(cmd, argv[0], &m)) return 1;
    afloc_image *image = NULL;
    afloc_image_view view;
    if (cli_image_load(cmd, argv[1], &image, &view)) {
        cli_model_free(&m);
        return 1;
    }
    size_t n = (size_t)view.width * (size_t)view.height;
    float *map = malloc(n * sizeof(float));
    uint8_t *overlay = malloc(n * 3);
    int rc = 1;
    if (!map || !overlay) {
        fprintf(stderr, "afloc localize: out of memory\n");
        goto done;
    }
    afloc_heatmaps h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    h.original = map;
    h.original_len = n;
    afloc_status s = afloc_model_localize(m.model, &view, argv[2], &options, &h);
    if (s != AFLOC_OK) {
        rc = cli_fail(cmd, "afloc_model_localize", s);
        goto done;
    }
    size_t peak = 0;
    for (size_t i = 0; i < n; i++) {
        if (map[i] > map[peak]) peak = i;
        float t = clamp01(0.5f * (map[i] + 1.0f)), rgb[3];
        jet(t, rgb);
        float g = gray_at(&view, (int32_t)(i % (size_t)view.width), (int32_t)(i / (size_t)view.width));
        for (int c = 0; c < 3; c++) overlay[3 * i + c] = (uint8_t)(255.0f * (0.5f * g + 0.5f * rgb[c]) + 0.5f);
        map[i] = t; /* [-1, 1] -> [0, 1] for the gray PNG */
    }
    afloc_image_view mv = {.struct_size = sizeof mv, .pixel_type = AFLOC_PIXEL_F32, .channels = 1,
                           .width = view.width, .height = view.height,
                           .row_stride = (size_t)view.width * sizeof(float), .pixels = map};
    afloc_image_view ov = {.struct_size = sizeof ov, .pixel_type = AFLOC_PIXEL_U8, .channels = 3,
                           .width = view.width, .height = view.height,
                           .row_stride = (size_t)view.width * 3, .pixels = overlay};
    mkdir(out_dir, 0755); /* an existing folder is fine; any real problem shows up in save() */
    if (save(cmd, &mv, out_dir, "heatmap.png") || save(cmd, &ov, out_dir, "overlay.png")) goto done;
    printf("peak at original pixel (%zu, %zu) of %dx%d for \"%s\" (%s read-out)\n",
           peak % (size_t)view.width, peak / (size_t)view.width, (int)view.width,
           (int)view.height, argv[2], cli_alignment_name(&m, options.map_alignment));
    rc = 0;
done:
    free(map);
    free(overlay);
    afloc_image_free(image);
    cli_model_free(&m);
    return rc;
}
