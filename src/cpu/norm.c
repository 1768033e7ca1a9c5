/* norm.c: normalisation ops of the CPU backend. LayerNorm over the last dimension matches
 * torch.nn.functional.layer_norm (BERT, MODEL.md §5.1, eps 1e-12); the BatchNorm fold turns an
 * eval-mode torch.nn.BatchNorm2d (MODEL.md §3.4, eps 1e-5) into the weight and bias of the
 * bias-free convolution before it.
 *
 * Layouts: LayerNorm rows (N, C) row-major; a conv weight (OC, per_oc) with per_oc = C·K·K.
 * Dimension letters: N rows, C features, OC output channels. */
#include <math.h>

#include "cpu/cpu_ops.h"

/* Rows per OpenMP block: enough work per block that the team start-up pays off; blocks depend on
 * N only, and each row is computed by one thread, so the result is the same for any team size. */
enum { LAYERNORM_BLOCK_ROWS = 8 };

/* ---- LayerNorm ---- */

/* out (N, C) = (in − μ) / sqrt(σ² + eps) · weight + bias per row, with μ and the biased σ² taken
 * in double over the row in two passes (PyTorch takes them in float with a Welford cascade; both
 * are within a few float ulps of the exact value). */
void afloc_cpu_layernorm_forward(float *out, const float *in, const float *weight,
                                 const float *bias, int32_t N, int32_t C, float eps) {
    const int32_t blocks = (N + LAYERNORM_BLOCK_ROWS - 1) / LAYERNORM_BLOCK_ROWS;
#pragma omp parallel for schedule(static) if (blocks > 1 && (int64_t)N * C > 16384)
    for (int32_t blk = 0; blk < blocks; blk++) {
        const int32_t row_end = blk * LAYERNORM_BLOCK_ROWS + LAYERNORM_BLOCK_ROWS < N
                                    ? blk * LAYERNORM_BLOCK_ROWS + LAYERNORM_BLOCK_ROWS
                                    : N;
        for (int32_t n = blk * LAYERNORM_BLOCK_ROWS; n < row_end; n++) {
            const float *restrict x = in + (size_t)n * (size_t)C;
            float *restrict y = out + (size_t)n * (size_t)C;
            double sum = 0.0;
            for (int32_t c = 0; c < C; c++) sum += x[c];
            const double mean = sum / C;
            double sq = 0.0;
            for (int32_t c = 0; c < C; c++) {
                const double d = x[c] - mean;
                sq += d * d;
            }
            const double rstd = 1.0 / sqrt(sq / C + (double)eps);
            for (int32_t c = 0; c < C; c++) {
                const float xhat = (float)((x[c] - mean) * rstd);
                y[c] = xhat * weight[c] + bias[c];
            }
        }
    }
}

/* ---- BatchNorm folding ---- */

/* For each output channel o: s = γ[o] / sqrt(var[o] + eps) in double, then
 * weight_out[o, :] = weight[o, :] · s and bias_out[o] = β[o] − mean[o] · s, rounded once to float.
 * conv(x, weight_out) + bias_out equals BN(conv(x, weight)) up to float rounding. */
void afloc_cpu_batchnorm_fold(float *weight_out, float *bias_out, const float *weight,
                              const float *gamma, const float *beta, const float *mean,
                              const float *var, int32_t OC, size_t per_oc, float eps) {
    for (int32_t o = 0; o < OC; o++) {
        const double scale = (double)gamma[o] / sqrt((double)var[o] + (double)eps);
        const float *w = weight + (size_t)o * per_oc;
        float *wo = weight_out + (size_t)o * per_oc; /* may equal w: read then write each element */
        for (size_t i = 0; i < per_oc; i++) wo[i] = (float)((double)w[i] * scale);
        bias_out[o] = (float)((double)beta[o] - (double)mean[o] * scale);
    }
}
