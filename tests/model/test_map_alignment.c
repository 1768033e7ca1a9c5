/* test_map_alignment.c: the heatmap read-outs of afloc_model_localize (map_alignment).
 *
 * 1. The geometry the centred read-out rests on, measured on a small random model (frame 64,
 *    encoder input 128, layer-3 grid 8x8): a one-pixel change of the image at frame column x
 *    changes layer-3 cell (3, 3) only for x in a window, and the window's midpoint must be the
 *    cell's place in the centred read-out, x = 3 / step (step = (128 − 1) / (16·(64 − 1))),
 *    within 1 px; the reference read-out places the cell at (3 + 0.5)·64/8 − 0.5 = 27.5, 3.7 px
 *    away, which the same check would reject. Rows likewise.
 * 2. The options: a model whose config says map_alignment 1 localizes by default exactly as a
 *    map_alignment 0 model asked for AFLOC_MAP_ALIGN_CENTRED (same weights, bit-identical
 *    frames), and vice versa for REFERENCE; the centred frame is afloc_cpu_bilinear_sample_forward
 *    of the smoothed grid (bit-identical) and differs from the reference frame. The same for
 *    map_alignment 2 (centred cubic): a config-2 model by default and any model asked for
 *    AFLOC_MAP_ALIGN_CENTRED_CUBIC give afloc_cpu_bicubic_sample_forward of the smoothed grid
 *    at the centred step, bit-identical, different from the bilinear frame; values outside
 *    -1..2 are AFLOC_ERR_INVALID_ARGUMENT. */
#include <math.h>
#include <stdint.h>

#include "cpu/cpu_ops.h"
#include "test_util.h"

enum { FRAME = 64, SIDE = 8, CELL = 3 };

static const char *config_json(int alignment) {
    static char json[512];
    snprintf(json, sizeof json,
             "{\"resnet_blocks\":[1,1,1,1],\"resnet_planes\":[8,16,32,64],\"resnet_stem\":16,"
             "\"image_size\":%d,\"crop_size\":%d,\"upsample_size\":128,\"bert_layers\":2,"
             "\"bert_hidden\":32,\"bert_heads\":4,\"bert_intermediate\":64,\"vocab_size\":101,"
             "\"max_positions\":128,\"last_n_layers\":2,\"embedding_dim\":32,"
             "\"map_alignment\":%d}",
             FRAME, FRAME, alignment);
    return json;
}

static afloc_image_view gray_view(uint8_t *pixels) {
    afloc_image_view v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.pixel_type = AFLOC_PIXEL_U8;
    v.channels = 1;
    v.width = v.height = FRAME;
    v.row_stride = FRAME;
    v.pixels = pixels;
    return v;
}

/* Layer-3 embedding of cell (CELL, CELL), D floats, for `pixels`. */
static void cell_embedding(const afloc_model *m, uint8_t *pixels, float *local, float *global,
                           float *out, int32_t D) {
    afloc_image_view v = gray_view(pixels);
    CHECK_STATUS(afloc_model_embed_image(m, &v, global, (size_t)D, local,
                                         (size_t)D * SIDE * SIDE), AFLOC_OK);
    for (int32_t d = 0; d < D; d++) out[d] = local[((size_t)d * SIDE + CELL) * SIDE + CELL];
}

/* The frame pixels along one axis through the predicted centre whose change moves the cell;
 * returns the midpoint of the first and last of them. */
static double window_midpoint(const afloc_model *m, uint8_t *base, int vertical, int32_t D,
                              double centre) {
    float *local = malloc((size_t)D * SIDE * SIDE * sizeof(float));
    float *global = malloc((size_t)D * sizeof(float));
    float *ref = malloc((size_t)D * sizeof(float)), *got = malloc((size_t)D * sizeof(float));
    int lo = -1, hi = -1;
    const int across = (int)lround(centre);
    if (local && global && ref && got) {
        cell_embedding(m, base, local, global, ref, D);
        for (int x = 0; x < FRAME; x++) {
            size_t at = vertical ? (size_t)x * FRAME + (size_t)across : (size_t)across * FRAME + x;
            uint8_t keep = base[at];
            base[at] = (uint8_t)(255 - keep);
            cell_embedding(m, base, local, global, got, D);
            base[at] = keep;
            int changed = 0;
            for (int32_t d = 0; d < D; d++) changed |= got[d] != ref[d];
            if (changed) {
                if (lo < 0) lo = x;
                hi = x;
            }
        }
    }
    free(local);
    free(global);
    free(ref);
    free(got);
    CHECK(lo > 0 && hi < FRAME - 1); /* the window lies inside the frame */
    return 0.5 * (lo + hi);
}

int main(void) {
    size_t vocab_size = 0;
    char *vocab = test_read_source_file("tests/model/cli_vocab.txt", &vocab_size);
    if (!vocab) return 1;
    afloc_context *context = NULL;
    afloc_model *m0 = NULL, *m1 = NULL, *m2 = NULL;
    CHECK_STATUS(afloc_context_create(NULL, &context), AFLOC_OK);
    CHECK_STATUS(afloc_model_create(context, config_json(0), vocab, vocab_size, 5, &m0), AFLOC_OK);
    CHECK_STATUS(afloc_model_create(context, config_json(1), vocab, vocab_size, 5, &m1), AFLOC_OK);
    CHECK_STATUS(afloc_model_create(context, config_json(2), vocab, vocab_size, 5, &m2), AFLOC_OK);
    if (!m0 || !m1 || !m2) return test_finish("model_map_alignment");
    afloc_model_dims dims = {.struct_size = sizeof dims};
    CHECK_STATUS(afloc_model_get_dims(m0, &dims), AFLOC_OK);
    CHECK(dims.grid_side == SIDE && dims.frame_size == FRAME);

    uint8_t pixels[FRAME * FRAME];
    uint32_t state = 12345u;
    for (int i = 0; i < FRAME * FRAME; i++) {
        state = state * 1664525u + 1013904223u;
        pixels[i] = (uint8_t)(state >> 24);
    }

    /* 1. where cell (3, 3) really looks */
    const double step = (128.0 - 1.0) / (16.0 * (FRAME - 1.0));
    const double centred = CELL / step, reference = (CELL + 0.5) * FRAME / SIDE - 0.5;
    for (int vertical = 0; vertical <= 1; vertical++) {
        double mid = window_midpoint(m0, pixels, vertical, dims.embedding_dim, centred);
        printf("cell %d along %s: receptive-field midpoint %.2f, centred read-out %.2f, reference "
               "%.2f\n", CELL, vertical ? "rows" : "columns", mid, centred, reference);
        CHECK(fabs(mid - centred) <= 1.0);
    }

    /* 2. options and config */
    afloc_image_view v = gray_view(pixels);
    const char *text = "small left pleural effusion";
    size_t F2 = (size_t)FRAME * FRAME, S2 = (size_t)SIDE * SIDE;
    float *frames[6], smoothed[SIDE * SIDE], *expect = malloc(F2 * sizeof(float));
    for (int i = 0; i < 6; i++) frames[i] = malloc(F2 * sizeof(float));
    afloc_localize_options o;
    o.struct_size = sizeof o;
    CHECK_STATUS(afloc_localize_options_default(&o), AFLOC_OK);
    CHECK(o.map_alignment == AFLOC_MAP_ALIGN_MODEL);
    o.normalize = 0;
    afloc_heatmaps h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    h.frame_len = F2;
    h.smoothed = smoothed;
    h.smoothed_len = S2;
    const afloc_model *model_of[6] = {m0, m1, m0, m1, m2, m0};
    const int32_t align_of[6] = {AFLOC_MAP_ALIGN_MODEL,     AFLOC_MAP_ALIGN_MODEL,
                                 AFLOC_MAP_ALIGN_CENTRED,   AFLOC_MAP_ALIGN_REFERENCE,
                                 AFLOC_MAP_ALIGN_MODEL,     AFLOC_MAP_ALIGN_CENTRED_CUBIC};
    for (int i = 0; i < 6; i++) {
        o.map_alignment = align_of[i];
        h.frame = frames[i];
        CHECK_STATUS(afloc_model_localize(model_of[i], &v, text, &o, &h), AFLOC_OK);
    }
    CHECK(!memcmp(frames[0], frames[3], F2 * sizeof(float))); /* reference both ways */
    CHECK(!memcmp(frames[1], frames[2], F2 * sizeof(float))); /* centred both ways */
    CHECK(memcmp(frames[0], frames[1], F2 * sizeof(float)) != 0);
    afloc_cpu_bilinear_sample_forward(expect, smoothed, 1, 1, SIDE, SIDE, FRAME, FRAME,
                                      (float)step, (float)step);
    CHECK(!memcmp(frames[1], expect, F2 * sizeof(float)));
    CHECK(!memcmp(frames[4], frames[5], F2 * sizeof(float))); /* cubic both ways */
    afloc_cpu_bicubic_sample_forward(expect, smoothed, 1, 1, SIDE, SIDE, FRAME, FRAME,
                                     (float)step, (float)step);
    CHECK(!memcmp(frames[4], expect, F2 * sizeof(float)));
    CHECK(memcmp(frames[1], frames[4], F2 * sizeof(float)) != 0);

    const int32_t bad[2] = {3, -2};
    for (int i = 0; i < 2; i++) {
        o.map_alignment = bad[i];
        CHECK_STATUS(afloc_model_localize(m0, &v, text, &o, &h), AFLOC_ERR_INVALID_ARGUMENT);
        CHECK(strstr(afloc_last_error(), "map_alignment") != NULL);
    }

    for (int i = 0; i < 6; i++) free(frames[i]);
    free(expect);
    afloc_model_free(m0);
    afloc_model_free(m1);
    afloc_model_free(m2);
    afloc_context_free(context);
    free(vocab);
    return test_finish("model_map_alignment");
}
