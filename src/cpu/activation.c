/* activation.c: elementwise ops on flat fp32 arrays: exact GELU (torch.nn.functional.gelu with
 * approximate='none'), ReLU (torch.relu) and addition (torch.add). Each output element depends only
 * on the same input element, so the OpenMP split cannot change a bit; loops stay simple enough
 * for the compiler to vectorise (GELU calls erff, which it does not).
 *
 * Dimension letters: n element count. */
#include <math.h>

#include "cpu/cpu_ops.h"

/* Below this many elements a parallel region costs more than it saves (~1 us per team start). */
enum { ELEMENTWISE_PARALLEL_MIN = 1 << 15 };

/* 1/√2, the factor PyTorch's GeluKernel applies before erf (M_SQRT1_2 is not in C11). */
static const float GELU_SQRT1_2 = 0.70710678118654752440f;

void afloc_cpu_gelu_forward(float *out, const float *in, size_t n) {
    /* out may equal in, so no restrict here. */
    const long count = (long)n;
#pragma omp parallel for schedule(static) if (count >= ELEMENTWISE_PARALLEL_MIN)
    for (long i = 0; i < count; i++) {
        const float x = in[i];
        out[i] = 0.5f * x * (1.0f + erff(x * GELU_SQRT1_2));
    }
}

void afloc_cpu_relu_forward(float *out, const float *in, size_t n) {
    const long count = (long)n;
    /* NaN stays NaN, as torch.relu (clamp_min) propagates it. */
#pragma omp parallel for schedule(static) if (count >= ELEMENTWISE_PARALLEL_MIN)
    for (long i = 0; i < count; i++) {
        const float x = in[i];
        out[i] = x > 0.0f ? x : (x != x ? x : 0.0f);
    }
}

void afloc_cpu_add_forward(float *out, const float *a, const float *b, size_t n) {
    const long count = (long)n;
#pragma omp parallel for schedule(static) if (count >= ELEMENTWISE_PARALLEL_MIN)
    for (long i = 0; i < count; i++) out[i] = a[i] + b[i];
}
