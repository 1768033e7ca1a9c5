/* test_cuda_resize.c: kernels/resize.cu against src/cpu/resize.c on the same random inputs:
 * bilinear resize forward and backward, align_corners 1 and 0, at the AFLoc sizes 224→299 (image
 * preprocessing, MODEL.md §3.1) and 19→224 / 38→224 (heatmap upsampling, §8.3, batch 2), plus
 * 7→13 with C = 3, a non-square 5x7→11x13, a downscale 13x11→7x5 and 1→5 (a one-sample axis);
 * and the centred heatmap read-outs (bilinear_sample_forward and bicubic_sample_forward,
 * src/cpu/bilinear_sample.c and bicubic_sample.c).
 * Backward gradients start from random values, so the += accumulation is checked.
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - forward 1e-6: the kernel repeats the CPU's float/double index math and fmaf blends with
 *    explicitly rounded intrinsics, so it is expected BIT-EXACT; the number of differing elements
 *    is printed for the record.
 *  - backward 1e-6: the gather adds the same products in the CPU's scatter order, so it is also
 *    expected bit-exact (count printed).
 *
 * Dimension letters: B batch, C channels, H W input side, OH OW output side. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_RESIZE_FWD 1e-6
#define TOL_RESIZE_BWD 1e-6

static void test_resize(cuda_test *t, int32_t B, int32_t C, int32_t H, int32_t W, int32_t OH,
                        int32_t OW, int32_t align_corners) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%d,%d,%dx%d->%dx%d) ac%d", B, C, H, W, OH, OW, align_corners);
    const size_t n_in = (size_t)B * C * H * W, n_out = (size_t)B * C * OH * OW;
    float *in = cuda_test_random(n_in, -2.0f, 2.0f, 10 + n_in + (size_t)align_corners);
    float *dout = cuda_test_random(n_out, -1.0f, 1.0f, 20 + n_out);
    float *dinit = cuda_test_random(n_in, -0.5f, 0.5f, 30 + n_in);
    float *cpu_out = cuda_test_host(n_out), *gpu_out = cuda_test_host(n_out);
    float *cpu_din = cuda_test_host(n_in), *gpu_din = cuda_test_host(n_in);

    afloc_cpu_bilinear_resize_forward(cpu_out, in, B, C, H, W, OH, OW, align_corners);
    memcpy(cpu_din, dinit, n_in * sizeof(float));
    afloc_cpu_bilinear_resize_backward(cpu_din, dout, B, C, H, W, OH, OW, align_corners);

    float *d_in = cuda_test_upload(t, in, n_in), *d_dout = cuda_test_upload(t, dout, n_out);
    float *d_out = (float *)cuda_test_alloc(t, n_out * sizeof(float));
    float *d_din = cuda_test_upload(t, dinit, n_in);
    t->ops->bilinear_resize_forward(t->dev, d_out, d_in, B, C, H, W, OH, OW, align_corners);
    t->ops->bilinear_resize_backward(t->dev, d_din, d_dout, B, C, H, W, OH, OW, align_corners);
    cuda_test_download(t, gpu_out, d_out, n_out);
    cuda_test_download(t, gpu_din, d_din, n_in);
    cuda_test_compare("bilinear_resize_forward", shape, gpu_out, cpu_out, n_out, TOL_RESIZE_FWD);
    cuda_test_report_bits("bilinear_resize_forward", shape, gpu_out, cpu_out, n_out);
    cuda_test_compare("bilinear_resize_backward", shape, gpu_din, cpu_din, n_in, TOL_RESIZE_BWD);
    cuda_test_report_bits("bilinear_resize_backward", shape, gpu_din, cpu_din, n_in);

    free(in);
    free(dout);
    free(dinit);
    free(cpu_out);
    free(gpu_out);
    free(cpu_din);
    free(gpu_din);
}

/* The centred heatmap read-outs (bilinear_sample_forward, or bicubic_sample_forward when `cubic`)
 * against their CPU twins: bit-exact by construction (the same double source point, float λ or
 * t, and the same roundings in the same order), tolerance 1e-6. */
static void test_sample(cuda_test *t, int cubic, int32_t B, int32_t C, int32_t H, int32_t W,
                        int32_t OH, int32_t OW, float step_y, float step_x) {
    const char *op = cubic ? "bicubic_sample_forward" : "bilinear_sample_forward";
    char shape[80];
    snprintf(shape, sizeof shape, "(%d,%d,%dx%d->%dx%d) step %.4g,%.4g", B, C, H, W, OH, OW,
             step_y, step_x);
    const size_t n_in = (size_t)B * C * H * W, n_out = (size_t)B * C * OH * OW;
    float *in = cuda_test_random(n_in, -2.0f, 2.0f, 40 + n_in);
    float *cpu_out = cuda_test_host(n_out), *gpu_out = cuda_test_host(n_out);
    if (cubic) afloc_cpu_bicubic_sample_forward(cpu_out, in, B, C, H, W, OH, OW, step_y, step_x);
    else afloc_cpu_bilinear_sample_forward(cpu_out, in, B, C, H, W, OH, OW, step_y, step_x);
    float *d_in = cuda_test_upload(t, in, n_in);
    float *d_out = (float *)cuda_test_alloc(t, n_out * sizeof(float));
    if (cubic)
        t->ops->bicubic_sample_forward(t->dev, d_out, d_in, B, C, H, W, OH, OW, step_y, step_x);
    else
        t->ops->bilinear_sample_forward(t->dev, d_out, d_in, B, C, H, W, OH, OW, step_y, step_x);
    cuda_test_download(t, gpu_out, d_out, n_out);
    cuda_test_compare(op, shape, gpu_out, cpu_out, n_out, TOL_RESIZE_FWD);
    cuda_test_report_bits(op, shape, gpu_out, cpu_out, n_out);
    free(in);
    free(cpu_out);
    free(gpu_out);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    for (int32_t ac = 0; ac <= 1; ac++) {
        test_resize(&t, 1, 1, 224, 224, 299, 299, ac);
        test_resize(&t, 2, 1, 19, 19, 224, 224, ac);
        test_resize(&t, 1, 1, 38, 38, 224, 224, ac);
        test_resize(&t, 1, 3, 7, 7, 13, 13, ac);
        test_resize(&t, 2, 3, 5, 7, 11, 13, ac);
        test_resize(&t, 1, 2, 13, 11, 7, 5, ac);
        test_resize(&t, 1, 1, 1, 1, 5, 5, ac);
        test_resize(&t, 1, 2, 1, 4, 5, 1, ac);
    }

    for (int cubic = 0; cubic <= 1; cubic++) {
        test_sample(&t, cubic, 2, 1, 32, 32, 256, 256, 511.0f / (16.0f * 255.0f),
                    511.0f / (16.0f * 255.0f));
        test_sample(&t, cubic, 1, 1, 19, 19, 224, 224, 298.0f / (16.0f * 223.0f),
                    298.0f / (16.0f * 223.0f));
        test_sample(&t, cubic, 1, 3, 6, 6, 20, 20, 0.37f, 0.37f); /* points past the border */
        test_sample(&t, cubic, 1, 2, 13, 11, 5, 4, 3.0f, 2.5f);
        test_sample(&t, cubic, 1, 1, 2, 3, 9, 9, 0.3f, 0.3f); /* fewer than four taps */
    }

    cuda_test_sync(&t, "resize");
    cuda_test_close(&t);
    return test_finish("test_cuda_resize");
}
