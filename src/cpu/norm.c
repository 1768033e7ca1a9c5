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

/* One row: y (C) = (x − μ) / sqrt(σ² + eps) · weight + bias, with μ and the biased σ² taken in
 * double over the row in two passes (PyTorch takes them in float with a Welford cascade; both are
 * within a few float ulps of the exact value). Saves μ and rstd as float when asked (training). */
static void layernorm_row(float *restrict y, float *mean_out, float *rstd_out,
                          const float *restrict x, const float *weight, const float *bias,
                          int32_t C, float eps) {
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
    if (mean_out) *mean_out = (float)mean;
    if (rstd_out) *rstd_out = (float)rstd;
}

/* Both forwards; mean / rstd NULL for inference. */
static void layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                              const float *weight, const float *bias, int32_t N, int32_t C,
                              float eps) {
    const int32_t blocks = (N + LAYERNORM_BLOCK_ROWS - 1) / LAYERNORM_BLOCK_ROWS;
#pragma omp parallel for schedule(static) if (blocks > 1 && (int64_t)N * C > 16384)
    for (int32_t blk = 0; blk < blocks; blk++) {
        const int32_t row_end = blk * LAYERNORM_BLOCK_ROWS + LAYERNORM_BLOCK_ROWS < N
                                    ? blk * LAYERNORM_BLOCK_ROWS + LAYERNORM_BLOCK_ROWS
                                    : N;
        for (int32_t n = blk * LAYERNORM_BLOCK_ROWS; n < row_end; n++)
            layernorm_row(out + (size_t)n * (size_t)C, mean ? mean + n : NULL,
                          rstd ? rstd + n : NULL, in + (size_t)n * (size_t)C, weight, bias, C,
                          eps);
    }
}

void afloc_cpu_layernorm_forward(float *out, const float *in, const float *weight,
                                 const float *bias, int32_t N, int32_t C, float eps) {
    layernorm_forward(out, NULL, NULL, in, weight, bias, N, C, eps);
}

/* Used by the trainer (issue 4). */
void afloc_cpu_layernorm_forward_train(float *out, float *mean, float *rstd, const float *in,
                                       const float *weight, const float *bias, int32_t N,
                                       int32_t C, float eps) {
    layernorm_forward(out, mean, rstd, in, weight, bias, N, C, eps);
}

/* ---- LayerNorm backward (used by the trainer, issue 4) ---- */

/* Columns per OpenMP block of the parameter gradients; fixed, so the split is shape-only. */
enum { LAYERNORM_BLOCK_COLS = 64 };

/* With x̂ = (x − μ)·rstd and g = dout·weight (the gradient reaching x̂), per row:
 *   dx = rstd · (g − mean_c(g) − x̂ · mean_c(g·x̂))
 * (the derivative of torch.nn.functional.layer_norm, as aten's layer_norm_backward computes it),
 *   dweight += Σ_n dout·x̂,  dbias += Σ_n dout.
 * Pass 1: rows are independent, one row per thread (row sums in double). Pass 2: each column's sum
 * over rows runs in increasing n in double by one thread, then is added once to dweight / dbias;
 * no element is reduced across threads, so any team size gives the same bits. */
void afloc_cpu_layernorm_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                                  const float *input, const float *weight, const float *mean,
                                  const float *rstd, int32_t N, int32_t C) {
    const int32_t row_blocks = (N + LAYERNORM_BLOCK_ROWS - 1) / LAYERNORM_BLOCK_ROWS;
#pragma omp parallel for schedule(static) if (row_blocks > 1 && (int64_t)N * C > 16384)
    for (int32_t blk = 0; blk < row_blocks; blk++) {
        const int32_t row_end = blk * LAYERNORM_BLOCK_ROWS + LAYERNORM_BLOCK_ROWS < N
                                    ? blk * LAYERNORM_BLOCK_ROWS + LAYERNORM_BLOCK_ROWS
                                    : N;
        for (int32_t n = blk * LAYERNORM_BLOCK_ROWS; n < row_end; n++) {
            const float *restrict x = input + (size_t)n * (size_t)C;
            const float *restrict dy = dout + (size_t)n * (size_t)C;
            float *restrict dx = dinput + (size_t)n * (size_t)C;
            const float mu = mean[n], rs = rstd[n];
            double sum_g = 0.0, sum_gx = 0.0;
            for (int32_t c = 0; c < C; c++) {
                const float xhat = (x[c] - mu) * rs;
                const float g = dy[c] * weight[c];
                sum_g += g;
                sum_gx += (double)g * xhat;
            }
            const float mean_g = (float)(sum_g / C), mean_gx = (float)(sum_gx / C);
            for (int32_t c = 0; c < C; c++) {
                const float xhat = (x[c] - mu) * rs;
                const float g = dy[c] * weight[c];
                dx[c] += rs * (g - mean_g - xhat * mean_gx);
            }
        }
    }
    if (!dweight && !dbias) return;
    const int32_t col_blocks = (C + LAYERNORM_BLOCK_COLS - 1) / LAYERNORM_BLOCK_COLS;
#pragma omp parallel for schedule(static) if (col_blocks > 1 && (int64_t)N * C > 16384)
    for (int32_t blk = 0; blk < col_blocks; blk++) {
        const int32_t c0 = blk * LAYERNORM_BLOCK_COLS;
        const int32_t c1 = c0 + LAYERNORM_BLOCK_COLS < C ? c0 + LAYERNORM_BLOCK_COLS : C;
        double sw[LAYERNORM_BLOCK_COLS] = {0}, sb[LAYERNORM_BLOCK_COLS] = {0};
        for (int32_t n = 0; n < N; n++) {
            const float *restrict x = input + (size_t)n * (size_t)C;
            const float *restrict dy = dout + (size_t)n * (size_t)C;
            const float mu = mean[n], rs = rstd[n];
            for (int32_t c = c0; c < c1; c++) {
                const float xhat = (x[c] - mu) * rs;
                sw[c - c0] += (double)dy[c] * xhat;
                sb[c - c0] += dy[c];
            }
        }
        for (int32_t c = c0; c < c1; c++) {
            if (dweight) dweight[c] += (float)sw[c - c0];
            if (dbias) dbias[c] += (float)sb[c - c0];
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
