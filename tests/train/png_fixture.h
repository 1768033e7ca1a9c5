/* png_fixture.h: a gray 8-bit PNG of a seeded pattern, for the data-side tests of the trainer. */
#ifndef AFLOC_TEST_PNG_FIXTURE_H
#define AFLOC_TEST_PNG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "afloc/afloc.h"

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

#endif /* AFLOC_TEST_PNG_FIXTURE_H */
