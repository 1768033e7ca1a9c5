/* tiny_model.h: a small random model built in memory (afloc_model_create) for the thread and
 * misuse tests, plus synthetic images and prompts. No oracle needed. */
#ifndef AFLOC_TEST_TINY_MODEL_H
#define AFLOC_TEST_TINY_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"

/* A tiny config: every code path of the default (bottlenecks with projections, 2 of 3 BERT
 * layers used), frame 64 -> 80 so one localization costs milliseconds. */
static const char tiny_config[] =
    "{\"resnet_blocks\":[1,1,1,1],\"resnet_planes\":[8,16,32,64],\"resnet_stem\":16,"
    "\"image_size\":64,\"crop_size\":64,\"upsample_size\":80,"
    "\"bert_layers\":3,\"bert_hidden\":32,\"bert_heads\":4,\"bert_intermediate\":64,"
    "\"vocab_size\":%d,\"max_positions\":128,\"last_n_layers\":2,\"embedding_dim\":32}";

/* A vocabulary of exactly `count` entries: specials, letters, digits, some words, ## pieces. */
static char *tiny_vocab(int count, size_t *size) {
    static const char *const fixed[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "_", "the", "left", "right",
        "pleural", "effusion", "small", "large", "lung", "lower", "upper", "lobe", "opacity",
        "no", "pneumothorax", "heart", "size", "is", "normal", "there", "mild", "edema"};
    size_t cap = (size_t)count * 16 + 64, pos = 0;
    char *v = malloc(cap);
    int n = 0;
    for (; n < (int)(sizeof fixed / sizeof fixed[0]) && n < count; n++)
        pos += (size_t)snprintf(v + pos, cap - pos, "%s\n", fixed[n]);
    for (int c = 0; n < count && c < 36; c++, n++) /* a..z 0..9 */
        pos += (size_t)snprintf(v + pos, cap - pos, "%c\n", c < 26 ? 'a' + c : '0' + c - 26);
    for (int c = 0; n < count && c < 36; c++, n++)
        pos += (size_t)snprintf(v + pos, cap - pos, "##%c\n", c < 26 ? 'a' + c : '0' + c - 26);
    for (int k = 0; n < count; k++, n++)
        pos += (size_t)snprintf(v + pos, cap - pos, "w%d\n", k);
    *size = pos;
    return v;
}

static afloc_model *tiny_model_create(afloc_context **context, int32_t threads, uint64_t seed) {
    afloc_context_options o = {.struct_size = sizeof o};
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_CPU;
    o.num_threads = threads;
    if (afloc_context_create(&o, context) != AFLOC_OK) return NULL;
    char config[1024];
    snprintf(config, sizeof config, tiny_config, 200);
    size_t vsize;
    char *vocab = tiny_vocab(200, &vsize);
    afloc_model *model = NULL;
    afloc_status s = afloc_model_create(*context, config, vocab, vsize, seed, &model);
    if (s != AFLOC_OK)
        fprintf(stderr, "afloc_model_create: %s: %s\n", afloc_status_string(s), afloc_last_error());
    free(vocab);
    return model;
}

/* A synthetic gray/RGB u8 image (gradient + blob), w x h, caller frees pixels. */
static afloc_image_view tiny_image(int32_t w, int32_t h, int32_t channels, uint32_t seed) {
    uint8_t *p = malloc((size_t)w * h * channels);
    uint32_t r = seed * 2654435761u + 1;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            r = r * 1664525u + 1013904223u;
            double dx = x - 0.4 * w, dy = y - 0.6 * h;
            double v = 40 + 150.0 * y / (h > 1 ? h - 1 : 1) +
                       80 * (dx * dx + dy * dy < 0.02 * w * h ? 1 : 0) + (r >> 28);
            for (int32_t c = 0; c < channels; c++)
                p[((size_t)y * w + x) * channels + c] = (uint8_t)(v > 255 ? 255 : v);
        }
    afloc_image_view v = {.struct_size = sizeof v, .pixel_type = AFLOC_PIXEL_U8,
                          .channels = channels, .width = w, .height = h,
                          .row_stride = (size_t)w * channels, .pixels = p};
    return v;
}

#endif /* AFLOC_TEST_TINY_MODEL_H */
