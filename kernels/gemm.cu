/* gemm.cu: dense layers on the device, the twins of src/cpu/gemm.c (torch.nn.functional.linear):
 * out (N, OC) = in (N, C) · weight (OC, C)ᵀ + bias (OC), optionally followed by the exact GELU,
 * and its backward. The products are cuBLAS; bias, GELU and the bias gradient are small kernels.
 *
 * Row-major through column-major cuBLAS: a row-major (R, S) matrix is the column-major (S, R)
 * matrix with leading dimension S, so every product below is written on the transposes:
 *   forward   outᵀ (OC, N)    = weightᵀ-view (C, OC)ᵀ · inᵀ (C, N)        gemm(T, N, OC, N, C)
 *   dinput    dinputᵀ (C, N) += weightᵀ-view (C, OC) · doutᵀ (OC, N)      gemm(N, N, C, N, OC)
 *   dweight   dweightᵀ (C, OC) += inᵀ (C, N) · doutᵀ (OC, N)ᵀ             gemm(N, T, C, OC, N)
 *
 * Numeric modes (device_ops.h): FP32 calls cublasSgemm on a handle in CUBLAS_PEDANTIC_MATH (no
 * TF32, set by device.cu); BF16 calls cublasGemmEx with fp32 storage and
 * CUBLAS_COMPUTE_32F_FAST_16BF (inputs rounded to bf16 inside the product, fp32 accumulation).
 *
 * Determinism: cuBLAS gives the same bits for the same shapes, mode and device; the bias gradient
 * is one thread per column summing its rows in increasing n, in double, as the CPU does.
 *
 * Dimension letters: N rows (tokens or batch), C input features, OC output features. */
#include "cuda_common.cuh"

#define GEMM_THREADS 256

static const float GELU_SQRT1_2 = 0.70710678118654752440f; /* 1/√2 */

/* out (N, OC) row by row: += bias[j] (when bias), then the exact GELU (when gelu), in place. */
static __global__ void linear_epilogue_kernel(float *out, const float *bias, int32_t gelu,
                                              size_t total, int32_t OC) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = out[i];
        if (bias) x = x + bias[i % (size_t)OC];
        if (gelu) x = 0.5f * x * (1.0f + erff(x * GELU_SQRT1_2));
        out[i] = x;
    }
}

/* dbias[j] += Σ_n dout[n][j], one thread per column j, rows in increasing n, in double. Adjacent
 * threads read adjacent columns, so every row is read coalesced. */
static __global__ void linear_bias_grad_kernel(float *dbias, const float *dout, int32_t N,
                                               int32_t OC) {
    const int32_t j = (int32_t)(blockIdx.x * blockDim.x + threadIdx.x);
    if (j >= OC) return;
    double sum = 0.0;
    for (int32_t n = 0; n < N; n++) sum += (double)dout[(size_t)n * (size_t)OC + (size_t)j];
    dbias[j] += (float)sum;
}

/* One column-major product C = α·op(A)·op(B) + β·C in the handle's numeric mode. */
static void gemm(afloc_device *dev, cublasOperation_t opa, cublasOperation_t opb, int m, int n,
                 int k, const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc, const char *where) {
    const float alpha = 1.0f;
    if (dev->math == AFLOC_DEVICE_MATH_BF16) {
        AFLOC_CUBLAS(dev,
                     cublasGemmEx(dev->cublas, opa, opb, m, n, k, &alpha, a, CUDA_R_32F, lda, b,
                                  CUDA_R_32F, ldb, &beta, c, CUDA_R_32F, ldc,
                                  CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT),
                     where);
    } else {
        AFLOC_CUBLAS(dev,
                     cublasSgemm(dev->cublas, opa, opb, m, n, k, &alpha, a, lda, b, ldb, &beta, c,
                                 ldc),
                     where);
    }
}

static void cuda_linear_forward(afloc_device *dev, float *out, const float *in,
                                const float *weight, const float *bias, int32_t gelu, int32_t N,
                                int32_t C, int32_t OC) {
    if (afloc_cuda_failed(dev) || N <= 0 || OC <= 0) return;
    afloc_device_scope scope(dev);
    const size_t total = (size_t)N * (size_t)OC;
    if (C <= 0) {
        /* an empty reduction: the product is zero (the CPU writes zeros too) */
        afloc_cuda_record_cuda(dev, cudaMemsetAsync(out, 0, total * sizeof(float), dev->stream),
                               "linear_forward");
    } else {
        gemm(dev, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, weight, C, in, C, 0.0f, out, OC,
             "linear_forward");
    }
    if (!bias && !gelu) return;
    linear_epilogue_kernel<<<afloc_cuda_blocks(total, GEMM_THREADS), GEMM_THREADS, 0,
                             dev->stream>>>(out, bias, gelu, total, OC);
    AFLOC_CUDA_LAUNCHED(dev, "linear_forward");
}

static void cuda_linear_backward(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                                 const float *dout, const float *input, const float *weight,
                                 int32_t N, int32_t C, int32_t OC) {
    if (afloc_cuda_failed(dev) || N <= 0 || OC <= 0) return;
    afloc_device_scope scope(dev);
    if (C > 0) {
        if (dinput)
            gemm(dev, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, weight, C, dout, OC, 1.0f, dinput, C,
                 "linear_backward");
        if (dweight)
            gemm(dev, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, input, C, dout, OC, 1.0f, dweight, C,
                 "linear_backward");
    }
    if (!dbias) return;
    const unsigned blocks = (unsigned)(((size_t)OC + GEMM_THREADS - 1) / GEMM_THREADS);
    linear_bias_grad_kernel<<<blocks, GEMM_THREADS, 0, dev->stream>>>(dbias, dout, N, OC);
    AFLOC_CUDA_LAUNCHED(dev, "linear_backward");
}

extern "C" void afloc_cuda_register_gemm(afloc_device_ops *ops) {
    ops->linear_forward = cuda_linear_forward;
    ops->linear_backward = cuda_linear_backward;
}
