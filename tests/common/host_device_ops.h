/* host_device_ops.h: an afloc_device_ops table whose "device" is host memory and whose ops are
 * the CPU backend's (src/cpu/). Test-only. It lets the device-side model code (src/device_model.c:
 * layer walk, pointer translation, batching, workspace planning) run and be checked on a machine
 * without a GPU; on a GPU the same code runs on the plugin's table (tests/cuda/test_cuda_model.c).
 * Only the entries inference uses are filled. */
#ifndef AFLOC_HOST_DEVICE_OPS_H
#define AFLOC_HOST_DEVICE_OPS_H

#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "device_ops.h"

struct afloc_device {
    int32_t math;
    int32_t allocations; /* live allocations, checked by the tests for leaks */
};

static afloc_status host_create(afloc_device **out, int32_t ordinal, int32_t math, char *message,
                                size_t capacity) {
    (void)ordinal;
    (void)message;
    (void)capacity;
    *out = (afloc_device *)calloc(1, sizeof **out);
    if (!*out) return AFLOC_ERR_OUT_OF_MEMORY;
    (*out)->math = math;
    return AFLOC_OK;
}
static void host_destroy(afloc_device *dev) { free(dev); }
static afloc_status host_alloc(afloc_device *dev, void **ptr, size_t bytes) {
    *ptr = NULL;
    if (!bytes) return AFLOC_OK;
    *ptr = calloc(1, bytes);
    if (!*ptr) return AFLOC_ERR_OUT_OF_MEMORY;
    dev->allocations++;
    return AFLOC_OK;
}
static void host_release(afloc_device *dev, void *ptr) {
    if (ptr) dev->allocations--;
    free(ptr);
}
static afloc_status host_upload(afloc_device *dev, void *dst, const void *src, size_t bytes) {
    (void)dev;
    if (bytes) memcpy(dst, src, bytes);
    return AFLOC_OK;
}
static void host_zero(afloc_device *dev, void *ptr, size_t bytes) {
    (void)dev;
    if (bytes) memset(ptr, 0, bytes);
}
static void host_copy(afloc_device *dev, void *dst, const void *src, size_t bytes) {
    (void)dev;
    if (bytes) memcpy(dst, src, bytes);
}
static afloc_status host_sync(afloc_device *dev) {
    (void)dev;
    return AFLOC_OK;
}
static const char *host_message(const afloc_device *dev) {
    (void)dev;
    return "";
}
static int32_t host_mark(afloc_device *dev) {
    (void)dev;
    return 0;
}
static double host_elapsed(afloc_device *dev, int32_t a, int32_t b) {
    (void)dev;
    (void)a;
    (void)b;
    return 0.0;
}
static void host_conv(afloc_device *dev, float *out, const float *in, const float *weight,
                      const float *bias, const float *residual, int32_t relu, int32_t B,
                      int32_t C, int32_t H, int32_t W, int32_t OC, int32_t K, int32_t stride,
                      int32_t pad, void *scratch) {
    (void)dev;
    afloc_cpu_conv2d_forward(out, in, weight, bias, residual, relu, B, C, H, W, OC, K, stride, pad,
                             (float *)scratch);
}
static size_t host_conv_scratch(afloc_device *dev, int32_t B, int32_t C, int32_t H, int32_t W,
                                int32_t OC, int32_t K, int32_t stride, int32_t pad) {
    (void)dev;
    return afloc_cpu_conv2d_scratch_floats(B, C, H, W, OC, K, stride, pad) * sizeof(float);
}
static void host_linear(afloc_device *dev, float *out, const float *in, const float *weight,
                        const float *bias, int32_t gelu, int32_t N, int32_t C, int32_t OC) {
    (void)dev;
    afloc_cpu_linear_forward(out, in, weight, bias, gelu, N, C, OC);
}
static void host_add(afloc_device *dev, float *out, const float *a, const float *b, size_t n) {
    (void)dev;
    afloc_cpu_add_forward(out, a, b, n);
}
static void host_layernorm(afloc_device *dev, float *out, const float *in, const float *weight,
                           const float *bias, int32_t N, int32_t C, float eps) {
    (void)dev;
    afloc_cpu_layernorm_forward(out, in, weight, bias, N, C, eps);
}
static void host_maxpool(afloc_device *dev, float *out, const float *in, int32_t B, int32_t C,
                         int32_t H, int32_t W, int32_t K, int32_t stride, int32_t pad) {
    (void)dev;
    afloc_cpu_maxpool2d_forward(out, in, B, C, H, W, K, stride, pad);
}
static void host_avgpool(afloc_device *dev, float *out, const float *in, int32_t B, int32_t C,
                         int32_t H, int32_t W) {
    (void)dev;
    afloc_cpu_global_avgpool_forward(out, in, B, C, H, W);
}
static void host_resize(afloc_device *dev, float *out, const float *in, int32_t B, int32_t C,
                        int32_t H, int32_t W, int32_t OH, int32_t OW, int32_t align_corners) {
    (void)dev;
    afloc_cpu_bilinear_resize_forward(out, in, B, C, H, W, OH, OW, align_corners);
}
static void host_attention(afloc_device *dev, float *out, const float *qkv, const float *mask,
                           int32_t B, int32_t T, int32_t C, int32_t NH, void *scratch) {
    (void)dev;
    afloc_cpu_attention_forward(out, qkv, mask, B, T, C, NH, (float *)scratch);
}
static size_t host_attention_scratch(afloc_device *dev, int32_t B, int32_t T, int32_t NH) {
    (void)dev;
    return afloc_cpu_attention_scratch_floats(B, T, NH) * sizeof(float);
}
static void host_embedding(afloc_device *dev, float *out, const int32_t *ids,
                           const int32_t *type_ids, const float *word, const float *position,
                           const float *token_type, int32_t T, int32_t C) {
    (void)dev;
    afloc_cpu_embedding_forward(out, ids, type_ids, word, position, token_type, T, C);
}

static void host_similarity(afloc_device *dev, float *out, const float *features,
                            const float *text, int32_t D, int32_t H, int32_t W) {
    (void)dev;
    afloc_cpu_similarity_map_forward(out, features, text, D, H, W);
}
static void host_gaussian(afloc_device *dev, float *out, const float *in, int32_t H, int32_t W,
                          float sigma, float truncate, void *scratch) {
    (void)dev;
    afloc_cpu_gaussian_smooth_forward(out, in, H, W, sigma, truncate, (float *)scratch);
}

static const afloc_device_ops *host_device_ops(void) {
    static afloc_device_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.struct_size = sizeof ops;
    ops.create = host_create;
    ops.destroy = host_destroy;
    ops.alloc = host_alloc;
    ops.release = host_release;
    ops.upload = host_upload;
    ops.download = host_upload;
    ops.zero = host_zero;
    ops.copy = host_copy;
    ops.sync = host_sync;
    ops.message = host_message;
    ops.mark = host_mark;
    ops.elapsed = host_elapsed;
    ops.conv2d_forward = host_conv;
    ops.conv2d_scratch_bytes = host_conv_scratch;
    ops.linear_forward = host_linear;
    ops.add_forward = host_add;
    ops.layernorm_forward = host_layernorm;
    ops.maxpool2d_forward = host_maxpool;
    ops.global_avgpool_forward = host_avgpool;
    ops.bilinear_resize_forward = host_resize;
    ops.attention_forward = host_attention;
    ops.attention_scratch_bytes = host_attention_scratch;
    ops.embedding_forward = host_embedding;
    ops.similarity_map_forward = host_similarity;
    ops.gaussian_smooth_forward = host_gaussian;
    return &ops;
}

#endif /* AFLOC_HOST_DEVICE_OPS_H */
