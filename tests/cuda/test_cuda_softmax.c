/* test_cuda_softmax.c: kernels/softmax.cu against src/cpu/softmax.c on the same random inputs:
 * row softmax forward (also in place, out == in) and backward (dinput starts from random values,
 * so += is checked). Shapes (N, C): (1, 1), (5, 7), (12·64, 64) (BERT attention rows: 12 heads,
 * 64 tokens) and (100, 1000) (long rows, several columns per thread).
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - forward 1e-5: the device's expf (2 ulp) and a tree sum of the exponentials instead of the
 *    CPU's sequential float sum (a reduction over up to 1000 terms).
 *  - backward 1e-5: the row dot product is double on both sides (order differs, ~1e-16), but it
 *    multiplies the forward's y and the difference dy − dot may cancel; reduction tolerance.
 *
 * Dimension letters: N rows, C entries per row. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_FORWARD 1e-5
#define TOL_BACKWARD 1e-5

static void test_shape(cuda_test *t, int32_t N, int32_t C) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%d, %d)", N, C);
    const size_t nc = (size_t)N * (size_t)C;
    float *in = cuda_test_random(nc, -8.0f, 8.0f, 41 + nc);
    float *dout = cuda_test_random(nc, -1.0f, 1.0f, 42 + nc);
    float *dx0 = cuda_test_random(nc, -0.5f, 0.5f, 43 + nc);
    float *cpu = cuda_test_host(nc), *gpu = cuda_test_host(nc);

    afloc_cpu_softmax_forward(cpu, in, N, C);
    float *d_in = cuda_test_upload(t, in, nc);
    float *d_out = (float *)cuda_test_alloc(t, nc * sizeof(float));
    t->ops->softmax_forward(t->dev, d_out, d_in, N, C);
    cuda_test_download(t, gpu, d_out, nc);
    cuda_test_compare("softmax_forward", shape, gpu, cpu, nc, TOL_FORWARD);

    /* in place: must give the same bits as out-of-place on the device */
    float *gpu_inplace = cuda_test_host(nc);
    float *d_inplace = cuda_test_upload(t, in, nc);
    t->ops->softmax_forward(t->dev, d_inplace, d_inplace, N, C);
    cuda_test_download(t, gpu_inplace, d_inplace, nc);
    CHECK(memcmp(gpu_inplace, gpu, nc * sizeof(float)) == 0);

    /* rows sum to 1 (sanity of both) */
    double worst_row = 0.0;
    for (int32_t n = 0; n < N; n++) {
        double s = 0.0;
        for (int32_t c = 0; c < C; c++) s += gpu[(size_t)n * C + c];
        if (fabs(s - 1.0) > worst_row) worst_row = fabs(s - 1.0);
    }
    CHECK(worst_row < 1e-4);

    /* backward from the CPU's forward output on both sides */
    float *cpu_dx = cuda_test_host(nc);
    memcpy(cpu_dx, dx0, nc * sizeof(float));
    afloc_cpu_softmax_backward(cpu_dx, dout, cpu, N, C);
    float *d_y = cuda_test_upload(t, cpu, nc), *d_dout = cuda_test_upload(t, dout, nc);
    float *d_dx = cuda_test_upload(t, dx0, nc);
    t->ops->softmax_backward(t->dev, d_dx, d_dout, d_y, N, C);
    cuda_test_download(t, gpu, d_dx, nc);
    cuda_test_compare("softmax_backward", shape, gpu, cpu_dx, nc, TOL_BACKWARD);

    printf("  softmax %s: rows sum to 1 within %.2g; in-place forward identical\n", shape,
           worst_row);
    free(in);
    free(dout);
    free(dx0);
    free(cpu);
    free(gpu);
    free(gpu_inplace);
    free(cpu_dx);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    test_shape(&t, 1, 1);
    test_shape(&t, 5, 7);
    test_shape(&t, 12 * 64, 64);
    test_shape(&t, 100, 1000);
    cuda_test_sync(&t, "softmax");
    cuda_test_close(&t);
    return test_finish("test_cuda_softmax");
}
