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

static int32_t host_live_allocations = 0;
static int32_t host_fail_countdown = -1;
static int32_t host_transfer_fail_countdown = -1; /* > 0: that upload / download fails (DEVICE_LOST) */

static int host_transfer_fails(void) {
    if (host_transfer_fail_countdown > 0 && --host_transfer_fail_countdown == 0) {
        host_transfer_fail_countdown = -1;
        return 1;
    }
    return 0;
}

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
    if (host_fail_countdown > 0 && --host_fail_countdown == 0) {
        host_fail_countdown = -1;
        return AFLOC_ERR_OUT_OF_MEMORY;
    }
    *ptr = calloc(1, bytes);
    if (!*ptr) return AFLOC_ERR_OUT_OF_MEMORY;
    dev->allocations++;
    host_live_allocations++;
    return AFLOC_OK;
}
static void host_release(afloc_device *dev, void *ptr) {
    if (ptr) {
        dev->allocations--;
        host_live_allocations--;
    }
    free(ptr);
}
static afloc_status host_set_math(afloc_device *dev, int32_t math) {
    dev->math = math;
    return AFLOC_OK;
}
static afloc_status host_upload(afloc_device *dev, void *dst, const void *src, size_t bytes) {
    (void)dev;
    if (host_transfer_fails()) return AFLOC_ERR_DEVICE_LOST;
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
static void host_sample(afloc_device *dev, float *out, const float *in, int32_t B, int32_t C,
                        int32_t H, int32_t W, int32_t OH, int32_t OW, float step_y, float step_x) {
    (void)dev;
    afloc_cpu_bilinear_sample_forward(out, in, B, C, H, W, OH, OW, step_y, step_x);
}
static void host_cubic_sample(afloc_device *dev, float *out, const float *in, int32_t B, int32_t C,
                              int32_t H, int32_t W, int32_t OH, int32_t OW, float step_y,
                              float step_x) {
    (void)dev;
    afloc_cpu_bicubic_sample_forward(out, in, B, C, H, W, OH, OW, step_y, step_x);
}
static void host_position(afloc_device *dev, float *y, const float *weight, int32_t B, int32_t C,
                          int32_t H, int32_t W) {
    (void)dev;
    afloc_cpu_position_add_forward(y, weight, B, C, H, W);
}
static void host_position_backward(afloc_device *dev, float *dweight, const float *dy, int32_t B,
                                   int32_t C, int32_t H, int32_t W) {
    (void)dev;
    afloc_cpu_position_add_backward(dweight, dy, B, C, H, W);
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

/* ---- training entries ---- */

static void host_conv_backward(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                               const float *dout, const float *input, const float *weight,
                               int32_t B, int32_t C, int32_t H, int32_t W, int32_t OC, int32_t K,
                               int32_t stride, int32_t pad, void *scratch) {
    (void)dev;
    afloc_cpu_conv2d_backward(dinput, dweight, dbias, dout, input, weight, B, C, H, W, OC, K,
                              stride, pad, (float *)scratch);
}
static size_t host_conv_backward_scratch(afloc_device *dev, int32_t B, int32_t C, int32_t H,
                                         int32_t W, int32_t OC, int32_t K, int32_t stride,
                                         int32_t pad) {
    (void)dev;
    return afloc_cpu_conv2d_backward_scratch_floats(B, C, H, W, OC, K, stride, pad) * sizeof(float);
}
static void host_linear_backward(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                                 const float *dout, const float *input, const float *weight,
                                 int32_t N, int32_t C, int32_t OC) {
    (void)dev;
    afloc_cpu_linear_backward(dinput, dweight, dbias, dout, input, weight, N, C, OC);
}
static void host_bn_train(afloc_device *dev, float *out, float *mean_saved, float *rstd_saved,
                          float *running_mean, float *running_var, const float *in,
                          const float *gamma, const float *beta, int32_t B, int32_t C, int32_t H,
                          int32_t W, float eps, float momentum) {
    (void)dev;
    afloc_cpu_batchnorm2d_train_forward(out, mean_saved, rstd_saved, running_mean, running_var, in,
                                        gamma, beta, B, C, H, W, eps, momentum);
}
static void host_bn_backward(afloc_device *dev, float *dinput, float *dgamma, float *dbeta,
                             const float *dout, const float *in, const float *mean_saved,
                             const float *rstd_saved, const float *gamma, int32_t B, int32_t C,
                             int32_t H, int32_t W) {
    (void)dev;
    afloc_cpu_batchnorm2d_backward(dinput, dgamma, dbeta, dout, in, mean_saved, rstd_saved, gamma,
                                   B, C, H, W);
}
static void host_gelu(afloc_device *dev, float *out, const float *in, size_t n) {
    (void)dev;
    afloc_cpu_gelu_forward(out, in, n);
}
static void host_gelu_backward(afloc_device *dev, float *dinput, const float *dout,
                               const float *input, size_t n) {
    (void)dev;
    afloc_cpu_gelu_backward(dinput, dout, input, n);
}
static void host_relu(afloc_device *dev, float *out, const float *in, size_t n) {
    (void)dev;
    afloc_cpu_relu_forward(out, in, n);
}
static void host_relu_backward(afloc_device *dev, float *dinput, const float *dout,
                               const float *output, size_t n) {
    (void)dev;
    afloc_cpu_relu_backward(dinput, dout, output, n);
}
static void host_dropout_mask(afloc_device *dev, float *mask, size_t n, float p, uint64_t seed,
                              uint64_t offset) {
    (void)dev;
    afloc_cpu_dropout_mask(mask, n, p, seed, offset);
}
static void host_dropout(afloc_device *dev, float *out, const float *in, const float *mask,
                         size_t n) {
    (void)dev;
    afloc_cpu_dropout_forward(out, in, mask, n);
}
static void host_dropout_backward(afloc_device *dev, float *dinput, const float *dout,
                                  const float *mask, size_t n) {
    (void)dev;
    afloc_cpu_dropout_backward(dinput, dout, mask, n);
}
static void host_layernorm_train(afloc_device *dev, float *out, float *mean, float *rstd,
                                 const float *in, const float *weight, const float *bias,
                                 int32_t N, int32_t C, float eps) {
    (void)dev;
    afloc_cpu_layernorm_forward_train(out, mean, rstd, in, weight, bias, N, C, eps);
}
static void host_layernorm_backward(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                                    const float *dout, const float *input, const float *weight,
                                    const float *mean, const float *rstd, int32_t N, int32_t C) {
    (void)dev;
    afloc_cpu_layernorm_backward(dinput, dweight, dbias, dout, input, weight, mean, rstd, N, C);
}
static void host_maxpool_backward(afloc_device *dev, float *dinput, const float *dout,
                                  const float *input, int32_t B, int32_t C, int32_t H, int32_t W,
                                  int32_t K, int32_t stride, int32_t pad) {
    (void)dev;
    afloc_cpu_maxpool2d_backward(dinput, dout, input, B, C, H, W, K, stride, pad);
}
static void host_avgpool_backward(afloc_device *dev, float *dinput, const float *dout, int32_t B,
                                  int32_t C, int32_t H, int32_t W) {
    (void)dev;
    afloc_cpu_global_avgpool_backward(dinput, dout, B, C, H, W);
}
static void host_resize_backward(afloc_device *dev, float *dinput, const float *dout, int32_t B,
                                 int32_t C, int32_t H, int32_t W, int32_t OH, int32_t OW,
                                 int32_t align_corners) {
    (void)dev;
    afloc_cpu_bilinear_resize_backward(dinput, dout, B, C, H, W, OH, OW, align_corners);
}
static void host_attention_train(afloc_device *dev, float *out, float *probs, const float *qkv,
                                 const float *mask, const float *dropout_mask, int32_t B,
                                 int32_t T, int32_t C, int32_t NH, void *scratch) {
    (void)dev;
    afloc_cpu_attention_forward_train(out, probs, qkv, mask, dropout_mask, B, T, C, NH,
                                      (float *)scratch);
}
static void host_attention_backward(afloc_device *dev, float *dqkv, const float *dout,
                                    const float *qkv, const float *probs,
                                    const float *dropout_mask, int32_t B, int32_t T, int32_t C,
                                    int32_t NH, void *scratch) {
    (void)dev;
    afloc_cpu_attention_backward(dqkv, dout, qkv, probs, dropout_mask, B, T, C, NH,
                                 (float *)scratch);
}
static size_t host_attention_backward_scratch(afloc_device *dev, int32_t B, int32_t T, int32_t NH) {
    (void)dev;
    return afloc_cpu_attention_backward_scratch_floats(B, T, NH) * sizeof(float);
}
static void host_embedding_backward(afloc_device *dev, float *dword, float *dposition,
                                    float *dtoken_type, const float *dout, const int32_t *ids,
                                    const int32_t *type_ids, int32_t T, int32_t C) {
    (void)dev;
    afloc_cpu_embedding_backward(dword, dposition, dtoken_type, dout, ids, type_ids, T, C);
}
static void host_global_loss(afloc_device *dev, float *loss, float *dimage, float *dtext,
                             const float *image, const float *text, int32_t B, int32_t D,
                             float temp3, void *scratch) {
    (void)dev;
    *loss = afloc_cpu_global_loss(dimage, dtext, image, text, B, D, temp3, (float *)scratch);
}
static size_t host_global_loss_scratch(afloc_device *dev, int32_t B, int32_t D) {
    (void)dev;
    (void)D;
    return afloc_cpu_global_loss_scratch_floats(B) * sizeof(float);
}
static void host_local_loss(afloc_device *dev, float *loss, float *dimage, float *dtext,
                            float *attention, const float *image, const float *text,
                            const int32_t *cap_len, int32_t B, int32_t D, int32_t S, int32_t T,
                            float temp1, float temp2, float temp3, void *scratch) {
    (void)dev;
    *loss = afloc_cpu_local_loss(dimage, dtext, attention, image, text, cap_len, B, D, S, T,
                                 temp1, temp2, temp3, (float *)scratch);
}
static size_t host_local_loss_scratch(afloc_device *dev, int32_t B, int32_t D, int32_t S,
                                      int32_t T) {
    (void)dev;
    return afloc_cpu_local_loss_scratch_floats(B, D, S, T) * sizeof(float);
}
static void host_sentence_contrast(afloc_device *dev, float *loss, float *dimage, float *dtext,
                                   const float *image, const float *text,
                                   const int32_t *cap_len, int32_t B, int32_t D, int32_t S,
                                   int32_t T, float temp1, float temp3, float weight,
                                   void *scratch) {
    (void)dev;
    *loss = afloc_cpu_sentence_contrast_loss(dimage, dtext, image, text, cap_len, B, D, S, T,
                                             temp1, temp3, weight, (float *)scratch);
}
static size_t host_sentence_contrast_scratch(afloc_device *dev, int32_t B, int32_t D, int32_t S,
                                             int32_t T) {
    (void)dev;
    (void)B;
    return afloc_cpu_sentence_contrast_scratch_floats(D, S, T) * sizeof(float);
}
static void host_adam(afloc_device *dev, float *params, float *m, float *v, const float *grads,
                      size_t n, double lr, double beta1, double beta2, double eps,
                      double weight_decay, int64_t step, float grad_scale) {
    (void)dev;
    afloc_cpu_adam_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, step,
                          grad_scale);
}
static void host_sum_squares(afloc_device *dev, double *out, const float *x, size_t n,
                             void *scratch) {
    (void)dev;
    (void)scratch;
    *out = afloc_cpu_sum_squares(x, n);
}
static size_t host_sum_squares_scratch(afloc_device *dev, size_t n) {
    (void)dev;
    (void)n;
    return 0;
}

static void host_text_aggregate(afloc_device *dev, float *words, float *sent, float *report,
                                const float *hsum, const int32_t *units, int32_t B, int32_t C,
                                int32_t T) {
    (void)dev;
    afloc_cpu_text_aggregate_forward(words, sent, report, hsum, units, B, C, T);
}
static void host_text_aggregate_backward(afloc_device *dev, float *dh, const float *gw,
                                         const float *gs, const float *gr, const int32_t *units,
                                         int32_t B, int32_t C, int32_t T, float *dslot) {
    (void)dev;
    afloc_cpu_text_aggregate_backward(dh, gw, gs, gr, units, B, C, T, dslot);
}

/* No CUDA graphs on the host: capture always fails, so the device model's eager fallback runs. */
static afloc_status host_capture_begin(afloc_device *dev) {
    (void)dev;
    return AFLOC_ERR_INTERNAL;
}
static afloc_status host_capture_end(afloc_device *dev, void **graph) {
    (void)dev;
    *graph = NULL;
    return AFLOC_ERR_INTERNAL;
}
static void host_graph_launch(afloc_device *dev, void *graph) {
    (void)dev;
    (void)graph;
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
    ops.set_math = host_set_math;
    ops.conv2d_backward = host_conv_backward;
    ops.conv2d_backward_scratch_bytes = host_conv_backward_scratch;
    ops.linear_backward = host_linear_backward;
    ops.batchnorm2d_train_forward = host_bn_train;
    ops.batchnorm2d_backward = host_bn_backward;
    ops.gelu_forward = host_gelu;
    ops.gelu_backward = host_gelu_backward;
    ops.relu_forward = host_relu;
    ops.relu_backward = host_relu_backward;
    ops.dropout_mask = host_dropout_mask;
    ops.dropout_forward = host_dropout;
    ops.dropout_backward = host_dropout_backward;
    ops.layernorm_forward_train = host_layernorm_train;
    ops.layernorm_backward = host_layernorm_backward;
    ops.maxpool2d_backward = host_maxpool_backward;
    ops.global_avgpool_backward = host_avgpool_backward;
    ops.bilinear_resize_backward = host_resize_backward;
    ops.attention_forward_train = host_attention_train;
    ops.attention_backward = host_attention_backward;
    ops.attention_backward_scratch_bytes = host_attention_backward_scratch;
    ops.embedding_backward = host_embedding_backward;
    ops.global_loss = host_global_loss;
    ops.global_loss_scratch_bytes = host_global_loss_scratch;
    ops.local_loss = host_local_loss;
    ops.local_loss_scratch_bytes = host_local_loss_scratch;
    ops.sentence_contrast_loss = host_sentence_contrast;
    ops.sentence_contrast_scratch_bytes = host_sentence_contrast_scratch;
    ops.adam_update = host_adam;
    ops.sum_squares = host_sum_squares;
    ops.sum_squares_scratch_bytes = host_sum_squares_scratch;
    ops.text_aggregate_forward = host_text_aggregate;
    ops.text_aggregate_backward = host_text_aggregate_backward;
    ops.capture_begin = host_capture_begin;
    ops.capture_end = host_capture_end;
    ops.graph_launch = host_graph_launch;
    ops.graph_free = host_graph_launch;
    ops.bilinear_sample_forward = host_sample;
    ops.bicubic_sample_forward = host_cubic_sample;
    ops.position_add_forward = host_position;
    ops.position_add_backward = host_position_backward;
    return &ops;
}

#endif /* AFLOC_HOST_DEVICE_OPS_H */
