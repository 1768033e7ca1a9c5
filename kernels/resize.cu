/* resize.cu: bilinear resize of NCHW images on the device, the twin of src/cpu/resize.c (and the
 * centred heatmap read-outs, the twins of src/cpu/bilinear_sample.c and bicubic_sample.c)
 * (torch.nn.functional.interpolate(mode='bilinear', antialias=False), PyTorch 1.13's CPU index
 * math for align_corners 0 and 1; see resize.c for how it was established).
 *
 * Both passes are bit-identical to the CPU twin by construction:
 *  - the per-axis tap (axis_tap) repeats the CPU's float scale, double source index and float λ
 *    with explicitly rounded intrinsics, so nvcc cannot contract a multiply-add into an FMA the CPU
 *    (ISO C11, no contraction) does not perform; the blends are the CPU's fmaf(p, wp, q·wq);
 *  - forward: one thread per output element;
 *  - backward: a GATHER, one thread per input pixel. The CPU scatters each output (oy, ox) in
 *    row-major order to its four taps in the order (i0y,i0x) (i0y,i1x) (i1y,i0x) (i1y,i1x); here
 *    the pixel (y, x) visits exactly the outputs whose taps include it, in the same row-major
 *    order, and adds the matching terms in the same order, so every += happens in the CPU's
 *    sequence. The outputs touching row y are those with i0(oy) ∈ {y−1, y}: a contiguous range,
 *    because i0 is non-decreasing in oy; it is found by binary search.
 *
 * Dimension letters: B batch, C channels, H W input side, OH OW output side. */
#include "cuda_common.cuh"

/* One output index's two source samples and weights along an axis (resize.c's axis_tap). */
struct axis_tap {
    int32_t i0, i1;
    float   w0, w1;
};

static __device__ axis_tap axis_tap_compute(int32_t o, int32_t in_size, int32_t out_size,
                                            int32_t align_corners) {
    double src;
    if (align_corners) {
        const float scale =
            out_size > 1 ? __fdiv_rn((float)(in_size - 1), (float)(out_size - 1)) : 0.0f;
        src = __dmul_rn((double)scale, (double)o);
    } else {
        const float scale = __fdiv_rn((float)in_size, (float)out_size);
        src = __dsub_rn(__dmul_rn((double)scale, __dadd_rn((double)o, 0.5)), 0.5);
        if (src < 0.0) src = 0.0;
    }
    axis_tap t;
    int32_t i0 = (int32_t)src; /* src >= 0, so truncation is floor */
    if (i0 > in_size - 1) i0 = in_size - 1;
    double lambda = __dsub_rn(src, (double)i0);
    if (lambda < 0.0) lambda = 0.0;
    if (lambda > 1.0) lambda = 1.0;
    t.i0 = i0;
    t.i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
    t.w1 = __double2float_rn(lambda);
    t.w0 = __fsub_rn(1.0f, t.w1);
    return t;
}

/* First output index o in [0, out_size) with i0(o) >= target (out_size when none): i0 is
 * non-decreasing in o. */
static __device__ int32_t first_output_at_least(int32_t target, int32_t in_size,
                                                int32_t out_size, int32_t align_corners) {
    int32_t lo = 0, hi = out_size;
    while (lo < hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        if (axis_tap_compute(mid, in_size, out_size, align_corners).i0 < target) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* ---- kernels ---- */

/* The CPU's blend of rows y0, y1 and columns x0, x1 of a plane: along W first, then H, each as
 * fma(p, wp, q·wq) with explicitly rounded intrinsics (no contraction differences). */
static __device__ float bilinear_blend(const float *plane, int32_t W, int32_t y0, int32_t y1,
                                       float wy0, float wy1, int32_t x0, int32_t x1, float wx0,
                                       float wx1) {
    const float *row0 = plane + (size_t)y0 * (size_t)W;
    const float *row1 = plane + (size_t)y1 * (size_t)W;
    const float t0 = __fmaf_rn(row0[x0], wx0, __fmul_rn(row0[x1], wx1));
    const float t1 = __fmaf_rn(row1[x0], wx0, __fmul_rn(row1[x1], wx1));
    return __fmaf_rn(t0, wy0, __fmul_rn(t1, wy1));
}

/* out (B, C, OH, OW): one thread per output element; W first, then H, as the CPU. */
static __global__ void bilinear_resize_forward_kernel(float *out, const float *in, size_t n,
                                                      int32_t H, int32_t W, int32_t OH,
                                                      int32_t OW, int32_t align_corners) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int32_t ox = (int32_t)(i % (size_t)OW);
        const int32_t oy = (int32_t)((i / (size_t)OW) % (size_t)OH);
        const size_t plane = i / ((size_t)OW * (size_t)OH);
        const float *src = in + plane * (size_t)H * (size_t)W;
        const axis_tap ty = axis_tap_compute(oy, H, OH, align_corners);
        const axis_tap tx = axis_tap_compute(ox, W, OW, align_corners);
        out[i] = bilinear_blend(src, W, ty.i0, ty.i1, ty.w0, ty.w1, tx.i0, tx.i1, tx.w0, tx.w1);
    }
}

/* dinput (B, C, H, W) += the forward's weights times dout, gathered per input pixel in the CPU's
 * order (see the top comment). Each term is (wy·wx)·g in float, added with its own rounding. */
static __global__ void bilinear_resize_backward_kernel(float *dinput, const float *dout, size_t n,
                                                       int32_t H, int32_t W, int32_t OH,
                                                       int32_t OW, int32_t align_corners) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int32_t x = (int32_t)(i % (size_t)W);
        const int32_t y = (int32_t)((i / (size_t)W) % (size_t)H);
        const size_t plane = i / ((size_t)W * (size_t)H);
        const float *g = dout + plane * (size_t)OH * (size_t)OW;
        const int32_t oy_lo = first_output_at_least(y - 1, H, OH, align_corners);
        const int32_t ox_lo = first_output_at_least(x - 1, W, OW, align_corners);
        float acc = dinput[i];
        for (int32_t oy = oy_lo; oy < OH; oy++) {
            const axis_tap ty = axis_tap_compute(oy, H, OH, align_corners);
            if (ty.i0 > y) break;
            if (ty.i0 != y && ty.i1 != y) continue; /* not reached: i0 >= y − 1 gives i1 >= y */
            const float *grow = g + (size_t)oy * (size_t)OW;
            for (int32_t ox = ox_lo; ox < OW; ox++) {
                const axis_tap tx = axis_tap_compute(ox, W, OW, align_corners);
                if (tx.i0 > x) break;
                const float v = grow[ox];
                if (ty.i0 == y && tx.i0 == x) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.w0, tx.w0), v));
                if (ty.i0 == y && tx.i1 == x) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.w0, tx.w1), v));
                if (ty.i1 == y && tx.i0 == x) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.w1, tx.w0), v));
                if (ty.i1 == y && tx.i1 == x) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.w1, tx.w1), v));
            }
        }
        dinput[i] = acc;
    }
}

/* out (B, C, OH, OW) read at (oy·step_y, ox·step_x), clamped to the border: the twin of
 * src/cpu/bilinear_sample.c (double source point, float λ, the same fmaf blends). */
struct sample_tap {
    int32_t i0, i1;
    float w0, w1;
};

static __device__ sample_tap sample_tap_compute(int32_t o, int32_t in_size, float step) {
    double src = (double)step * (double)o;
    if (src < 0.0) src = 0.0;
    if (src > (double)(in_size - 1)) src = (double)(in_size - 1);
    sample_tap t;
    t.i0 = (int32_t)src;
    t.i1 = t.i0 + (t.i0 < in_size - 1 ? 1 : 0);
    t.w1 = (float)(src - (double)t.i0);
    t.w0 = 1.0f - t.w1;
    return t;
}

static __global__ void bilinear_sample_forward_kernel(float *out, const float *in, size_t n,
                                                      int32_t H, int32_t W, int32_t OH,
                                                      int32_t OW, float step_y, float step_x) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int32_t ox = (int32_t)(i % (size_t)OW);
        const int32_t oy = (int32_t)((i / (size_t)OW) % (size_t)OH);
        const size_t plane = i / ((size_t)OW * (size_t)OH);
        const float *src = in + plane * (size_t)H * (size_t)W;
        const sample_tap ty = sample_tap_compute(oy, H, step_y);
        const sample_tap tx = sample_tap_compute(ox, W, step_x);
        out[i] = bilinear_blend(src, W, ty.i0, ty.i1, ty.w0, ty.w1, tx.i0, tx.i1, tx.w0, tx.w1);
    }
}

/* out (B, C, OH, OW) read with cubic convolution at (oy·step_y, ox·step_x), the four taps of
 * each axis clamped to the border: the twin of src/cpu/bicubic_sample.c (double source point,
 * float t, Keys' weights with A = −0.75 and the sums rounded step by step in the same order, no
 * contraction into fma, so both give the same bits). */
#define CUBIC_A (-0.75f)

/* The kernel at distance x in [0, 1]: ((A + 2)·x − (A + 3))·x·x + 1. */
static __device__ float cubic_near(float x) {
    const float slope = __fsub_rn(__fmul_rn(CUBIC_A + 2.0f, x), CUBIC_A + 3.0f);
    return __fadd_rn(__fmul_rn(__fmul_rn(slope, x), x), 1.0f);
}

/* The kernel at distance x in [1, 2]: ((A·x − 5A)·x + 8A)·x − 4A. */
static __device__ float cubic_far(float x) {
    const float inner = __fsub_rn(__fmul_rn(CUBIC_A, x), 5.0f * CUBIC_A);
    return __fsub_rn(__fmul_rn(__fadd_rn(__fmul_rn(inner, x), 8.0f * CUBIC_A), x), 4.0f * CUBIC_A);
}

static __device__ void cubic_weights(float w[4], float t) {
    w[0] = cubic_far(__fadd_rn(t, 1.0f));
    w[1] = cubic_near(t);
    w[2] = cubic_near(__fsub_rn(1.0f, t));
    w[3] = cubic_far(__fsub_rn(2.0f, t));
}

static __device__ int32_t cubic_first_tap(int32_t o, float step, float *t) {
    const double src = (double)step * (double)o;
    const double base = floor(src);
    *t = (float)(src - base);
    return (int32_t)base - 1;
}

static __device__ int32_t clamp_tap(int32_t i, int32_t size) {
    return i < 0 ? 0 : i > size - 1 ? size - 1 : i;
}

static __global__ void bicubic_sample_forward_kernel(float *out, const float *in, size_t n,
                                                     int32_t H, int32_t W, int32_t OH,
                                                     int32_t OW, float step_y, float step_x) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int32_t ox = (int32_t)(i % (size_t)OW);
        const int32_t oy = (int32_t)((i / (size_t)OW) % (size_t)OH);
        const size_t plane = i / ((size_t)OW * (size_t)OH);
        const float *src = in + plane * (size_t)H * (size_t)W;
        float ty, tx, wy[4], wx[4];
        const int32_t y0 = cubic_first_tap(oy, step_y, &ty), x0 = cubic_first_tap(ox, step_x, &tx);
        cubic_weights(wy, ty);
        cubic_weights(wx, tx);
        float acc = 0.0f;
        for (int ky = 0; ky < 4; ky++) {
            const float *row = src + (size_t)clamp_tap(y0 + ky, H) * (size_t)W;
            float line = 0.0f;
            for (int kx = 0; kx < 4; kx++)
                line = __fadd_rn(line, __fmul_rn(wx[kx], row[clamp_tap(x0 + kx, W)]));
            acc = __fadd_rn(acc, __fmul_rn(wy[ky], line));
        }
        out[i] = acc;
    }
}

/* ---- launchers ---- */

enum { RESIZE_THREADS = 256 };

static void cuda_bilinear_resize_forward(afloc_device *dev, float *out, const float *in,
                                         int32_t B, int32_t C, int32_t H, int32_t W, int32_t OH,
                                         int32_t OW, int32_t align_corners) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || OH <= 0 || OW <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)B * (size_t)C * (size_t)OH * (size_t)OW;
    bilinear_resize_forward_kernel<<<afloc_cuda_blocks(n, RESIZE_THREADS), RESIZE_THREADS, 0,
                                     dev->stream>>>(out, in, n, H, W, OH, OW, align_corners);
    AFLOC_CUDA_LAUNCHED(dev, "bilinear_resize_forward");
}

static void cuda_bilinear_resize_backward(afloc_device *dev, float *dinput, const float *dout,
                                          int32_t B, int32_t C, int32_t H, int32_t W, int32_t OH,
                                          int32_t OW, int32_t align_corners) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || OH <= 0 || OW <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)B * (size_t)C * (size_t)H * (size_t)W;
    bilinear_resize_backward_kernel<<<afloc_cuda_blocks(n, RESIZE_THREADS), RESIZE_THREADS, 0,
                                      dev->stream>>>(dinput, dout, n, H, W, OH, OW,
                                                     align_corners);
    AFLOC_CUDA_LAUNCHED(dev, "bilinear_resize_backward");
}

static void cuda_bilinear_sample_forward(afloc_device *dev, float *out, const float *in,
                                         int32_t B, int32_t C, int32_t H, int32_t W, int32_t OH,
                                         int32_t OW, float step_y, float step_x) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || OH <= 0 || OW <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)B * (size_t)C * (size_t)OH * (size_t)OW;
    bilinear_sample_forward_kernel<<<afloc_cuda_blocks(n, RESIZE_THREADS), RESIZE_THREADS, 0,
                                     dev->stream>>>(out, in, n, H, W, OH, OW, step_y, step_x);
    AFLOC_CUDA_LAUNCHED(dev, "bilinear_sample_forward");
}

static void cuda_bicubic_sample_forward(afloc_device *dev, float *out, const float *in,
                                        int32_t B, int32_t C, int32_t H, int32_t W, int32_t OH,
                                        int32_t OW, float step_y, float step_x) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || OH <= 0 || OW <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)B * (size_t)C * (size_t)OH * (size_t)OW;
    bicubic_sample_forward_kernel<<<afloc_cuda_blocks(n, RESIZE_THREADS), RESIZE_THREADS, 0,
                                    dev->stream>>>(out, in, n, H, W, OH, OW, step_y, step_x);
    AFLOC_CUDA_LAUNCHED(dev, "bicubic_sample_forward");
}

extern "C" void afloc_cuda_register_resize(afloc_device_ops *ops) {
    ops->bilinear_sample_forward = cuda_bilinear_sample_forward;
    ops->bicubic_sample_forward = cuda_bicubic_sample_forward;
    ops->bilinear_resize_forward = cuda_bilinear_resize_forward;
    ops->bilinear_resize_backward = cuda_bilinear_resize_backward;
}
