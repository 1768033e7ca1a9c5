/* norm_batch.c: BatchNorm2d in training mode, forward and backward (used by the trainer, issue 4;
 * MODEL.md §3.4). Matches torch.nn.functional.batch_norm(training=True) on CPU and its autograd
 * backward (PyTorch's batch_norm_cpu / batch_norm_backward_cpu): per channel c, over the
 * N = B·H·W values x,
 *   mean = Σx / N,  var = Σ(x − mean)² / N (biased, two passes),  rstd = 1 / sqrt(var + eps)
 *   out  = x·α + s  with α = γ·rstd, s = β − mean·α
 *   running_mean = (1 − m)·running_mean + m·mean,  running_var = (1 − m)·running_var + m·var·N/(N−1)
 * and for the backward, with x̂ = (x − mean)·rstd, Σdy and Σ(x − mean)·dy over the channel,
 *   dx = (dy − Σdy/N − (x − mean)·Σ(x − mean)·dy·rstd²/N)·rstd·γ,  dγ = Σ(x − mean)·dy·rstd,  dβ = Σdy.
 * Statistics and sums are accumulated in double (PyTorch's accumulate type for float on CPU).
 *
 * Threads: one OpenMP unit per channel, which reads its B planes in increasing b and owns its
 * outputs, so every result is independent of the thread count.
 *
 * Dimension letters: B batch, C channels, H W spatial side, N = B·H·W values per channel. */
#include <math.h>

#include "cpu/cpu_ops.h"

void afloc_cpu_batchnorm2d_train_forward(float *out, float *mean_saved, float *rstd_saved,
                                         float *running_mean, float *running_var, const float *in,
                                         const float *gamma, const float *beta, int32_t B,
                                         int32_t C, int32_t H, int32_t W, float eps,
                                         float momentum) {
    const size_t plane = (size_t)H * (size_t)W;
    const size_t image = (size_t)C * plane;
    const double n = (double)B * (double)plane;
    if (B <= 0 || C <= 0 || plane == 0) return;
#pragma omp parallel for schedule(static)
    for (int32_t c = 0; c < C; c++) {
        double sum = 0.0;
        for (int32_t b = 0; b < B; b++) {
            const float *x = in + (size_t)b * image + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) sum += (double)x[i];
        }
        const double mean = sum / n;
        double sq = 0.0;
        for (int32_t b = 0; b < B; b++) {
            const float *x = in + (size_t)b * image + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) {
                const double d = (double)x[i] - mean;
                sq += d * d;
            }
        }
        const double var = sq / n;
        const double rstd = 1.0 / sqrt(var + (double)eps);
        const float alpha = (float)((double)gamma[c] * rstd);
        const float shift = (float)((double)beta[c] - mean * (double)gamma[c] * rstd);
        for (int32_t b = 0; b < B; b++) {
            const float *x = in + (size_t)b * image + (size_t)c * plane;
            float *y = out + (size_t)b * image + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) y[i] = x[i] * alpha + shift;
        }
        mean_saved[c] = (float)mean;
        rstd_saved[c] = (float)rstd;
        if (running_mean && running_var) {
            const double m = (double)momentum;
            /* n == 1 gives 0/0 here, as in PyTorch's kernel; its Python layer refuses that shape */
            const double unbiased = sq / (n - 1.0);
            running_mean[c] = (float)((1.0 - m) * (double)running_mean[c] + m * mean);
            running_var[c] = (float)((1.0 - m) * (double)running_var[c] + m * unbiased);
        }
    }
}

void afloc_cpu_batchnorm2d_backward(float *dinput, float *dgamma, float *dbeta, const float *dout,
                                    const float *in, const float *mean_saved,
                                    const float *rstd_saved, const float *gamma, int32_t B,
                                    int32_t C, int32_t H, int32_t W) {
    const size_t plane = (size_t)H * (size_t)W;
    const size_t image = (size_t)C * plane;
    const double n = (double)B * (double)plane;
    if (B <= 0 || C <= 0 || plane == 0) return;
#pragma omp parallel for schedule(static)
    for (int32_t c = 0; c < C; c++) {
        const double mean = (double)mean_saved[c];
        const double rstd = (double)rstd_saved[c];
        double sum_dy = 0.0, dot = 0.0; /* Σdy, Σ(x − mean)·dy */
        for (int32_t b = 0; b < B; b++) {
            const size_t at = (size_t)b * image + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) {
                const double dy = (double)dout[at + i];
                sum_dy += dy;
                dot += ((double)in[at + i] - mean) * dy;
            }
        }
        dgamma[c] += (float)(dot * rstd);
        dbeta[c] += (float)sum_dy;
        const double mean_dy = sum_dy / n;
        const double k = dot * rstd * rstd / n;
        const double scale = rstd * (double)gamma[c];
        for (int32_t b = 0; b < B; b++) {
            const size_t at = (size_t)b * image + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) {
                const double dx =
                    ((double)dout[at + i] - mean_dy - ((double)in[at + i] - mean) * k) * scale;
                dinput[at + i] += (float)dx;
            }
        }
    }
}
