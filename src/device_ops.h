/* device_ops.h: the CUDA plugin's compute table (plugin ABI version 7, src/backend.h).
 *
 * Every op here has a CPU twin of the same name in src/cpu/cpu_ops.h (afloc_cpu_<name>) and the
 * SAME semantics, argument order and accumulation rules, with four differences:
 *  - the first argument is the device handle (one CUDA stream, cuBLAS and cuDNN handles, the
 *    numeric mode and the sticky error state; one handle per host thread, not thread-safe);
 *  - every array pointer is DEVICE memory from `alloc` (ids and cap_len too), unless a comment
 *    says "host";
 *  - ops are asynchronous, enqueued on the handle's stream; they return void and record the first
 *    failure (launch error, cuBLAS/cuDNN status) in the handle, which `sync` returns;
 *  - temporary memory comes in `scratch` (device), sized in BYTES by the *_scratch_bytes entry
 *    (the CPU's are in floats), 256-byte aligned as `alloc` returns it.
 * Losses that return a float on the CPU write it to a device float `loss` instead.
 *
 * Determinism: no floating-point atomics; reductions run in an order fixed by the shape, so the
 * same inputs on the same device and mode give the same bits. Results are not bit-identical to
 * the CPU backend: tests/cuda/ compares each op with its CPU twin under a stated tolerance.
 *
 * Numeric modes: AFLOC_DEVICE_MATH_FP32 is the parity mode (plain fp32 everywhere, TF32 off in
 * cuBLAS and cuDNN, set in code, never taken from environment variables such as
 * NVIDIA_TF32_OVERRIDE). AFLOC_DEVICE_MATH_BF16 lets GEMMs use bf16 tensor cores (inputs rounded
 * to bf16, fp32 accumulation, fp32 storage) and convolutions TF32 tensor cores (cuDNN's tensor-op
 * math on fp32 tensors, a 10-bit mantissa); the elementwise and reduction kernels stay fp32. The
 * one environment dependence left is there: cuDNN documents that NVIDIA_TF32_OVERRIDE=0 turns
 * TF32 off for tensor-op math, so bf16-mode convolutions (not fp32 mode) can change with it. */
#ifndef AFLOC_DEVICE_OPS_H
#define AFLOC_DEVICE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h" /* afloc_status */

typedef struct afloc_device afloc_device;

enum { AFLOC_DEVICE_MATH_FP32 = 0, AFLOC_DEVICE_MATH_BF16 = 1 };

typedef struct afloc_device_ops {
    uint32_t struct_size; /* sizeof(afloc_device_ops) as the plugin saw it */

    /* ---- device handle, memory, errors (kernels/device.cu) ---- */

    /* Opens device `ordinal` with a new non-blocking stream, cuBLAS and cuDNN handles bound to it,
     * and the numeric mode `math`. The host thread's current device is restored on return. On
     * failure returns BACKEND_UNAVAILABLE / OUT_OF_MEMORY / INTERNAL with the reason in
     * message[capacity]. */
    afloc_status (*create)(afloc_device **out, int32_t ordinal, int32_t math, char *message,
                           size_t capacity);
    void (*destroy)(afloc_device *dev); /* frees the handle (not the caller's allocations); NULL ok */
    /* cudaMalloc of `bytes` (0 gives NULL and OK). OUT_OF_MEMORY leaves the handle usable. */
    afloc_status (*alloc)(afloc_device *dev, void **ptr, size_t bytes);
    void (*release)(afloc_device *dev, void *ptr); /* cudaFree after the stream's work; NULL ok */
    /* Host -> device / device -> host copies. Synchronous: they return after the copy (download
     * waits for the stream's earlier work) with the first recorded error, if any. */
    afloc_status (*upload)(afloc_device *dev, void *dst, const void *src_host, size_t bytes);
    afloc_status (*download)(afloc_device *dev, void *dst_host, const void *src, size_t bytes);
    void (*zero)(afloc_device *dev, void *ptr, size_t bytes);                     /* async memset 0 */
    void (*copy)(afloc_device *dev, void *dst, const void *src, size_t bytes);    /* async d2d      */
    /* Waits for the stream; returns the first error recorded since create (sticky errors such as
     * an illegal address stay: every later call returns DEVICE_LOST), OK otherwise. */
    afloc_status (*sync)(afloc_device *dev);
    /* The text of the first recorded error ("" when none); valid until the next call. */
    const char *(*message)(const afloc_device *dev);
    /* Changes the numeric mode (AFLOC_DEVICE_MATH_*) for the ops enqueued after it. */
    afloc_status (*set_math)(afloc_device *dev, int32_t math);
    /* Seconds between two points of the stream, measured with CUDA events: `mark` records an
     * event and returns its index (0..63, round robin), `elapsed` syncs and returns the time from
     * event a to event b, or -1 on error. For benchmarks. */
    int32_t (*mark)(afloc_device *dev);
    double (*elapsed)(afloc_device *dev, int32_t a, int32_t b);

    /* ---- conv (kernels/conv.cu: cuDNN) ---- */
    void (*conv2d_forward)(afloc_device *dev, float *out, const float *in, const float *weight,
                           const float *bias, const float *residual, int32_t relu, int32_t B,
                           int32_t C, int32_t H, int32_t W, int32_t OC, int32_t K, int32_t stride,
                           int32_t pad, void *scratch);
    size_t (*conv2d_scratch_bytes)(afloc_device *dev, int32_t B, int32_t C, int32_t H, int32_t W,
                                   int32_t OC, int32_t K, int32_t stride, int32_t pad);
    void (*conv2d_backward)(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                            const float *dout, const float *input, const float *weight, int32_t B,
                            int32_t C, int32_t H, int32_t W, int32_t OC, int32_t K,
                            int32_t stride, int32_t pad, void *scratch);
    size_t (*conv2d_backward_scratch_bytes)(afloc_device *dev, int32_t B, int32_t C, int32_t H,
                                            int32_t W, int32_t OC, int32_t K, int32_t stride,
                                            int32_t pad);

    /* ---- dense layers (kernels/gemm.cu: cuBLAS + epilogue kernels) ---- */
    void (*linear_forward)(afloc_device *dev, float *out, const float *in, const float *weight,
                           const float *bias, int32_t gelu, int32_t N, int32_t C, int32_t OC);
    void (*linear_backward)(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                            const float *dout, const float *input, const float *weight, int32_t N,
                            int32_t C, int32_t OC);

    /* ---- batch norm, training mode (kernels/batchnorm.cu) ---- */
    void (*batchnorm2d_train_forward)(afloc_device *dev, float *out, float *mean_saved,
                                      float *rstd_saved, float *running_mean, float *running_var,
                                      const float *in, const float *gamma, const float *beta,
                                      int32_t B, int32_t C, int32_t H, int32_t W, float eps,
                                      float momentum);
    void (*batchnorm2d_backward)(afloc_device *dev, float *dinput, float *dgamma, float *dbeta,
                                 const float *dout, const float *in, const float *mean_saved,
                                 const float *rstd_saved, const float *gamma, int32_t B,
                                 int32_t C, int32_t H, int32_t W);

    /* ---- elementwise (kernels/elementwise.cu) ---- */
    void (*gelu_forward)(afloc_device *dev, float *out, const float *in, size_t n);
    void (*gelu_backward)(afloc_device *dev, float *dinput, const float *dout, const float *input,
                          size_t n);
    void (*relu_forward)(afloc_device *dev, float *out, const float *in, size_t n);
    void (*relu_backward)(afloc_device *dev, float *dinput, const float *dout,
                          const float *output, size_t n);
    void (*add_forward)(afloc_device *dev, float *out, const float *a, const float *b, size_t n);
    void (*dropout_mask)(afloc_device *dev, float *mask, size_t n, float p, uint64_t seed,
                         uint64_t offset); /* bit-identical to the CPU's mask */
    void (*dropout_forward)(afloc_device *dev, float *out, const float *in, const float *mask,
                            size_t n);
    void (*dropout_backward)(afloc_device *dev, float *dinput, const float *dout,
                             const float *mask, size_t n);

    /* ---- layer norm, softmax (kernels/norm.cu, kernels/softmax.cu) ---- */
    void (*layernorm_forward)(afloc_device *dev, float *out, const float *in, const float *weight,
                              const float *bias, int32_t N, int32_t C, float eps);
    void (*layernorm_forward_train)(afloc_device *dev, float *out, float *mean, float *rstd,
                                    const float *in, const float *weight, const float *bias,
                                    int32_t N, int32_t C, float eps);
    void (*layernorm_backward)(afloc_device *dev, float *dinput, float *dweight, float *dbias,
                               const float *dout, const float *input, const float *weight,
                               const float *mean, const float *rstd, int32_t N, int32_t C);
    void (*softmax_forward)(afloc_device *dev, float *out, const float *in, int32_t N, int32_t C);
    void (*softmax_backward)(afloc_device *dev, float *dinput, const float *dout,
                             const float *output, int32_t N, int32_t C);

    /* ---- pooling, resize (kernels/pool.cu, kernels/resize.cu) ---- */
    void (*maxpool2d_forward)(afloc_device *dev, float *out, const float *in, int32_t B,
                              int32_t C, int32_t H, int32_t W, int32_t K, int32_t stride,
                              int32_t pad);
    void (*maxpool2d_backward)(afloc_device *dev, float *dinput, const float *dout,
                               const float *input, int32_t B, int32_t C, int32_t H, int32_t W,
                               int32_t K, int32_t stride, int32_t pad);
    void (*global_avgpool_forward)(afloc_device *dev, float *out, const float *in, int32_t B,
                                   int32_t C, int32_t H, int32_t W);
    void (*global_avgpool_backward)(afloc_device *dev, float *dinput, const float *dout,
                                    int32_t B, int32_t C, int32_t H, int32_t W);
    void (*bilinear_resize_forward)(afloc_device *dev, float *out, const float *in, int32_t B,
                                    int32_t C, int32_t H, int32_t W, int32_t OH, int32_t OW,
                                    int32_t align_corners);
    void (*bilinear_resize_backward)(afloc_device *dev, float *dinput, const float *dout,
                                     int32_t B, int32_t C, int32_t H, int32_t W, int32_t OH,
                                     int32_t OW, int32_t align_corners);

    /* ---- BERT pieces (kernels/attention.cu, kernels/embedding.cu) ---- */
    void (*attention_forward)(afloc_device *dev, float *out, const float *qkv, const float *mask,
                              int32_t B, int32_t T, int32_t C, int32_t NH, void *scratch);
    size_t (*attention_scratch_bytes)(afloc_device *dev, int32_t B, int32_t T, int32_t NH);
    void (*attention_forward_train)(afloc_device *dev, float *out, float *probs, const float *qkv,
                                    const float *mask, const float *dropout_mask, int32_t B,
                                    int32_t T, int32_t C, int32_t NH, void *scratch);
    void (*attention_backward)(afloc_device *dev, float *dqkv, const float *dout,
                               const float *qkv, const float *probs, const float *dropout_mask,
                               int32_t B, int32_t T, int32_t C, int32_t NH, void *scratch);
    size_t (*attention_backward_scratch_bytes)(afloc_device *dev, int32_t B, int32_t T,
                                               int32_t NH);
    void (*embedding_forward)(afloc_device *dev, float *out, const int32_t *ids,
                              const int32_t *type_ids, const float *word, const float *position,
                              const float *token_type, int32_t T, int32_t C);
    void (*embedding_backward)(afloc_device *dev, float *dword, float *dposition,
                               float *dtoken_type, const float *dout, const int32_t *ids,
                               const int32_t *type_ids, int32_t T, int32_t C);

    /* ---- localization map (kernels/similarity.cu) ---- */
    void (*similarity_map_forward)(afloc_device *dev, float *out, const float *features,
                                   const float *text, int32_t D, int32_t H, int32_t W);
    /* scratch: H·W·sizeof(float) bytes. */
    void (*gaussian_smooth_forward)(afloc_device *dev, float *out, const float *in, int32_t H,
                                    int32_t W, float sigma, float truncate, void *scratch);

    /* ---- losses and optimizer (kernels/contrastive.cu, kernels/adam.cu) ---- */
    void (*global_loss)(afloc_device *dev, float *loss, float *dimage, float *dtext,
                        const float *image, const float *text, int32_t B, int32_t D, float temp3,
                        void *scratch);
    size_t (*global_loss_scratch_bytes)(afloc_device *dev, int32_t B, int32_t D);
    void (*local_loss)(afloc_device *dev, float *loss, float *dimage, float *dtext,
                       float *attention, const float *image, const float *text,
                       const int32_t *cap_len, int32_t B, int32_t D, int32_t S, int32_t T,
                       float temp1, float temp2, float temp3, void *scratch);
    size_t (*local_loss_scratch_bytes)(afloc_device *dev, int32_t B, int32_t D, int32_t S,
                                       int32_t T);
    void (*adam_update)(afloc_device *dev, float *params, float *m, float *v, const float *grads,
                        size_t n, double lr, double beta1, double beta2, double eps,
                        double weight_decay, int64_t step, float grad_scale);
    /* Σ x² over n floats, accumulated in double in a fixed order; written to *out (device, one
     * double). scratch: sum_squares_scratch_bytes(n). */
    void (*sum_squares)(afloc_device *dev, double *out, const float *x, size_t n, void *scratch);
    size_t (*sum_squares_scratch_bytes)(afloc_device *dev, size_t n);

    /* ---- text units (kernels/text_aggregate.cu): MODEL.md §5.3–§5.6 ---- */
    /* `units` (device) as packed by afloc_text_units_pack, one block per caption. The backward's
     * dslot is a device temporary of B·T·C floats. */
    void (*text_aggregate_forward)(afloc_device *dev, float *words, float *sent, float *report,
                                   const float *hsum, const int32_t *units, int32_t B, int32_t C,
                                   int32_t T);
    void (*text_aggregate_backward)(afloc_device *dev, float *dh, const float *gw,
                                    const float *gs, const float *gr, const int32_t *units,
                                    int32_t B, int32_t C, int32_t T, float *dslot);

    /* ---- CUDA graphs (kernels/device.cu) ---- */
    /* Starts capturing: the ops enqueued next on the handle are recorded into a graph instead of
     * running (cudaStreamBeginCapture, thread-local mode). No alloc, release, upload, download,
     * sync, mark or elapsed may come before capture_end. Returns the handle's error if it has one. */
    afloc_status (*capture_begin)(afloc_device *dev);
    /* Ends the capture and instantiates the graph into *graph (NULL on failure). A capture that
     * fails (an op that cannot be captured) returns INTERNAL and leaves the handle's error state as
     * it was before capture_begin, so the caller can run the same ops eagerly instead; only a lost
     * device stays lost. The recorded ops did NOT run. */
    afloc_status (*capture_end)(afloc_device *dev, void **graph);
    /* Enqueues one replay of a graph from capture_end (same buffers, same shapes). */
    void (*graph_launch)(afloc_device *dev, void *graph);
    void (*graph_free)(afloc_device *dev, void *graph); /* after the stream's work; NULL ok */

    /* ---- since ABI 4: the centred heatmap read-out (kernels/resize.cu) ---- */
    void (*bilinear_sample_forward)(afloc_device *dev, float *out, const float *in, int32_t B,
                                    int32_t C, int32_t H, int32_t W, int32_t OH, int32_t OW,
                                    float step_y, float step_x);

    /* ---- since ABI 5: the position term of the deep-local embedding (kernels/position.cu) ---- */
    void (*position_add_forward)(afloc_device *dev, float *y, const float *weight, int32_t B,
                                 int32_t C, int32_t H, int32_t W);
    void (*position_add_backward)(afloc_device *dev, float *dweight, const float *dy, int32_t B,
                                  int32_t C, int32_t H, int32_t W);

    /* ---- since ABI 6: the within-image sentence loss (kernels/contrastive.cu) ---- */
    /* afloc_cpu_sentence_contrast_loss on the device: *loss (device float) = L_WS, dimage /
     * dtext (either may be NULL) += weight·dL_WS/d·. scratch: sentence_contrast_scratch_bytes. */
    void (*sentence_contrast_loss)(afloc_device *dev, float *loss, float *dimage, float *dtext,
                                   const float *image, const float *text,
                                   const int32_t *cap_len, int32_t B, int32_t D, int32_t S,
                                   int32_t T, float temp1, float temp3, float weight,
                                   void *scratch);
    size_t (*sentence_contrast_scratch_bytes)(afloc_device *dev, int32_t B, int32_t D, int32_t S,
                                              int32_t T);

    /* ---- since ABI 7: the centred cubic heatmap read-out (kernels/resize.cu) ---- */
    void (*bicubic_sample_forward)(afloc_device *dev, float *out, const float *in, int32_t B,
                                   int32_t C, int32_t H, int32_t W, int32_t OH, int32_t OW,
                                   float step_y, float step_x);
} afloc_device_ops;

#endif /* AFLOC_DEVICE_OPS_H */
