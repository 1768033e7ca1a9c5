/* device.cu: the device handle (stream, cuBLAS and cuDNN handles, numeric mode), device memory,
 * copies, events, CUDA graph capture and replay, and the first-error bookkeeping every op uses
 * (cuda_common.cuh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

/* ---- error recording ---- */

void afloc_cuda_record(afloc_device *dev, afloc_status status, const char *where,
                       const char *what) {
    /* The first error is kept, except that the error that loses the device replaces an earlier
     * one: its name is what a host needs to see (often a cuBLAS or cuDNN call saw it first as a
     * plain execution failure). */
    const int newly_lost = status == AFLOC_ERR_DEVICE_LOST && !dev->lost;
    if (status == AFLOC_ERR_DEVICE_LOST) dev->lost = 1;
    if (dev->first_error != AFLOC_OK && !newly_lost) return;
    dev->first_error = status;
    snprintf(dev->text, sizeof dev->text, "%s: %s", where, what);
}

/* Errors after which the CUDA context cannot be trusted again (CUDA runtime API docs: "the
 * process must be terminated and relaunched" for these). */
static int is_sticky(cudaError_t error) {
    switch (error) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorECCUncorrectable:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorContained:           /* error containment (NVLink, some hardware faults) */
    case cudaErrorTensorMemoryLeak:
    case cudaErrorMpsClientTerminated:
    case cudaErrorExternalDevice:
        return 1;
    /* not cudaErrorDevicesUnavailable: "busy or unavailable at the current time" (exclusive
     * compute mode), which a later call may not meet */
    default:
        return 0;
    }
}

afloc_status afloc_cuda_record_cuda(afloc_device *dev, cudaError_t error, const char *where) {
    if (error == cudaSuccess) return AFLOC_OK;
    afloc_status status = error == cudaErrorMemoryAllocation ? AFLOC_ERR_OUT_OF_MEMORY
                          : is_sticky(error)                 ? AFLOC_ERR_DEVICE_LOST
                                                             : AFLOC_ERR_INTERNAL;
    char what[200];
    snprintf(what, sizeof what, "%s (%s)", cudaGetErrorName(error), cudaGetErrorString(error));
    afloc_cuda_record(dev, status, where, what);
    return status;
}

void afloc_cuda_record_cublas(afloc_device *dev, cublasStatus_t status, const char *where) {
    char what[160];
    snprintf(what, sizeof what, "cuBLAS %s", cublasGetStatusName(status));
    afloc_cuda_record(dev, status == CUBLAS_STATUS_ALLOC_FAILED ? AFLOC_ERR_OUT_OF_MEMORY
                                                                : AFLOC_ERR_INTERNAL,
                      where, what);
}

/* cuDNN 9 reports a failed allocation as one of two codes: host (the old ALLOC_FAILED is now an
 * alias of it) or device. */
static int cudnn_out_of_memory(cudnnStatus_t status) {
    return status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
           status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
}

void afloc_cuda_record_cudnn(afloc_device *dev, cudnnStatus_t status, const char *where) {
    char what[160];
    snprintf(what, sizeof what, "cuDNN %s", cudnnGetErrorString(status));
    afloc_cuda_record(dev, cudnn_out_of_memory(status) ? AFLOC_ERR_OUT_OF_MEMORY : AFLOC_ERR_INTERNAL,
                      where, what);
}

/* ---- the caller's CUDA context (afloc_device_scope) ---- */

static afloc_cuda_context_api resolve_context_api(void) {
    afloc_cuda_context_api api = {NULL, NULL};
    void *get = NULL, *set = NULL;
    cudaDriverEntryPointQueryResult found_get = cudaDriverEntryPointSymbolNotFound, found_set = found_get;
    if (cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &get, 4000, cudaEnableDefault, &found_get) ==
            cudaSuccess &&
        cudaGetDriverEntryPointByVersion("cuCtxSetCurrent", &set, 4000, cudaEnableDefault, &found_set) ==
            cudaSuccess &&
        found_get == cudaDriverEntryPointSuccess && found_set == cudaDriverEntryPointSuccess && get && set) {
        api.get = (CUresult(*)(CUcontext *))get;
        api.set = (CUresult(*)(CUcontext))set;
    }
    (void)cudaGetLastError(); /* no driver: the scope falls back to device indices */
    return api;
}

const afloc_cuda_context_api *afloc_cuda_context_api_get(void) {
    static const afloc_cuda_context_api api = resolve_context_api(); /* thread-safe (C++11) */
    return api.get && api.set ? &api : NULL;
}

/* ---- the handle ---- */

/* Pins the math modes in code: pedantic fp32 (no TF32, whatever NVIDIA_TF32_OVERRIDE says) for
 * the parity mode; tensor-op math for bf16 (the GEMM compute type is chosen per call, gemm.cu). */
static afloc_status apply_math(afloc_device *dev, int32_t math) {
    if (math != AFLOC_DEVICE_MATH_FP32 && math != AFLOC_DEVICE_MATH_BF16) return AFLOC_ERR_INVALID_ARGUMENT;
    cublasMath_t mode = math == AFLOC_DEVICE_MATH_FP32 ? CUBLAS_PEDANTIC_MATH : CUBLAS_DEFAULT_MATH;
    cublasStatus_t s = cublasSetMathMode(dev->cublas, mode);
    if (s != CUBLAS_STATUS_SUCCESS) {
        afloc_cuda_record_cublas(dev, s, "set_math");
        return AFLOC_ERR_INTERNAL;
    }
    dev->math = math;
    return AFLOC_OK;
}

static void destroy_handle(afloc_device *dev) {
    if (!dev) return;
    afloc_device_scope scope(dev);
    if (dev->stream) cudaStreamSynchronize(dev->stream);
    for (int i = 0; i < AFLOC_DEVICE_EVENTS; i++)
        if (dev->events[i]) cudaEventDestroy(dev->events[i]);
    if (dev->cudnn) cudnnDestroy(dev->cudnn);
    if (dev->cublas) cublasDestroy(dev->cublas);
    if (dev->cublas_workspace) cudaFree(dev->cublas_workspace); /* after the handle that used it */
    if (dev->stream) cudaStreamDestroy(dev->stream);
    free(dev);
}

static afloc_status device_alloc(afloc_device *dev, void **ptr, size_t bytes); /* memory, below */

static afloc_status create_handle(afloc_device **out, int32_t ordinal, int32_t math,
                                  char *message, size_t capacity) {
    if (!out || math < 0 || math > 1) {
        snprintf(message, capacity, "create: bad arguments (math %d)", (int)math);
        return AFLOC_ERR_INVALID_ARGUMENT;
    }
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || ordinal < 0 || ordinal >= count) {
        snprintf(message, capacity, "create: no CUDA device %d (%s, %d visible)", (int)ordinal,
                 cudaGetErrorName(e), count);
        return is_sticky(e) ? AFLOC_ERR_DEVICE_LOST : AFLOC_ERR_BACKEND_UNAVAILABLE;
    }
    afloc_device *dev = (afloc_device *)calloc(1, sizeof *dev);
    if (!dev) {
        snprintf(message, capacity, "create: out of host memory");
        return AFLOC_ERR_OUT_OF_MEMORY;
    }
    dev->ordinal = ordinal;
    afloc_device_scope scope(dev);
    cudaDeviceProp prop;
    const char *failed = NULL;
    char detail[160] = "";
    afloc_status status = AFLOC_ERR_INTERNAL;
    if ((e = cudaGetDeviceProperties(&prop, ordinal)) != cudaSuccess) failed = "cudaGetDeviceProperties";
    else if ((e = cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking)) != cudaSuccess)
        failed = "cudaStreamCreate";
    /* the stream made the runtime bind ordinal's primary context: remember it for the scopes */
    const afloc_cuda_context_api *context_api = afloc_cuda_context_api_get();
    if (!failed && context_api && context_api->get(&dev->context) != CUDA_SUCCESS) dev->context = NULL;
    if (failed) {
        snprintf(detail, sizeof detail, "%s", cudaGetErrorName(e));
        if (e == cudaErrorMemoryAllocation) status = AFLOC_ERR_OUT_OF_MEMORY;
        if (is_sticky(e)) status = AFLOC_ERR_DEVICE_LOST; /* a context poisoned earlier */
    } else {
        dev->sm_count = prop.multiProcessorCount;
        cublasStatus_t cs = cublasCreate(&dev->cublas);
        if (cs != CUBLAS_STATUS_SUCCESS) {
            dev->cublas = NULL;
            failed = "cublasCreate";
            snprintf(detail, sizeof detail, "%s", cublasGetStatusName(cs));
            if (cs == CUBLAS_STATUS_ALLOC_FAILED) status = AFLOC_ERR_OUT_OF_MEMORY;
        } else if ((cs = cublasSetStream(dev->cublas, dev->stream)) != CUBLAS_STATUS_SUCCESS) {
            failed = "cublasSetStream";
            snprintf(detail, sizeof detail, "%s", cublasGetStatusName(cs));
        }
    }
    if (!failed) {
        cudnnStatus_t ds = cudnnCreate(&dev->cudnn);
        if (ds != CUDNN_STATUS_SUCCESS) {
            dev->cudnn = NULL;
            failed = "cudnnCreate";
            snprintf(detail, sizeof detail, "%s", cudnnGetErrorString(ds));
            if (cudnn_out_of_memory(ds)) status = AFLOC_ERR_OUT_OF_MEMORY;
            else if (ds == CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH ||
                     ds == CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
                status = AFLOC_ERR_BACKEND_UNAVAILABLE;
        } else if ((ds = cudnnSetStream(dev->cudnn, dev->stream)) != CUDNN_STATUS_SUCCESS) {
            failed = "cudnnSetStream";
            snprintf(detail, sizeof detail, "%s", cudnnGetErrorString(ds));
        }
    }
    for (int i = 0; !failed && i < AFLOC_DEVICE_EVENTS; i++)
        if ((e = cudaEventCreate(&dev->events[i])) != cudaSuccess) {
            dev->events[i] = NULL;
            failed = "cudaEventCreate";
            snprintf(detail, sizeof detail, "%s", cudaGetErrorName(e));
            if (e == cudaErrorMemoryAllocation) status = AFLOC_ERR_OUT_OF_MEMORY;
        }
    if (!failed) {
        /* cuBLAS's workspace is ours, allocated here and set explicitly, so that (a) its size is
         * pinned in code: otherwise CUBLAS_WORKSPACE_CONFIG in the host's environment sizes the
         * default one, and the size can change which GEMM kernels run (RELIABILITY T11); (b) it
         * is one of our allocations, with the OUT_OF_MEMORY handling and failure injection of
         * every other (T14); (c) cuBLAS never allocates while a graph is being captured. The
         * sizes are the ones the cuBLAS documentation recommends: 32 MiB from Hopper (sm_90) on,
         * 4 MiB before. */
        const size_t bytes = (size_t)(prop.major >= 9 ? 32 : 4) << 20;
        cublasStatus_t cs = CUBLAS_STATUS_SUCCESS;
        afloc_status as = device_alloc(dev, &dev->cublas_workspace, bytes);
        if (as != AFLOC_OK) {
            failed = "allocating the cuBLAS workspace";
            snprintf(detail, sizeof detail, "%zu bytes: %s", bytes,
                     as == AFLOC_ERR_OUT_OF_MEMORY ? "out of device memory" : dev->text);
            status = as;
        } else if ((cs = cublasSetWorkspace(dev->cublas, dev->cublas_workspace, bytes)) !=
                   CUBLAS_STATUS_SUCCESS) {
            failed = "cublasSetWorkspace";
            snprintf(detail, sizeof detail, "%s", cublasGetStatusName(cs));
        }
    }
    if (!failed && apply_math(dev, math) != AFLOC_OK) {
        failed = "cublasSetMathMode";
        snprintf(detail, sizeof detail, "%s", dev->text);
    }
    if (failed) {
        snprintf(message, capacity, "create: %s failed: %s", failed, detail);
        destroy_handle(dev);
        return status;
    }
    *out = dev;
    return AFLOC_OK;
}

/* ---- memory ---- */

static afloc_status device_alloc(afloc_device *dev, void **ptr, size_t bytes) {
    *ptr = NULL;
    if (dev->lost) return AFLOC_ERR_DEVICE_LOST;
    if (bytes == 0) return AFLOC_OK;
    if (afloc_cuda_alloc_injected()) return AFLOC_ERR_OUT_OF_MEMORY; /* test hook (T14) */
    afloc_device_scope scope(dev);
    cudaError_t e = cudaMalloc(ptr, bytes);
    if (e == cudaSuccess) return AFLOC_OK;
    *ptr = NULL;
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError(); /* not sticky: clear it so the handle stays usable */
        return AFLOC_ERR_OUT_OF_MEMORY;
    }
    return afloc_cuda_record_cuda(dev, e, "alloc");
}

static void device_release(afloc_device *dev, void *ptr) {
    if (!ptr) return;
    afloc_device_scope scope(dev);
    cudaError_t e = cudaStreamSynchronize(dev->stream);
    const cudaError_t freed = cudaFree(ptr);
    if (e == cudaSuccess) e = freed;
    if (is_sticky(e)) afloc_cuda_record_cuda(dev, e, "release");
    (void)cudaGetLastError(); /* a failure ignored here must not be charged to the next op */
}

static afloc_status device_upload(afloc_device *dev, void *dst, const void *src, size_t bytes) {
    if (dev->lost) return AFLOC_ERR_DEVICE_LOST;
    if (bytes == 0) return AFLOC_OK;
    afloc_device_scope scope(dev);
    afloc_status s = afloc_cuda_record_cuda(
        dev, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, dev->stream), "upload");
    if (s == AFLOC_OK) s = afloc_cuda_record_cuda(dev, cudaStreamSynchronize(dev->stream), "upload");
    return s != AFLOC_OK ? s : dev->first_error;
}

static afloc_status device_download(afloc_device *dev, void *dst, const void *src, size_t bytes) {
    if (dev->lost) return AFLOC_ERR_DEVICE_LOST;
    afloc_device_scope scope(dev);
    afloc_status s = AFLOC_OK;
    if (bytes)
        s = afloc_cuda_record_cuda(
            dev, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, dev->stream), "download");
    if (s == AFLOC_OK) s = afloc_cuda_record_cuda(dev, cudaStreamSynchronize(dev->stream), "download");
    return s != AFLOC_OK ? s : dev->first_error;
}

static void device_zero(afloc_device *dev, void *ptr, size_t bytes) {
    if (dev->lost || bytes == 0) return;
    afloc_device_scope scope(dev);
    afloc_cuda_record_cuda(dev, cudaMemsetAsync(ptr, 0, bytes, dev->stream), "zero");
}

static void device_copy(afloc_device *dev, void *dst, const void *src, size_t bytes) {
    if (dev->lost || bytes == 0) return;
    afloc_device_scope scope(dev);
    afloc_cuda_record_cuda(
        dev, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, dev->stream), "copy");
}

static afloc_status device_sync(afloc_device *dev) {
    if (dev->lost) return AFLOC_ERR_DEVICE_LOST;
    afloc_device_scope scope(dev);
    afloc_cuda_record_cuda(dev, cudaStreamSynchronize(dev->stream), "sync");
    return dev->lost ? AFLOC_ERR_DEVICE_LOST : dev->first_error;
}

static const char *device_message(const afloc_device *dev) { return dev->text; }

static afloc_status device_set_math(afloc_device *dev, int32_t math) {
    if (dev->lost) return AFLOC_ERR_DEVICE_LOST;
    return apply_math(dev, math);
}

static int32_t device_mark(afloc_device *dev) {
    int32_t index = dev->next_event;
    dev->next_event = (dev->next_event + 1) % AFLOC_DEVICE_EVENTS;
    afloc_device_scope scope(dev);
    afloc_cuda_record_cuda(dev, cudaEventRecord(dev->events[index], dev->stream), "mark");
    return index;
}

static double device_elapsed(afloc_device *dev, int32_t a, int32_t b) {
    if (a < 0 || b < 0 || a >= AFLOC_DEVICE_EVENTS || b >= AFLOC_DEVICE_EVENTS) return -1.0;
    afloc_device_scope scope(dev);
    if (afloc_cuda_record_cuda(dev, cudaEventSynchronize(dev->events[b]), "elapsed") != AFLOC_OK)
        return -1.0;
    float ms = 0.0f;
    if (cudaEventElapsedTime(&ms, dev->events[a], dev->events[b]) != cudaSuccess) {
        (void)cudaGetLastError(); /* e.g. event a never marked: no time, and not the next op's error */
        return -1.0;
    }
    return (double)ms / 1000.0;
}

/* ---- CUDA graphs ---- */

static afloc_status device_capture_begin(afloc_device *dev) {
    if (dev->lost) return AFLOC_ERR_DEVICE_LOST;
    if (dev->first_error != AFLOC_OK) return dev->first_error;
    afloc_device_scope scope(dev);
    /* Thread-local mode: only this thread's unsafe calls (cudaMalloc, a sync) break the capture;
     * other threads driving other handles are not affected. */
    return afloc_cuda_record_cuda(
        dev, cudaStreamBeginCapture(dev->stream, cudaStreamCaptureModeThreadLocal), "capture_begin");
}

/* An op that cannot be captured fails (and invalidates the capture) without touching the device,
 * so such a failure is the capture's, not the handle's: the error recorded while capturing is
 * forgotten unless it made the device lost. */
static afloc_status device_capture_end(afloc_device *dev, void **graph) {
    *graph = NULL;
    afloc_device_scope scope(dev);
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(dev->stream, &g);
    cudaGraphExec_t exec = NULL;
    if (e == cudaSuccess && dev->first_error == AFLOC_OK)
        e = cudaGraphInstantiate(&exec, g, 0);
    if (g) cudaGraphDestroy(g);
    if (e == cudaSuccess && dev->first_error == AFLOC_OK) {
        *graph = (void *)exec;
        return AFLOC_OK;
    }
    if (exec) cudaGraphExecDestroy(exec);
    cudaGetLastError(); /* a failed capture leaves a non-sticky error behind: clear it */
    if (dev->lost) return AFLOC_ERR_DEVICE_LOST;
    dev->first_error = AFLOC_OK;
    dev->text[0] = '\0';
    return AFLOC_ERR_INTERNAL;
}

static void device_graph_launch(afloc_device *dev, void *graph) {
    if (dev->lost || !graph) return;
    afloc_device_scope scope(dev);
    afloc_cuda_record_cuda(dev, cudaGraphLaunch((cudaGraphExec_t)graph, dev->stream), "graph_launch");
}

static void device_graph_free(afloc_device *dev, void *graph) {
    if (!graph) return;
    afloc_device_scope scope(dev);
    const cudaError_t e = cudaStreamSynchronize(dev->stream);
    cudaGraphExecDestroy((cudaGraphExec_t)graph);
    if (is_sticky(e)) afloc_cuda_record_cuda(dev, e, "graph_free");
    (void)cudaGetLastError(); /* as in release: not the next op's error */
}

extern "C" void afloc_cuda_register_device(afloc_device_ops *ops) {
    ops->create = create_handle;
    ops->destroy = destroy_handle;
    ops->alloc = device_alloc;
    ops->release = device_release;
    ops->upload = device_upload;
    ops->download = device_download;
    ops->zero = device_zero;
    ops->copy = device_copy;
    ops->sync = device_sync;
    ops->message = device_message;
    ops->set_math = device_set_math;
    ops->mark = device_mark;
    ops->elapsed = device_elapsed;
    ops->capture_begin = device_capture_begin;
    ops->capture_end = device_capture_end;
    ops->graph_launch = device_graph_launch;
    ops->graph_free = device_graph_free;
}
