/* position.cu: the position term of the deep-local embedding (config local_position), the twin of
 * src/cpu/position.c: forward adds weight[c,0]·px(w) + weight[c,1]·py(h) to every cell in place;
 * backward accumulates dweight (C, 2) from dy. The coordinate and the forward's fmaf are the CPU's
 * own, so the forward is expected bit-exact. The backward sums each channel in double in one
 * block with a fixed tree, a different order from the CPU's serial sum (no atomics: the same
 * bits every run). */
#include "cuda_common.cuh"

#define POSITION_THREADS 256

static __device__ __forceinline__ float position_coordinate(int32_t i, int32_t n) {
    return (float)i - 0.5f * (float)(n - 1); /* exact in float, as on the CPU */
}

static __global__ void position_add_forward_kernel(float *y, const float *weight, size_t n,
                                                   int32_t C, int32_t H, int32_t W) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int32_t w = (int32_t)(i % (size_t)W);
        const int32_t h = (int32_t)((i / (size_t)W) % (size_t)H);
        const int32_t c = (int32_t)((i / ((size_t)W * H)) % (size_t)C);
        const float ty = __fmul_rn(weight[2 * c + 1], position_coordinate(h, H));
        y[i] = __fadd_rn(y[i], fmaf(weight[2 * c], position_coordinate(w, W), ty));
    }
}

/* One block per channel: thread t sums cells t, t + 256, ... of all images; then a fixed tree. */
static __global__ void position_add_backward_kernel(float *dweight, const float *dy, int32_t B,
                                                    int32_t C, int32_t H, int32_t W) {
    __shared__ double sx[POSITION_THREADS], sy[POSITION_THREADS];
    const int32_t c = (int32_t)blockIdx.x;
    const size_t plane = (size_t)H * W, count = (size_t)B * plane;
    double ax = 0.0, ay = 0.0;
    for (size_t i = threadIdx.x; i < count; i += POSITION_THREADS) {
        const size_t b = i / plane, p = i % plane;
        const double g = (double)dy[(b * C + c) * plane + p];
        ax += g * (double)position_coordinate((int32_t)(p % W), W);
        ay += g * (double)position_coordinate((int32_t)(p / W), H);
    }
    const unsigned tid = threadIdx.x;
    sx[tid] = ax;
    sy[tid] = ay;
    __syncthreads();
    for (unsigned half = POSITION_THREADS / 2; half > 0; half /= 2) {
        if (tid < half) {
            sx[tid] += sx[tid + half];
            sy[tid] += sy[tid + half];
        }
        __syncthreads();
    }
    if (tid == 0) {
        dweight[2 * c] += (float)sx[0];
        dweight[2 * c + 1] += (float)sy[0];
    }
}

static void cuda_position_add_forward(afloc_device *dev, float *y, const float *weight, int32_t B,
                                      int32_t C, int32_t H, int32_t W) {
    if (afloc_cuda_failed(dev) || B <= 0 || C <= 0 || H <= 0 || W <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)B * C * H * W;
    position_add_forward_kernel<<<afloc_cuda_blocks(n, POSITION_THREADS), POSITION_THREADS, 0,
                                  dev->stream>>>(y, weight, n, C, H, W);
    AFLOC_CUDA_LAUNCHED(dev, "position_add_forward");
}

static void cuda_position_add_backward(afloc_device *dev, float *dweight, const float *dy,
                                       int32_t B, int32_t C, int32_t H, int32_t W) {
    if (afloc_cuda_failed(dev) || B <= 0 || C <= 0 || H <= 0 || W <= 0) return;
    afloc_device_scope scope(dev);
    position_add_backward_kernel<<<(unsigned)C, POSITION_THREADS, 0, dev->stream>>>(dweight, dy, B,
                                                                                   C, H, W);
    AFLOC_CUDA_LAUNCHED(dev, "position_add_backward");
}

extern "C" void afloc_cuda_register_position(afloc_device_ops *ops) {
    ops->position_add_forward = cuda_position_add_forward;
    ops->position_add_backward = cuda_position_add_backward;
}
