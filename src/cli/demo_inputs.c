/* demo_inputs.c: `afloc demo --inputs DIR`, a tour of the input side through the public API, on
 * inputs it makes itself (no download, no model); the tests and examples use its pictures:
 *   1. draws a 16-bit, 12-bit-significant radiograph-like image with one bright "lesion",
 *      saves it as PNG and decodes it back;
 *   2. preprocesses it exactly as the model will (letterbox 224, normalisation) and saves the
 *      model frame as a PNG;
 *   3. maps a frame-space map (a Gaussian at the lesion) back onto the original pixel grid, the
 *      way localization heatmaps will be returned, and saves it;
 *   4. cleans a free-text report as the reference does and tokenizes it with a WordPiece
 *      vocabulary built in here (a real model file carries its own 28,996-entry vocabulary).
 * The main demo (demo.c) trains and evaluates models; this part shows what happens to the
 * inputs before a model sees them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "afloc/afloc.h"
#include "commands.h"

enum { WIDTH = 640, HEIGHT = 520, LESION_X = 430, LESION_Y = 300 };

static const char report[] =
    "FINDINGS: 1. There is a 2.5 cm nodule in the left lower lobe. No pleural effusion.\n"
    "2. Heart size is normal. IMPRESSION: Left lower lobe nodule, café-au-lait artefact.";

/* A tiny WordPiece vocabulary: BERT's special tokens at their usual ids, single characters and
 * their ## continuations, and some whole words, so that most words split into pieces. */
static char *demo_vocabulary(void) {
    static const char *words[] = {"there", "is", "no", "in", "the", "left", "lower", "lobe",
                                  "nod", "##ule", "heart", "size", "normal", "pleural", "eff",
                                  "##usion", "cm", "find", "##ings", "impression", "art", "##ef",
                                  "##act"};
    size_t capacity = 8192, used = 0;
    char *vocab = malloc(capacity);
    if (!vocab) return NULL;
    used += (size_t)snprintf(vocab + used, capacity - used, "[PAD]\n");
    for (int i = 1; i < 100; i++) used += (size_t)snprintf(vocab + used, capacity - used, "[unused%d]\n", i);
    used += (size_t)snprintf(vocab + used, capacity - used, "[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    for (char c = 'a'; c <= 'z'; c++) used += (size_t)snprintf(vocab + used, capacity - used, "%c\n##%c\n", c, c);
    for (char c = '0'; c <= '9'; c++) used += (size_t)snprintf(vocab + used, capacity - used, "%c\n##%c\n", c, c);
    used += (size_t)snprintf(vocab + used, capacity - used, ".\n_\n");
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        used += (size_t)snprintf(vocab + used, capacity - used, "%s\n", words[i]);
    return vocab;
}

static int failed(const char *what) {
    fprintf(stderr, "afloc demo: %s failed: %s\n", what, afloc_last_error());
    return 1;
}

/* Step 1: a synthetic 12-bit radiograph in a 16-bit buffer. */
static void draw_radiograph(uint16_t *pixels) {
    for (int y = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++) {
            double body = exp(-pow((x - WIDTH / 2.0) / (WIDTH * 0.42), 4.0));
            double lungs = 0.55 * exp(-pow((fabs(x - WIDTH / 2.0) - 150.0) / 90.0, 2.0) -
                                      pow((y - 260.0) / 170.0, 2.0));
            double lesion = 0.45 * exp(-(pow(x - LESION_X, 2.0) + pow(y - LESION_Y, 2.0)) / (2 * 18.0 * 18.0));
            double ribs = 0.06 * (0.5 + 0.5 * sin(y / 9.0));
            double v = 0.15 + 0.6 * body - 0.45 * lungs + lesion + ribs * body;
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            pixels[(size_t)y * WIDTH + (size_t)x] = (uint16_t)lrint(v * 4095.0);
        }
}

static int save_float_png(const char *path, const float *values, int32_t width, int32_t height) {
    afloc_image_view view = {sizeof view, AFLOC_PIXEL_F32, 1, width, height,
                             (size_t)width * sizeof(float), values, 0};
    return afloc_image_save_png(&view, path) == AFLOC_OK ? 0 : failed("afloc_image_save_png");
}

static int demo_image(const char *directory) {
    char path[1024];
    uint16_t *pixels = malloc((size_t)WIDTH * HEIGHT * sizeof *pixels);
    float *frame = malloc(224 * 224 * sizeof *frame);
    float *heatmap = malloc((size_t)WIDTH * HEIGHT * sizeof *heatmap);
    afloc_image *image = NULL;
    int rc = 1;
    if (!pixels || !frame || !heatmap) goto done;

    draw_radiograph(pixels);
    afloc_image_view drawn = {sizeof drawn, AFLOC_PIXEL_U16, 1, WIDTH, HEIGHT,
                              WIDTH * sizeof(uint16_t), pixels, 12};
    snprintf(path, sizeof path, "%s/radiograph16.png", directory);
    if (afloc_image_save_png(&drawn, path) != AFLOC_OK) { rc = failed("afloc_image_save_png"); goto done; }
    if (afloc_image_load_png(path, NULL, &image) != AFLOC_OK) { rc = failed("afloc_image_load_png"); goto done; }
    afloc_image_view view = {0};
    view.struct_size = sizeof view;
    if (afloc_image_get_view(image, &view) != AFLOC_OK) { rc = failed("afloc_image_get_view"); goto done; }
    int same = view.width == WIDTH && view.height == HEIGHT && view.pixel_type == AFLOC_PIXEL_U16;
    for (int y = 0; same && y < HEIGHT; y++)
        same = !memcmp((const char *)view.pixels + (size_t)y * view.row_stride, pixels + (size_t)y * WIDTH,
                       WIDTH * sizeof(uint16_t));
    printf("1. image   wrote and decoded %s: %dx%d, 16-bit gray, %d significant bits, pixels %s\n",
           path, (int)view.width, (int)view.height, (int)view.significant_bits,
           same ? "identical" : "DIFFERENT");
    if (!same) goto done;

    afloc_letterbox_geometry geometry = {0};
    geometry.struct_size = sizeof geometry;
    view.significant_bits = 12;
    if (afloc_image_preprocess(&view, NULL, frame, 224 * 224, &geometry) != AFLOC_OK) {
        rc = failed("afloc_image_preprocess");
        goto done;
    }
    float lo = frame[0], hi = frame[0];
    for (int i = 0; i < 224 * 224; i++) {
        lo = frame[i] < lo ? frame[i] : lo;
        hi = frame[i] > hi ? frame[i] : hi;
    }
    printf("2. frame   letterbox %dx%d -> %dx%d at (%d,%d) in 224x224, model input in [%.3f, %.3f]\n",
           (int)geometry.source_width, (int)geometry.source_height, (int)geometry.resized_width,
           (int)geometry.resized_height, (int)geometry.pad_left, (int)geometry.pad_top, lo, hi);
    for (int i = 0; i < 224 * 224; i++) frame[i] = frame[i] * 0.5f + 0.5f; /* back to [0, 1] to view */
    snprintf(path, sizeof path, "%s/frame224.png", directory);
    if (save_float_png(path, frame, 224, 224)) goto done;

    /* A frame-space map peaking where the lesion landed, mapped back to the original grid. */
    double scale = (double)geometry.resized_width / WIDTH;
    double u0 = (LESION_X + 0.5) * scale - 0.5 + geometry.pad_left;
    double v0 = (LESION_Y + 0.5) * (double)geometry.resized_height / HEIGHT - 0.5 + geometry.pad_top;
    for (int v = 0; v < 224; v++)
        for (int u = 0; u < 224; u++)
            frame[v * 224 + u] = (float)exp(-((u - u0) * (u - u0) + (v - v0) * (v - v0)) / (2 * 6.0 * 6.0));
    if (afloc_heatmap_to_original(&geometry, frame, 224 * 224, heatmap, (size_t)WIDTH * HEIGHT) != AFLOC_OK) {
        rc = failed("afloc_heatmap_to_original");
        goto done;
    }
    int best = 0;
    for (int i = 1; i < WIDTH * HEIGHT; i++) best = heatmap[i] > heatmap[best] ? i : best;
    printf("3. heatmap frame map peak at (%.1f, %.1f) maps back to original pixel (%d, %d); lesion drawn at (%d, %d)\n",
           u0, v0, best % WIDTH, best / WIDTH, LESION_X, LESION_Y);
    snprintf(path, sizeof path, "%s/heatmap_original.png", directory);
    if (save_float_png(path, heatmap, WIDTH, HEIGHT)) goto done;
    rc = 0;
done:
    if (rc == 1 && (!pixels || !frame || !heatmap)) fprintf(stderr, "afloc demo: out of memory\n");
    afloc_image_free(image);
    free(heatmap);
    free(frame);
    free(pixels);
    return rc;
}

static int demo_text(void) {
    char cleaned[sizeof report];
    if (afloc_text_clean_prompt(report, strlen(report), cleaned, sizeof cleaned, NULL) != AFLOC_OK)
        return failed("afloc_text_clean_prompt");
    printf("4. text    report: \"%.60s...\"\n           cleaned: \"%s\"\n", report, cleaned);

    char *vocab = demo_vocabulary();
    if (!vocab) return failed("demo vocabulary");
    afloc_tokenizer *tokenizer = NULL;
    afloc_status status = afloc_tokenizer_create(vocab, strlen(vocab), NULL, &tokenizer);
    free(vocab);
    if (status != AFLOC_OK) return failed("afloc_tokenizer_create");
    int32_t ids[97], mask[97], length = 0;
    status = afloc_tokenizer_encode(tokenizer, cleaned, strlen(cleaned), ids, mask, 97, &length);
    if (status != AFLOC_OK) {
        afloc_tokenizer_free(tokenizer);
        return failed("afloc_tokenizer_encode");
    }
    printf("           %d of 97 token slots used:", (int)length);
    for (int32_t i = 0; i < length; i++) {
        char piece[64];
        if (afloc_tokenizer_token_text(tokenizer, ids[i], piece, sizeof piece, NULL) == AFLOC_OK)
            printf(" %s", piece);
    }
    printf("\n");
    afloc_tokenizer_free(tokenizer);
    return 0;
}

int afloc_cli_demo_inputs(const char *directory) {
    mkdir(directory, 0755);
    printf("libafloc %s input tour: PNG, preprocessing, the heatmap grid mapping and the "
           "tokenizer\n\n", afloc_version());
    if (demo_image(directory) || demo_text()) return 1;
    printf("\npictures: %s/radiograph16.png, %s/frame224.png, %s/heatmap_original.png\n", directory,
           directory, directory);
    return 0;
}
