/* bilinear_blend.h: the one bilinear blend of the CPU resize ops (resize.c, bilinear_sample.c):
 * along W first, then H, each as fma(p, wp, q·wq), as PyTorch's AVX2 build contracts it. fmaf is
 * exactly rounded, so every caller gets the same bits with or without the FMA instruction. */
#ifndef AFLOC_CPU_BILINEAR_BLEND_H
#define AFLOC_CPU_BILINEAR_BLEND_H

#include <math.h>
#include <stdint.h>

/* Rows row0 (weight wy0) and row1 (wy1), columns x0 (wx0) and x1 (wx1). */
static inline __attribute__((always_inline)) float afloc_bilinear_blend(
    const float *row0, const float *row1, int32_t x0, int32_t x1, float wx0, float wx1,
    float wy0, float wy1) {
    const float t0 = fmaf(row0[x0], wx0, row0[x1] * wx1);
    const float t1 = fmaf(row1[x0], wx0, row1[x1] * wx1);
    return fmaf(t0, wy0, t1 * wy1);
}

#endif /* AFLOC_CPU_BILINEAR_BLEND_H */
