/* synth_common.c: the pieces every synthetic modality shares (issue 5): per-case seeding,
 * the deterministic numeric helpers (uniform doubles, the counter hash, value noise) and the
 * drawing helpers. Arithmetic only: no libm call whose last bit could differ between
 * machines. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "synth.h"

/* No fused multiply-add: GCC in ISO C mode (-std=c11) already contracts nothing; clang needs
 * the pragma. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

void afloc_synth_case_rng(afloc_rng *rng, uint64_t seed, uint64_t salt, int32_t split,
                          int32_t index) {
    /* The stream packs (split, index); the salt keeps modalities apart for one seed. */
    uint64_t stream = ((uint64_t)(uint32_t)split << 32) | (uint64_t)(uint32_t)index;
    afloc_rng_seed(rng, seed ^ salt, stream);
}

afloc_status afloc_synth_case_make(const afloc_synth_modality *modality, uint64_t seed,
                                   int32_t split, int32_t index, int32_t size,
                                   afloc_synth_case *out, const char *function) {
    memset(out, 0, sizeof *out);
    afloc_rng rng;
    afloc_synth_case_rng(&rng, seed, modality->seed_salt, split, index);
    out->seed = afloc_rng_next(&rng);
    out->split = split;
    out->index = index;
    return modality->plan(out, &rng, size, function);
}

double afloc_synth_uniform(afloc_rng *rng, double lo, double hi) {
    double unit = (double)(afloc_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
    return lo + (hi - lo) * unit;
}

uint64_t afloc_synth_hash(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t z = seed ^ (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double hash_unit(uint64_t seed, int64_t a, int64_t b) {
    return (double)(afloc_synth_hash(seed, (uint64_t)a, (uint64_t)b) >> 11) *
           (1.0 / 9007199254740992.0);
}

double afloc_synth_value_noise(uint64_t seed, double u, double v, double cells) {
    double x = u * cells, y = v * cells;
    double fx0 = (double)(int64_t)x, fy0 = (double)(int64_t)y; /* trunc; fixed below for < 0 */
    if (fx0 > x) fx0 -= 1.0;
    if (fy0 > y) fy0 -= 1.0;
    int64_t ix = (int64_t)fx0, iy = (int64_t)fy0;
    double tx = x - fx0, ty = y - fy0;
    tx = tx * tx * (3.0 - 2.0 * tx);
    ty = ty * ty * (3.0 - 2.0 * ty);
    double a = hash_unit(seed, ix, iy), b = hash_unit(seed, ix + 1, iy);
    double c = hash_unit(seed, ix, iy + 1), d = hash_unit(seed, ix + 1, iy + 1);
    double top = a + (b - a) * tx, bottom = c + (d - c) * tx;
    return top + (bottom - top) * ty;
}

void afloc_synth_random_direction(afloc_rng *rng, double *c, double *s) {
    for (;;) {
        double x = afloc_synth_uniform(rng, -1.0, 1.0), y = afloc_synth_uniform(rng, -1.0, 1.0);
        double r2 = x * x + y * y;
        if (r2 < 1e-4 || r2 > 1.0) continue; /* outside the disc or too short to normalise */
        double r = sqrt(r2);
        *c = x / r;
        *s = y / r;
        return;
    }
}

int32_t afloc_synth_draw_category(afloc_rng *rng, const double *weight, const int *used,
                                  int32_t count) {
    double total = 0.0;
    for (int32_t i = 0; i < count; i++)
        if (!used[i]) total += weight[i];
    double r = afloc_synth_uniform(rng, 0.0, total);
    for (int32_t i = 0; i < count; i++) {
        if (used[i]) continue;
        if (r < weight[i]) return i;
        r -= weight[i];
    }
    for (int32_t i = count - 1; i >= 0; i--)
        if (!used[i]) return i;
    return 0;
}

void afloc_synth_rgb_quantize(uint64_t seed, double gain, double noise_amp, const double *rgb,
                              int32_t size, int keep_black, uint8_t *out) {
    for (int32_t y = 0; y < size; y++) {
        for (int32_t x = 0; x < size; x++) {
            size_t i = (size_t)y * (size_t)size + (size_t)x;
            uint64_t h = afloc_synth_hash(seed, (uint64_t)x, (uint64_t)y);
            int black = keep_black && rgb[3 * i] == 0.0 && rgb[3 * i + 1] == 0.0 && rgb[3 * i + 2] == 0.0;
            for (int ch = 0; ch < 3; ch++) {
                double noise = (double)((h >> (21 * ch)) & 0x1FFFFFu) * (1.0 / 2097152.0) - 0.5;
                double val = black ? 0.0 : gain * rgb[3 * i + (size_t)ch] + noise_amp * noise;
                out[3 * i + (size_t)ch] = (uint8_t)(afloc_synth_clamp01(val) * 255.0 + 0.5);
            }
        }
    }
}
