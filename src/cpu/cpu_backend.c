/* cpu_backend.c: the CPU backend's op table, pointing at the functions of cpu_ops.h. */
#include "backend.h"
#include "cpu/cpu_ops.h"

static const afloc_ops cpu_ops = {
    .name                     = "cpu",
    .conv2d_forward           = afloc_cpu_conv2d_forward,
    .conv2d_scratch_floats    = afloc_cpu_conv2d_scratch_floats,
    .layernorm_forward        = afloc_cpu_layernorm_forward,
    .linear_forward           = afloc_cpu_linear_forward,
    .gelu_forward             = afloc_cpu_gelu_forward,
    .relu_forward             = afloc_cpu_relu_forward,
    .add_forward              = afloc_cpu_add_forward,
    .maxpool2d_forward        = afloc_cpu_maxpool2d_forward,
    .global_avgpool_forward   = afloc_cpu_global_avgpool_forward,
    .bilinear_resize_forward  = afloc_cpu_bilinear_resize_forward,
    .bilinear_sample_forward  = afloc_cpu_bilinear_sample_forward,
    .bicubic_sample_forward   = afloc_cpu_bicubic_sample_forward,
    .position_add_forward     = afloc_cpu_position_add_forward,
    .softmax_forward          = afloc_cpu_softmax_forward,
    .attention_forward        = afloc_cpu_attention_forward,
    .attention_scratch_floats = afloc_cpu_attention_scratch_floats,
    .embedding_forward        = afloc_cpu_embedding_forward,
    .similarity_map_forward   = afloc_cpu_similarity_map_forward,
    .gaussian_smooth_forward  = afloc_cpu_gaussian_smooth_forward,
    .conv2d_prepare            = afloc_cpu_conv2d_prepare,
    .conv2d_run                = afloc_cpu_conv2d_run,
    .conv2d_run_scratch_floats = afloc_cpu_conv2d_run_scratch_floats,
    .conv2d_release            = afloc_cpu_conv2d_release,
};

const afloc_ops *afloc_cpu_ops(void) { return &cpu_ops; }
