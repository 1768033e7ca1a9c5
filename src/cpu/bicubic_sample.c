/* bicubic_sample.c: bicubic sampling of NCHW planes on a uniform grid of source points,
 *   out[oy, ox] = in read with cubic convolution at (oy·step_y, ox·step_x),
 * the same as torch.nn.functional.grid_sample(mode='bicubic', padding_mode='border',
 * align_corners=True) at those points (Keys' kernel with A = −0.75, the four taps of each axis
 * clamped to the border). The heatmap read-out "centred, cubic" (localize.c, config
 * map_alignment 2) uses it with bilinear_sample.c's step. Why cubic: a bilinear read-out is
 * linear between cell centres, so its arg-max is always a cell centre (8 px apart on the shipped
 * model's 256-px frame) and the pointing game cannot land inside a finding smaller than a cell
 * unless a centre happens to fall in it. A cubic read-out peaks between centres, where the
 * smoothed map's maximum lies.
 *
 * Per axis: src = step·o in double, i = ⌊src⌋, t = (float)(src − i), taps i−1 .. i+2 clamped
 * to [0, in − 1]; weights and sums in float, the CUDA twin (kernels/resize.cu) computes the same
 * way. */
#include <math.h>

#include "cpu/cpu_ops.h"

#define CUBIC_A (-0.75f)

/* Keys' kernel at distance x in [0, 1] and in [1, 2] (PyTorch's cubic_convolution1/2). */
static float cubic_near(float x) { return ((CUBIC_A + 2.0f) * x - (CUBIC_A + 3.0f)) * x * x + 1.0f; }
static float cubic_far(float x) {
    return ((CUBIC_A * x - 5.0f * CUBIC_A) * x + 8.0f * CUBIC_A) * x - 4.0f * CUBIC_A;
}

/* The weights of the taps at offsets −1, 0, 1, 2 from ⌊src⌋, t = src − ⌊src⌋ (PyTorch's
 * get_cubic_upsample_coefficients). */
static void cubic_weights(float w[4], float t) {
    w[0] = cubic_far(t + 1.0f);
    w[1] = cubic_near(t);
    w[2] = cubic_near(1.0f - t);
    w[3] = cubic_far(2.0f - t);
}

typedef struct cubic_taps {
    int32_t index[4];
    float weight[4];
} cubic_taps;

static int32_t clamp_index(int64_t i, int32_t size) {
    return i < 0 ? 0 : i > size - 1 ? size - 1 : (int32_t)i;
}

static cubic_taps cubic_taps_compute(int32_t o, int32_t in_size, float step) {
    const double src = (double)step * (double)o;
    const double base = floor(src);
    cubic_taps taps;
    cubic_weights(taps.weight, (float)(src - base));
    for (int k = 0; k < 4; k++) taps.index[k] = clamp_index((int64_t)base - 1 + k, in_size);
    return taps;
}

static void sample_plane(float *restrict dst, const float *restrict src, int32_t H, int32_t W,
                         int32_t OH, int32_t OW, float step_y, float step_x) {
    for (int32_t oy = 0; oy < OH; oy++) {
        const cubic_taps ty = cubic_taps_compute(oy, H, step_y);
        float *out_row = dst + (size_t)oy * (size_t)OW;
        for (int32_t ox = 0; ox < OW; ox++) {
            const cubic_taps tx = cubic_taps_compute(ox, W, step_x);
            float acc = 0.0f;
            for (int ky = 0; ky < 4; ky++) {
                const float *row = src + (size_t)ty.index[ky] * (size_t)W;
                float line = 0.0f;
                for (int kx = 0; kx < 4; kx++) line += tx.weight[kx] * row[tx.index[kx]];
                acc += ty.weight[ky] * line;
            }
            out_row[ox] = acc;
        }
    }
}

void afloc_cpu_bicubic_sample_forward(float *out, const float *in, int32_t B, int32_t C,
                                      int32_t H, int32_t W, int32_t OH, int32_t OW,
                                      float step_y, float step_x) {
    const long planes = (long)B * C;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++)
        sample_plane(out + (size_t)p * (size_t)OH * (size_t)OW,
                     in + (size_t)p * (size_t)H * (size_t)W, H, W, OH, OW, step_y, step_x);
}
