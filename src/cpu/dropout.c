/* dropout.c: inverted dropout of the CPU backend (torch.nn.functional.dropout in training: keep an
 * element with probability 1 − p and scale it by 1/(1 − p)), as BERT uses it on the embeddings,
 * the attention probabilities and both residual branches (MODEL.md §5.1). Used by the trainer
 * (issue 4).
 *
 * The mask is a pure function of (seed, element index): element i of a call draws the counter
 * offset + i through splitmix64 (Steele, Lea and Flood's SplittableRandom output function: a Weyl
 * step by the golden-ratio constant, then the 64-bit finaliser), with the seed itself mixed first
 * so nearby seeds give unrelated streams. No state is carried between elements, so the mask does
 * not depend on the thread count, on how a tensor is split into calls, or on the device (the CUDA
 * kernel computes the same hash); tests/ops/ref_text_backward.py re-implements it in numpy.
 * The top 24 bits of the hash give u in [0, 1) on a 2^−24 grid; the element is dropped when u < p.
 *
 * Dimension letters: n element count. */
#include "cpu/cpu_ops.h"

/* Below this many elements a parallel region costs more than it saves (as activation.c). */
enum { DROPOUT_PARALLEL_MIN = 1 << 15 };

static const uint64_t DROPOUT_GOLDEN_GAMMA = 0x9E3779B97F4A7C15ULL;

/* splitmix64's finaliser (variant 13 of Stafford's mixers). */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void afloc_cpu_dropout_mask(float *mask, size_t n, float p, uint64_t seed, uint64_t offset) {
    const long count = (long)n;
    if (!(p > 0.0f) || p >= 1.0f) { /* NaN counts as 0: keep everything */
        const float v = p >= 1.0f ? 0.0f : 1.0f;
#pragma omp parallel for schedule(static) if (count >= DROPOUT_PARALLEL_MIN)
        for (long i = 0; i < count; i++) mask[i] = v;
        return;
    }
    const float scale = (float)(1.0 / (1.0 - (double)p));
    const uint64_t key = mix64(seed);
#pragma omp parallel for schedule(static) if (count >= DROPOUT_PARALLEL_MIN)
    for (long i = 0; i < count; i++) {
        const uint64_t h = mix64(key + (offset + (uint64_t)i + 1u) * DROPOUT_GOLDEN_GAMMA);
        const float u = (float)(h >> 40) * (1.0f / 16777216.0f); /* exact: 24 bits */
        mask[i] = u < p ? 0.0f : scale;
    }
}

void afloc_cpu_dropout_forward(float *out, const float *in, const float *mask, size_t n) {
    /* out may equal in, so no restrict. */
    const long count = (long)n;
#pragma omp parallel for schedule(static) if (count >= DROPOUT_PARALLEL_MIN)
    for (long i = 0; i < count; i++) out[i] = in[i] * mask[i];
}

void afloc_cpu_dropout_backward(float *dinput, const float *dout, const float *mask, size_t n) {
    const long count = (long)n;
#pragma omp parallel for schedule(static) if (count >= DROPOUT_PARALLEL_MIN)
    for (long i = 0; i < count; i++) dinput[i] += dout[i] * mask[i];
}
