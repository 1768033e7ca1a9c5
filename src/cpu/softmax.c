/* softmax.c: row softmax of the CPU backend, torch.softmax(x, dim=-1) on (N, C) row-major.
 * It follows PyTorch's CPU kernel for the last dimension (_vec_softmax_lastdim): subtract the row
 * maximum, exponentiate, sum in float, multiply by the reciprocal of the sum.
 * Dimension letters: N rows, C entries per row. */
#include <math.h>

#include "cpu/cpu_ops.h"

/* Rows per OpenMP block; fixed, so the split does not depend on the team size. */
enum { SOFTMAX_BLOCK_ROWS = 16 };

/* One row; y may equal x. The sum runs in increasing index order. */
static void softmax_row(float *y, const float *x, int32_t C) {
    float max = x[0];
    for (int32_t c = 1; c < C; c++) max = x[c] > max ? x[c] : max;
    float sum = 0.0f;
    for (int32_t c = 0; c < C; c++) {
        const float e = expf(x[c] - max);
        y[c] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int32_t c = 0; c < C; c++) y[c] *= inv;
}

void afloc_cpu_softmax_forward(float *out, const float *in, int32_t N, int32_t C) {
    if (C <= 0) return;
    const int32_t blocks = (N + SOFTMAX_BLOCK_ROWS - 1) / SOFTMAX_BLOCK_ROWS;
#pragma omp parallel for schedule(static) if (blocks > 1 && (int64_t)N * C > 16384)
    for (int32_t blk = 0; blk < blocks; blk++) {
        const int32_t end = blk * SOFTMAX_BLOCK_ROWS + SOFTMAX_BLOCK_ROWS < N
                                ? blk * SOFTMAX_BLOCK_ROWS + SOFTMAX_BLOCK_ROWS
                                : N;
        for (int32_t n = blk * SOFTMAX_BLOCK_ROWS; n < end; n++)
            softmax_row(out + (size_t)n * (size_t)C, in + (size_t)n * (size_t)C, C);
    }
}

/* ---- backward (used by the trainer, issue 4) ---- */

/* For y = softmax(x) per row: dx = y ∘ (dy − Σ_c dy·y) (torch._softmax_backward_data), with the
 * row dot product in double in increasing c; rows are independent, so any split gives the same
 * bits. dinput accumulates (+=). */
void afloc_cpu_softmax_backward(float *dinput, const float *dout, const float *output, int32_t N,
                                int32_t C) {
    if (C <= 0) return;
    const int32_t blocks = (N + SOFTMAX_BLOCK_ROWS - 1) / SOFTMAX_BLOCK_ROWS;
#pragma omp parallel for schedule(static) if (blocks > 1 && (int64_t)N * C > 16384)
    for (int32_t blk = 0; blk < blocks; blk++) {
        const int32_t end = blk * SOFTMAX_BLOCK_ROWS + SOFTMAX_BLOCK_ROWS < N
                                ? blk * SOFTMAX_BLOCK_ROWS + SOFTMAX_BLOCK_ROWS
                                : N;
        for (int32_t n = blk * SOFTMAX_BLOCK_ROWS; n < end; n++) {
            const float *restrict y = output + (size_t)n * (size_t)C;
            const float *restrict dy = dout + (size_t)n * (size_t)C;
            float *restrict dx = dinput + (size_t)n * (size_t)C;
            double dot = 0.0;
            for (int32_t c = 0; c < C; c++) dot += (double)dy[c] * y[c];
            const float d = (float)dot;
            for (int32_t c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - d);
        }
    }
}
