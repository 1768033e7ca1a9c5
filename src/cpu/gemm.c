/* gemm.c: dense layers, torch.nn.functional.linear: out (N, OC) = in (N, C) · weight (OC, C)ᵀ
 * + bias (OC), optionally followed by the exact GELU (BERT's intermediate layer, MODEL.md §5.1).
 *
 * The product is one cblas_sgemm (OpenBLAS); the epilogue is elementwise, one row per work unit,
 * so the result does not depend on the OpenMP team size. The OpenBLAS thread count is fixed per
 * process; results are reproducible for the same count (a large sgemm can round differently with
 * 1 and 2 OpenBLAS threads, see cpu_ops.h).
 *
 * Dimension letters: N rows (tokens or batch), C input features, OC output features. */
#include <cblas.h>
#include <math.h>

#include "cpu/cpu_ops.h"

static const float GELU_SQRT1_2 = 0.70710678118654752440f; /* 1/√2 */

/* Bias and GELU over out (N, OC), row by row. */
static void linear_epilogue(float *out, const float *bias, int32_t gelu, int32_t N, int32_t OC) {
    const long rows = N;
    /* Below ~32k outputs a parallel region costs more than it saves. */
#pragma omp parallel for schedule(static) if ((long)N * OC >= (1L << 15))
    for (long n = 0; n < rows; n++) {
        float *restrict row = out + (size_t)n * (size_t)OC;
        if (bias)
            for (int32_t j = 0; j < OC; j++) row[j] += bias[j];
        if (gelu)
            for (int32_t j = 0; j < OC; j++) {
                const float x = row[j];
                row[j] = 0.5f * x * (1.0f + erff(x * GELU_SQRT1_2));
            }
    }
}

void afloc_cpu_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                              int32_t gelu, int32_t N, int32_t C, int32_t OC) {
    if (N <= 0 || OC <= 0) return;
    if (C <= 0) {
        for (size_t i = 0; i < (size_t)N * (size_t)OC; i++) out[i] = 0.0f;
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, in, C, weight, C,
                    0.0f, out, OC);
    }
    if (bias || gelu) linear_epilogue(out, bias, gelu, N, OC);
}

/* ---- backward (used by the trainer, issue 4) ----
 * Autograd of F.linear: dinput += dout · W, dweight += doutᵀ · input (two sgemm with beta 1; their
 * reductions, over OC and N, are never split by OpenBLAS), dbias += column sums of dout, in double,
 * one OpenMP unit per block of LINEAR_BIAS_BLOCK columns, rows in increasing n. */
enum { LINEAR_BIAS_BLOCK = 64 };

void afloc_cpu_linear_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                               const float *input, const float *weight, int32_t N, int32_t C,
                               int32_t OC) {
    if (N <= 0 || OC <= 0) return;
    if (C > 0) {
        if (dinput)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC,
                        weight, C, 1.0f, dinput, C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, input, C,
                    1.0f, dweight, C);
    }
    if (!dbias) return;
    const long blocks = (OC + LINEAR_BIAS_BLOCK - 1) / LINEAR_BIAS_BLOCK;
#pragma omp parallel for schedule(static) if ((long)N * OC >= (1L << 15))
    for (long blk = 0; blk < blocks; blk++) {
        const int32_t j0 = (int32_t)blk * LINEAR_BIAS_BLOCK;
        const int32_t j1 = j0 + LINEAR_BIAS_BLOCK < OC ? j0 + LINEAR_BIAS_BLOCK : OC;
        double acc[LINEAR_BIAS_BLOCK] = {0};
        for (int32_t n = 0; n < N; n++) {
            const float *row = dout + (size_t)n * (size_t)OC;
            for (int32_t j = j0; j < j1; j++) acc[j - j0] += (double)row[j];
        }
        for (int32_t j = j0; j < j1; j++) dbias[j] += (float)acc[j - j0];
    }
}
