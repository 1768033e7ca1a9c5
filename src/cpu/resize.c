/* resize.c: bilinear resize of NCHW images, torch.nn.functional.interpolate(mode='bilinear',
 * antialias=False) on CPU, float32. MODEL.md §3.1 (224→299, align_corners=True) and §8.3
 * (19→224, align_corners=False).
 *
 * The source coordinate of every output index follows PyTorch 1.13's CPU steps
 * (area_pixel_compute_scale, area_pixel_compute_source_index, compute_source_index_and_lambda),
 * because the last bit of λ decides the last bit of the output. The scale is a float32, but the
 * source index and λ are computed in double (the CPU accscalar_t of float) and λ is then rounded
 * to float. This was established against torch 1.13.1 by extracting its weights with one-hot
 * inputs: float32 products (what MODEL.md §3.1 says) miss λ by up to 1.5e-5 (at 224→299, output
 * 298 has λ 0.9999945 from source 222, not 0 from source 223); double products match all of them.
 *   align_corners 1: scale = (float)(in − 1) / (float)(out − 1) (0 when out == 1); src = scale·o
 *   align_corners 0: scale = (float)in / (float)out; src = max(scale·(o + 0.5) − 0.5, 0)
 *   i0 = min(⌊src⌋, in − 1), λ1 = (float)clamp(src − i0, 0, 1), λ0 = 1 − λ1,
 *   i1 = i0 + (i0 < in − 1).
 * The value is interpolated along W first, then H, as PyTorch's 2-D Interpolate does:
 *   t0 = a·λx0 + b·λx1 (row i0), t1 = c·λx0 + d·λx1 (row i1), out = t0·λy0 + t1·λy1,
 * each blend as fma(p, wp, q·wq) (resize_plane below).
 *
 * Dimension letters: B batch, C channels, H W input side, OH OW output side. */
#include <math.h>

#include "cpu/bilinear_blend.h"
#include "cpu/cpu_ops.h"

/* One output index's two source samples and weights along an axis. */
typedef struct axis_tap {
    int32_t i0, i1;
    float w0, w1;
} axis_tap;

static axis_tap axis_tap_compute(int32_t o, int32_t in_size, int32_t out_size,
                                 int32_t align_corners) {
    double src; /* PyTorch's accscalar_t for float on CPU is double */
    if (align_corners) {
        const float scale = out_size > 1 ? (float)(in_size - 1) / (float)(out_size - 1) : 0.0f;
        src = (double)scale * (double)o;
    } else {
        const float scale = (float)in_size / (float)out_size;
        src = (double)scale * ((double)o + 0.5) - 0.5;
        if (src < 0.0) src = 0.0;
    }
    axis_tap t;
    int32_t i0 = (int32_t)src; /* src >= 0, so truncation is floor */
    if (i0 > in_size - 1) i0 = in_size - 1;
    double lambda = src - (double)i0;
    if (lambda < 0.0) lambda = 0.0;
    if (lambda > 1.0) lambda = 1.0;
    t.i0 = i0;
    t.i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
    t.w1 = (float)lambda;
    t.w0 = 1.0f - t.w1;
    return t;
}

/* Output widths up to this use a stack table of horizontal taps; wider ones recompute per row. */
enum { RESIZE_TAP_TABLE = 1024 };

/* One (H, W) plane. The blend p·wp + q·wq is evaluated as PyTorch's AVX2 build does (GCC
 * contracts it into fma(p, wp, q·wq)); measured bit-identical to torch 1.13.1 on NCHW inputs with
 * C > 1. fmaf is exactly rounded, so the FMA-instruction clone below and the libm fallback give
 * the same bits. (For C == 1, PyTorch dispatches to its channels-last kernel, whose 4-term sum we
 * do not reproduce bit for bit: within 1 ulp, see tests/ops/test_resize.c.) */
static inline __attribute__((always_inline)) void resize_plane(float *restrict dst,
                                                               const float *restrict src,
                                                               int32_t H, int32_t W, int32_t OH,
                                                               int32_t OW, int32_t align_corners) {
    axis_tap table[RESIZE_TAP_TABLE];
    const int32_t tabled = OW <= RESIZE_TAP_TABLE;
    if (tabled)
        for (int32_t ox = 0; ox < OW; ox++) table[ox] = axis_tap_compute(ox, W, OW, align_corners);
    for (int32_t oy = 0; oy < OH; oy++) {
        const axis_tap ty = axis_tap_compute(oy, H, OH, align_corners);
        const float *row0 = src + (size_t)ty.i0 * (size_t)W;
        const float *row1 = src + (size_t)ty.i1 * (size_t)W;
        float *out_row = dst + (size_t)oy * (size_t)OW;
        for (int32_t ox = 0; ox < OW; ox++) {
            const axis_tap tx = tabled ? table[ox] : axis_tap_compute(ox, W, OW, align_corners);
            out_row[ox] = afloc_bilinear_blend(row0, row1, tx.i0, tx.i1, tx.w0, tx.w1, ty.w0, ty.w1);
        }
    }
}

/* The same plane with fmaf compiled to the FMA instruction (x86-64 CPUs since 2013). */
__attribute__((target("fma"))) static void resize_plane_fma(float *restrict dst,
                                                            const float *restrict src, int32_t H,
                                                            int32_t W, int32_t OH, int32_t OW,
                                                            int32_t align_corners) {
    resize_plane(dst, src, H, W, OH, OW, align_corners);
}

static void resize_plane_portable(float *restrict dst, const float *restrict src, int32_t H,
                                  int32_t W, int32_t OH, int32_t OW, int32_t align_corners) {
    resize_plane(dst, src, H, W, OH, OW, align_corners);
}

void afloc_cpu_bilinear_resize_forward(float *out, const float *in, int32_t B, int32_t C,
                                       int32_t H, int32_t W, int32_t OH, int32_t OW,
                                       int32_t align_corners) {
    const long planes = (long)B * C;
    const int fma = __builtin_cpu_supports("fma");
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++)
        (fma ? resize_plane_fma : resize_plane_portable)(out + (size_t)p * (size_t)OH * (size_t)OW,
                     in + (size_t)p * (size_t)H * (size_t)W, H, W, OH, OW, align_corners);
}

/* ---- backward (used by the trainer, issue 4) ----
 * PyTorch's CPU upsample_bilinear2d_backward: for every output (oy, ox) of a plane, in row-major
 * order, its gradient g is added to the four source pixels with the forward's weights (the same
 * axis_tap, so the same λ bits): (i0y, i0x) += λy0·λx0·g, (i0y, i1x) += λy0·λx1·g,
 * (i1y, i0x) += λy1·λx0·g, (i1y, i1x) += λy1·λx1·g, each product evaluated left to right in float.
 * One OpenMP unit per (b, c) plane, which owns its dinput plane. */
static void resize_backward_plane(float *restrict dst, const float *restrict g, int32_t H,
                                  int32_t W, int32_t OH, int32_t OW, int32_t align_corners) {
    axis_tap table[RESIZE_TAP_TABLE];
    const int32_t tabled = OW <= RESIZE_TAP_TABLE;
    if (tabled)
        for (int32_t ox = 0; ox < OW; ox++) table[ox] = axis_tap_compute(ox, W, OW, align_corners);
    for (int32_t oy = 0; oy < OH; oy++) {
        const axis_tap ty = axis_tap_compute(oy, H, OH, align_corners);
        float *row0 = dst + (size_t)ty.i0 * (size_t)W;
        float *row1 = dst + (size_t)ty.i1 * (size_t)W;
        const float *grow = g + (size_t)oy * (size_t)OW;
        for (int32_t ox = 0; ox < OW; ox++) {
            const axis_tap tx = tabled ? table[ox] : axis_tap_compute(ox, W, OW, align_corners);
            const float v = grow[ox];
            row0[tx.i0] += ty.w0 * tx.w0 * v;
            row0[tx.i1] += ty.w0 * tx.w1 * v;
            row1[tx.i0] += ty.w1 * tx.w0 * v;
            row1[tx.i1] += ty.w1 * tx.w1 * v;
        }
    }
}

void afloc_cpu_bilinear_resize_backward(float *dinput, const float *dout, int32_t B, int32_t C,
                                        int32_t H, int32_t W, int32_t OH, int32_t OW,
                                        int32_t align_corners) {
    const long planes = (long)B * C;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++)
        resize_backward_plane(dinput + (size_t)p * (size_t)H * (size_t)W,
                              dout + (size_t)p * (size_t)OH * (size_t)OW, H, W, OH, OW,
                              align_corners);
}
