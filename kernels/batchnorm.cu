/* batchnorm.cu: BatchNorm2d in training mode on the device, forward and backward, the twins of
 * src/cpu/norm_batch.c (torch.nn.functional.batch_norm, training=True; MODEL.md §3.4). Per
 * channel c, over the N = B·H·W values x:
 *   mean = Σx / N,  var = Σ(x − mean)² / N (biased, two passes),  rstd = 1 / sqrt(var + eps)
 *   out  = x·α + s  with α = (float)(γ·rstd), s = (float)(β − mean·γ·rstd)
 *   running_mean = (1 − m)·running_mean + m·mean,  running_var = (1 − m)·running_var + m·var·N/(N−1)
 *   backward: dγ += Σ(x − mean)·dy·rstd,  dβ += Σdy,
 *             dx += (dy − Σdy/N − (x − mean)·Σ((x − mean)·dy)·rstd²/N)·rstd·γ
 * with every statistic and sum in double, as the CPU does.
 *
 * One block of BN_THREADS threads per channel: each thread sums a fixed strided subset of the
 * channel's values in double, then a fixed-shape tree in shared memory combines the partials, so
 * the result depends only on the shape (deterministic, no atomics).
 *
 * Dimension letters: B batch, C channels, H W spatial side, N = B·H·W values per channel. */
#include "cuda_common.cuh"

#define BN_THREADS 256 /* a power of two: the tree halves it */

/* Sums `value` over the block (all BN_THREADS threads must call it); every thread gets the total.
 * `shared` holds BN_THREADS doubles; the call ends with a barrier so it can be reused. */
static __device__ double block_sum(double value, double *shared) {
    const unsigned tid = threadIdx.x;
    shared[tid] = value;
    __syncthreads();
    for (unsigned half = BN_THREADS / 2; half > 0; half /= 2) {
        if (tid < half) shared[tid] += shared[tid + half];
        __syncthreads();
    }
    const double total = shared[0];
    __syncthreads();
    return total;
}

/* The value i (0 <= i < N) of channel c lives at b·image + c·plane + p with b = i / plane. */
static __device__ __forceinline__ size_t bn_index(size_t i, size_t plane, size_t image,
                                                  size_t channel_offset) {
    return (i / plane) * image + channel_offset + i % plane;
}

static __global__ void batchnorm_forward_kernel(float *out, float *mean_saved, float *rstd_saved,
                                                float *running_mean, float *running_var,
                                                const float *in, const float *gamma,
                                                const float *beta, int32_t B, int32_t C,
                                                size_t plane, float eps, float momentum) {
    __shared__ double partial[BN_THREADS];
    __shared__ float coef[2]; /* α, s */
    const int32_t c = (int32_t)blockIdx.x;
    const size_t image = (size_t)C * plane;
    const size_t offset = (size_t)c * plane;
    const size_t count = (size_t)B * plane;
    const double n = (double)count;

    double sum = 0.0;
    for (size_t i = threadIdx.x; i < count; i += BN_THREADS)
        sum += (double)in[bn_index(i, plane, image, offset)];
    const double mean = block_sum(sum, partial) / n;

    double sq = 0.0;
    for (size_t i = threadIdx.x; i < count; i += BN_THREADS) {
        const double d = (double)in[bn_index(i, plane, image, offset)] - mean;
        sq += d * d;
    }
    sq = block_sum(sq, partial);

    if (threadIdx.x == 0) {
        const double var = sq / n;
        const double rstd = 1.0 / sqrt(var + (double)eps);
        coef[0] = (float)((double)gamma[c] * rstd);
        coef[1] = (float)((double)beta[c] - mean * (double)gamma[c] * rstd);
        mean_saved[c] = (float)mean;
        rstd_saved[c] = (float)rstd;
        if (running_mean && running_var) {
            const double m = (double)momentum;
            const double unbiased = sq / (n - 1.0); /* N == 1 gives 0/0, as on the CPU */
            running_mean[c] = (float)((1.0 - m) * (double)running_mean[c] + m * mean);
            running_var[c] = (float)((1.0 - m) * (double)running_var[c] + m * unbiased);
        }
    }
    __syncthreads();
    const float alpha = coef[0], shift = coef[1];
    for (size_t i = threadIdx.x; i < count; i += BN_THREADS) {
        const size_t at = bn_index(i, plane, image, offset);
        /* x·α + s rounded twice, as the CPU's separate multiply and add (no fused multiply-add) */
        out[at] = __fadd_rn(__fmul_rn(in[at], alpha), shift);
    }
}

static __global__ void batchnorm_backward_kernel(float *dinput, float *dgamma, float *dbeta,
                                                 const float *dout, const float *in,
                                                 const float *mean_saved,
                                                 const float *rstd_saved, const float *gamma,
                                                 int32_t B, int32_t C, size_t plane) {
    __shared__ double partial[BN_THREADS];
    const int32_t c = (int32_t)blockIdx.x;
    const size_t image = (size_t)C * plane;
    const size_t offset = (size_t)c * plane;
    const size_t count = (size_t)B * plane;
    const double n = (double)count;
    const double mean = (double)mean_saved[c];
    const double rstd = (double)rstd_saved[c];

    double sum_dy = 0.0, dot = 0.0; /* Σdy, Σ(x − mean)·dy */
    for (size_t i = threadIdx.x; i < count; i += BN_THREADS) {
        const size_t at = bn_index(i, plane, image, offset);
        const double dy = (double)dout[at];
        sum_dy += dy;
        dot += ((double)in[at] - mean) * dy;
    }
    sum_dy = block_sum(sum_dy, partial);
    dot = block_sum(dot, partial);

    if (threadIdx.x == 0) {
        if (dgamma) dgamma[c] += (float)(dot * rstd);
        if (dbeta) dbeta[c] += (float)sum_dy;
    }
    if (!dinput) return;
    const double mean_dy = sum_dy / n;
    const double k = dot * rstd * rstd / n;
    const double scale = rstd * (double)gamma[c];
    for (size_t i = threadIdx.x; i < count; i += BN_THREADS) {
        const size_t at = bn_index(i, plane, image, offset);
        const double dx = ((double)dout[at] - mean_dy - ((double)in[at] - mean) * k) * scale;
        dinput[at] += (float)dx;
    }
}

static void cuda_batchnorm2d_train_forward(afloc_device *dev, float *out, float *mean_saved,
                                           float *rstd_saved, float *running_mean,
                                           float *running_var, const float *in,
                                           const float *gamma, const float *beta, int32_t B,
                                           int32_t C, int32_t H, int32_t W, float eps,
                                           float momentum) {
    const size_t plane = (size_t)(H > 0 ? H : 0) * (size_t)(W > 0 ? W : 0);
    if (afloc_cuda_failed(dev) || B <= 0 || C <= 0 || plane == 0) return;
    afloc_device_scope scope(dev);
    batchnorm_forward_kernel<<<(unsigned)C, BN_THREADS, 0, dev->stream>>>(
        out, mean_saved, rstd_saved, running_mean, running_var, in, gamma, beta, B, C, plane, eps,
        momentum);
    AFLOC_CUDA_LAUNCHED(dev, "batchnorm2d_train_forward");
}

static void cuda_batchnorm2d_backward(afloc_device *dev, float *dinput, float *dgamma,
                                      float *dbeta, const float *dout, const float *in,
                                      const float *mean_saved, const float *rstd_saved,
                                      const float *gamma, int32_t B, int32_t C, int32_t H,
                                      int32_t W) {
    const size_t plane = (size_t)(H > 0 ? H : 0) * (size_t)(W > 0 ? W : 0);
    if (afloc_cuda_failed(dev) || B <= 0 || C <= 0 || plane == 0) return;
    afloc_device_scope scope(dev);
    batchnorm_backward_kernel<<<(unsigned)C, BN_THREADS, 0, dev->stream>>>(
        dinput, dgamma, dbeta, dout, in, mean_saved, rstd_saved, gamma, B, C, plane);
    AFLOC_CUDA_LAUNCHED(dev, "batchnorm2d_backward");
}

extern "C" void afloc_cuda_register_batchnorm(afloc_device_ops *ops) {
    ops->batchnorm2d_train_forward = cuda_batchnorm2d_train_forward;
    ops->batchnorm2d_backward = cuda_batchnorm2d_backward;
}
