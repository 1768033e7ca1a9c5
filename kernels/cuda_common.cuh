/* cuda_common.cuh: what every kernel file of the CUDA plugin shares: the device handle's layout,
 * error recording, launch checks and grid sizing. Internal to libafloc_cuda.so.
 *
 * Error model (RELIABILITY.md, DESIGN.md §2): ops return void and record the FIRST failure in the
 * handle; `sync` returns it. A launch error is checked right after every launch
 * (AFLOC_CUDA_LAUNCHED). Errors that poison the CUDA context (illegal address, launch failure,
 * ECC...) are sticky: the handle answers AFLOC_ERR_DEVICE_LOST from then on and never resets the
 * device (other users of the process may share it). */
#ifndef AFLOC_CUDA_COMMON_CUH
#define AFLOC_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda.h> /* CUcontext, CUresult: types only; the functions come through the runtime */
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdint.h>

extern "C" {
#include "device_ops.h"
}

#define AFLOC_DEVICE_EVENTS 64
#define AFLOC_CONV_CACHE 256

/* A forward convolution algorithm chosen for one shape and mode (conv.cu): cuDNN's heuristic
 * query costs about a millisecond, far more than running a small conv, so it runs once per shape. */
struct afloc_conv_algo {
    int32_t key[9];    /* B, C, H, W, OC, K, stride, pad, math */
    int32_t algo;      /* cudnnConvolutionFwdAlgo_t             */
    int32_t math_type; /* cudnnMathType_t                       */
    size_t  bytes;     /* workspace                             */
};

struct afloc_device {
    int32_t        ordinal;
    CUcontext      context;       /* ordinal's primary context (create); NULL if unknown  */
    int32_t        math;          /* AFLOC_DEVICE_MATH_*                                 */
    int32_t        sm_count;      /* multiprocessors, for grid sizing                     */
    cudaStream_t   stream;
    cublasHandle_t cublas;
    void          *cublas_workspace; /* set with cublasSetWorkspace (device.cu)        */
    cudnnHandle_t  cudnn;
    afloc_status   first_error;   /* AFLOC_OK until something fails                       */
    int32_t        lost;          /* 1 after a sticky CUDA error                          */
    char           text[256];     /* message of first_error                               */
    cudaEvent_t    events[AFLOC_DEVICE_EVENTS];
    int32_t        next_event;
    afloc_conv_algo conv_cache[AFLOC_CONV_CACHE]; /* conv.cu; round robin when full       */
    int32_t        conv_cache_count, conv_cache_next;
};

/* Records a failure (the first one wins); `where` names the op, `what` the call that failed. */
void afloc_cuda_record(afloc_device *dev, afloc_status status, const char *where,
                       const char *what);
/* Records a CUDA runtime error, classifying sticky ones as DEVICE_LOST and allocation failures
 * as OUT_OF_MEMORY. Returns the status recorded (AFLOC_OK for cudaSuccess). */
afloc_status afloc_cuda_record_cuda(afloc_device *dev, cudaError_t error, const char *where);
void afloc_cuda_record_cublas(afloc_device *dev, cublasStatus_t status, const char *where);
void afloc_cuda_record_cudnn(afloc_device *dev, cudnnStatus_t status, const char *where);

/* 1 when the test hook (test_hooks.cu) says this device allocation must fail, else 0. */
int afloc_cuda_alloc_injected(void);

/* Checks the launch just made (cudaGetLastError) and records a failure under `where`. */
#define AFLOC_CUDA_LAUNCHED(dev, where) afloc_cuda_record_cuda((dev), cudaGetLastError(), (where))
#define AFLOC_CUBLAS(dev, call, where)                                          \
    do {                                                                        \
        cublasStatus_t s_ = (call);                                             \
        if (s_ != CUBLAS_STATUS_SUCCESS) afloc_cuda_record_cublas((dev), s_, (where)); \
    } while (0)
#define AFLOC_CUDNN(dev, call, where)                                           \
    do {                                                                        \
        cudnnStatus_t s_ = (call);                                              \
        if (s_ != CUDNN_STATUS_SUCCESS) afloc_cuda_record_cudnn((dev), s_, (where)); \
    } while (0)

/* True when the handle already failed: ops return early instead of queueing more work. */
static inline bool afloc_cuda_failed(const afloc_device *dev) { return dev->lost != 0; }

/* cuCtxGetCurrent and cuCtxSetCurrent, resolved once through the runtime's driver entry points
 * (the plugin does not link libcuda); NULL when the driver does not offer them (device.cu). */
struct afloc_cuda_context_api {
    CUresult (*get)(CUcontext *);
    CUresult (*set)(CUcontext);
};
const afloc_cuda_context_api *afloc_cuda_context_api_get(void);

/* Makes dev's GPU current for the scope and gives the caller back exactly the CUDA context it had
 * (RELIABILITY T21): its own context, another device's, or none at all. Restoring a device
 * index instead would bind the primary context of device 0 on a thread that had none, and could
 * leave an error behind (exclusive compute mode) that the next op would take for its own. */
struct afloc_device_scope {
    const afloc_cuda_context_api *api;
    CUcontext previous = NULL;
    int previous_device = -1;
    bool restore = false;
    explicit afloc_device_scope(const afloc_device *dev) : api(afloc_cuda_context_api_get()) {
        if (api && api->get(&previous) != CUDA_SUCCESS) api = NULL;
        if (api) {
            if (dev->context && previous == dev->context) return;
            restore = true;
            if (dev->context && api->set(dev->context) == CUDA_SUCCESS) return;
        } else {
            if (cudaGetDevice(&previous_device) != cudaSuccess) previous_device = -1;
            if (previous_device == dev->ordinal) return;
            restore = previous_device >= 0;
        }
        if (cudaSetDevice(dev->ordinal) != cudaSuccess)
            (void)cudaGetLastError(); /* the op's own calls then fail, under its name */
    }
    ~afloc_device_scope() {
        if (!restore) return;
        if (api) api->set(previous);
        else if (cudaSetDevice(previous_device) != cudaSuccess) (void)cudaGetLastError();
    }
};

/* Output side of a K-window at `stride` and `pad`, as afloc_conv_out_size (src/cpu/conv.c) and
 * the caller's buffers: 0 when no window fits (C's division truncates towards zero, so the bare
 * formula would count one window for a span of -1). Convolution and pooling both use it. */
static inline int32_t afloc_cuda_out_size(int32_t n, int32_t k, int32_t stride, int32_t pad) {
    const int32_t span = n + 2 * pad - k;
    if (span < 0 || stride <= 0) return 0;
    return span / stride + 1;
}

/* Grid size for a grid-stride loop over n elements with `threads` per block, capped so that a
 * huge n does not exceed the grid limit (the loop covers the rest). */
static inline unsigned afloc_cuda_blocks(size_t n, unsigned threads) {
    size_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535u * 8u) blocks = 65535u * 8u;
    return blocks ? (unsigned)blocks : 1u;
}

/* Registration: each kernel family fills its entries of the table (plugin.cu calls them all). */
extern "C" {
void afloc_cuda_register_device(afloc_device_ops *ops);
void afloc_cuda_register_conv(afloc_device_ops *ops);
void afloc_cuda_register_gemm(afloc_device_ops *ops);
void afloc_cuda_register_batchnorm(afloc_device_ops *ops);
void afloc_cuda_register_elementwise(afloc_device_ops *ops);
void afloc_cuda_register_norm(afloc_device_ops *ops);
void afloc_cuda_register_softmax(afloc_device_ops *ops);
void afloc_cuda_register_pool(afloc_device_ops *ops);
void afloc_cuda_register_resize(afloc_device_ops *ops);
void afloc_cuda_register_attention(afloc_device_ops *ops);
void afloc_cuda_register_embedding(afloc_device_ops *ops);
void afloc_cuda_register_similarity(afloc_device_ops *ops);
void afloc_cuda_register_contrastive(afloc_device_ops *ops);
void afloc_cuda_register_adam(afloc_device_ops *ops);
void afloc_cuda_register_position(afloc_device_ops *ops);
}

#endif /* AFLOC_CUDA_COMMON_CUH */
