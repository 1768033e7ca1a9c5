/* text_aggregate.cu: word, sentence and report embeddings from BERT's layer sums (MODEL.md
 * §5.3–§5.6), forward and backward, the twin of src/cpu/text_aggregate.c. The units (which
 * tokens form which word slot, which word slots which sentence) come packed by
 * afloc_text_units_pack (src/text_units.h), built on the host from the token ids.
 *
 * One thread per (caption b, channel d) runs the CPU's loops for that channel in the same order,
 * with explicitly rounded intrinsics (no FMA contraction; IEEE division), so the results are
 * bit-identical to the CPU twin. The work is tiny next to BERT (B·C threads of O(T) each); what
 * it saves is the round trip of B·T·C floats through the host at every step.
 * Layouts per caption: hsum and dh (T, C), words / sent and their gradients (C, T), report (C). */
#include "cuda_common.cuh"

extern "C" {
#include "text_units.h"
}

#define TEXT_THREADS 128

static __global__ void text_aggregate_forward_kernel(float *words, float *sent, float *report,
                                                     const float *hsum, const int32_t *units,
                                                     int32_t B, int32_t C, int32_t T) {
    const size_t total = (size_t)B * (size_t)C, TC = (size_t)T * (size_t)C;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x) {
        const size_t b = e / (size_t)C;
        const int32_t d = (int32_t)(e % (size_t)C);
        const int32_t *u = units + b * (size_t)AFLOC_TEXT_UNITS_INTS(T);
        const float *h = hsum + b * TC;
        float *w = words + b * TC + (size_t)d * T, *s = sent + b * TC + (size_t)d * T;
        const int32_t group_count = AFLOC_UNITS_GROUP_COUNT(u), K = AFLOC_UNITS_SENTENCE_COUNT(u);
        const int32_t sep = group_count - 1;
        for (int32_t k = 0; k < T; k++) {
            w[k] = 0.0f;
            s[k] = 0.0f;
        }
        for (int32_t g = 0; g < group_count && g < T; g++) {
            float acc = 0.0f;
            for (int32_t i = 0; i < AFLOC_UNITS_GROUP_SIZE(u, T, g); i++)
                acc = __fadd_rn(acc, h[(size_t)(AFLOC_UNITS_GROUP_FIRST(u, T, g) + i) * C + d]);
            w[g] = acc;
        }
        float sum = 0.0f;
        for (int32_t k = 0; k < T; k++) sum = __fadd_rn(sum, w[k]);
        report[b * (size_t)C + d] = __fdiv_rn(sum, (float)T);
        s[0] = w[0];
        for (int32_t j = 0; j < K && j + 1 < T; j++) {
            const int32_t count = AFLOC_UNITS_SENT_WORDS(u, T, j);
            if (count == 0) continue; /* empty segment: zero (the reference's NaN) */
            float acc = 0.0f;
            const float *words_j = w + AFLOC_UNITS_SENT_FIRST(u, T, j);
            for (int32_t k = 0; k < count; k++) acc = __fadd_rn(acc, words_j[k]);
            s[j + 1] = __fdiv_rn(acc, (float)count);
        }
        if (K + 1 < T) s[K + 1] = w[sep];
    }
}

/* dslot (T, C) per caption, then dh rows 0..L-1 (each token gets its word slot's gradient). */
static __global__ void text_aggregate_backward_kernel(float *dh, const float *gw, const float *gs,
                                                      const float *gr, const int32_t *units,
                                                      int32_t B, int32_t C, int32_t T,
                                                      float *dslot) {
    const size_t total = (size_t)B * (size_t)C, TC = (size_t)T * (size_t)C;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x) {
        const size_t b = e / (size_t)C;
        const int32_t d = (int32_t)(e % (size_t)C);
        const int32_t *u = units + b * (size_t)AFLOC_TEXT_UNITS_INTS(T);
        const int32_t L = AFLOC_UNITS_LENGTH(u), group_count = AFLOC_UNITS_GROUP_COUNT(u);
        const int32_t K = AFLOC_UNITS_SENTENCE_COUNT(u), sep = group_count - 1;
        const int32_t G = group_count < T ? group_count : T;
        float *slot = dslot + b * TC;
        /* report: every one of the T slots weighs 1/T; slots past G hold no token */
        const float r = gr ? __fdiv_rn(gr[b * (size_t)C + d], (float)T) : 0.0f;
        for (int32_t g = 0; g < G; g++) {
            float v = r;
            if (gw) v = __fadd_rn(v, gw[b * TC + (size_t)d * T + g]);
            slot[(size_t)g * C + d] = v;
        }
        if (gs) {
            const float *s = gs + b * TC + (size_t)d * T;
            slot[d] = __fadd_rn(slot[d], s[0]);
            for (int32_t j = 0; j < K && j + 1 < T; j++) {
                const int32_t count = AFLOC_UNITS_SENT_WORDS(u, T, j);
                if (count == 0) continue;
                const float share = __fdiv_rn(s[j + 1], (float)count);
                for (int32_t k = 0; k < count; k++) {
                    float *x = &slot[(size_t)(AFLOC_UNITS_SENT_FIRST(u, T, j) + k) * C + d];
                    *x = __fadd_rn(*x, share);
                }
            }
            float *last = &slot[(size_t)sep * C + d];
            if (K + 1 < T) *last = __fadd_rn(*last, s[K + 1]);
        }
        float *out = dh + b * TC;
        for (int32_t t = 0; t < L; t++) out[(size_t)t * C + d] = 0.0f;
        for (int32_t g = 0; g < G; g++)
            for (int32_t i = 0; i < AFLOC_UNITS_GROUP_SIZE(u, T, g); i++) {
                const size_t token = (size_t)(AFLOC_UNITS_GROUP_FIRST(u, T, g) + i);
                out[token * C + d] = slot[(size_t)g * C + d];
            }
    }
}

static void text_aggregate_forward(afloc_device *dev, float *words, float *sent, float *report,
                                   const float *hsum, const int32_t *units, int32_t B, int32_t C,
                                   int32_t T) {
    const size_t n = (size_t)B * (size_t)C;
    if (dev->lost || n == 0 || T < 1) return;
    afloc_device_scope scope(dev);
    text_aggregate_forward_kernel<<<afloc_cuda_blocks(n, TEXT_THREADS), TEXT_THREADS, 0,
                                    dev->stream>>>(words, sent, report, hsum, units, B, C, T);
    AFLOC_CUDA_LAUNCHED(dev, "text_aggregate_forward");
}

static void text_aggregate_backward(afloc_device *dev, float *dh, const float *gw, const float *gs,
                                    const float *gr, const int32_t *units, int32_t B, int32_t C,
                                    int32_t T, float *dslot) {
    const size_t n = (size_t)B * (size_t)C;
    if (dev->lost || n == 0 || T < 1) return;
    afloc_device_scope scope(dev);
    text_aggregate_backward_kernel<<<afloc_cuda_blocks(n, TEXT_THREADS), TEXT_THREADS, 0,
                                     dev->stream>>>(dh, gw, gs, gr, units, B, C, T, dslot);
    AFLOC_CUDA_LAUNCHED(dev, "text_aggregate_backward");
}

extern "C" void afloc_cuda_register_text_aggregate(afloc_device_ops *ops) {
    ops->text_aggregate_forward = text_aggregate_forward;
    ops->text_aggregate_backward = text_aggregate_backward;
}
