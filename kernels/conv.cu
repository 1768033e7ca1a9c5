/* conv.cu: 2-D convolution of NCHW images on the device through cuDNN 9's legacy convolution API,
 * the twins of afloc_cpu_conv2d_forward / _backward (src/cpu/conv.c; torch.nn.functional.conv2d,
 * square kernel, groups 1, dilation 1, zero padding):
 *   forward   out = relu?(conv(in, weight) + bias + residual)   cuDNN, then one epilogue kernel
 *   backward  dinput += conv_transpose(dout, weight), dweight += corr(input, dout),
 *             dbias += Σ_(b,oy,ox) dout                          cuDNN with β = 1, then a kernel
 *
 * The legacy API (cudnnConvolutionForward & co.) is marked deprecated in cuDNN 9, but the
 * attribute only fires when CUDNN_WARN_DEPRECATED is defined, which this build never does.
 * Descriptors are created and destroyed per call (a cache is a later optimisation).
 *
 * Numeric modes (device_ops.h):
 *  - FP32 (parity): the convolution descriptor is pinned to CUDNN_FMA_MATH (CUDNN_DEFAULT_MATH
 *    would allow TF32 on Ampere and later), and the forward algorithm is limited to the GEMM
 *    family (implicit / precomputed implicit / explicit GEMM, direct), whose sums are ordinary
 *    fp32 dot products: FFT and Winograd change the arithmetic and the error with it.
 *  - BF16: CUDNN_TENSOR_OP_MATH with fp32 storage, which on fp32 tensors means TF32 tensor cores
 *    (10-bit mantissa inputs, fp32 accumulation); any deterministic algorithm is allowed. cuDNN
 *    lets the host's NVIDIA_TF32_OVERRIDE=0 turn TF32 off here (its cudnnMathType_t docs), so in
 *    this mode, unlike FP32, convolution bits can depend on that variable (device_ops.h).
 *
 * Algorithm choice, identical in the op and in its *_scratch_bytes entry (same shapes, same mode,
 * same heuristics, so the same algorithm and workspace):
 *  - forward: the first result of cudnnGetConvolutionForwardAlgorithm_v7 (cuDNN's heuristic
 *    ranking) whose status is success, whose determinism is CUDNN_DETERMINISTIC, whose workspace
 *    is at most CONV_WORKSPACE_LIMIT and whose math and family the mode allows; IMPLICIT_GEMM
 *    (no workspace, every shape) when none qualifies;
 *  - backward: CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 and CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, the
 *    deterministic ones (ALGO_0 of both and BWD_FILTER_ALGO_3 sum with atomics).
 * Scratch holds the cuDNN workspace only; the epilogue and the bias reduction need none.
 *
 * Dimension letters: B batch, C input channels, OC output channels, H W input side, OH OW
 * output side, K kernel side. */
#include <string.h>

#include "cuda_common.cuh"

#define CONV_THREADS 256 /* epilogue and bias-gradient blocks; a power of two (tree) */

/* The most workspace a forward algorithm may ask for; the zero-workspace IMPLICIT_GEMM is always
 * there below it. */
static const size_t CONV_WORKSPACE_LIMIT = (size_t)512 << 20;


/* ---- kernels ---- */

/* out (B, OC, plane) = relu?(out + bias[oc] + residual), in place, in the CPU's order: bias, then
 * residual, then ReLU (NaN passes through the ReLU, as on the CPU). */
static __global__ void conv_epilogue_kernel(float *out, const float *bias, const float *residual,
                                            int32_t relu, size_t total, size_t plane,
                                            int32_t OC) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float o = out[i];
        if (bias) o = o + bias[(i / plane) % (size_t)OC];
        if (residual) o = o + residual[i];
        if (relu) o = o > 0.0f ? o : (o != o ? o : 0.0f);
        out[i] = o;
    }
}

/* dbias[oc] += Σ over b and position of dout (B, OC, plane): one block per channel, each thread a
 * fixed strided subset in double, then a fixed-shape tree (deterministic, no atomics). */
static __global__ void conv_bias_grad_kernel(float *dbias, const float *dout, int32_t B,
                                             int32_t OC, size_t plane) {
    __shared__ double partial[CONV_THREADS];
    const int32_t oc = (int32_t)blockIdx.x;
    const size_t count = (size_t)B * plane;
    const size_t image = (size_t)OC * plane;
    double sum = 0.0;
    for (size_t i = threadIdx.x; i < count; i += CONV_THREADS)
        sum += (double)dout[(i / plane) * image + (size_t)oc * plane + i % plane];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned half = CONV_THREADS / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) dbias[oc] += (float)partial[0];
}

/* ---- cuDNN descriptors ---- */

struct conv_descs {
    cudnnTensorDescriptor_t      x;    /* input (B, C, H, W)       */
    cudnnTensorDescriptor_t      y;    /* output (B, OC, OH, OW)   */
    cudnnFilterDescriptor_t      w;    /* weight (OC, C, K, K)     */
    cudnnConvolutionDescriptor_t conv;
};

static void conv_descs_destroy(conv_descs *d) {
    if (d->x) cudnnDestroyTensorDescriptor(d->x);
    if (d->y) cudnnDestroyTensorDescriptor(d->y);
    if (d->w) cudnnDestroyFilterDescriptor(d->w);
    if (d->conv) cudnnDestroyConvolutionDescriptor(d->conv);
    d->x = d->y = NULL;
    d->w = NULL;
    d->conv = NULL;
}

/* Fills every descriptor for the shape and the handle's mode. On failure records it, leaves the
 * created ones for conv_descs_destroy (always call it) and returns false. */
static bool conv_descs_create(afloc_device *dev, conv_descs *d, int32_t B, int32_t C, int32_t H,
                              int32_t W, int32_t OC, int32_t K, int32_t stride, int32_t pad,
                              int32_t OH, int32_t OW, const char *where) {
    d->x = d->y = NULL;
    d->w = NULL;
    d->conv = NULL;
    /* cuDNN's legacy descriptors hold int element counts: a larger tensor is refused by name
     * here rather than as cuDNN's BAD_PARAM (the CPU twin has no such limit) */
    const size_t limit = (size_t)INT32_MAX;
    if ((size_t)B * C * H * W > limit || (size_t)B * OC * OH * OW > limit || (size_t)OC * C * K * K > limit) {
        afloc_cuda_record(dev, AFLOC_ERR_LIMIT, where, "a tensor of over 2^31-1 elements (cuDNN's limit)");
        return false;
    }
    cudnnStatus_t s = cudnnCreateTensorDescriptor(&d->x);
    if (s == CUDNN_STATUS_SUCCESS) s = cudnnCreateTensorDescriptor(&d->y);
    if (s == CUDNN_STATUS_SUCCESS) s = cudnnCreateFilterDescriptor(&d->w);
    if (s == CUDNN_STATUS_SUCCESS) s = cudnnCreateConvolutionDescriptor(&d->conv);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, B, C, H, W);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, B, OC, OH, OW);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetFilter4dDescriptor(d->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, OC, C, K, K);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetConvolution2dDescriptor(d->conv, pad, pad, stride, stride, 1, 1,
                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetConvolutionMathType(d->conv, dev->math == AFLOC_DEVICE_MATH_BF16
                                                     ? CUDNN_TENSOR_OP_MATH
                                                     : CUDNN_FMA_MATH);
    if (s != CUDNN_STATUS_SUCCESS) {
        afloc_cuda_record_cudnn(dev, s, where);
        return false;
    }
    /* cuDNN's output side must be the CPU's (it is, for dilation 1); a mismatch is a bug here */
    int n = 0, c = 0, h = 0, w = 0;
    s = cudnnGetConvolution2dForwardOutputDim(d->conv, d->x, d->w, &n, &c, &h, &w);
    if (s != CUDNN_STATUS_SUCCESS) {
        afloc_cuda_record_cudnn(dev, s, where);
        return false;
    }
    if (n != B || c != OC || h != OH || w != OW) {
        afloc_cuda_record(dev, AFLOC_ERR_INTERNAL, where, "cuDNN output shape differs from the CPU's");
        return false;
    }
    return true;
}

/* Whether the mode allows a forward algorithm (see the top comment). */
static bool forward_algo_allowed(const afloc_device *dev, const cudnnConvolutionFwdAlgoPerf_t *p) {
    if (p->status != CUDNN_STATUS_SUCCESS || p->determinism != CUDNN_DETERMINISTIC ||
        p->memory > CONV_WORKSPACE_LIMIT)
        return false;
    /* BF16 mode: any tensor-op math but the one that may convert fp32 data to fp16 (range 65504) */
    if (dev->math == AFLOC_DEVICE_MATH_BF16) return p->mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (p->mathType != CUDNN_FMA_MATH) return false;
    return p->algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
           p->algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
           p->algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM ||
           p->algo == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

/* The handle's cached choice for a shape key, or NULL. */
static const afloc_conv_algo *conv_cache_find(const afloc_device *dev, const int32_t key[9]) {
    for (int32_t i = 0; i < dev->conv_cache_count; i++)
        if (memcmp(dev->conv_cache[i].key, key, 9 * sizeof(int32_t)) == 0) return &dev->conv_cache[i];
    return NULL;
}

static void conv_cache_store(afloc_device *dev, const int32_t key[9], cudnnConvolutionFwdAlgo_t algo,
                             cudnnMathType_t math_type, size_t bytes) {
    int32_t slot = dev->conv_cache_count < AFLOC_CONV_CACHE ? dev->conv_cache_count++
                                                             : dev->conv_cache_next;
    if (dev->conv_cache_count == AFLOC_CONV_CACHE)
        dev->conv_cache_next = (dev->conv_cache_next + 1) % AFLOC_CONV_CACHE;
    afloc_conv_algo *e = &dev->conv_cache[slot];
    memcpy(e->key, key, 9 * sizeof(int32_t));
    e->algo = (int32_t)algo;
    e->math_type = (int32_t)math_type;
    e->bytes = bytes;
}

static bool conv_forward_algo_query(afloc_device *dev, conv_descs *d,
                                    cudnnConvolutionFwdAlgo_t *algo, size_t *bytes,
                                    const char *where);

/* The forward algorithm and its workspace in bytes for the descriptors (may adjust the
 * descriptor's math type to the chosen algorithm's in BF16 mode), from the handle's cache or,
 * the first time a shape is seen, from cuDNN's heuristic. False after recording. */
static bool conv_forward_algo(afloc_device *dev, conv_descs *d, const int32_t key[9],
                              cudnnConvolutionFwdAlgo_t *algo, size_t *bytes, const char *where) {
    const afloc_conv_algo *hit = conv_cache_find(dev, key);
    if (hit) {
        *algo = (cudnnConvolutionFwdAlgo_t)hit->algo;
        *bytes = hit->bytes;
        cudnnStatus_t s = cudnnSetConvolutionMathType(d->conv, (cudnnMathType_t)hit->math_type);
        if (s != CUDNN_STATUS_SUCCESS) {
            afloc_cuda_record_cudnn(dev, s, where);
            return false;
        }
        return true;
    }
    if (!conv_forward_algo_query(dev, d, algo, bytes, where)) return false;
    cudnnMathType_t math_type;
    cudnnStatus_t s = cudnnGetConvolutionMathType(d->conv, &math_type);
    if (s != CUDNN_STATUS_SUCCESS) {
        afloc_cuda_record_cudnn(dev, s, where);
        return false;
    }
    conv_cache_store(dev, key, *algo, math_type, *bytes);
    return true;
}

static bool conv_forward_algo_query(afloc_device *dev, conv_descs *d,
                                    cudnnConvolutionFwdAlgo_t *algo, size_t *bytes,
                                    const char *where) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    cudnnStatus_t s = cudnnGetConvolutionForwardAlgorithm_v7(
        dev->cudnn, d->x, d->w, d->conv, d->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf);
    if (s != CUDNN_STATUS_SUCCESS) {
        afloc_cuda_record_cudnn(dev, s, where);
        return false;
    }
    *algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    for (int i = 0; i < returned && i < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; i++) {
        if (!forward_algo_allowed(dev, &perf[i])) continue;
        *algo = perf[i].algo;
        if (dev->math == AFLOC_DEVICE_MATH_BF16) {
            s = cudnnSetConvolutionMathType(d->conv, perf[i].mathType);
            if (s != CUDNN_STATUS_SUCCESS) {
                afloc_cuda_record_cudnn(dev, s, where);
                return false;
            }
        }
        break;
    }
    s = cudnnGetConvolutionForwardWorkspaceSize(dev->cudnn, d->x, d->w, d->conv, d->y, *algo,
                                                bytes);
    if (s != CUDNN_STATUS_SUCCESS) {
        afloc_cuda_record_cudnn(dev, s, where);
        return false;
    }
    return true;
}

static const cudnnConvolutionBwdDataAlgo_t CONV_BWD_DATA_ALGO = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
static const cudnnConvolutionBwdFilterAlgo_t CONV_BWD_FILTER_ALGO =
    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;

/* Workspace bytes of the two backward algorithms. False after recording. */
static bool conv_backward_workspace(afloc_device *dev, const conv_descs *d, size_t *data_bytes,
                                    size_t *filter_bytes, const char *where) {
    cudnnStatus_t s = cudnnGetConvolutionBackwardDataWorkspaceSize(
        dev->cudnn, d->w, d->y, d->conv, d->x, CONV_BWD_DATA_ALGO, data_bytes);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnGetConvolutionBackwardFilterWorkspaceSize(dev->cudnn, d->x, d->y, d->conv, d->w,
                                                           CONV_BWD_FILTER_ALGO, filter_bytes);
    if (s != CUDNN_STATUS_SUCCESS) {
        afloc_cuda_record_cudnn(dev, s, where);
        return false;
    }
    return true;
}

/* Whether the shape has work for cuDNN (C, OC, B and both output sides positive). */
static bool conv_shape_ok(int32_t B, int32_t C, int32_t OC, int32_t K, int32_t OH, int32_t OW) {
    return B > 0 && C > 0 && OC > 0 && K > 0 && OH > 0 && OW > 0;
}

/* ---- ops ---- */

static size_t cuda_conv2d_scratch_bytes(afloc_device *dev, int32_t B, int32_t C, int32_t H,
                                        int32_t W, int32_t OC, int32_t K, int32_t stride,
                                        int32_t pad) {
    const int32_t OH = afloc_cuda_out_size(H, K, stride, pad);
    const int32_t OW = afloc_cuda_out_size(W, K, stride, pad);
    if (afloc_cuda_failed(dev) || !conv_shape_ok(B, C, OC, K, OH, OW)) return 0;
    afloc_device_scope scope(dev);
    conv_descs d;
    size_t bytes = 0;
    cudnnConvolutionFwdAlgo_t algo;
    const int32_t key[9] = {B, C, H, W, OC, K, stride, pad, dev->math};
    if (!conv_descs_create(dev, &d, B, C, H, W, OC, K, stride, pad, OH, OW,
                           "conv2d_scratch_bytes") ||
        !conv_forward_algo(dev, &d, key, &algo, &bytes, "conv2d_scratch_bytes"))
        bytes = 0;
    conv_descs_destroy(&d);
    return bytes;
}

static void cuda_conv2d_forward(afloc_device *dev, float *out, const float *in,
                                const float *weight, const float *bias, const float *residual,
                                int32_t relu, int32_t B, int32_t C, int32_t H, int32_t W,
                                int32_t OC, int32_t K, int32_t stride, int32_t pad,
                                void *scratch) {
    const int32_t OH = afloc_cuda_out_size(H, K, stride, pad);
    const int32_t OW = afloc_cuda_out_size(W, K, stride, pad);
    if (afloc_cuda_failed(dev) || B <= 0 || OC <= 0 || OH <= 0 || OW <= 0) return;
    afloc_device_scope scope(dev);
    const size_t plane = (size_t)OH * (size_t)OW;
    const size_t total = (size_t)B * (size_t)OC * plane;
    bool ok = false;
    if (!conv_shape_ok(B, C, OC, K, OH, OW)) {
        /* no input channels: an empty reduction, zero before the epilogue (as the CPU's sgemm) */
        ok = afloc_cuda_record_cuda(dev, cudaMemsetAsync(out, 0, total * sizeof(float),
                                                         dev->stream),
                                    "conv2d_forward") == AFLOC_OK;
    } else {
        conv_descs d;
        cudnnConvolutionFwdAlgo_t algo;
        size_t bytes = 0;
        const int32_t key[9] = {B, C, H, W, OC, K, stride, pad, dev->math};
        if (conv_descs_create(dev, &d, B, C, H, W, OC, K, stride, pad, OH, OW,
                              "conv2d_forward") &&
            conv_forward_algo(dev, &d, key, &algo, &bytes, "conv2d_forward")) {
            const float one = 1.0f, zero = 0.0f;
            const cudnnStatus_t s =
                cudnnConvolutionForward(dev->cudnn, &one, d.x, in, d.w, weight, d.conv, algo,
                                        bytes ? scratch : NULL, bytes, &zero, d.y, out);
            if (s != CUDNN_STATUS_SUCCESS) afloc_cuda_record_cudnn(dev, s, "conv2d_forward");
            ok = s == CUDNN_STATUS_SUCCESS;
        }
        conv_descs_destroy(&d);
    }
    if (!ok || (!bias && !residual && !relu)) return;
    conv_epilogue_kernel<<<afloc_cuda_blocks(total, CONV_THREADS), CONV_THREADS, 0,
                           dev->stream>>>(out, bias, residual, relu, total, plane, OC);
    AFLOC_CUDA_LAUNCHED(dev, "conv2d_forward");
}

static size_t cuda_conv2d_backward_scratch_bytes(afloc_device *dev, int32_t B, int32_t C,
                                                 int32_t H, int32_t W, int32_t OC, int32_t K,
                                                 int32_t stride, int32_t pad) {
    const int32_t OH = afloc_cuda_out_size(H, K, stride, pad);
    const int32_t OW = afloc_cuda_out_size(W, K, stride, pad);
    if (afloc_cuda_failed(dev) || !conv_shape_ok(B, C, OC, K, OH, OW)) return 0;
    afloc_device_scope scope(dev);
    conv_descs d;
    size_t data_bytes = 0, filter_bytes = 0;
    if (!conv_descs_create(dev, &d, B, C, H, W, OC, K, stride, pad, OH, OW,
                           "conv2d_backward_scratch_bytes") ||
        !conv_backward_workspace(dev, &d, &data_bytes, &filter_bytes,
                                 "conv2d_backward_scratch_bytes"))
        data_bytes = filter_bytes = 0;
    conv_descs_destroy(&d);
    return data_bytes > filter_bytes ? data_bytes : filter_bytes;
}

static void cuda_conv2d_backward(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                                 const float *dout, const float *input, const float *weight,
                                 int32_t B, int32_t C, int32_t H, int32_t W, int32_t OC,
                                 int32_t K, int32_t stride, int32_t pad, void *scratch) {
    const int32_t OH = afloc_cuda_out_size(H, K, stride, pad);
    const int32_t OW = afloc_cuda_out_size(W, K, stride, pad);
    if (afloc_cuda_failed(dev) || !conv_shape_ok(B, C, OC, K, OH, OW)) return;
    afloc_device_scope scope(dev);
    const size_t plane = (size_t)OH * (size_t)OW;
    if (dbias) {
        conv_bias_grad_kernel<<<(unsigned)OC, CONV_THREADS, 0, dev->stream>>>(dbias, dout, B, OC,
                                                                             plane);
        AFLOC_CUDA_LAUNCHED(dev, "conv2d_backward");
    }
    if (!dinput && !dweight) return;
    conv_descs d;
    size_t data_bytes = 0, filter_bytes = 0;
    if (conv_descs_create(dev, &d, B, C, H, W, OC, K, stride, pad, OH, OW, "conv2d_backward") &&
        conv_backward_workspace(dev, &d, &data_bytes, &filter_bytes, "conv2d_backward")) {
        const float one = 1.0f; /* α = 1, β = 1: accumulate into the gradients */
        if (dinput)
            AFLOC_CUDNN(dev,
                        cudnnConvolutionBackwardData(dev->cudnn, &one, d.w, weight, d.y, dout,
                                                     d.conv, CONV_BWD_DATA_ALGO,
                                                     data_bytes ? scratch : NULL, data_bytes,
                                                     &one, d.x, dinput),
                        "conv2d_backward");
        if (dweight)
            AFLOC_CUDNN(dev,
                        cudnnConvolutionBackwardFilter(dev->cudnn, &one, d.x, input, d.y, dout,
                                                       d.conv, CONV_BWD_FILTER_ALGO,
                                                       filter_bytes ? scratch : NULL,
                                                       filter_bytes, &one, d.w, dweight),
                        "conv2d_backward");
    }
    conv_descs_destroy(&d);
}

extern "C" void afloc_cuda_register_conv(afloc_device_ops *ops) {
    ops->conv2d_forward = cuda_conv2d_forward;
    ops->conv2d_scratch_bytes = cuda_conv2d_scratch_bytes;
    ops->conv2d_backward = cuda_conv2d_backward;
    ops->conv2d_backward_scratch_bytes = cuda_conv2d_backward_scratch_bytes;
}
