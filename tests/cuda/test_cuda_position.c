/* test_cuda_position.c: kernels/position.cu against src/cpu/position.c on the same random inputs:
 * the position term of the deep-local embedding (config local_position), forward in place and the
 * weight gradient, at the shipped CXR model's training batch (16 x 128 x 32 x 32), the paper's
 * grid (19 x 19), unequal axes and a single cell. The gradient starts from random values, so the
 * += accumulation is checked.
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - forward 1e-6: the same float coordinate and fmaf as the CPU: expected BIT-EXACT (the number
 *    of differing elements is printed);
 *  - backward 1e-6: both sum in double and round once; only the order of the double sums differs.
 *
 * Dimension letters: B batch, C channels, H W grid side. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_POSITION_FWD 1e-6
#define TOL_POSITION_BWD 1e-6

static void test_position(cuda_test *t, int32_t B, int32_t C, int32_t H, int32_t W) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%d,%d,%dx%d)", B, C, H, W);
    const size_t n = (size_t)B * C * H * W, wn = (size_t)C * 2;
    float *x = cuda_test_random(n, -3.0f, 3.0f, 40 + n);
    float *weight = cuda_test_random(wn, -2.0f, 2.0f, 50 + wn);
    float *dy = cuda_test_random(n, -1.0f, 1.0f, 60 + n);
    float *dinit = cuda_test_random(wn, -0.5f, 0.5f, 70 + wn);
    float *cpu_y = cuda_test_host(n), *gpu_y = cuda_test_host(n);
    float *cpu_dw = cuda_test_host(wn), *gpu_dw = cuda_test_host(wn);

    memcpy(cpu_y, x, n * sizeof(float));
    afloc_cpu_position_add_forward(cpu_y, weight, B, C, H, W);
    memcpy(cpu_dw, dinit, wn * sizeof(float));
    afloc_cpu_position_add_backward(cpu_dw, dy, B, C, H, W);

    float *d_y = cuda_test_upload(t, x, n), *d_w = cuda_test_upload(t, weight, wn);
    float *d_dy = cuda_test_upload(t, dy, n), *d_dw = cuda_test_upload(t, dinit, wn);
    t->ops->position_add_forward(t->dev, d_y, d_w, B, C, H, W);
    t->ops->position_add_backward(t->dev, d_dw, d_dy, B, C, H, W);
    cuda_test_download(t, gpu_y, d_y, n);
    cuda_test_download(t, gpu_dw, d_dw, wn);
    cuda_test_compare("position_add_forward", shape, gpu_y, cpu_y, n, TOL_POSITION_FWD);
    cuda_test_report_bits("position_add_forward", shape, gpu_y, cpu_y, n);
    cuda_test_compare("position_add_backward", shape, gpu_dw, cpu_dw, wn, TOL_POSITION_BWD);

    free(x);
    free(weight);
    free(dy);
    free(dinit);
    free(cpu_y);
    free(gpu_y);
    free(cpu_dw);
    free(gpu_dw);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    test_position(&t, 16, 128, 32, 32);
    test_position(&t, 1, 768, 19, 19);
    test_position(&t, 3, 5, 7, 4);
    test_position(&t, 2, 3, 1, 1);
    cuda_test_sync(&t, "position");
    cuda_test_close(&t);
    return test_finish("test_cuda_position");
}
