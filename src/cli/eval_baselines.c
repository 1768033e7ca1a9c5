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
