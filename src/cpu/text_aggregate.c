/* text_aggregate.c: MODEL.md §5.3–§5.6 as one op: from the layer sums hsum of BERT's last
 * hidden states to the word embeddings (word groups: sums of their wordpieces), the sentence
 * embeddings (means of their word groups) and the report embedding (the mean over all T slots),
 * and back. The index bookkeeping (which tokens form which word, which words which sentence)
 * comes packed by afloc_text_units_pack (text_units.h); this file does only the float work, so
 * that the CUDA twin (kernels/text_aggregate.cu) can do the same on the device. The reference is
 * GLoRIA's aggregate_tokens and AFLoc's aggregate_tokens_sent_as_units, checked against PyTorch
 * through the text encoder's training tests (tests/train). */
#include <string.h>

#include "cpu_ops.h"
#include "text_units.h"

static void aggregate_one(const int32_t *u, const float *hsum, int32_t C, int32_t T, float *words,
                          float *sent, float *report) {
    const size_t TC = (size_t)T * (size_t)C;
    memset(words, 0, TC * sizeof(float));
    memset(sent, 0, TC * sizeof(float));
    const int32_t group_count = AFLOC_UNITS_GROUP_COUNT(u), K = AFLOC_UNITS_SENTENCE_COUNT(u);
    const int32_t sep = group_count - 1;
    for (int32_t g = 0; g < group_count && g < T; g++)
        for (int32_t i = 0; i < AFLOC_UNITS_GROUP_SIZE(u, T, g); i++) {
            const float *h = hsum + (size_t)(AFLOC_UNITS_GROUP_FIRST(u, T, g) + i) * (size_t)C;
            for (int32_t d = 0; d < C; d++) words[(size_t)d * T + g] += h[d];
        }
    for (int32_t d = 0; d < C; d++) {
        const float *w = words + (size_t)d * T;
        float *s = sent + (size_t)d * T, sum = 0.0f;
        for (int32_t k = 0; k < T; k++) sum += w[k];
        report[d] = sum / (float)T;
        s[0] = w[0];
        for (int32_t j = 0; j < K && j + 1 < T; j++) {
            const int32_t count = AFLOC_UNITS_SENT_WORDS(u, T, j);
            if (count == 0) continue; /* empty segment: zero (the reference's NaN) */
            float acc = 0.0f;
            for (int32_t k = 0; k < count; k++) acc += w[AFLOC_UNITS_SENT_FIRST(u, T, j) + k];
            s[j + 1] = acc / (float)count;
        }
        if (K + 1 < T) s[K + 1] = w[sep];
    }
}

void afloc_cpu_text_aggregate_forward(float *words, float *sent, float *report, const float *hsum,
                                      const int32_t *units, int32_t B, int32_t C, int32_t T) {
    const size_t TC = (size_t)T * (size_t)C, U = (size_t)AFLOC_TEXT_UNITS_INTS(T);
    for (int32_t b = 0; b < B; b++)
        aggregate_one(units + (size_t)b * U, hsum + (size_t)b * TC, C, T, words + (size_t)b * TC,
                      sent + (size_t)b * TC, report + (size_t)b * (size_t)C);
}

static void aggregate_backward_one(const int32_t *u, const float *gw, const float *gs,
                                   const float *gr, int32_t C, int32_t T, float *dslot,
                                   float *dh) {
    const int32_t L = AFLOC_UNITS_LENGTH(u), group_count = AFLOC_UNITS_GROUP_COUNT(u);
    const int32_t K = AFLOC_UNITS_SENTENCE_COUNT(u), sep = group_count - 1;
    const int32_t G = group_count < T ? group_count : T;
    memset(dslot, 0, (size_t)G * (size_t)C * sizeof(float));
    for (int32_t d = 0; d < C; d++) {
        /* report: every one of the T slots weighs 1/T; slots past G hold no token */
        const float r = gr ? gr[d] / (float)T : 0.0f;
        for (int32_t g = 0; g < G; g++) {
            float v = r;
            if (gw) v += gw[(size_t)d * T + g];
            dslot[(size_t)g * C + d] = v;
        }
        if (!gs) continue;
        const float *s = gs + (size_t)d * T;
        dslot[d] += s[0];
        for (int32_t j = 0; j < K && j + 1 < T; j++) {
            const int32_t count = AFLOC_UNITS_SENT_WORDS(u, T, j);
            if (count == 0) continue;
            const float share = s[j + 1] / (float)count;
            for (int32_t k = 0; k < count; k++)
                dslot[(size_t)(AFLOC_UNITS_SENT_FIRST(u, T, j) + k) * C + d] += share;
        }
        if (K + 1 < T) dslot[(size_t)sep * C + d] += s[K + 1];
    }
    memset(dh, 0, (size_t)L * (size_t)C * sizeof(float));
    for (int32_t g = 0; g < G; g++)
        for (int32_t i = 0; i < AFLOC_UNITS_GROUP_SIZE(u, T, g); i++)
            memcpy(dh + (size_t)(AFLOC_UNITS_GROUP_FIRST(u, T, g) + i) * C, dslot + (size_t)g * C,
                   (size_t)C * sizeof(float));
}

void afloc_cpu_text_aggregate_backward(float *dh, const float *gw, const float *gs,
                                       const float *gr, const int32_t *units, int32_t B,
                                       int32_t C, int32_t T, float *scratch) {
    const size_t TC = (size_t)T * (size_t)C, U = (size_t)AFLOC_TEXT_UNITS_INTS(T);
    for (int32_t b = 0; b < B; b++)
        aggregate_backward_one(units + (size_t)b * U, gw ? gw + (size_t)b * TC : NULL,
                               gs ? gs + (size_t)b * TC : NULL,
                               gr ? gr + (size_t)b * (size_t)C : NULL, C, T, scratch,
                               dh + (size_t)b * TC);
}
