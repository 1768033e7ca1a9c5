/* plugin.cu: the CUDA plugin's entry point. Exports one symbol, afloc_cuda_backend_table, that
 * returns the backend table of src/backend.h: the device query and the compute table
 * (src/device_ops.h), which each kernel family fills through its afloc_cuda_register_* function.
 * The CUDA runtime is linked statically, so the plugin loads on machines without a driver and
 * reports "no driver" instead of failing to load (cuBLAS and cuDNN are shared libraries: without
 * them the plugin does not load, and the context says so). */
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdio.h>

#include "cuda_common.cuh"

extern "C" {
#include "backend.h"
}

static int32_t classify_error(cudaError_t error) {
    switch (error) {
    case cudaSuccess:                 return AFLOC_PLUGIN_OK;
    case cudaErrorInsufficientDriver: return AFLOC_PLUGIN_NO_DRIVER;
    case cudaErrorNoDevice:           return AFLOC_PLUGIN_NO_DEVICE;
    default:                          return AFLOC_PLUGIN_ERROR;
    }
}

static int32_t cuda_device_count(int32_t *count, char *message, size_t capacity) {
    int n = 0;
    cudaError_t error = cudaGetDeviceCount(&n);
    *count = error == cudaSuccess ? n : 0;
    if (error != cudaSuccess)
        snprintf(message, capacity, "cudaGetDeviceCount: %s (%s)", cudaGetErrorName(error),
                 cudaGetErrorString(error));
    return classify_error(error);
}

static int32_t cuda_device_describe(int32_t ordinal, char *message, size_t capacity) {
    cudaDeviceProp prop;
    cudaError_t error = cudaGetDeviceProperties(&prop, ordinal);
    if (error != cudaSuccess) {
        snprintf(message, capacity, "cudaGetDeviceProperties(%d): %s", (int)ordinal,
                 cudaGetErrorName(error));
        return classify_error(error);
    }
    int runtime = 0, driver = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    snprintf(message, capacity, "%s, sm_%d%d, %.1f GiB, runtime %d, driver %d", prop.name,
             prop.major, prop.minor, (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0),
             runtime, driver);
    return AFLOC_PLUGIN_OK;
}

/* Weak, so that a plugin built while a kernel family is missing still loads and says what it
 * lacks: tests/cuda/test_cuda_table.c fails on any empty entry, and the core refuses such a table. */
#define AFLOC_WEAK_REGISTER(family) \
    extern "C" void afloc_cuda_register_##family(afloc_device_ops *ops) __attribute__((weak));
AFLOC_WEAK_REGISTER(device)
AFLOC_WEAK_REGISTER(conv)
AFLOC_WEAK_REGISTER(gemm)
AFLOC_WEAK_REGISTER(batchnorm)
AFLOC_WEAK_REGISTER(elementwise)
AFLOC_WEAK_REGISTER(norm)
AFLOC_WEAK_REGISTER(softmax)
AFLOC_WEAK_REGISTER(pool)
AFLOC_WEAK_REGISTER(resize)
AFLOC_WEAK_REGISTER(attention)
AFLOC_WEAK_REGISTER(embedding)
AFLOC_WEAK_REGISTER(similarity)
AFLOC_WEAK_REGISTER(contrastive)
AFLOC_WEAK_REGISTER(adam)
AFLOC_WEAK_REGISTER(text_aggregate)
AFLOC_WEAK_REGISTER(position)
#define AFLOC_REGISTER(family) \
    if (afloc_cuda_register_##family) afloc_cuda_register_##family(&device_ops)

static afloc_device_ops device_ops;
static afloc_backend_table cuda_table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void fill_tables(void) {
    device_ops.struct_size = (uint32_t)sizeof(afloc_device_ops);
    AFLOC_REGISTER(device);
    AFLOC_REGISTER(conv);
    AFLOC_REGISTER(gemm);
    AFLOC_REGISTER(batchnorm);
    AFLOC_REGISTER(elementwise);
    AFLOC_REGISTER(norm);
    AFLOC_REGISTER(softmax);
    AFLOC_REGISTER(pool);
    AFLOC_REGISTER(resize);
    AFLOC_REGISTER(attention);
    AFLOC_REGISTER(embedding);
    AFLOC_REGISTER(similarity);
    AFLOC_REGISTER(contrastive);
    AFLOC_REGISTER(adam);
    AFLOC_REGISTER(text_aggregate);
    AFLOC_REGISTER(position);
    cuda_table.abi_version = AFLOC_BACKEND_ABI_VERSION;
    cuda_table.struct_size = (uint32_t)sizeof(afloc_backend_table);
    cuda_table.name = "cuda";
    cuda_table.device_count = cuda_device_count;
    cuda_table.device_describe = cuda_device_describe;
    cuda_table.device = &device_ops;
}

extern "C" __attribute__((visibility("default"))) const afloc_backend_table *
afloc_cuda_backend_table(void) {
    pthread_once(&table_once, fill_tables);
    return &cuda_table;
}
