/* eval_baselines.c: the text-agnostic baseline maps of `afloc eval` (see eval_baselines.h). */
#include "eval_baselines.h"

#include <math.h>
#include <string.h>

const char *const eval_baseline_name[EVAL_BASELINES] = {"random", "center", "intensity"};

/* SplitMix64's output function (Steele, Lea, Flood 2014): a good 64-bit mix of a counter. */
static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void eval_baseline_random(float *map, int32_t S, uint64_t seed, uint64_t item) {
    uint64_t base = splitmix64(splitmix64(seed) ^ item);
    for (int64_t i = 0; i < (int64_t)S * S; i++)
        map[i] = (float)((double)(splitmix64(base + (uint64_t)i) >> 11) * 0x1.0p-53);
}

void eval_baseline_center(float *map, int32_t S) {
    const double c = 0.5 * (S - 1), sigma = 0.25 * S;
    for (int32_t y = 0; y < S; y++)
        for (int32_t x = 0; x < S; x++) {
            double r2 = (x - c) * (x - c) + (y - c) * (y - c);
            map[(int64_t)y * S + x] = (float)exp(-r2 / (2.0 * sigma * sigma));
        }
}

afloc_status eval_baseline_intensity(float *map, int32_t S, const afloc_image_view *image) {
    afloc_preprocess_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_preprocess_options_default(&o);
    o.image_size = S;
    o.crop_size = S;
    return afloc_image_preprocess(image, &o, map, (size_t)S * (size_t)S, NULL);
}

int eval_cell_centres(double *centre, int32_t S, int32_t F, int32_t alignment, int32_t upsample) {
    if (alignment == AFLOC_MAP_ALIGN_REFERENCE) {
        for (int32_t u = 0; u < S; u++) centre[u] = (u + 0.5) * F / S - 0.5;
        return 0;
    }
    if ((alignment != AFLOC_MAP_ALIGN_CENTRED && alignment != AFLOC_MAP_ALIGN_CENTRED_CUBIC) ||
        upsample < 2)
        return 1;
    for (int32_t u = 0; u < S; u++) centre[u] = u * 16.0 * (F - 1) / (upsample - 1);
    return 0;
}

void eval_grid_cells(int32_t *cell_of, int32_t *cell_width, int32_t S, int32_t F,
                     const double *centre) {
    for (int32_t u = 0; u < S; u++) cell_width[u] = 0;
    for (int32_t o = 0; o < F; o++) {
        int32_t best = 0;
        for (int32_t u = 1; u < S; u++)
            if (fabs(centre[u] - o) < fabs(centre[best] - o)) best = u;
        cell_of[o] = best;
        cell_width[best]++;
    }
}

void eval_box_on_grid(float *grid, int32_t S, const uint8_t *mask, int32_t F,
                      const int32_t *cell_of, const int32_t *cell_width) {
    for (size_t c = 0; c < (size_t)S * (size_t)S; c++) grid[c] = 0.0f;
    for (int32_t y = 0; y < F; y++) /* mask pixels per cell: whole numbers, exact in float */
        for (int32_t x = 0; x < F; x++)
            if (mask[(size_t)y * (size_t)F + (size_t)x])
                grid[(size_t)cell_of[y] * (size_t)S + (size_t)cell_of[x]] += 1.0f;
    for (int32_t v = 0; v < S; v++)
        for (int32_t u = 0; u < S; u++) {
            double pixels = (double)cell_width[v] * (double)cell_width[u];
            float *g = &grid[(size_t)v * (size_t)S + (size_t)u];
            *g = pixels > 0 ? (float)((double)*g / pixels) : 0.0f;
        }
}
