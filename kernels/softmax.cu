/* softmax.cu: the CUDA twin of src/cpu/softmax.c: row softmax torch.softmax(x, dim=-1) on (N, C)
 * row-major and its backward torch._softmax_backward_data.
 *
 * One block of SOFTMAX_THREADS threads per row. Forward: row maximum, exp(x − max) and its float
 * sum, then multiplication by the reciprocal of the sum (PyTorch's _vec_softmax_lastdim order).
 * The sum is a fixed tree over the threads' strided partial sums instead of the CPU's sequential
 * loop, and the device's expf differs from glibc's by up to 2 ulp, so the forward agrees with the
 * CPU to a few float ulps, not bit for bit. Backward: the row dot product Σ dout·y in double (as
 * the CPU), then dx += y·(dout − dot).
 *
 * Rounding: products that feed sums are written with __fmul_rn/__fadd_rn (no FMA contraction,
 * as in the ISO C11 CPU build).
 *
 * Dimension letters: N rows, C entries per row. */
#include <math.h>

#include "cuda_common.cuh"

/* Threads per row block (a power of two for the tree reductions). */
enum { SOFTMAX_THREADS = 256 };

/* ---- kernels ---- */

/* Fixed-tree reductions over the block (blockDim.x == SOFTMAX_THREADS); every thread gets the
 * result, and `shared` may be reused after the call. */
static __device__ float softmax_block_max(float value, float *shared) {
    const unsigned tid = threadIdx.x;
    shared[tid] = value;
    __syncthreads();
    for (unsigned half = SOFTMAX_THREADS / 2; half > 0; half >>= 1) {
        if (tid < half) {
            const float other = shared[tid + half];
            shared[tid] = other > shared[tid] ? other : shared[tid];
        }
        __syncthreads();
    }
    const float result = shared[0];
    __syncthreads();
    return result;
}

static __device__ float softmax_block_sum(float value, float *shared) {
    const unsigned tid = threadIdx.x;
    shared[tid] = value;
    __syncthreads();
    for (unsigned half = SOFTMAX_THREADS / 2; half > 0; half >>= 1) {
        if (tid < half) shared[tid] = __fadd_rn(shared[tid], shared[tid + half]);
        __syncthreads();
    }
    const float result = shared[0];
    __syncthreads();
    return result;
}

static __device__ double softmax_block_sum_double(double value, double *shared) {
    const unsigned tid = threadIdx.x;
    shared[tid] = value;
    __syncthreads();
    for (unsigned half = SOFTMAX_THREADS / 2; half > 0; half >>= 1) {
        if (tid < half) shared[tid] = __dadd_rn(shared[tid], shared[tid + half]);
        __syncthreads();
    }
    const double result = shared[0];
    __syncthreads();
    return result;
}

/* Block `row`. out may equal in: every thread reads its own columns' x before writing them, and
 * the maximum is complete (barrier in the reduction) before any write. */
static __global__ void softmax_forward_kernel(float *out, const float *in, int32_t C) {
    __shared__ float shared[SOFTMAX_THREADS];
    const size_t row = blockIdx.x;
    const float *x = in + row * (size_t)C;
    float *y = out + row * (size_t)C;

    /* -inf is the neutral element; C >= 1, so thread 0 always sees a real value */
    float row_max = -INFINITY;
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += SOFTMAX_THREADS)
        row_max = x[c] > row_max ? x[c] : row_max;
    row_max = softmax_block_max(row_max, shared);

    float sum = 0.0f;
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += SOFTMAX_THREADS) {
        const float e = expf(__fsub_rn(x[c], row_max));
        y[c] = e;
        sum = __fadd_rn(sum, e);
    }
    sum = softmax_block_sum(sum, shared);
    const float inv = __fdiv_rn(1.0f, sum);
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += SOFTMAX_THREADS) y[c] = __fmul_rn(y[c], inv);
}

/* Block `row`: dx += y·(dy − Σ_c dy·y), the dot product in double. */
static __global__ void softmax_backward_kernel(float *dinput, const float *dout,
                                               const float *output, int32_t C) {
    __shared__ double shared[SOFTMAX_THREADS];
    const size_t row = blockIdx.x;
    const float *y = output + row * (size_t)C;
    const float *dy = dout + row * (size_t)C;
    float *dx = dinput + row * (size_t)C;

    double dot = 0.0;
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += SOFTMAX_THREADS)
        dot = __dadd_rn(dot, __dmul_rn((double)dy[c], (double)y[c]));
    const float d = (float)softmax_block_sum_double(dot, shared);
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += SOFTMAX_THREADS)
        dx[c] = __fadd_rn(dx[c], __fmul_rn(y[c], __fsub_rn(dy[c], d)));
}

/* ---- launchers ---- */

static void cuda_softmax_forward(afloc_device *dev, float *out, const float *in, int32_t N,
                                 int32_t C) {
    if (N <= 0 || C <= 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    softmax_forward_kernel<<<(unsigned)N, SOFTMAX_THREADS, 0, dev->stream>>>(out, in, C);
    AFLOC_CUDA_LAUNCHED(dev, "softmax_forward");
}

static void cuda_softmax_backward(afloc_device *dev, float *dinput, const float *dout,
                                  const float *output, int32_t N, int32_t C) {
    if (N <= 0 || C <= 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    softmax_backward_kernel<<<(unsigned)N, SOFTMAX_THREADS, 0, dev->stream>>>(dinput, dout,
                                                                               output, C);
    AFLOC_CUDA_LAUNCHED(dev, "softmax_backward");
}

/* ---- registration ---- */

extern "C" void afloc_cuda_register_softmax(afloc_device_ops *ops) {
    ops->softmax_forward = cuda_softmax_forward;
    ops->softmax_backward = cuda_softmax_backward;
}
