/* norm.cu: the CUDA twin of LayerNorm in src/cpu/norm.c (torch.nn.functional.layer_norm over the
 * last dimension, BERT's eps 1e-12, MODEL.md §5.1): forward, training forward (saves each row's
 * mean and rstd as float) and backward.
 *
 * Layout: rows (N, C) row-major. One block of NORM_THREADS threads per row; the row statistics
 * are accumulated in double (as the CPU does), each thread over a strided subset of the columns,
 * then combined by a fixed tree in shared memory, so the result depends on the shape only. The
 * double sums differ from the CPU's sequential ones by a few double ulps, which almost never
 * changes the float that is derived from them (on the H200 every output of tests/cuda/
 * test_cuda_norm.c, up to (256, 768), came out bit-identical to the CPU's).
 *
 * The parameter gradients use one thread per column, looping over the rows in increasing n in
 * double, exactly as the CPU's pass 2: dweight / dbias are bit-identical to the CPU. No atomics.
 *
 * Rounding: every float product that feeds a sum is written with __fmul_rn/__fadd_rn so that nvcc
 * does not contract it into an FMA (the CPU, ISO C11, never does).
 *
 * Dimension letters: N rows, C features. */
#include "cuda_common.cuh"

/* Threads per row block (a power of two for the tree reduction); C = 768 gives 3 columns each. */
enum { NORM_THREADS = 256 };
/* Threads per block of the column-gradient kernel (C = 768 -> 6 blocks). Each thread loops over
 * all N rows, so this pass is latency-bound: the whole backward takes 0.083 ms at (800, 768) on
 * the H200, small next to the GEMMs around it. */
enum { NORM_COL_THREADS = 128 };

/* ---- kernels ---- */

/* Sum of one double per thread over the block (blockDim.x == NORM_THREADS), by a fixed tree;
 * every thread gets the total. `shared` holds NORM_THREADS doubles and may be reused after. */
static __device__ double norm_block_sum(double value, double *shared) {
    const unsigned tid = threadIdx.x;
    shared[tid] = value;
    __syncthreads();
    for (unsigned half = NORM_THREADS / 2; half > 0; half >>= 1) {
        if (tid < half) shared[tid] = __dadd_rn(shared[tid], shared[tid + half]);
        __syncthreads();
    }
    const double total = shared[0];
    __syncthreads(); /* everyone has read shared[0] before the next call overwrites it */
    return total;
}

/* Block `row`: y = (x − μ)·rstd·weight + bias with μ, σ² in double (two passes over x). out may
 * equal in: each thread reads its columns' x before it writes them, after both reductions. */
static __global__ void layernorm_forward_kernel(float *out, float *mean_out, float *rstd_out,
                                                const float *in, const float *weight,
                                                const float *bias, int32_t C, float eps) {
    __shared__ double shared[NORM_THREADS];
    const size_t row = blockIdx.x;
    const float *x = in + row * (size_t)C;
    float *y = out + row * (size_t)C;

    double sum = 0.0;
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += NORM_THREADS)
        sum = __dadd_rn(sum, (double)x[c]);
    const double mean = norm_block_sum(sum, shared) / C;

    double sq = 0.0;
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += NORM_THREADS) {
        const double d = __dsub_rn((double)x[c], mean);
        sq = __dadd_rn(sq, __dmul_rn(d, d));
    }
    const double var = norm_block_sum(sq, shared) / C;
    const double rstd = 1.0 / sqrt(var + (double)eps);

    for (int32_t c = (int32_t)threadIdx.x; c < C; c += NORM_THREADS) {
        const float xhat = (float)__dmul_rn(__dsub_rn((double)x[c], mean), rstd);
        y[c] = __fadd_rn(__fmul_rn(xhat, weight[c]), bias[c]);
    }
    if (threadIdx.x == 0) {
        if (mean_out) mean_out[row] = (float)mean;
        if (rstd_out) rstd_out[row] = (float)rstd;
    }
}

/* Block `row`: dx += rstd·(g − mean_c(g) − x̂·mean_c(g·x̂)) with g = dout·weight, x̂ = (x − μ)·rstd
 * in float from the saved statistics, the two row means in double (as the CPU's pass 1). */
static __global__ void layernorm_backward_input_kernel(float *dinput, const float *dout,
                                                       const float *input, const float *weight,
                                                       const float *mean, const float *rstd,
                                                       int32_t C) {
    __shared__ double shared[NORM_THREADS];
    const size_t row = blockIdx.x;
    const float *x = input + row * (size_t)C;
    const float *dy = dout + row * (size_t)C;
    float *dx = dinput + row * (size_t)C;
    const float mu = mean[row], rs = rstd[row];

    double sum_g = 0.0, sum_gx = 0.0;
    for (int32_t c = (int32_t)threadIdx.x; c < C; c += NORM_THREADS) {
        const float xhat = __fmul_rn(__fsub_rn(x[c], mu), rs);
        const float g = __fmul_rn(dy[c], weight[c]);
        sum_g = __dadd_rn(sum_g, (double)g);
        sum_gx = __dadd_rn(sum_gx, __dmul_rn((double)g, (double)xhat));
    }
    const float mean_g = (float)(norm_block_sum(sum_g, shared) / C);
    const float mean_gx = (float)(norm_block_sum(sum_gx, shared) / C);

    for (int32_t c = (int32_t)threadIdx.x; c < C; c += NORM_THREADS) {
        const float xhat = __fmul_rn(__fsub_rn(x[c], mu), rs);
        const float g = __fmul_rn(dy[c], weight[c]);
        const float inner = __fsub_rn(__fsub_rn(g, mean_g), __fmul_rn(xhat, mean_gx));
        dx[c] = __fadd_rn(dx[c], __fmul_rn(rs, inner));
    }
}

/* Thread per column c: dweight[c] += Σ_n dout·x̂, dbias[c] += Σ_n dout, summed in double in
 * increasing n (the CPU's order), added once. Either output may be NULL. */
static __global__ void layernorm_backward_params_kernel(float *dweight, float *dbias,
                                                        const float *dout, const float *input,
                                                        const float *mean, const float *rstd,
                                                        int32_t N, int32_t C) {
    const int32_t c = (int32_t)(blockIdx.x * blockDim.x + threadIdx.x);
    if (c >= C) return;
    double sw = 0.0, sb = 0.0;
    for (int32_t n = 0; n < N; n++) {
        const size_t at = (size_t)n * (size_t)C + (size_t)c;
        const float xhat = __fmul_rn(__fsub_rn(input[at], mean[n]), rstd[n]);
        const float dy = dout[at];
        sw = __dadd_rn(sw, __dmul_rn((double)dy, (double)xhat));
        sb = __dadd_rn(sb, (double)dy);
    }
    if (dweight) dweight[c] = __fadd_rn(dweight[c], (float)sw);
    if (dbias) dbias[c] = __fadd_rn(dbias[c], (float)sb);
}

/* ---- launchers ---- */

static void cuda_layernorm_forward_train(afloc_device *dev, float *out, float *mean, float *rstd,
                                         const float *in, const float *weight, const float *bias,
                                         int32_t N, int32_t C, float eps) {
    if (N <= 0 || C <= 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    layernorm_forward_kernel<<<(unsigned)N, NORM_THREADS, 0, dev->stream>>>(
        out, mean, rstd, in, weight, bias, C, eps);
    AFLOC_CUDA_LAUNCHED(dev, "layernorm_forward");
}

static void cuda_layernorm_forward(afloc_device *dev, float *out, const float *in,
                                   const float *weight, const float *bias, int32_t N, int32_t C,
                                   float eps) {
    cuda_layernorm_forward_train(dev, out, NULL, NULL, in, weight, bias, N, C, eps);
}

static void cuda_layernorm_backward(afloc_device *dev, float *dinput, float *dweight,
                                    float *dbias, const float *dout, const float *input,
                                    const float *weight, const float *mean, const float *rstd,
                                    int32_t N, int32_t C) {
    if (N <= 0 || C <= 0 || afloc_cuda_failed(dev)) return;
    afloc_device_scope scope(dev);
    if (dinput) {
        layernorm_backward_input_kernel<<<(unsigned)N, NORM_THREADS, 0, dev->stream>>>(
            dinput, dout, input, weight, mean, rstd, C);
        AFLOC_CUDA_LAUNCHED(dev, "layernorm_backward");
    }
    if (dweight || dbias) {
        const unsigned blocks = (unsigned)((C + NORM_COL_THREADS - 1) / NORM_COL_THREADS);
        layernorm_backward_params_kernel<<<blocks, NORM_COL_THREADS, 0, dev->stream>>>(
            dweight, dbias, dout, input, mean, rstd, N, C);
        AFLOC_CUDA_LAUNCHED(dev, "layernorm_backward");
    }
}

/* ---- registration ---- */

extern "C" void afloc_cuda_register_norm(afloc_device_ops *ops) {
    ops->layernorm_forward = cuda_layernorm_forward;
    ops->layernorm_forward_train = cuda_layernorm_forward_train;
    ops->layernorm_backward = cuda_layernorm_backward;
}
