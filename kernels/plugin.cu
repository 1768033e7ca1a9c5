/* plugin.cu: the CUDA plugin's entry point. Exports one symbol, afloc_cuda_backend_table, that
 * returns the backend table of src/backend.h. In this version the table holds the device query
 * only; op launchers are appended by the CUDA backend work. The CUDA runtime is linked statically,
 * so the plugin loads on machines without a driver and reports "no driver" instead of failing
 * to load. */
#include <cuda_runtime.h>
#include <stdio.h>

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

static const afloc_backend_table cuda_table = {
    AFLOC_BACKEND_ABI_VERSION,
    (uint32_t)sizeof(afloc_backend_table),
    "cuda",
    cuda_device_count,
    cuda_device_describe,
};

extern "C" __attribute__((visibility("default"))) const afloc_backend_table *
afloc_cuda_backend_table(void) {
    return &cuda_table;
}
