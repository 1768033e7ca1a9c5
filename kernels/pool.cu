/* pool.cu: pooling over NCHW images on the device, the twins of src/cpu/pool.c. Max pooling
 * matches torch.nn.functional.max_pool2d (ceil_mode false, dilation 1, implicit −∞ padding, NaN
 * wins as in PyTorch's CPU kernel); global average pooling matches torch.nn.AdaptiveAvgPool2d(1),
 * summed in double.
 *
 * Every result is bit-identical to the CPU twin except the average pool's forward, whose double sum
 * runs as a tree here and left to right there (same float after rounding but for ~1e-16 ties):
 *  - max pool forward: one thread per output, same window scan, same comparison;
 *  - max pool backward: a GATHER, one thread per input pixel, which walks the windows that contain
 *    it in row-major output order (the CPU's scatter order) and adds the douts of those whose argmax
 *    it is; the argmax is recomputed with the CPU's scan, so ties and NaNs pick the same pixel, and
 *    no atomics are needed;
 *  - average pool backward: one thread per input element, dout / (H·W) divided in float.
 *
 * Dimension letters: B batch, C channels, H W input side, OH OW output side, K window side. */
#include "cuda_common.cuh"

/* ---- kernels ---- */

/* Row-major index (within the plane) of the maximum of window (oy, ox), chosen as the CPU does:
 * scan rows then columns of the in-image part of the window, starting from its first element with
 * best = −∞, replacing on `v > best || v != v`; the value goes to *best_out. */
static __device__ int32_t window_argmax(const float *src, int32_t H, int32_t W, int32_t K,
                                        int32_t stride, int32_t pad, int32_t oy, int32_t ox,
                                        float *best_out) {
    const int32_t y0 = oy * stride - pad;
    const int32_t ya = y0 < 0 ? 0 : y0;
    const int32_t yb = y0 + K > H ? H : y0 + K;
    const int32_t x0 = ox * stride - pad;
    const int32_t xa = x0 < 0 ? 0 : x0;
    const int32_t xb = x0 + K > W ? W : x0 + K;
    int32_t arg = ya * W + xa;
    float best = -INFINITY;
    for (int32_t y = ya; y < yb; y++) {
        for (int32_t x = xa; x < xb; x++) {
            const float v = src[y * W + x];
            if (v > best || v != v) {
                best = v;
                arg = y * W + x;
            }
        }
    }
    *best_out = best;
    return arg;
}

/* out (B, C, OH, OW): one thread per output element. Plane sizes are int32 (H·W < 2^31). */
static __global__ void maxpool2d_forward_kernel(float *out, const float *in, size_t n, int32_t H,
                                                int32_t W, int32_t OH, int32_t OW, int32_t K,
                                                int32_t stride, int32_t pad) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int32_t ox = (int32_t)(i % (size_t)OW);
        const int32_t oy = (int32_t)((i / (size_t)OW) % (size_t)OH);
        const size_t plane = i / ((size_t)OW * (size_t)OH);
        const float *src = in + plane * (size_t)H * (size_t)W;
        float best;
        (void)window_argmax(src, H, W, K, stride, pad, oy, ox, &best);
        out[i] = best;
    }
}

/* dinput (B, C, H, W) += Σ dout over the windows whose argmax is this pixel: one thread per input
 * pixel. The windows containing row y are oy with oy·stride − pad <= y <= oy·stride − pad + K − 1,
 * i.e. ⌈(y + pad − K + 1) / stride⌉ <= oy <= ⌊(y + pad) / stride⌋, clipped to 0..OH−1 (empty when
 * stride > K leaves the pixel uncovered); the same for columns. They are visited oy-major, ox
 * within, which is the order the CPU adds them in. */
static __global__ void maxpool2d_backward_kernel(float *dinput, const float *dout,
                                                 const float *input, size_t n, int32_t H,
                                                 int32_t W, int32_t OH, int32_t OW, int32_t K,
                                                 int32_t stride, int32_t pad) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int32_t x = (int32_t)(i % (size_t)W);
        const int32_t y = (int32_t)((i / (size_t)W) % (size_t)H);
        const size_t plane = i / ((size_t)W * (size_t)H);
        const float *src = input + plane * (size_t)H * (size_t)W;
        const float *g = dout + plane * (size_t)OH * (size_t)OW;
        const int32_t me = y * W + x;

        const int32_t ny = y + pad - K + 1;
        const int32_t oy_lo = ny <= 0 ? 0 : (ny + stride - 1) / stride;
        const int32_t oy_hi = (y + pad) / stride < OH - 1 ? (y + pad) / stride : OH - 1;
        const int32_t nx = x + pad - K + 1;
        const int32_t ox_lo = nx <= 0 ? 0 : (nx + stride - 1) / stride;
        const int32_t ox_hi = (x + pad) / stride < OW - 1 ? (x + pad) / stride : OW - 1;

        float acc = dinput[i];
        for (int32_t oy = oy_lo; oy <= oy_hi; oy++) {
            for (int32_t ox = ox_lo; ox <= ox_hi; ox++) {
                float best;
                if (window_argmax(src, H, W, K, stride, pad, oy, ox, &best) == me)
                    acc = __fadd_rn(acc, g[(size_t)oy * (size_t)OW + (size_t)ox]);
            }
        }
        dinput[i] = acc;
    }
}

/* Threads per block of the average pool's per-plane reduction (a power of two). */
enum { AVGPOOL_THREADS = 256 };

/* out (B·C) = mean of each (H, W) plane: one block per plane (grid-stride over planes), each
 * thread sums a strided slice in double, then a fixed-shape tree in shared memory. */
static __global__ void global_avgpool_forward_kernel(float *out, const float *in, size_t planes,
                                                     size_t plane) {
    __shared__ double partial[AVGPOOL_THREADS];
    for (size_t p = blockIdx.x; p < planes; p += gridDim.x) {
        const float *src = in + p * plane;
        double sum = 0.0;
        for (size_t i = threadIdx.x; i < plane; i += AVGPOOL_THREADS) sum += (double)src[i];
        partial[threadIdx.x] = sum;
        __syncthreads();
        for (unsigned half = AVGPOOL_THREADS / 2; half > 0; half /= 2) {
            if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
            __syncthreads();
        }
        if (threadIdx.x == 0) out[p] = (float)(partial[0] / (double)plane);
        __syncthreads(); /* partial[0] is read before the next plane overwrites it */
    }
}

/* dinput (B, C, H, W) += dout (B·C) / (H·W), the quotient in float as on the CPU. */
static __global__ void global_avgpool_backward_kernel(float *dinput, const float *dout, size_t n,
                                                      size_t plane) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float g = __fdiv_rn(dout[i / plane], (float)plane);
        dinput[i] = __fadd_rn(dinput[i], g);
    }
}

/* ---- launchers ---- */

enum { POOL_THREADS = 256 };

static void cuda_maxpool2d_forward(afloc_device *dev, float *out, const float *in, int32_t B,
                                   int32_t C, int32_t H, int32_t W, int32_t K, int32_t stride,
                                   int32_t pad) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || K <= 0 || stride <= 0) return;
    const int32_t OH = afloc_cuda_out_size(H, K, stride, pad);
    const int32_t OW = afloc_cuda_out_size(W, K, stride, pad);
    if (OH <= 0 || OW <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)B * (size_t)C * (size_t)OH * (size_t)OW;
    maxpool2d_forward_kernel<<<afloc_cuda_blocks(n, POOL_THREADS), POOL_THREADS, 0,
                               dev->stream>>>(out, in, n, H, W, OH, OW, K, stride, pad);
    AFLOC_CUDA_LAUNCHED(dev, "maxpool2d_forward");
}

static void cuda_maxpool2d_backward(afloc_device *dev, float *dinput, const float *dout,
                                    const float *input, int32_t B, int32_t C, int32_t H,
                                    int32_t W, int32_t K, int32_t stride, int32_t pad) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || K <= 0 || stride <= 0) return;
    const int32_t OH = afloc_cuda_out_size(H, K, stride, pad);
    const int32_t OW = afloc_cuda_out_size(W, K, stride, pad);
    if (OH <= 0 || OW <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)B * (size_t)C * (size_t)H * (size_t)W;
    maxpool2d_backward_kernel<<<afloc_cuda_blocks(n, POOL_THREADS), POOL_THREADS, 0,
                                dev->stream>>>(dinput, dout, input, n, H, W, OH, OW, K, stride,
                                               pad);
    AFLOC_CUDA_LAUNCHED(dev, "maxpool2d_backward");
}

static void cuda_global_avgpool_forward(afloc_device *dev, float *out, const float *in, int32_t B,
                                        int32_t C, int32_t H, int32_t W) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0) return;
    afloc_device_scope scope(dev);
    const size_t planes = (size_t)B * (size_t)C;
    const size_t plane = (size_t)H * (size_t)W;
    const unsigned grid = planes < 65535u * 8u ? (unsigned)planes : 65535u * 8u;
    global_avgpool_forward_kernel<<<grid, AVGPOOL_THREADS, 0, dev->stream>>>(out, in, planes,
                                                                             plane);
    AFLOC_CUDA_LAUNCHED(dev, "global_avgpool_forward");
}

static void cuda_global_avgpool_backward(afloc_device *dev, float *dinput, const float *dout,
                                         int32_t B, int32_t C, int32_t H, int32_t W) {
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0) return;
    afloc_device_scope scope(dev);
    const size_t plane = (size_t)H * (size_t)W;
    const size_t n = (size_t)B * (size_t)C * plane;
    global_avgpool_backward_kernel<<<afloc_cuda_blocks(n, POOL_THREADS), POOL_THREADS, 0,
                                     dev->stream>>>(dinput, dout, n, plane);
    AFLOC_CUDA_LAUNCHED(dev, "global_avgpool_backward");
}

extern "C" void afloc_cuda_register_pool(afloc_device_ops *ops) {
    ops->maxpool2d_forward = cuda_maxpool2d_forward;
    ops->maxpool2d_backward = cuda_maxpool2d_backward;
    ops->global_avgpool_forward = cuda_global_avgpool_forward;
    ops->global_avgpool_backward = cuda_global_avgpool_backward;
}
