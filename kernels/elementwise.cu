/* elementwise.cu: the CUDA twins of src/cpu/activation.c and src/cpu/dropout.c: exact GELU
 * (torch.nn.functional.gelu, approximate='none') and its derivative, ReLU (torch.relu) and
 * threshold_backward, addition, and inverted dropout with the CPU's counter-based mask.
 *
 * Every output element depends only on the same element of the inputs, so one grid-stride loop
 * per op covers any n. Rounding: nvcc contracts a·b + c into an FMA by default, the CPU build
 * (ISO C11) never does, so every product that feeds a sum is written with __fmul_rn/__fadd_rn
 * and each op rounds exactly where its CPU twin does. ReLU, addition and dropout are then
 * bit-identical to the CPU (measured on the H200), except that a NaN through ReLU may come out
 * with other payload bits (PTX keeps no NaN payloads); GELU differs only by the device's
 * erff/expf (CUDA math guide: 2 ulp each) against glibc's: 1.5e-7 scale-relative at most.
 *
 * The dropout mask is bit-identical to afloc_cpu_dropout_mask: element i hashes the counter
 * offset + i + 1 (splitmix64's Weyl step and finaliser over the mixed seed), and the top 24 bits
 * of the hash give u in [0, 1) exactly; the element is dropped when u < p.
 *
 * Dimension letters: n element count. */
#include "cuda_common.cuh"

/* Threads per block of the grid-stride loops (any multiple of 32 works; these ops are bound by
 * memory bandwidth, not by the block size). */
enum { ELEMENTWISE_THREADS = 256 };

/* As activation.c: 1/√2 and 1/√(2π) as float constants. */
#define GELU_SQRT1_2 0.70710678118654752440f
#define GELU_INV_SQRT_2PI 0.39894228040143267794f

#define DROPOUT_GOLDEN_GAMMA 0x9E3779B97F4A7C15ULL

/* ---- kernels ---- */

static __global__ void gelu_forward_kernel(float *out, const float *in, size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float x = in[i];
        /* 0.5f * x * (1 + erf(x/√2)), left to right as the CPU evaluates it */
        const float cdf2 = __fadd_rn(1.0f, erff(__fmul_rn(x, GELU_SQRT1_2)));
        out[i] = __fmul_rn(__fmul_rn(0.5f, x), cdf2);
    }
}

static __global__ void gelu_backward_kernel(float *dinput, const float *dout, const float *input,
                                            size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float x = input[i];
        const float cdf = __fmul_rn(0.5f, __fadd_rn(1.0f, erff(__fmul_rn(x, GELU_SQRT1_2))));
        const float pdf = __fmul_rn(expf(__fmul_rn(__fmul_rn(-0.5f, x), x)), GELU_INV_SQRT_2PI);
        const float slope = __fadd_rn(cdf, __fmul_rn(x, pdf));
        dinput[i] = __fadd_rn(dinput[i], __fmul_rn(dout[i], slope));
    }
}

static __global__ void relu_forward_kernel(float *out, const float *in, size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float x = in[i];
        out[i] = x > 0.0f ? x : (x != x ? x : 0.0f); /* NaN stays NaN, as torch.relu */
    }
}

/* threshold_backward(dout, output, 0): passes unless output <= 0 (so NaN outputs pass). */
static __global__ void relu_backward_kernel(float *dinput, const float *dout, const float *output,
                                            size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        if (!(output[i] <= 0.0f)) dinput[i] = __fadd_rn(dinput[i], dout[i]);
}

static __global__ void add_forward_kernel(float *out, const float *a, const float *b, size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = __fadd_rn(a[i], b[i]);
}

/* splitmix64's finaliser, as dropout.c's mix64 (the same code runs on the host for the key). */
static __host__ __device__ uint64_t dropout_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static __global__ void dropout_mask_kernel(float *mask, size_t n, float p, float scale,
                                           uint64_t key, uint64_t offset) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const uint64_t h = dropout_mix64(key + (offset + (uint64_t)i + 1u) * DROPOUT_GOLDEN_GAMMA);
        const float u = __fmul_rn((float)(h >> 40), 1.0f / 16777216.0f); /* exact: 24 bits */
        mask[i] = u < p ? 0.0f : scale;
    }
}

static __global__ void fill_kernel(float *out, float value, size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = value;
}

static __global__ void dropout_forward_kernel(float *out, const float *in, const float *mask,
                                              size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = __fmul_rn(in[i], mask[i]);
}

static __global__ void dropout_backward_kernel(float *dinput, const float *dout, const float *mask,
                                               size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        dinput[i] = __fadd_rn(dinput[i], __fmul_rn(dout[i], mask[i]));
}

/* ---- launchers ---- */

static void cuda_gelu_forward(afloc_device *dev, float *out, const float *in, size_t n) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    gelu_forward_kernel<<<afloc_cuda_blocks(n, ELEMENTWISE_THREADS), ELEMENTWISE_THREADS, 0,
                          dev->stream>>>(out, in, n);
    AFLOC_CUDA_LAUNCHED(dev, "gelu_forward");
}

static void cuda_gelu_backward(afloc_device *dev, float *dinput, const float *dout,
                               const float *input, size_t n) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    gelu_backward_kernel<<<afloc_cuda_blocks(n, ELEMENTWISE_THREADS), ELEMENTWISE_THREADS, 0,
                           dev->stream>>>(dinput, dout, input, n);
    AFLOC_CUDA_LAUNCHED(dev, "gelu_backward");
}

static void cuda_relu_forward(afloc_device *dev, float *out, const float *in, size_t n) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    relu_forward_kernel<<<afloc_cuda_blocks(n, ELEMENTWISE_THREADS), ELEMENTWISE_THREADS, 0,
                          dev->stream>>>(out, in, n);
    AFLOC_CUDA_LAUNCHED(dev, "relu_forward");
}

static void cuda_relu_backward(afloc_device *dev, float *dinput, const float *dout,
                               const float *output, size_t n) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    relu_backward_kernel<<<afloc_cuda_blocks(n, ELEMENTWISE_THREADS), ELEMENTWISE_THREADS, 0,
                           dev->stream>>>(dinput, dout, output, n);
    AFLOC_CUDA_LAUNCHED(dev, "relu_backward");
}

static void cuda_add_forward(afloc_device *dev, float *out, const float *a, const float *b,
                             size_t n) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    add_forward_kernel<<<afloc_cuda_blocks(n, ELEMENTWISE_THREADS), ELEMENTWISE_THREADS, 0,
                         dev->stream>>>(out, a, b, n);
    AFLOC_CUDA_LAUNCHED(dev, "add_forward");
}

/* The scalars (keep-all / drop-all cases, the scale 1/(1−p) in double, the mixed seed) are
 * computed here on the host with exactly the CPU's expressions. */
static void cuda_dropout_mask(afloc_device *dev, float *mask, size_t n, float p, uint64_t seed,
                              uint64_t offset) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    const unsigned blocks = afloc_cuda_blocks(n, ELEMENTWISE_THREADS);
    if (!(p > 0.0f) || p >= 1.0f) { /* NaN counts as 0: keep everything */
        const float value = p >= 1.0f ? 0.0f : 1.0f;
        fill_kernel<<<blocks, ELEMENTWISE_THREADS, 0, dev->stream>>>(mask, value, n);
        AFLOC_CUDA_LAUNCHED(dev, "dropout_mask");
        return;
    }
    const float scale = (float)(1.0 / (1.0 - (double)p));
    const uint64_t key = dropout_mix64(seed);
    dropout_mask_kernel<<<blocks, ELEMENTWISE_THREADS, 0, dev->stream>>>(mask, n, p, scale, key,
                                                                          offset);
    AFLOC_CUDA_LAUNCHED(dev, "dropout_mask");
}

static void cuda_dropout_forward(afloc_device *dev, float *out, const float *in,
                                 const float *mask, size_t n) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    dropout_forward_kernel<<<afloc_cuda_blocks(n, ELEMENTWISE_THREADS), ELEMENTWISE_THREADS, 0,
                             dev->stream>>>(out, in, mask, n);
    AFLOC_CUDA_LAUNCHED(dev, "dropout_forward");
}

static void cuda_dropout_backward(afloc_device *dev, float *dinput, const float *dout,
                                  const float *mask, size_t n) {
    if (n == 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    dropout_backward_kernel<<<afloc_cuda_blocks(n, ELEMENTWISE_THREADS), ELEMENTWISE_THREADS, 0,
                              dev->stream>>>(dinput, dout, mask, n);
    AFLOC_CUDA_LAUNCHED(dev, "dropout_backward");
}

/* ---- registration ---- */

extern "C" void afloc_cuda_register_elementwise(afloc_device_ops *ops) {
    ops->gelu_forward = cuda_gelu_forward;
    ops->gelu_backward = cuda_gelu_backward;
    ops->relu_forward = cuda_relu_forward;
    ops->relu_backward = cuda_relu_backward;
    ops->add_forward = cuda_add_forward;
    ops->dropout_mask = cuda_dropout_mask;
    ops->dropout_forward = cuda_dropout_forward;
    ops->dropout_backward = cuda_dropout_backward;
}
