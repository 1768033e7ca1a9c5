/* bilinear_sample.c: bilinear sampling of NCHW planes on a uniform grid of source points,
 *   out[oy, ox] = in bilinearly read at (oy·step_y, ox·step_x), clamped to the input's border,
 * the same as torch.nn.functional.grid_sample(mode='bilinear', padding_mode='border',
 * align_corners=True) at those points. The heatmap read-out "centred on receptive fields"
 * (localize.c, config map_alignment 1) uses it: a layer-3 cell i sits at pixel 16·i of the
 * encoder's input, so a frame pixel p reads cell p·(upsample − 1) / (16·(crop − 1)) instead of
 * the reference's align_corners=False cell (p + 0.5)·S/crop − 0.5, which lies 15/32 of a cell
 * further towards the top left (the map drawn that much to the bottom right).
 *
 * Per axis: src = clamp(step·o, 0, in − 1) in double, i0 = ⌊src⌋, λ1 = (float)(src − i0),
 * i1 = i0 + (i0 < in − 1); the blend is resize.c's (bilinear_blend.h), so the CUDA twin
 * (kernels/resize.cu) gives the same bits. */
#include "cpu/bilinear_blend.h"
#include "cpu/cpu_ops.h"

typedef struct sample_tap {
    int32_t i0, i1;
    float w0, w1;
} sample_tap;

static sample_tap sample_tap_compute(int32_t o, int32_t in_size, float step) {
    double src = (double)step * (double)o;
    if (src < 0.0) src = 0.0;
    if (src > (double)(in_size - 1)) src = (double)(in_size - 1);
    sample_tap t;
    t.i0 = (int32_t)src; /* src >= 0, so truncation is floor */
    t.i1 = t.i0 + (t.i0 < in_size - 1 ? 1 : 0);
    t.w1 = (float)(src - (double)t.i0);
    t.w0 = 1.0f - t.w1;
    return t;
}

static void sample_plane(float *restrict dst, const float *restrict src, int32_t H, int32_t W,
                         int32_t OH, int32_t OW, float step_y, float step_x) {
    for (int32_t oy = 0; oy < OH; oy++) {
        const sample_tap ty = sample_tap_compute(oy, H, step_y);
        const float *row0 = src + (size_t)ty.i0 * (size_t)W;
        const float *row1 = src + (size_t)ty.i1 * (size_t)W;
        float *out_row = dst + (size_t)oy * (size_t)OW;
        for (int32_t ox = 0; ox < OW; ox++) {
            const sample_tap tx = sample_tap_compute(ox, W, step_x);
            out_row[ox] = afloc_bilinear_blend(row0, row1, tx.i0, tx.i1, tx.w0, tx.w1, ty.w0, ty.w1);
        }
    }
}

void afloc_cpu_bilinear_sample_forward(float *out, const float *in, int32_t B, int32_t C,
                                       int32_t H, int32_t W, int32_t OH, int32_t OW,
                                       float step_y, float step_x) {
    const long planes = (long)B * C;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++)
        sample_plane(out + (size_t)p * (size_t)OH * (size_t)OW,
                     in + (size_t)p * (size_t)H * (size_t)W, H, W, OH, OW, step_y, step_x);
}
