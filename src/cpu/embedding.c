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

/* ---- backward (used by the trainer, issue 4) ---- */

/* Columns per OpenMP block; fixed, so the split depends on the shape only. */
enum { EMBEDDING_BLOCK_COLS = 64 };

/* The forward adds three table rows per token, so each row's gradient is the sum of dout over the
 * tokens that read it (torch's embedding_dense_backward). Each thread owns a block of columns and
 * walks the tokens in increasing t, so a word id repeated in the text accumulates in token order
 * and no element is ever updated by two threads: same bits for any team size. */
void afloc_cpu_embedding_backward(float *dword, float *dposition, float *dtoken_type,
                                  const float *dout, const int32_t *ids, const int32_t *type_ids,
                                  int32_t T, int32_t C) {
    const int32_t blocks = (C + EMBEDDING_BLOCK_COLS - 1) / EMBEDDING_BLOCK_COLS;
#pragma omp parallel for schedule(static) if (blocks > 1 && (int64_t)T * C > 65536)
    for (int32_t blk = 0; blk < blocks; blk++) {
        const int32_t c0 = blk * EMBEDDING_BLOCK_COLS;
        const int32_t c1 = c0 + EMBEDDING_BLOCK_COLS < C ? c0 + EMBEDDING_BLOCK_COLS : C;
        for (int32_t t = 0; t < T; t++) {
            const float *restrict g = dout + (size_t)t * (size_t)C;
            if (dword) {
                float *restrict w = dword + (size_t)ids[t] * (size_t)C;
                for (int32_t c = c0; c < c1; c++) w[c] += g[c];
            }
            if (dposition) {
                float *restrict p = dposition + (size_t)t * (size_t)C;
                for (int32_t c = c0; c < c1; c++) p[c] += g[c];
            }
            if (dtoken_type) {
                float *restrict y =
                    dtoken_type + (size_t)(type_ids ? type_ids[t] : 0) * (size_t)C;
                for (int32_t c = c0; c < c1; c++) y[c] += g[c];
            }
        }
    }
}
