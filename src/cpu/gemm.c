/* gemm.c: dense layers, torch.nn.functional.linear: out (N, OC) = in (N, C) · weight (OC, C)ᵀ
 * + bias (OC), optionally followed by the exact GELU (BERT's intermediate layer, MODEL.md §5.1).
 *
 * The product is one cblas_sgemm (OpenBLAS). OpenBLAS splits the work over M and N only, never
 * over the reduction K, so each output element is the same sequence of operations whatever the
 * number of OpenBLAS or OpenMP threads; the epilogue is elementwise, one row per work unit.
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
