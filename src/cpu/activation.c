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

/* ---- GELU backward (used by the trainer, issue 4) ---- */

/* 1/√(2π), the Gaussian density's factor (PyTorch's kBeta = M_2_SQRTPI · M_SQRT1_2 · 0.5). */
static const float GELU_INV_SQRT_2PI = 0.39894228040143267794f;

/* d/dx [x·Φ(x)] = Φ(x) + x·φ(x), Φ(x) = 0.5·(1 + erf(x/√2)), φ(x) = exp(−x²/2)/√(2π), as
 * PyTorch's GeluBackwardKernel (approximate='none') computes it in float. dinput += dout·that. */
void afloc_cpu_gelu_backward(float *dinput, const float *dout, const float *input, size_t n) {
    const long count = (long)n;
#pragma omp parallel for schedule(static) if (count >= ELEMENTWISE_PARALLEL_MIN)
    for (long i = 0; i < count; i++) {
        const float x = input[i];
        const float cdf = 0.5f * (1.0f + erff(x * GELU_SQRT1_2));
        const float pdf = expf(-0.5f * x * x) * GELU_INV_SQRT_2PI;
        dinput[i] += dout[i] * (cdf + x * pdf);
    }
}

/* ---- ReLU backward (used by the trainer, issue 4) ----
 * torch.relu's autograd is threshold_backward(dout, output, 0): the gradient passes unless
 * output <= 0, so it passes where the output is NaN too. */
void afloc_cpu_relu_backward(float *dinput, const float *dout, const float *output, size_t n) {
    const long count = (long)n;
#pragma omp parallel for schedule(static) if (count >= ELEMENTWISE_PARALLEL_MIN)
    for (long i = 0; i < count; i++)
        if (!(output[i] <= 0.0f)) dinput[i] += dout[i];
}
