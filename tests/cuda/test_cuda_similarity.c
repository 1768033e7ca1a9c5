/* test_cuda_similarity.c: kernels/similarity.cu against src/cpu/similarity.c on the same random
 * inputs: the raw localization map (features (D, H, W) · text (D)) at the AFLoc sizes D = 768 with
 * 19x19 and 38x38 maps, and (D = 3, 1x1); the scipy-exact Gaussian smoothing at 224x224 with
 * sigma 1.5 and 4 (truncate 4), a 7x5 map with sigma 3 (radius 12 > both sides, so 'reflect'
 * folds several times), a 1x1 map, sigma 0 (a copy), and a 9x7 map with sigma 70 (radius 280 >
 * 255: the taps beyond 255 are computed on the device). Last, a radius above the device's bound
 * (65536) must be refused with INVALID_ARGUMENT recorded in the handle.
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - map 1e-6: float products added in increasing d from 0 as the CPU does, with no FMA
 *    contraction, so expected BIT-EXACT (count printed).
 *  - Gaussian 1e-6: the same host-built double taps and the same double accumulation order, so
 *    expected bit-exact for radius <= 255; with radius > 255 the device's exp may move a far tap by
 *    1 ulp (double), i.e. the float result by at most 1 ulp (~6e-8 relative).
 *
 * Dimension letters: D joint embedding, H W spatial. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_MAP 1e-6
#define TOL_GAUSS 1e-6

static void test_map(cuda_test *t, int32_t D, int32_t H, int32_t W) {
    char shape[64];
    snprintf(shape, sizeof shape, "D%d %dx%d", D, H, W);
    const size_t P = (size_t)H * W, nf = (size_t)D * P;
    float *features = cuda_test_random(nf, -1.0f, 1.0f, 1 + nf);
    float *text = cuda_test_random((size_t)D, -1.0f, 1.0f, 2 + (size_t)D);
    float *cpu = cuda_test_host(P), *gpu = cuda_test_host(P);
    afloc_cpu_similarity_map_forward(cpu, features, text, D, H, W);
    float *d_f = cuda_test_upload(t, features, nf), *d_t = cuda_test_upload(t, text, (size_t)D);
    float *d_out = (float *)cuda_test_alloc(t, P * sizeof(float));
    t->ops->similarity_map_forward(t->dev, d_out, d_f, d_t, D, H, W);
    cuda_test_download(t, gpu, d_out, P);
    cuda_test_compare("similarity_map_forward", shape, gpu, cpu, P, TOL_MAP);
    cuda_test_report_bits("similarity_map_forward", shape, gpu, cpu, P);
    free(features);
    free(text);
    free(cpu);
    free(gpu);
}

static void test_gauss(cuda_test *t, int32_t H, int32_t W, float sigma, float truncate) {
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d sigma %g trunc %g", H, W, (double)sigma,
             (double)truncate);
    const size_t n = (size_t)H * W;
    float *in = cuda_test_random(n, -1.0f, 1.0f, 3 + n);
    float *cpu = cuda_test_host(n), *gpu = cuda_test_host(n), *scratch = cuda_test_host(n);
    afloc_cpu_gaussian_smooth_forward(cpu, in, H, W, sigma, truncate, scratch);
    float *d_in = cuda_test_upload(t, in, n);
    float *d_out = (float *)cuda_test_alloc(t, n * sizeof(float));
    void *d_scratch = cuda_test_alloc(t, n * sizeof(float));
    t->ops->gaussian_smooth_forward(t->dev, d_out, d_in, H, W, sigma, truncate, d_scratch);
    cuda_test_download(t, gpu, d_out, n);
    cuda_test_compare("gaussian_smooth_forward", shape, gpu, cpu, n, TOL_GAUSS);
    cuda_test_report_bits("gaussian_smooth_forward", shape, gpu, cpu, n);
    free(in);
    free(cpu);
    free(gpu);
    free(scratch);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    test_map(&t, 768, 19, 19);
    test_map(&t, 3, 1, 1);
    test_map(&t, 768, 38, 38);
    test_map(&t, 5, 7, 3);

    test_gauss(&t, 224, 224, 1.5f, 4.0f);
    test_gauss(&t, 224, 224, 4.0f, 4.0f);
    test_gauss(&t, 7, 5, 3.0f, 4.0f);
    test_gauss(&t, 1, 1, 3.0f, 4.0f);
    test_gauss(&t, 19, 19, 0.0f, 4.0f);
    test_gauss(&t, 9, 7, 70.0f, 4.0f);
    cuda_test_sync(&t, "similarity");

    /* Radius 400000 > 65536: refused, recorded in the handle (sticky until the handle is
     * recreated, so this runs last). */
    float *d_map = (float *)cuda_test_alloc(&t, 4 * sizeof(float));
    float *d_smooth = (float *)cuda_test_alloc(&t, 4 * sizeof(float));
    float *d_scratch = (float *)cuda_test_alloc(&t, 4 * sizeof(float));
    t.ops->gaussian_smooth_forward(t.dev, d_smooth, d_map, 2, 2, 1e5f, 4.0f, d_scratch);
    afloc_status status = t.ops->sync(t.dev);
    printf("gaussian_smooth_forward radius 400000: %s (%s)\n", afloc_status_string(status),
           t.ops->message(t.dev));
    CHECK(status == AFLOC_ERR_INVALID_ARGUMENT);

    cuda_test_close(&t);
    return test_finish("test_cuda_similarity");
}
