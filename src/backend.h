/* backend.h: the table of functions a compute backend provides. The CPU backend lives in src/cpu/,
 * the CUDA backend is the plugin libafloc_cuda.so (kernels/), loaded with dlopen so that
 * libafloc.so never links CUDA (DESIGN.md §2). The plugin exports one symbol,
 * AFLOC_CUDA_PLUGIN_SYMBOL, returning its table; the first field is abi_version, which the loader
 * checks before reading anything else.
 *
 * ABI version history: 1 = device query only (foundation); 2 = the device compute table
 * (src/device_ops.h); 3 = the text aggregation op pair and CUDA graph capture and replay
 * (text_aggregate_forward ... graph_free); 4 = bilinear_sample_forward (the centred heatmap
 * read-out); 5 = position_add_forward / backward (config local_position); 6 =
 * sentence_contrast_loss (the trainer's within-image sentence loss); 7 =
 * bicubic_sample_forward (the centred cubic heatmap read-out).
 * Entries are appended by later versions, and every append bumps
 * AFLOC_BACKEND_ABI_VERSION. */
#ifndef AFLOC_BACKEND_H
#define AFLOC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h" /* afloc_status */
#include "device_ops.h"

#define AFLOC_BACKEND_ABI_VERSION 7u
#define AFLOC_CUDA_PLUGIN_FILE "libafloc_cuda.so"
#define AFLOC_CUDA_PLUGIN_SYMBOL "afloc_cuda_backend_table"

/* Results of the plugin's device query. */
enum {
    AFLOC_PLUGIN_OK        = 0,
    AFLOC_PLUGIN_NO_DRIVER = 1, /* no NVIDIA driver, or one too old for the runtime */
    AFLOC_PLUGIN_NO_DEVICE = 2, /* driver present, no CUDA device visible           */
    AFLOC_PLUGIN_ERROR     = 3  /* anything else; the message says what            */
};

typedef struct afloc_backend_table {
    uint32_t    abi_version; /* must stay the first field: AFLOC_BACKEND_ABI_VERSION */
    uint32_t    struct_size; /* sizeof(afloc_backend_table) as the plugin saw it     */
    const char *name;        /* "cuda"                                               */

    /* Number of usable devices in *count. Returns an AFLOC_PLUGIN_* code and, unless OK, a
     * NUL-terminated reason in message[capacity]. Never touches the host's current device. */
    int32_t (*device_count)(int32_t *count, char *message, size_t capacity);

    /* One line about device `ordinal` (name, compute capability, memory, runtime/driver
     * versions). Returns an AFLOC_PLUGIN_* code. */
    int32_t (*device_describe)(int32_t ordinal, char *message, size_t capacity);

    /* ABI 2: the compute table (device memory, ops forward and backward, src/device_ops.h). */
    const afloc_device_ops *device;
} afloc_backend_table;

typedef const afloc_backend_table *(*afloc_backend_table_fn)(void);

/* ---- compute ops ----
 * The model code (encoders, localize, later losses and training) calls ops only through this
 * table, so it never knows which backend runs. Signatures and semantics are those of
 * src/cpu/cpu_ops.h. The CUDA backend's table is afloc_device_ops (src/device_ops.h: the same ops on
 * device memory, plus alloc/copy/sync and a stream per handle). Entries are appended, never
 * reordered. */
struct afloc_cpu_conv; /* a prepared convolution (src/cpu/cpu_ops.h), opaque here */

typedef struct afloc_ops {
    const char *name; /* "cpu" */
    void (*conv2d_forward)(float *out, const float *in, const float *weight, const float *bias,
                           const float *residual, int32_t relu, int32_t B, int32_t C, int32_t H,
                           int32_t W, int32_t OC, int32_t K, int32_t stride, int32_t pad,
                           float *scratch);
    size_t (*conv2d_scratch_floats)(int32_t B, int32_t C, int32_t H, int32_t W, int32_t OC,
                                    int32_t K, int32_t stride, int32_t pad);
    void (*layernorm_forward)(float *out, const float *in, const float *weight, const float *bias,
                              int32_t N, int32_t C, float eps);
    void (*linear_forward)(float *out, const float *in, const float *weight, const float *bias,
                           int32_t gelu, int32_t N, int32_t C, int32_t OC);
    void (*gelu_forward)(float *out, const float *in, size_t n);
    void (*relu_forward)(float *out, const float *in, size_t n);
    void (*add_forward)(float *out, const float *a, const float *b, size_t n);
    void (*maxpool2d_forward)(float *out, const float *in, int32_t B, int32_t C, int32_t H,
                              int32_t W, int32_t K, int32_t stride, int32_t pad);
    void (*global_avgpool_forward)(float *out, const float *in, int32_t B, int32_t C, int32_t H,
                                   int32_t W);
    void (*bilinear_resize_forward)(float *out, const float *in, int32_t B, int32_t C, int32_t H,
                                    int32_t W, int32_t OH, int32_t OW, int32_t align_corners);
    void (*bilinear_sample_forward)(float *out, const float *in, int32_t B, int32_t C, int32_t H,
                                    int32_t W, int32_t OH, int32_t OW, float step_y,
                                    float step_x);
    void (*position_add_forward)(float *y, const float *weight, int32_t B, int32_t C, int32_t H,
                                 int32_t W);
    void (*softmax_forward)(float *out, const float *in, int32_t N, int32_t C);
    void (*attention_forward)(float *out, const float *qkv, const float *mask, int32_t B,
                              int32_t T, int32_t C, int32_t NH, float *scratch);
    size_t (*attention_scratch_floats)(int32_t B, int32_t T, int32_t NH);
    void (*embedding_forward)(float *out, const int32_t *ids, const int32_t *type_ids,
                              const float *word, const float *position, const float *token_type,
                              int32_t T, int32_t C);
    void (*similarity_map_forward)(float *out, const float *features, const float *text,
                                   int32_t D, int32_t H, int32_t W);
    void (*gaussian_smooth_forward)(float *out, const float *in, int32_t H, int32_t W, float sigma,
                                    float truncate, float *scratch);
    /* Prepared convolution (conv_dnnl.c on the CPU): build once per layer, run many times. */
    afloc_status (*conv2d_prepare)(struct afloc_cpu_conv **out, const float *weight,
                                   const float *bias, int32_t residual, int32_t relu, int32_t C,
                                   int32_t OC, int32_t K, int32_t stride, int32_t pad,
                                   int32_t max_batch, int32_t H, int32_t W, int32_t threads);
    afloc_status (*conv2d_run)(const struct afloc_cpu_conv *conv, float *out, const float *in,
                               const float *residual, int32_t B, float *scratch);
    size_t (*conv2d_run_scratch_floats)(const struct afloc_cpu_conv *conv, int32_t B);
    void (*conv2d_release)(struct afloc_cpu_conv *conv);
    /* The centred cubic heatmap read-out (bicubic_sample.c). */
    void (*bicubic_sample_forward)(float *out, const float *in, int32_t B, int32_t C, int32_t H,
                                   int32_t W, int32_t OH, int32_t OW, float step_y,
                                   float step_x);
} afloc_ops;

/* The CPU backend's table (src/cpu/cpu_backend.c). */
const afloc_ops *afloc_cpu_ops(void);

#endif /* AFLOC_BACKEND_H */
