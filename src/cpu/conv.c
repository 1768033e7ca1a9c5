/* conv.c: 2-D convolution of NCHW images, torch.nn.functional.conv2d (square kernel, groups 1,
 * dilation 1, zero padding), with the epilogue ResNet needs once BatchNorm is folded into the
 * conv (DESIGN.md §5): out = relu?(conv(in, weight) + bias + residual).
 *
 * Method: per image, im2col into scratch (C·K·K, OH·OW), then one cblas_sgemm
 *   out_b (OC, OH·OW) = weight (OC, C·K·K) · col (C·K·K, OH·OW).
 * A 1x1, stride-1, unpadded conv needs no im2col: the image itself is the (C, H·W) matrix.
 * benchmarks/bench_conv_library.c times this against oneDNN 2.6 (numbers in benchmarks/README.md):
 * oneDNN with blocked layouts is ~3x faster on ResNet-50, but needs weights pre-reordered at
 * load time, which this signature cannot express, and its bit-identity across thread counts is
 * not guaranteed. That path is conv_dnnl.c (afloc_cpu_conv2d_prepare/_run) for inference; this
 * function stays the reference (tests, training).
 * OpenBLAS splits sgemm over M and N, never over the reduction, so every output element sees
 * the same operations for any thread count; im2col and the epilogue write disjoint rows, one
 * OpenMP work unit per row.
 *
 * Dimension letters: B batch, C input channels, OC output channels, H W input side, OH OW
 * output side, K kernel side. */
#include <cblas.h>
#include <string.h>

#include "cpu/cpu_ops.h"

int32_t afloc_conv_out_size(int32_t n, int32_t k, int32_t stride, int32_t pad) {
    const int32_t span = n + 2 * pad - k;
    if (span < 0 || stride <= 0) return 0; /* no complete window: an empty output */
    return span / stride + 1;
}

static int conv_is_pointwise(int32_t K, int32_t stride, int32_t pad) {
    return K == 1 && stride == 1 && pad == 0;
}

size_t afloc_cpu_conv2d_scratch_floats(int32_t B, int32_t C, int32_t H, int32_t W, int32_t OC,
                                       int32_t K, int32_t stride, int32_t pad) {
    (void)B; /* images are processed one at a time and reuse the same columns */
    (void)OC;
    if (conv_is_pointwise(K, stride, pad)) return 0;
    const size_t OH = (size_t)afloc_conv_out_size(H, K, stride, pad);
    const size_t OW = (size_t)afloc_conv_out_size(W, K, stride, pad);
    return (size_t)C * (size_t)K * (size_t)K * OH * OW;
}

/* col (C·K·K, OH·OW): row (c, ky, kx) holds in[c][oy·stride − pad + ky][ox·stride − pad + kx],
 * zero outside the image. One OpenMP unit per row. */
static void im2col(float *restrict col, const float *restrict img, int32_t C, int32_t H,
                   int32_t W, int32_t K, int32_t stride, int32_t pad, int32_t OH, int32_t OW) {
    const long rows = (long)C * K * K;
    const size_t plane = (size_t)OH * (size_t)OW;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        const int32_t c = (int32_t)(r / ((long)K * K));
        const int32_t ky = (int32_t)(r / K % K);
        const int32_t kx = (int32_t)(r % K);
        const float *src = img + (size_t)c * (size_t)H * (size_t)W;
        float *dst = col + (size_t)r * plane;
        /* Output columns whose source x = ox·stride − pad + kx lies in [0, W): [ox_lo, ox_hi). */
        const int32_t shift = pad - kx;
        int32_t ox_lo = shift > 0 ? (shift + stride - 1) / stride : 0;
        int32_t ox_hi = W - 1 + shift < 0 ? 0 : (W - 1 + shift) / stride + 1;
        if (ox_hi > OW) ox_hi = OW;
        if (ox_lo > ox_hi) ox_lo = ox_hi;
        for (int32_t oy = 0; oy < OH; oy++) {
            float *d = dst + (size_t)oy * (size_t)OW;
            const int32_t iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= H) {
                memset(d, 0, (size_t)OW * sizeof *d);
                continue;
            }
            const float *s = src + (size_t)iy * (size_t)W;
            for (int32_t ox = 0; ox < ox_lo; ox++) d[ox] = 0.0f;
            if (stride == 1) {
                memcpy(d + ox_lo, s + (ox_lo - shift), (size_t)(ox_hi - ox_lo) * sizeof *d);
            } else {
                for (int32_t ox = ox_lo; ox < ox_hi; ox++) d[ox] = s[ox * stride - shift];
            }
            for (int32_t ox = ox_hi; ox < OW; ox++) d[ox] = 0.0f;
        }
    }
}

/* out_b (OC, plane) = relu?(out_b + bias + residual_b), in that order; one unit per channel. */
static void conv_epilogue(float *out_b, const float *bias, const float *residual_b, int32_t relu,
                          int32_t OC, size_t plane) {
#pragma omp parallel for schedule(static)
    for (int32_t oc = 0; oc < OC; oc++) {
        float *restrict o = out_b + (size_t)oc * plane;
        const float *restrict res = residual_b ? residual_b + (size_t)oc * plane : NULL;
        if (bias) {
            const float b = bias[oc];
            for (size_t i = 0; i < plane; i++) o[i] += b;
        }
        if (res)
            for (size_t i = 0; i < plane; i++) o[i] += res[i];
        if (relu)
            for (size_t i = 0; i < plane; i++) o[i] = o[i] > 0.0f ? o[i] : (o[i] != o[i] ? o[i] : 0.0f);
    }
}

void afloc_cpu_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                              const float *residual, int32_t relu, int32_t B, int32_t C, int32_t H,
                              int32_t W, int32_t OC, int32_t K, int32_t stride, int32_t pad,
                              float *scratch) {
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    const size_t plane = (size_t)OH * (size_t)OW;
    const size_t in_image = (size_t)C * (size_t)H * (size_t)W;
    const size_t out_image = (size_t)OC * plane;
    const int32_t depth = C * K * K; /* the GEMM's reduction length */
    const int pointwise = conv_is_pointwise(K, stride, pad);
    if (B <= 0 || OC <= 0 || plane == 0) return;
    for (int32_t b = 0; b < B; b++) {
        const float *img = in + (size_t)b * in_image;
        float *out_b = out + (size_t)b * out_image;
        const float *cols = img;
        if (!pointwise) {
            im2col(scratch, img, C, H, W, K, stride, pad, OH, OW);
            cols = scratch;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)plane, depth, 1.0f,
                    weight, depth, cols, (int)plane, 0.0f, out_b, (int)plane);
        if (bias || residual || relu)
            conv_epilogue(out_b, bias, residual ? residual + (size_t)b * out_image : NULL, relu,
                          OC, plane);
    }
}

/* ---- backward (used by the trainer, issue 4) ----
 * The transpose of the forward's two steps, torch.nn.grad.conv2d_weight / conv2d_input (what
 * autograd runs for F.conv2d on CPU): per image b, in increasing b,
 *   dweight (OC, C·K·K) += dout_b (OC, plane) · col_b (C·K·K, plane)ᵀ        (sgemm, beta 1)
 *   dcol (C·K·K, plane)  = weight (OC, C·K·K)ᵀ · dout_b                        (sgemm)
 *   dinput_b            += col2im(dcol)
 * One scratch buffer of C·K·K·plane floats serves both col_b and then dcol. The sgemm reductions
 * run over plane (dweight) and OC (dcol), and the batch sum is the order of the calls, so the
 * result does not depend on the OpenMP team size (for a fixed OpenBLAS thread count: see
 * cpu_ops.h). */

size_t afloc_cpu_conv2d_backward_scratch_floats(int32_t B, int32_t C, int32_t H, int32_t W,
                                                int32_t OC, int32_t K, int32_t stride,
                                                int32_t pad) {
    /* the same column matrix as the forward, reused for dcol */
    return afloc_cpu_conv2d_scratch_floats(B, C, H, W, OC, K, stride, pad);
}

/* img (C, H, W) += the columns dcol (C·K·K, OH·OW) scattered back to their source pixels. One
 * OpenMP unit per input channel c, which owns rows c·K·K .. c·K·K + K·K − 1 and plane c of img,
 * and adds them in the fixed order (ky, kx, oy, ox). */
static void col2im_add(float *restrict img, const float *restrict dcol, int32_t C, int32_t H,
                       int32_t W, int32_t K, int32_t stride, int32_t pad, int32_t OH, int32_t OW) {
    const size_t plane = (size_t)OH * (size_t)OW;
#pragma omp parallel for schedule(static)
    for (int32_t c = 0; c < C; c++) {
        float *dst = img + (size_t)c * (size_t)H * (size_t)W;
        for (int32_t ky = 0; ky < K; ky++) {
            for (int32_t kx = 0; kx < K; kx++) {
                const float *src = dcol + ((size_t)c * (size_t)K * (size_t)K +
                                           (size_t)ky * (size_t)K + (size_t)kx) * plane;
                for (int32_t oy = 0; oy < OH; oy++) {
                    const int32_t iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= H) continue;
                    float *row = dst + (size_t)iy * (size_t)W;
                    const float *s = src + (size_t)oy * (size_t)OW;
                    for (int32_t ox = 0; ox < OW; ox++) {
                        const int32_t ix = ox * stride - pad + kx;
                        if (ix >= 0 && ix < W) row[ix] += s[ox];
                    }
                }
            }
        }
    }
}

void afloc_cpu_conv2d_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                               const float *input, const float *weight, int32_t B, int32_t C,
                               int32_t H, int32_t W, int32_t OC, int32_t K, int32_t stride,
                               int32_t pad, float *scratch) {
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    const size_t plane = (size_t)OH * (size_t)OW;
    const size_t in_image = (size_t)C * (size_t)H * (size_t)W;
    const size_t out_image = (size_t)OC * plane;
    const int32_t depth = C * K * K;
    const int pointwise = conv_is_pointwise(K, stride, pad);
    if (B <= 0 || OC <= 0 || C <= 0 || plane == 0) return;
    if (dbias) {
        /* One unit per channel; its B·plane terms summed in double, b then position. */
#pragma omp parallel for schedule(static)
        for (int32_t oc = 0; oc < OC; oc++) {
            double sum = 0.0;
            for (int32_t b = 0; b < B; b++) {
                const float *g = dout + (size_t)b * out_image + (size_t)oc * plane;
                for (size_t i = 0; i < plane; i++) sum += (double)g[i];
            }
            dbias[oc] += (float)sum;
        }
    }
    for (int32_t b = 0; b < B; b++) {
        const float *img = input + (size_t)b * in_image;
        const float *dout_b = dout + (size_t)b * out_image;
        const float *cols = img;
        if (!pointwise) {
            im2col(scratch, img, C, H, W, K, stride, pad, OH, OW);
            cols = scratch;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, depth, (int)plane, 1.0f, dout_b,
                    (int)plane, cols, (int)plane, 1.0f, dweight, depth);
        if (!dinput) continue;
        float *dimg = dinput + (size_t)b * in_image;
        if (pointwise) {
            /* the image is its own column matrix: accumulate straight into it */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, depth, (int)plane, OC, 1.0f,
                        weight, depth, dout_b, (int)plane, 1.0f, dimg, (int)plane);
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, depth, (int)plane, OC, 1.0f,
                        weight, depth, dout_b, (int)plane, 0.0f, scratch, (int)plane);
            col2im_add(dimg, scratch, C, H, W, K, stride, pad, OH, OW);
        }
    }
}
