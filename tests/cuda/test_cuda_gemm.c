/* test_cuda_gemm.c: the device's linear_forward / linear_backward (kernels/gemm.cu) against their
 * CPU twins afloc_cpu_linear_forward / _backward (src/cpu/gemm.c) on the same random inputs:
 * with and without bias, with GELU 0 and 1, gradients pre-filled to check the += accumulation and
 * the NULL-able dinput / dbias; a tiny shape and BERT's (MODEL.md §5: C 768, 3072, 2048 inputs).
 * Then one BF16-mode product, with its own loose tolerance, to show that mode runs.
 *
 * Tolerances (scale-relative, cuda_test_compare):
 *  - fp32 forward and dinput / dweight: 1e-5. Both sides are fp32 dot products of length up to
 *    3072 summed in different orders (cuBLAS tiles vs OpenBLAS); each rounding is ~6e-8 relative
 *    and they grow at most like √k in practice, well under 1e-5 of the largest output.
 *  - dbias: 1e-6. Both sum in double and round once to float on top of the pre-filled value.
 *  - BF16 mode: 2e-2. Inputs are rounded to bf16 (8-bit mantissa, 2^-9 relative) before the
 *    fp32-accumulated product. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

static const double TOL_GEMM = 1e-5;
static const double TOL_BIAS = 1e-6;
static const double TOL_BF16 = 2e-2;

/* Forward for one shape; bias on or off, gelu 0 or 1. */
static void check_forward(cuda_test *t, int32_t N, int32_t C, int32_t OC, int use_bias,
                          int32_t gelu, double tol, const char *mode) {
    const size_t n_in = (size_t)N * C, n_w = (size_t)OC * C, n_out = (size_t)N * OC;
    const float ws = 1.0f / sqrtf((float)C); /* a realistic weight scale: outputs stay O(1) */
    float *in = cuda_test_random(n_in, -1.0f, 1.0f, 11 + (uint64_t)N);
    float *w = cuda_test_random(n_w, -ws, ws, 12 + (uint64_t)C);
    float *bias = cuda_test_random((size_t)OC, -0.5f, 0.5f, 13);
    float *cpu = cuda_test_host(n_out), *gpu = cuda_test_host(n_out);
    afloc_cpu_linear_forward(cpu, in, w, use_bias ? bias : NULL, gelu, N, C, OC);

    float *d_in = cuda_test_upload(t, in, n_in);
    float *d_w = cuda_test_upload(t, w, n_w);
    float *d_bias = use_bias ? cuda_test_upload(t, bias, (size_t)OC) : NULL;
    float *d_out = cuda_test_upload(t, gpu, n_out); /* zeros; the op overwrites */
    t->ops->linear_forward(t->dev, d_out, d_in, d_w, d_bias, gelu, N, C, OC);
    cuda_test_download(t, gpu, d_out, n_out);

    char op[64], shape[64];
    snprintf(op, sizeof op, "linear_forward%s%s%s", use_bias ? "+bias" : "", gelu ? "+gelu" : "",
             mode);
    snprintf(shape, sizeof shape, "N%d C%d OC%d", N, C, OC);
    cuda_test_compare(op, shape, gpu, cpu, n_out, tol);
    free(in), free(w), free(bias), free(cpu), free(gpu);
}

/* Backward for one shape: every gradient pre-filled, dinput / dbias also tried as NULL. */
static void check_backward(cuda_test *t, int32_t N, int32_t C, int32_t OC, int with_dinput,
                           int with_dbias) {
    const size_t n_in = (size_t)N * C, n_w = (size_t)OC * C, n_out = (size_t)N * OC;
    float *in = cuda_test_random(n_in, -1.0f, 1.0f, 21 + (uint64_t)N);
    float *w = cuda_test_random(n_w, -0.1f, 0.1f, 22 + (uint64_t)C);
    float *dout = cuda_test_random(n_out, -1.0f, 1.0f, 23 + (uint64_t)OC);
    float *din_cpu = cuda_test_random(n_in, -1.0f, 1.0f, 24);
    float *dw_cpu = cuda_test_random(n_w, -1.0f, 1.0f, 25);
    float *db_cpu = cuda_test_random((size_t)OC, -1.0f, 1.0f, 26);
    float *din_gpu = cuda_test_host(n_in), *dw_gpu = cuda_test_host(n_w);
    float *db_gpu = cuda_test_host((size_t)OC);

    float *d_in = cuda_test_upload(t, in, n_in);
    float *d_w = cuda_test_upload(t, w, n_w);
    float *d_dout = cuda_test_upload(t, dout, n_out);
    float *d_din = cuda_test_upload(t, din_cpu, n_in); /* the same pre-filled values */
    float *d_dw = cuda_test_upload(t, dw_cpu, n_w);
    float *d_db = cuda_test_upload(t, db_cpu, (size_t)OC);

    afloc_cpu_linear_backward(with_dinput ? din_cpu : NULL, dw_cpu, with_dbias ? db_cpu : NULL,
                              dout, in, w, N, C, OC);
    t->ops->linear_backward(t->dev, with_dinput ? d_din : NULL, d_dw, with_dbias ? d_db : NULL,
                            d_dout, d_in, d_w, N, C, OC);
    cuda_test_download(t, din_gpu, d_din, n_in);
    cuda_test_download(t, dw_gpu, d_dw, n_w);
    cuda_test_download(t, db_gpu, d_db, (size_t)OC);

    char shape[64];
    snprintf(shape, sizeof shape, "N%d C%d OC%d%s%s", N, C, OC, with_dinput ? "" : " no-dinput",
             with_dbias ? "" : " no-dbias");
    /* A NULL gradient must stay exactly as it was (compared against the untouched pre-fill). */
    cuda_test_compare("linear_backward dinput", shape, din_gpu, din_cpu, n_in,
                      with_dinput ? TOL_GEMM : 0.0);
    cuda_test_compare("linear_backward dweight", shape, dw_gpu, dw_cpu, n_w, TOL_GEMM);
    cuda_test_compare("linear_backward dbias", shape, db_gpu, db_cpu, (size_t)OC,
                      with_dbias ? TOL_BIAS : 0.0);
    free(in), free(w), free(dout), free(din_cpu), free(dw_cpu), free(db_cpu);
    free(din_gpu), free(dw_gpu), free(db_gpu);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    static const int32_t shapes[][3] = {{1, 7, 5}, {33, 768, 768}, {64, 3072, 768},
                                        {8, 2048, 768}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int32_t N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        for (int32_t gelu = 0; gelu <= 1; gelu++) check_forward(&t, N, C, OC, 1, gelu, TOL_GEMM, "");
        check_backward(&t, N, C, OC, 1, 1);
    }
    check_forward(&t, 5, 3, 4, 0, 0, TOL_GEMM, ""); /* no bias, no epilogue */
    check_forward(&t, 5, 3, 4, 0, 1, TOL_GEMM, ""); /* GELU without bias   */
    check_backward(&t, 5, 3, 4, 0, 0);             /* NULL dinput and dbias */

    /* BF16 mode: tensor-core products with bf16-rounded inputs. */
    CHECK(t.ops->set_math(t.dev, AFLOC_DEVICE_MATH_BF16) == AFLOC_OK);
    check_forward(&t, 33, 768, 768, 1, 1, TOL_BF16, " bf16");
    CHECK(t.ops->set_math(t.dev, AFLOC_DEVICE_MATH_FP32) == AFLOC_OK);

    cuda_test_sync(&t, "gemm");
    cuda_test_close(&t);
    return test_finish("test_cuda_gemm");
}
