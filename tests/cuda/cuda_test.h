/* cuda_test.h: the harness of the CUDA parity tests (tests/cuda/). Each test opens the plugin
 * through a CUDA context (skipping with ctest's code 77 and the reason when there is no plugin,
 * driver or device), runs an op on the device and its CPU twin (src/cpu/) on the same random
 * inputs, and compares them with a stated tolerance, printing one line per comparison:
 *
 *   <op> <shape>: max|diff| A (B of max|cpu|), tol T  ok
 *
 * The error measure is max|gpu − cpu| / max(max|cpu|, 1e-30), the same scale-relative measure as
 * the PyTorch parity tests. Device buffers are tracked and freed by cuda_test_close. */
#ifndef AFLOC_CUDA_TEST_H
#define AFLOC_CUDA_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "device_ops.h"
#include "test_util.h"

#define CUDA_TEST_MAX_BUFFERS 4096

typedef struct cuda_test {
    afloc_context          *context;
    const afloc_device_ops *ops;
    afloc_device           *dev;
    void                   *buffers[CUDA_TEST_MAX_BUFFERS];
    int                     count;
} cuda_test;

/* The plugin beside this executable (how scripts/gpu-check.sh lays out carried binaries), else
 * $AFLOC_CUDA_PLUGIN, else the build tree's. */
static inline void cuda_test_plugin_path(char *path, size_t capacity) {
    const char *env = getenv("AFLOC_CUDA_PLUGIN");
    if (env && env[0]) {
        snprintf(path, capacity, "%s", env);
        return;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(path, capacity, "%s/libafloc_cuda.so", exe);
            if (access(path, R_OK) == 0) return;
        }
    }
    const char *bin = getenv("AFLOC_BINARY_DIR");
    snprintf(path, capacity, "%s/libafloc_cuda.so", bin ? bin : ".");
}

/* A CUDA context on the plugin cuda_test_plugin_path finds (its path left in plugin[capacity]).
 * Returns 0, TEST_SKIP when there is no device (printing the reason) or 1 for a device that
 * fails (printing the error). */
static inline int cuda_test_context(afloc_context **context, char *plugin, size_t capacity) {
    cuda_test_plugin_path(plugin, capacity);
    afloc_context_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CUDA;
    options.plugin_path = plugin;
    afloc_status status = afloc_context_create(&options, context);
    if (status == AFLOC_ERR_BACKEND_UNAVAILABLE) {
        printf("SKIP: no CUDA device: %s\n", afloc_last_error());
        return TEST_SKIP;
    }
    if (status != AFLOC_OK) {
        fprintf(stderr, "CUDA context: %s: %s\n", afloc_status_string(status), afloc_last_error());
        return 1;
    }
    return 0;
}

/* Opens the device in `math` mode or exits with TEST_SKIP (no device) / 1 (a device that fails). */
static inline void cuda_test_open(cuda_test *t, int32_t math) {
    memset(t, 0, sizeof *t);
    char path[4200];
    int rc = cuda_test_context(&t->context, path, sizeof path);
    if (rc) exit(rc);
    t->ops = t->context->cuda->device;
    char message[256] = "";
    afloc_status status = t->ops->create(&t->dev, 0, math, message, sizeof message);
    if (status != AFLOC_OK) {
        fprintf(stderr, "device create: %s: %s\n", afloc_status_string(status), message);
        exit(1);
    }
}

static inline void cuda_test_close(cuda_test *t) {
    for (int i = 0; i < t->count; i++) t->ops->release(t->dev, t->buffers[i]);
    t->ops->destroy(t->dev);
    afloc_context_free(t->context);
    memset(t, 0, sizeof *t);
}

/* A zeroed device buffer of `bytes`, freed at close; exits on failure (a test cannot go on). */
static inline void *cuda_test_alloc(cuda_test *t, size_t bytes) {
    void *p = NULL;
    afloc_status status = t->ops->alloc(t->dev, &p, bytes ? bytes : 4);
    if (status != AFLOC_OK || t->count >= CUDA_TEST_MAX_BUFFERS) {
        fprintf(stderr, "cuda_test_alloc(%zu): %s %s\n", bytes, afloc_status_string(status),
                t->ops->message(t->dev));
        exit(1);
    }
    t->ops->zero(t->dev, p, bytes ? bytes : 4);
    t->buffers[t->count++] = p;
    return p;
}

/* Device copy of n host floats (or int32s). */
static inline float *cuda_test_upload(cuda_test *t, const float *host, size_t n) {
    float *d = (float *)cuda_test_alloc(t, n * sizeof(float));
    if (n && t->ops->upload(t->dev, d, host, n * sizeof(float)) != AFLOC_OK) {
        fprintf(stderr, "upload: %s\n", t->ops->message(t->dev));
        exit(1);
    }
    return d;
}
static inline int32_t *cuda_test_upload_i32(cuda_test *t, const int32_t *host, size_t n) {
    int32_t *d = (int32_t *)cuda_test_alloc(t, n * sizeof(int32_t));
    if (n && t->ops->upload(t->dev, d, host, n * sizeof(int32_t)) != AFLOC_OK) {
        fprintf(stderr, "upload: %s\n", t->ops->message(t->dev));
        exit(1);
    }
    return d;
}

/* Waits for the device and copies n floats back into host; a device error fails the test. */
static inline void cuda_test_download(cuda_test *t, float *host, const float *device, size_t n) {
    afloc_status status = t->ops->download(t->dev, host, device, n * sizeof(float));
    if (status != AFLOC_OK) {
        fprintf(stderr, "download: %s: %s\n", afloc_status_string(status), t->ops->message(t->dev));
        test_failures++;
        memset(host, 0, n * sizeof(float));
    }
}

/* Host buffer of n floats (calloc; exits on failure), and uniform random values in [lo, hi)
 * from a fixed-seed xorshift generator, so every run sees the same inputs. */
static inline float *cuda_test_host(size_t n) {
    float *p = (float *)calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    return p;
}
static inline float *cuda_test_random(size_t n, float lo, float hi, uint64_t seed) {
    float *p = cuda_test_host(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
    return p;
}

/* Compares device results with the CPU twin's: the scale-relative error must be <= tol. Returns
 * the error; prints the line described above. */
static inline double cuda_test_compare(const char *op, const char *shape, const float *gpu,
                                const float *cpu, size_t n, double tol) {
    double max_diff = 0.0, max_ref = 0.0;
    size_t worst = 0;
    int nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        double ref = fabs((double)cpu[i]);
        if (ref > max_ref) max_ref = ref;
        if (isfinite(cpu[i]) != isfinite(gpu[i])) nonfinite++;
        double d = fabs((double)gpu[i] - (double)cpu[i]);
        if (isfinite(d) && d > max_diff) {
            max_diff = d;
            worst = i;
        }
    }
    double err = max_diff / (max_ref > 1e-30 ? max_ref : 1e-30);
    int ok = err <= tol && nonfinite == 0;
    printf("%-28s %-26s max|diff| %.3g (%.3g of max|cpu| %.3g), tol %.1g%s  %s\n", op, shape,
           max_diff, err, max_ref, tol, nonfinite ? ", NON-FINITE MISMATCH" : "",
           ok ? "ok" : "FAIL");
    if (!ok) {
        if (n) fprintf(stderr, "  worst at %zu: gpu %.9g cpu %.9g\n", worst, (double)gpu[worst],
                       (double)cpu[worst]);
        test_failures++;
    }
    return err;
}

/* Elements whose bits differ between gpu and cpu (n floats each). */
static inline size_t cuda_test_bit_diffs(const float *gpu, const float *cpu, size_t n) {
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0;
    return differ;
}

/* Prints how many elements differ in their bits, for ops expected bit-exact. */
static inline void cuda_test_report_bits(const char *op, const char *shape, const float *gpu,
                                         const float *cpu, size_t n) {
    printf("%-28s %-26s bit-exact: %zu of %zu elements differ\n", op, shape,
           cuda_test_bit_diffs(gpu, cpu, n), n);
}

/* Checks the handle has recorded no error so far (sync). */
static inline void cuda_test_sync(cuda_test *t, const char *what) {
    afloc_status status = t->ops->sync(t->dev);
    if (status != AFLOC_OK) {
        fprintf(stderr, "%s: device error %s: %s\n", what, afloc_status_string(status),
                t->ops->message(t->dev));
        test_failures++;
    }
}

#endif /* AFLOC_CUDA_TEST_H */
