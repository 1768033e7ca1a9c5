/* test_hooks.cu: test-only entry points of the CUDA plugin (RELIABILITY.md T14, T15), exported
 * by name for tests/cuda/test_cuda_faults.c, which finds them with dlsym; the library never calls
 * them. They inject a device allocation failure, fill the device's memory (real pressure), poison
 * the CUDA context with a faulting kernel, and read the free device memory. */
#include <atomic>

#include "cuda_common.cuh"

#define AFLOC_TEST_HOOK extern "C" __attribute__((visibility("default")))

/* < 0: injection off; k > 0: the k-th device allocation from now fails as OUT_OF_MEMORY. */
static std::atomic<long> allocations_left(-1);

int afloc_cuda_alloc_injected(void) {
    long left = allocations_left.load();
    while (left > 0)
        if (allocations_left.compare_exchange_weak(left, left - 1)) return left == 1;
    return 0;
}

AFLOC_TEST_HOOK void afloc_cuda_test_fail_alloc(long k) { allocations_left.store(k > 0 ? k : -1); }

/* Writes through a null pointer: an illegal address, a sticky error for the whole CUDA context. */
static __global__ void fault_kernel(float *bad) { bad[threadIdx.x] = 1.0f; }

/* Launches the faulting kernel on device `ordinal` and waits for it; returns the CUDA error the
 * wait gave (cudaErrorIllegalAddress expected). The host's current device is restored. */
AFLOC_TEST_HOOK int afloc_cuda_test_fault(int ordinal) {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(ordinal);
    fault_kernel<<<1, 32>>>(NULL);
    cudaError_t e = cudaDeviceSynchronize();
    cudaSetDevice(previous);
    return (int)e;
}

/* Free memory of device `ordinal` (cudaMemGetInfo); 0 and *free_bytes 0 on error. */
AFLOC_TEST_HOOK int afloc_cuda_test_free_bytes(int ordinal, size_t *free_bytes) {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(ordinal);
    size_t total = 0;
    *free_bytes = 0;
    cudaError_t e = cudaMemGetInfo(free_bytes, &total);
    cudaSetDevice(previous);
    return e == cudaSuccess;
}

/* Real memory pressure (T14 b): blocks taken by afloc_cuda_test_squeeze, freed by
 * afloc_cuda_test_unsqueeze. */
#define SQUEEZE_BLOCKS 4096
static void *squeezed[SQUEEZE_BLOCKS];
static int squeezed_count = 0;

/* Allocates device memory in blocks of 1 GiB, then halving down to 1 MiB, until no 1-MiB block
 * fits; returns the bytes taken. The host's current device is restored. */
AFLOC_TEST_HOOK size_t afloc_cuda_test_squeeze(int ordinal) {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(ordinal);
    size_t taken = 0, block = (size_t)1 << 30;
    while (block >= ((size_t)1 << 20) && squeezed_count < SQUEEZE_BLOCKS) {
        void *p = NULL;
        if (cudaMalloc(&p, block) == cudaSuccess) {
            squeezed[squeezed_count++] = p;
            taken += block;
        } else {
            cudaGetLastError(); /* the allocation failure is not sticky: clear it */
            block /= 2;
        }
    }
    cudaSetDevice(previous);
    return taken;
}

AFLOC_TEST_HOOK void afloc_cuda_test_unsqueeze(int ordinal) {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(ordinal);
    while (squeezed_count > 0) cudaFree(squeezed[--squeezed_count]);
    cudaSetDevice(previous);
}
