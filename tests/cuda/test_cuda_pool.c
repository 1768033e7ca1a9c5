/* test_cuda_pool.c: kernels/pool.cu against src/cpu/pool.c on the same random inputs: max pooling
 * forward/backward and global average pooling forward/backward. Shapes: the ResNet stem pool
 * (2, 64, 150, 150, K3, s2, p1) at 299 px, a 5x5 plane with the same window, odd planes, a window
 * with stride > K (pixels no window covers), K = 1, a window larger than the padded plane in one
 * direction (no output: the device once counted one, -1 / 2 + 1, and wrote past the buffer);
 * global pools (2, 2048, 10, 10) (ResNet-50's
 * last stage at 299 px), (3, 5, 1, 1) and an odd (2, 3, 7, 9). Max-pool inputs are quantised to
 * multiples of 1/8 in [-2, 2], so most windows hold equal maxima and the argmax tie rule (first in
 * row-major scan) decides where each gradient goes; one small plane also holds NaNs and a window
 * that is all −∞ (PyTorch's NaN-wins and first-element rules). Gradients start from random values,
 * so the += accumulation is checked.
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - maxpool forward: exact (memcmp); it only selects input values.
 *  - maxpool backward 1e-6: the gather adds the same douts in the CPU's order, so it is expected
 *    bit-exact (the bit count is printed); a wrong argmax would move a whole dout (error ~1).
 *  - avgpool forward 1e-6: double sums in another order, rounded to float (expected exact but
 *    for ~1e-16 rounding ties; bit count printed).
 *  - avgpool backward 1e-6: the same float division and addition (expected exact).
 *
 * Dimension letters: B batch, C channels, H W input side, K window, OH OW output side. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_MAXPOOL_BWD 1e-6
#define TOL_AVGPOOL 1e-6

/* Bitwise equality of n floats, as a failing check. */
static void check_exact(const char *op, const char *shape, const float *gpu, const float *cpu,
                        size_t n) {
    const size_t differ = cuda_test_bit_diffs(gpu, cpu, n);
    printf("%-28s %-26s %zu of %zu elements differ in bits, tol 0  %s\n", op, shape, differ, n,
           differ ? "FAIL" : "ok");
    if (differ) test_failures++;
}

/* Rounds to multiples of 1/8 so that windows hold ties. */
static void quantise(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = floorf(x[i] * 8.0f) / 8.0f;
}

static void test_maxpool(cuda_test *t, int32_t B, int32_t C, int32_t H, int32_t W, int32_t K,
                         int32_t stride, int32_t pad, int special) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%d,%d,%d,%d) K%d s%d p%d", B, C, H, W, K, stride, pad);
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    const size_t n_in = (size_t)B * C * H * W, n_out = (size_t)B * C * OH * OW;
    float *in = cuda_test_random(n_in, -2.0f, 2.0f, 100 + n_in);
    quantise(in, n_in);
    if (special) {
        /* plane 0 (H, W >= 5): a NaN in the window of output (0, 1), two NaNs in output (1, 1)'s
         * window (the later one must win), and the top-left corner window all −∞ */
        in[0] = -INFINITY;
        in[1] = -INFINITY;
        in[(size_t)W] = -INFINITY;
        in[(size_t)W + 1] = -INFINITY;
        in[3] = NAN;
        in[2 * (size_t)W + 2] = NAN;
        in[3 * (size_t)W + 3] = NAN;
    }
    float *dout = cuda_test_random(n_out, -1.0f, 1.0f, 200 + n_out);
    float *dinit = cuda_test_random(n_in, -0.5f, 0.5f, 300 + n_in);
    float *cpu_out = cuda_test_host(n_out), *gpu_out = cuda_test_host(n_out);
    float *cpu_din = cuda_test_host(n_in), *gpu_din = cuda_test_host(n_in);

    afloc_cpu_maxpool2d_forward(cpu_out, in, B, C, H, W, K, stride, pad);
    memcpy(cpu_din, dinit, n_in * sizeof(float));
    afloc_cpu_maxpool2d_backward(cpu_din, dout, in, B, C, H, W, K, stride, pad);

    float *d_in = cuda_test_upload(t, in, n_in), *d_dout = cuda_test_upload(t, dout, n_out);
    float *d_out = (float *)cuda_test_alloc(t, n_out * sizeof(float));
    float *d_din = cuda_test_upload(t, dinit, n_in);
    t->ops->maxpool2d_forward(t->dev, d_out, d_in, B, C, H, W, K, stride, pad);
    t->ops->maxpool2d_backward(t->dev, d_din, d_dout, d_in, B, C, H, W, K, stride, pad);
    cuda_test_download(t, gpu_out, d_out, n_out);
    cuda_test_download(t, gpu_din, d_din, n_in);
    check_exact("maxpool2d_forward", shape, gpu_out, cpu_out, n_out);
    cuda_test_compare("maxpool2d_backward", shape, gpu_din, cpu_din, n_in, TOL_MAXPOOL_BWD);
    cuda_test_report_bits("maxpool2d_backward", shape, gpu_din, cpu_din, n_in);

    free(in);
    free(dout);
    free(dinit);
    free(cpu_out);
    free(gpu_out);
    free(cpu_din);
    free(gpu_din);
}

static void test_avgpool(cuda_test *t, int32_t B, int32_t C, int32_t H, int32_t W) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%d,%d,%d,%d)", B, C, H, W);
    const size_t n_in = (size_t)B * C * H * W, n_out = (size_t)B * C;
    float *in = cuda_test_random(n_in, -1.0f, 3.0f, 400 + n_in);
    float *dout = cuda_test_random(n_out, -1.0f, 1.0f, 500 + n_out);
    float *dinit = cuda_test_random(n_in, -0.5f, 0.5f, 600 + n_in);
    float *cpu_out = cuda_test_host(n_out), *gpu_out = cuda_test_host(n_out);
    float *cpu_din = cuda_test_host(n_in), *gpu_din = cuda_test_host(n_in);

    afloc_cpu_global_avgpool_forward(cpu_out, in, B, C, H, W);
    memcpy(cpu_din, dinit, n_in * sizeof(float));
    afloc_cpu_global_avgpool_backward(cpu_din, dout, B, C, H, W);

    float *d_in = cuda_test_upload(t, in, n_in), *d_dout = cuda_test_upload(t, dout, n_out);
    float *d_out = (float *)cuda_test_alloc(t, n_out * sizeof(float));
    float *d_din = cuda_test_upload(t, dinit, n_in);
    t->ops->global_avgpool_forward(t->dev, d_out, d_in, B, C, H, W);
    t->ops->global_avgpool_backward(t->dev, d_din, d_dout, B, C, H, W);
    cuda_test_download(t, gpu_out, d_out, n_out);
    cuda_test_download(t, gpu_din, d_din, n_in);
    cuda_test_compare("global_avgpool_forward", shape, gpu_out, cpu_out, n_out, TOL_AVGPOOL);
    cuda_test_report_bits("global_avgpool_forward", shape, gpu_out, cpu_out, n_out);
    cuda_test_compare("global_avgpool_backward", shape, gpu_din, cpu_din, n_in, TOL_AVGPOOL);
    cuda_test_report_bits("global_avgpool_backward", shape, gpu_din, cpu_din, n_in);

    free(in);
    free(dout);
    free(dinit);
    free(cpu_out);
    free(gpu_out);
    free(cpu_din);
    free(gpu_din);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    test_maxpool(&t, 1, 1, 5, 5, 3, 2, 1, 0);
    test_maxpool(&t, 1, 1, 5, 5, 3, 2, 1, 1);
    test_maxpool(&t, 2, 64, 150, 150, 3, 2, 1, 0);
    test_maxpool(&t, 2, 3, 9, 7, 3, 1, 0, 1);
    test_maxpool(&t, 1, 2, 11, 8, 2, 3, 0, 0); /* stride > K: rows/columns no window covers */
    test_maxpool(&t, 3, 2, 4, 6, 1, 1, 0, 0);
    test_maxpool(&t, 1, 1, 1, 1, 3, 2, 1, 0);
    test_maxpool(&t, 1, 2, 3, 4, 4, 2, 0, 0); /* no window fits the 3 rows: OH 0, dinput unchanged */

    test_avgpool(&t, 2, 2048, 10, 10);
    test_avgpool(&t, 3, 5, 1, 1);
    test_avgpool(&t, 2, 3, 7, 9);

    cuda_test_sync(&t, "pool");
    cuda_test_close(&t);
    return test_finish("test_cuda_pool");
}
