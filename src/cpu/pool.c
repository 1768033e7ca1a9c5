/* pool.c: pooling over NCHW images. Max pooling matches torch.nn.functional.max_pool2d
 * (ceil_mode false, dilation 1, implicit −∞ padding, NaN wins as in PyTorch's CPU kernel);
 * global average pooling matches torch.nn.AdaptiveAvgPool2d(1), summed here in double so the
 * result does not depend on the summation order.
 *
 * Dimension letters: B batch, C channels, H W input side, OH OW output side, K window side.
 * Each (b, c) plane is one unit of OpenMP work and is written by exactly one thread. */
#include <math.h>

#include "cpu/cpu_ops.h"

void afloc_cpu_maxpool2d_forward(float *out, const float *in, int32_t B, int32_t C, int32_t H,
                                 int32_t W, int32_t K, int32_t stride, int32_t pad) {
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    const long planes = (long)B * C;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *restrict src = in + (size_t)p * (size_t)H * (size_t)W;  /* (H, W)   */
        float *restrict dst = out + (size_t)p * (size_t)OH * (size_t)OW;      /* (OH, OW) */
        for (int32_t oy = 0; oy < OH; oy++) {
            const int32_t y0 = oy * stride - pad;
            const int32_t ya = y0 < 0 ? 0 : y0;
            const int32_t yb = y0 + K > H ? H : y0 + K;
            for (int32_t ox = 0; ox < OW; ox++) {
                const int32_t x0 = ox * stride - pad;
                const int32_t xa = x0 < 0 ? 0 : x0;
                const int32_t xb = x0 + K > W ? W : x0 + K;
                /* pad < K guarantees a non-empty window (PyTorch requires pad <= K/2). */
                float best = -INFINITY;
                for (int32_t y = ya; y < yb; y++) {
                    const float *row = src + (size_t)y * (size_t)W;
                    for (int32_t x = xa; x < xb; x++) {
                        const float v = row[x];
                        if (v > best || v != v) best = v;
                    }
                }
                dst[(size_t)oy * (size_t)OW + (size_t)ox] = best;
            }
        }
    }
}

void afloc_cpu_global_avgpool_forward(float *out, const float *in, int32_t B, int32_t C,
                                      int32_t H, int32_t W) {
    const long planes = (long)B * C;
    const size_t plane = (size_t)H * (size_t)W;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *restrict src = in + (size_t)p * plane;
        double sum = 0.0;
        for (size_t i = 0; i < plane; i++) sum += (double)src[i];
        out[p] = (float)(sum / (double)plane);
    }
}

/* ---- backward (used by the trainer, issue 4) ---- */

/* PyTorch's CPU max_pool2d_with_indices_backward: the forward records, per output, the index of
 * the window's maximum, found by scanning rows then columns from the first in-image element with
 * `v > best || isnan(v)` (best starts at −∞, index at the first in-image element): ties keep the
 * first maximum, a NaN wins and a later NaN replaces it, an all −∞ window keeps its first element.
 * The backward adds each dout to dinput at that index, outputs in row-major order. */
void afloc_cpu_maxpool2d_backward(float *dinput, const float *dout, const float *input, int32_t B,
                                  int32_t C, int32_t H, int32_t W, int32_t K, int32_t stride,
                                  int32_t pad) {
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    const long planes = (long)B * C;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *restrict src = input + (size_t)p * (size_t)H * (size_t)W;
        float *restrict dsrc = dinput + (size_t)p * (size_t)H * (size_t)W;
        const float *restrict g = dout + (size_t)p * (size_t)OH * (size_t)OW;
        for (int32_t oy = 0; oy < OH; oy++) {
            const int32_t y0 = oy * stride - pad;
            const int32_t ya = y0 < 0 ? 0 : y0;
            const int32_t yb = y0 + K > H ? H : y0 + K;
            for (int32_t ox = 0; ox < OW; ox++) {
                const int32_t x0 = ox * stride - pad;
                const int32_t xa = x0 < 0 ? 0 : x0;
                const int32_t xb = x0 + K > W ? W : x0 + K;
                size_t arg = (size_t)ya * (size_t)W + (size_t)xa;
                float best = -INFINITY;
                for (int32_t y = ya; y < yb; y++) {
                    const float *row = src + (size_t)y * (size_t)W;
                    for (int32_t x = xa; x < xb; x++) {
                        const float v = row[x];
                        if (v > best || v != v) {
                            best = v;
                            arg = (size_t)y * (size_t)W + (size_t)x;
                        }
                    }
                }
                dsrc[arg] += g[(size_t)oy * (size_t)OW + (size_t)ox];
            }
        }
    }
}

/* AdaptiveAvgPool2d(1) is computed by PyTorch as a mean over (H, W), whose backward spreads
 * dout / (H·W), divided in float. */
void afloc_cpu_global_avgpool_backward(float *dinput, const float *dout, int32_t B, int32_t C,
                                       int32_t H, int32_t W) {
    const long planes = (long)B * C;
    const size_t plane = (size_t)H * (size_t)W;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++) {
        float *restrict dst = dinput + (size_t)p * plane;
        const float g = dout[p] / (float)plane;
        for (size_t i = 0; i < plane; i++) dst[i] += g;
    }
}
