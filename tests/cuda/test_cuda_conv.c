/* test_cuda_conv.c: the device's conv2d_forward / conv2d_backward (kernels/conv.cu, cuDNN)
 * against their CPU twins afloc_cpu_conv2d_forward / _backward (src/cpu/conv.c) on the same
 * random inputs. Forward with every epilogue combination (bias, residual, ReLU on or off);
 * backward with dinput / dweight / dbias pre-filled to check +=, and with dinput and dbias NULL.
 * Shapes: odd sides and channels, a strided 1x1, a strided 3x3, ResNet-50's stem (7x7 stride 2
 * pad 3, one channel, at a reduced 75 px) and a ResNet-ish 64→64 3x3 on a 19x19 map (MODEL.md).
 * The backward also runs twice on the same inputs and must give the same bits (deterministic
 * algorithms). Then one BF16-mode forward, with its own tolerance, to show that mode runs.
 *
 * Tolerances (scale-relative, cuda_test_compare):
 *  - fp32: 1e-5 for out, dinput and dweight. cuDNN (FMA math, GEMM-family algorithms) and the
 *    CPU's im2col + sgemm both sum fp32 products, in different orders; reductions are at most
 *    C·K·K = 576 long (forward, dinput: OC·K·K) or B·OH·OW = 722 (dweight), whose rounding stays
 *    well under 1e-5 of the largest value. dbias: 1e-6 (double sums on both sides).
 *  - BF16 mode: 2e-2 (TF32 tensor cores for fp32 convolutions, 10-bit mantissa inputs). */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

static const double TOL_CONV = 1e-5;
static const double TOL_BIAS = 1e-6;
static const double TOL_BF16 = 2e-2;

typedef struct conv_shape {
    int32_t B, C, H, W, OC, K, stride, pad;
} conv_shape;

static void describe(char *text, size_t capacity, const conv_shape *s, const char *extra) {
    snprintf(text, capacity, "%d,%d,%dx%d>%d k%ds%dp%d%s", s->B, s->C, s->H, s->W, s->OC, s->K,
             s->stride, s->pad, extra);
}

/* Device scratch of `bytes` (NULL when 0). */
static void *scratch_of(cuda_test *t, size_t bytes) {
    return bytes ? cuda_test_alloc(t, bytes) : NULL;
}

static void check_forward(cuda_test *t, const conv_shape *s, int use_bias, int use_residual,
                          int32_t relu, double tol, const char *mode) {
    const int32_t OH = afloc_conv_out_size(s->H, s->K, s->stride, s->pad);
    const int32_t OW = afloc_conv_out_size(s->W, s->K, s->stride, s->pad);
    const size_t n_in = (size_t)s->B * s->C * s->H * s->W;
    const size_t n_w = (size_t)s->OC * s->C * s->K * s->K;
    const size_t n_out = (size_t)s->B * s->OC * OH * OW;
    const float ws = 1.0f / sqrtf((float)(s->C * s->K * s->K)); /* outputs stay O(1) */
    float *in = cuda_test_random(n_in, -1.0f, 1.0f, 41 + (uint64_t)n_in);
    float *w = cuda_test_random(n_w, -ws, ws, 42 + (uint64_t)n_w);
    float *bias = cuda_test_random((size_t)s->OC, -0.5f, 0.5f, 43);
    float *res = cuda_test_random(n_out, -1.0f, 1.0f, 44);
    float *cpu = cuda_test_host(n_out), *gpu = cuda_test_host(n_out);
    float *cpu_scratch = cuda_test_host(
        afloc_cpu_conv2d_scratch_floats(s->B, s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad));
    afloc_cpu_conv2d_forward(cpu, in, w, use_bias ? bias : NULL, use_residual ? res : NULL, relu,
                             s->B, s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad, cpu_scratch);

    float *d_in = cuda_test_upload(t, in, n_in);
    float *d_w = cuda_test_upload(t, w, n_w);
    float *d_bias = use_bias ? cuda_test_upload(t, bias, (size_t)s->OC) : NULL;
    float *d_res = use_residual ? cuda_test_upload(t, res, n_out) : NULL;
    float *d_out = (float *)cuda_test_alloc(t, n_out * sizeof(float));
    const size_t bytes = t->ops->conv2d_scratch_bytes(t->dev, s->B, s->C, s->H, s->W, s->OC,
                                                      s->K, s->stride, s->pad);
    void *d_scratch = scratch_of(t, bytes);
    t->ops->conv2d_forward(t->dev, d_out, d_in, d_w, d_bias, d_res, relu, s->B, s->C, s->H, s->W,
                           s->OC, s->K, s->stride, s->pad, d_scratch);
    cuda_test_download(t, gpu, d_out, n_out);

    char op[64], shape[80];
    snprintf(op, sizeof op, "conv2d_forward%s%s%s%s", use_bias ? "+b" : "",
             use_residual ? "+res" : "", relu ? "+relu" : "", mode);
    describe(shape, sizeof shape, s, "");
    cuda_test_compare(op, shape, gpu, cpu, n_out, tol);
    free(in), free(w), free(bias), free(res), free(cpu), free(gpu), free(cpu_scratch);
}

static void check_backward(cuda_test *t, const conv_shape *s, int with_dinput, int with_dbias) {
    const int32_t OH = afloc_conv_out_size(s->H, s->K, s->stride, s->pad);
    const int32_t OW = afloc_conv_out_size(s->W, s->K, s->stride, s->pad);
    const size_t n_in = (size_t)s->B * s->C * s->H * s->W;
    const size_t n_w = (size_t)s->OC * s->C * s->K * s->K;
    const size_t n_out = (size_t)s->B * s->OC * OH * OW;
    const size_t n_b = (size_t)s->OC;
    float *in = cuda_test_random(n_in, -1.0f, 1.0f, 51 + (uint64_t)n_in);
    float *w = cuda_test_random(n_w, -0.2f, 0.2f, 52 + (uint64_t)n_w);
    float *dout = cuda_test_random(n_out, -1.0f, 1.0f, 53 + (uint64_t)n_out);
    float *din = cuda_test_random(n_in, -1.0f, 1.0f, 54);
    float *dw = cuda_test_random(n_w, -1.0f, 1.0f, 55);
    float *db = cuda_test_random(n_b, -1.0f, 1.0f, 56);

    /* device copies of the pre-filled gradients, twice: run 1 and run 2 (determinism) */
    float *d_in = cuda_test_upload(t, in, n_in);
    float *d_w = cuda_test_upload(t, w, n_w);
    float *d_dout = cuda_test_upload(t, dout, n_out);
    float *d_din[2], *d_dw[2], *d_db[2];
    const size_t bytes = t->ops->conv2d_backward_scratch_bytes(t->dev, s->B, s->C, s->H, s->W,
                                                               s->OC, s->K, s->stride, s->pad);
    void *d_scratch = scratch_of(t, bytes);
    for (int run = 0; run < 2; run++) {
        d_din[run] = cuda_test_upload(t, din, n_in);
        d_dw[run] = cuda_test_upload(t, dw, n_w);
        d_db[run] = cuda_test_upload(t, db, n_b);
        t->ops->conv2d_backward(t->dev, with_dinput ? d_din[run] : NULL, d_dw[run],
                                with_dbias ? d_db[run] : NULL, d_dout, d_in, d_w, s->B, s->C,
                                s->H, s->W, s->OC, s->K, s->stride, s->pad, d_scratch);
    }

    float *cpu_scratch = cuda_test_host(afloc_cpu_conv2d_backward_scratch_floats(
        s->B, s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad));
    afloc_cpu_conv2d_backward(with_dinput ? din : NULL, dw, with_dbias ? db : NULL, dout, in, w,
                              s->B, s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad,
                              cpu_scratch);

    char shape[80];
    describe(shape, sizeof shape, s,
             with_dinput && with_dbias ? "" : (with_dinput ? " no-db" : " no-din,db"));
    float *got[2] = {cuda_test_host(n_in), cuda_test_host(n_in)};
    for (int run = 0; run < 2; run++) cuda_test_download(t, got[run], d_din[run], n_in);
    /* A NULL gradient must stay exactly the pre-fill (tolerance 0 against the untouched copy). */
    cuda_test_compare("conv2d_backward dinput", shape, got[0], din, n_in,
                      with_dinput ? TOL_CONV : 0.0);
    CHECK(memcmp(got[0], got[1], n_in * sizeof(float)) == 0);
    free(got[0]), free(got[1]);

    got[0] = cuda_test_host(n_w), got[1] = cuda_test_host(n_w);
    for (int run = 0; run < 2; run++) cuda_test_download(t, got[run], d_dw[run], n_w);
    cuda_test_compare("conv2d_backward dweight", shape, got[0], dw, n_w, TOL_CONV);
    CHECK(memcmp(got[0], got[1], n_w * sizeof(float)) == 0);
    free(got[0]), free(got[1]);

    got[0] = cuda_test_host(n_b), got[1] = cuda_test_host(n_b);
    for (int run = 0; run < 2; run++) cuda_test_download(t, got[run], d_db[run], n_b);
    cuda_test_compare("conv2d_backward dbias", shape, got[0], db, n_b,
                      with_dbias ? TOL_BIAS : 0.0);
    CHECK(memcmp(got[0], got[1], n_b * sizeof(float)) == 0);
    free(got[0]), free(got[1]);

    free(in), free(w), free(dout), free(din), free(dw), free(db), free(cpu_scratch);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    static const conv_shape shapes[] = {
        {2, 3, 11, 9, 5, 3, 1, 1},     /* odd sides and channels      */
        {1, 8, 17, 17, 16, 1, 2, 0},   /* strided 1x1 (downsample)    */
        {2, 16, 20, 20, 32, 3, 2, 1},  /* strided 3x3                 */
        {1, 1, 75, 75, 8, 7, 2, 3},    /* stem-like 7x7, one channel  */
        {2, 64, 19, 19, 64, 3, 1, 1},  /* ResNet-ish block on a 19x19 */
        {1, 4, 6, 6, 3, 1, 1, 0},      /* pointwise (no im2col on CPU) */
    };
    const size_t count = sizeof shapes / sizeof shapes[0];
    for (size_t i = 0; i < count; i++) {
        for (int combo = 0; combo < 8; combo++)
            check_forward(&t, &shapes[i], combo & 1, (combo >> 1) & 1, (combo >> 2) & 1,
                          TOL_CONV, "");
        check_backward(&t, &shapes[i], 1, 1);
    }
    check_backward(&t, &shapes[0], 1, 0); /* dbias NULL          */
    check_backward(&t, &shapes[2], 0, 0); /* dinput and dbias NULL */

    /* BF16 mode (TF32 tensor cores for the convolution). */
    CHECK(t.ops->set_math(t.dev, AFLOC_DEVICE_MATH_BF16) == AFLOC_OK);
    check_forward(&t, &shapes[4], 1, 1, 1, TOL_BF16, " bf16");
    CHECK(t.ops->set_math(t.dev, AFLOC_DEVICE_MATH_FP32) == AFLOC_OK);

    cuda_test_sync(&t, "conv");
    cuda_test_close(&t);
    return test_finish("test_cuda_conv");
}
