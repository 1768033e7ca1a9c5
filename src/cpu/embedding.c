/* embedding.c: BERT input embeddings of the CPU backend (MODEL.md §5.1, before the LayerNorm),
 * as HF transformers 4.2.1 BertEmbeddings.forward adds them:
 *   e = word[ids[t]] + token_type[type_ids[t]];  e += position[t]
 * Float addition is not associative, so the order (word + type) + position is kept.
 * Layouts: word (V, C), position (max positions, C), token_type (2, C), out (T, C), row-major.
 * Dimension letters: T tokens, C hidden, V vocabulary. */
#include "cpu/cpu_ops.h"

void afloc_cpu_embedding_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                                 const float *word, const float *position,
                                 const float *token_type, int32_t T, int32_t C) {
#pragma omp parallel for schedule(static) if ((int64_t)T * C > 65536)
    for (int32_t t = 0; t < T; t++) {
        const float *restrict w = word + (size_t)ids[t] * (size_t)C;
        const float *restrict p = position + (size_t)t * (size_t)C;
        const float *restrict y = token_type + (size_t)(type_ids ? type_ids[t] : 0) * (size_t)C;
        float *restrict e = out + (size_t)t * (size_t)C;
        for (int32_t c = 0; c < C; c++) e[c] = (w[c] + y[c]) + p[c];
    }
}
