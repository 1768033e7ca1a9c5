/* data_fixture.h: the data-side tests' fixtures: a gray 8-bit PNG of a seeded pattern, and a
 * manifest written, loaded and given its caption cache. */
#ifndef AFLOC_TEST_DATA_FIXTURE_H
#define AFLOC_TEST_DATA_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "afloc/afloc.h"
#include "captions.h"
#include "manifest.h"

/* Writes a w x h gray PNG at dir/name; the pattern depends on `seed`. Exits the test on failure
 * (nothing after it could be checked). */
static inline void fixture_write_png(const char *dir, const char *name, int w, int h, int seed) {
    unsigned char *px = malloc((size_t)w * h);
    if (!px) exit(1);
    for (int i = 0; i < w * h; i++) px[i] = (unsigned char)((i * 7 + seed * 31 + (i / w) * 3) & 0xFF);
    afloc_image_view v = {0};
    v.struct_size = sizeof v;
    v.pixel_type = AFLOC_PIXEL_U8;
    v.channels = 1;
    v.width = w;
    v.height = h;
    v.row_stride = (size_t)w;
    v.pixels = px;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (afloc_image_save_png(&v, path) != AFLOC_OK) {
        fprintf(stderr, "save %s: %s\n", path, afloc_last_error());
        exit(1);
    }
    free(px);
}

/* Writes `csv` to dir/train.csv, loads it and builds its caption cache (5 captions per image).
 * Returns 1 with *m and *c set, or 0 with both NULL (the failing step already printed). */
static inline int fixture_manifest_and_cache(const char *dir, const char *csv, afloc_manifest **m,
                                             afloc_caption_cache **c) {
    char path[512];
    snprintf(path, sizeof path, "%s/train.csv", dir);
    *m = NULL;
    *c = NULL;
    FILE *f = fopen(path, "wb");
    if (!f || fputs(csv, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 0;
    }
    if (afloc_manifest_load(path, m, NULL, "fixture") != AFLOC_OK ||
        afloc_caption_cache_build(*m, 5, c, "fixture") != AFLOC_OK) {
        fprintf(stderr, "fixture manifest %s: %s\n", path, afloc_last_error());
        afloc_manifest_free(*m);
        *m = NULL;
        return 0;
    }
    return 1;
}

#endif /* AFLOC_TEST_DATA_FIXTURE_H */
