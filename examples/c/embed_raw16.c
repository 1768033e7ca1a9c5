/* embed_raw16.c: what a PACS host does, using only the public API and no PNG. A DICOM decoder
 * hands over 12-bit samples stored in 16-bit words, with rows padded to an alignment, so the row
 * stride is larger than the row. The host describes that buffer with an afloc_image_view and
 * passes it straight in: no copy, no conversion to 8 bits, no file.
 *
 *   embed_raw16 MODEL.safetensors ["finding"]
 *
 * The example draws a synthetic 12-bit chest-like image (dark lungs in a brighter body, a bright
 * patch low in the image's right lung) into such a buffer, fills the row padding with 0xFFFF
 * (values the library must never read), then
 *  1. embeds the image: the global embedding (D floats) and the local one (D x S x S);
 *  2. embeds a packed copy of the same pixels and checks the result is bit-identical, i.e. the
 *     stride is honoured and the padding is not read;
 *  3. localizes the finding: the raw S x S similarity grid and the map on the original grid. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <afloc/afloc.h>

enum { WIDTH = 600, HEIGHT = 500, ROW_PADDING = 88 /* bytes after each row */ };

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, afloc_last_error());
    return 1;
}

/* 1 inside the ellipse centred at (cx, cy) with half-axes (rx, ry). */
static int inside(double x, double y, double cx, double cy, double rx, double ry) {
    double u = (x - cx) / rx, v = (y - cy) / ry;
    return u * u + v * v <= 1.0;
}

/* A 12-bit sample (0..4095) of the synthetic chest at pixel (x, y). */
static uint16_t chest_sample(int x, int y) {
    double value = 300.0;                                                      /* air      */
    if (inside(x, y, 300, 260, 270, 260)) value = 2600.0;                      /* body     */
    if (inside(x, y, 190, 230, 90, 170) || inside(x, y, 410, 230, 90, 170))
        value = 900.0;                                                         /* lungs    */
    if (inside(x, y, 280, 300, 70, 80)) value = 3000.0;                        /* heart    */
    if (inside(x, y, 420, 360, 70, 40)) value = 2300.0;                        /* effusion */
    value += 60.0 * sin(0.05 * x) * cos(0.07 * y);                             /* texture  */
    return (uint16_t)(value < 0.0 ? 0.0 : value > 4095.0 ? 4095.0 : value);
}

/* The index of the largest of n floats. */
static size_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s MODEL.safetensors [\"finding\"]\n", argv[0]);
        return 2;
    }
    const char *text = argc == 3 ? argv[2] : "small left pleural effusion";

    /* ---- the host's buffer: 12 bits in 16, rows padded ---- */
    size_t row_bytes = (size_t)WIDTH * sizeof(uint16_t);
    size_t stride = row_bytes + ROW_PADDING;
    uint8_t *pixels = malloc(stride * HEIGHT);
    uint16_t *packed = malloc(row_bytes * HEIGHT);
    if (!pixels || !packed) {
        fprintf(stderr, "out of memory\n");
        free(pixels);
        free(packed);
        return 1;
    }
    memset(pixels, 0xFF, stride * HEIGHT); /* the padding keeps 0xFFFF: out of 12-bit range */
    for (int y = 0; y < HEIGHT; y++) {
        for (int x = 0; x < WIDTH; x++) {
            uint16_t sample = chest_sample(x, y);
            memcpy(pixels + (size_t)y * stride + (size_t)x * sizeof sample, &sample, sizeof sample);
            packed[(size_t)y * WIDTH + (size_t)x] = sample;
        }
    }
    afloc_image_view view = {0};
    view.struct_size = sizeof view;
    view.pixel_type = AFLOC_PIXEL_U16;
    view.channels = 1;
    view.width = WIDTH;
    view.height = HEIGHT;
    view.row_stride = stride;
    view.pixels = pixels;
    view.significant_bits = 12; /* DICOM BitsStored: 4095 is full white */
    afloc_image_view packed_view = view;
    packed_view.row_stride = row_bytes;
    packed_view.pixels = packed;
    printf("host buffer: %dx%d, 12 bits in uint16, row stride %zu bytes (row %zu + %d padding)\n",
           WIDTH, HEIGHT, stride, row_bytes, ROW_PADDING);

    /* ---- the model ---- */
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CPU; /* models run on the CPU backend in 0.1 */
    afloc_context *context = NULL;
    afloc_model *model = NULL;
    float *global = NULL, *global_packed = NULL, *local = NULL, *grid = NULL, *map = NULL;
    int rc = 1;
    if (afloc_context_create(&options, &context) != AFLOC_OK) {
        rc = fail("afloc_context_create");
        goto done;
    }
    if (afloc_model_load(context, argv[1], &model) != AFLOC_OK) {
        rc = fail("afloc_model_load");
        goto done;
    }
    afloc_model_dims dims = {0};
    dims.struct_size = sizeof dims;
    if (afloc_model_get_dims(model, &dims) != AFLOC_OK) {
        rc = fail("afloc_model_get_dims");
        goto done;
    }
    size_t d = (size_t)dims.embedding_dim, s = (size_t)dims.grid_side;
    size_t n = (size_t)WIDTH * HEIGHT;
    global = malloc(d * sizeof *global);
    global_packed = malloc(d * sizeof *global_packed);
    local = malloc(d * s * s * sizeof *local);
    grid = malloc(s * s * sizeof *grid);
    map = malloc(n * sizeof *map);
    if (!global || !global_packed || !local || !grid || !map) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }

    /* ---- 1. embeddings straight from the host's buffer ---- */
    if (afloc_model_embed_image(model, &view, global, d, local, d * s * s) != AFLOC_OK) {
        rc = fail("afloc_model_embed_image");
        goto done;
    }
    double norm = 0.0;
    for (size_t i = 0; i < d; i++) norm += (double)global[i] * (double)global[i];
    printf("global embedding: %zu floats, L2 norm %.4f, first %.5f %.5f %.5f\n", d, sqrt(norm),
           (double)global[0], (double)global[1], (double)global[2]);
    printf("local embedding: %zu x %zu x %zu floats\n", d, s, s);

    /* ---- 2. the same pixels packed: the stride must not change anything ---- */
    if (afloc_model_embed_image(model, &packed_view, global_packed, d, NULL, 0) != AFLOC_OK) {
        rc = fail("afloc_model_embed_image");
        goto done;
    }
    int same = memcmp(global, global_packed, d * sizeof *global) == 0;
    printf("packed copy: %s\n", same ? "bit-identical global embedding (stride honoured)"
                                     : "DIFFERENT global embedding");
    if (!same) goto done;

    /* ---- 3. localize on the same view ---- */
    afloc_heatmaps maps = {0};
    maps.struct_size = sizeof maps;
    maps.grid = grid;
    maps.grid_len = s * s;
    maps.original = map;
    maps.original_len = n;
    if (afloc_model_localize(model, &view, text, NULL, &maps) != AFLOC_OK) {
        rc = fail("afloc_model_localize");
        goto done;
    }
    printf("raw %zu x %zu similarity grid for \"%s\":\n", s, s, text);
    for (size_t y = 0; y < s; y++) {
        for (size_t x = 0; x < s; x++) printf(" %7.3f", (double)grid[y * s + x]);
        printf("\n");
    }
    size_t peak = argmax(map, n);
    printf("heatmap on the original %dx%d grid peaks at (%zu, %zu), value %.3f\n", WIDTH, HEIGHT,
           peak % WIDTH, peak / WIDTH, (double)map[peak]);
    rc = 0;
done:
    free(map);
    free(grid);
    free(local);
    free(global_packed);
    free(global);
    afloc_model_free(model);
    afloc_context_free(context);
    free(packed);
    free(pixels);
    return rc;
}
