/* test_cuda_batchnorm.c: the device's batchnorm2d_train_forward / batchnorm2d_backward
 * (kernels/batchnorm.cu) against their CPU twins in src/cpu/norm_batch.c on the same random
 * inputs: out, the saved mean / rstd, the running statistics (updated in place from non-trivial
 * values, and skipped when NULL), and dinput / dgamma / dbeta pre-filled to check +=. Shapes: a
 * small odd one, a ResNet-50 local-feature size (MODEL.md: 19x19 maps, batch 2), and one with a
 * single 1x1 plane per image (N = B).
 *
 * Tolerances (scale-relative, cuda_test_compare): 1e-5 for every output. Both sides take the
 * statistics in double and round once to float, so mean / rstd / running stats differ by at most
 * an ulp or two (the order of the double sums differs: a tree here, a row scan on the CPU), and
 * out / dinput are one or two fp32 roundings of the same double expression; 1e-5 leaves margin
 * for an input that rounds the other way at a half-ulp boundary. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

static const double TOL_BN = 1e-5;

static void check_shape(cuda_test *t, int32_t B, int32_t C, int32_t H, int32_t W,
                        int with_running) {
    const size_t n = (size_t)B * C * H * W;
    const float eps = 1e-5f, momentum = 0.1f;
    /* an offset mean and a spread that is not 1, so the normalisation does real work */
    float *in = cuda_test_random(n, -2.0f, 3.0f, 31 + (uint64_t)n);
    float *gamma = cuda_test_random((size_t)C, 0.5f, 1.5f, 32);
    float *beta = cuda_test_random((size_t)C, -0.5f, 0.5f, 33);
    float *rm_cpu = cuda_test_random((size_t)C, -0.2f, 0.2f, 34);
    float *rv_cpu = cuda_test_random((size_t)C, 0.5f, 1.5f, 35);
    float *dout = cuda_test_random(n, -1.0f, 1.0f, 36);
    float *din_cpu = cuda_test_random(n, -1.0f, 1.0f, 37);
    float *dg_cpu = cuda_test_random((size_t)C, -1.0f, 1.0f, 38);
    float *db_cpu = cuda_test_random((size_t)C, -1.0f, 1.0f, 39);
    float *out_cpu = cuda_test_host(n), *mean_cpu = cuda_test_host((size_t)C);
    float *rstd_cpu = cuda_test_host((size_t)C);

    float *d_in = cuda_test_upload(t, in, n);
    float *d_gamma = cuda_test_upload(t, gamma, (size_t)C);
    float *d_beta = cuda_test_upload(t, beta, (size_t)C);
    float *d_rm = cuda_test_upload(t, rm_cpu, (size_t)C);
    float *d_rv = cuda_test_upload(t, rv_cpu, (size_t)C);
    float *d_dout = cuda_test_upload(t, dout, n);
    float *d_din = cuda_test_upload(t, din_cpu, n);
    float *d_dg = cuda_test_upload(t, dg_cpu, (size_t)C);
    float *d_db = cuda_test_upload(t, db_cpu, (size_t)C);
    float *d_out = (float *)cuda_test_alloc(t, n * sizeof(float));
    float *d_mean = (float *)cuda_test_alloc(t, (size_t)C * sizeof(float));
    float *d_rstd = (float *)cuda_test_alloc(t, (size_t)C * sizeof(float));

    afloc_cpu_batchnorm2d_train_forward(out_cpu, mean_cpu, rstd_cpu, with_running ? rm_cpu : NULL,
                                        with_running ? rv_cpu : NULL, in, gamma, beta, B, C, H, W,
                                        eps, momentum);
    t->ops->batchnorm2d_train_forward(t->dev, d_out, d_mean, d_rstd, with_running ? d_rm : NULL,
                                      with_running ? d_rv : NULL, d_in, d_gamma, d_beta, B, C, H,
                                      W, eps, momentum);
    /* Backward from the CPU's saved statistics on both sides, so it is checked on its own. */
    float *d_mean_ref = cuda_test_upload(t, mean_cpu, (size_t)C);
    float *d_rstd_ref = cuda_test_upload(t, rstd_cpu, (size_t)C);
    afloc_cpu_batchnorm2d_backward(din_cpu, dg_cpu, db_cpu, dout, in, mean_cpu, rstd_cpu, gamma,
                                   B, C, H, W);
    t->ops->batchnorm2d_backward(t->dev, d_din, d_dg, d_db, d_dout, d_in, d_mean_ref, d_rstd_ref,
                                 d_gamma, B, C, H, W);

    float *got = cuda_test_host(n);
    char shape[64];
    snprintf(shape, sizeof shape, "B%d C%d H%d W%d%s", B, C, H, W, with_running ? "" : " no-run");
    cuda_test_download(t, got, d_out, n);
    cuda_test_compare("batchnorm_forward out", shape, got, out_cpu, n, TOL_BN);
    cuda_test_download(t, got, d_mean, (size_t)C);
    cuda_test_compare("batchnorm_forward mean", shape, got, mean_cpu, (size_t)C, TOL_BN);
    cuda_test_download(t, got, d_rstd, (size_t)C);
    cuda_test_compare("batchnorm_forward rstd", shape, got, rstd_cpu, (size_t)C, TOL_BN);
    /* running stats: updated values, or (NULL on both sides) the untouched originals, exactly */
    cuda_test_download(t, got, d_rm, (size_t)C);
    cuda_test_compare("batchnorm_forward run_mean", shape, got, rm_cpu, (size_t)C,
                      with_running ? TOL_BN : 0.0);
    cuda_test_download(t, got, d_rv, (size_t)C);
    cuda_test_compare("batchnorm_forward run_var", shape, got, rv_cpu, (size_t)C,
                      with_running ? TOL_BN : 0.0);
    cuda_test_download(t, got, d_din, n);
    cuda_test_compare("batchnorm_backward dinput", shape, got, din_cpu, n, TOL_BN);
    cuda_test_download(t, got, d_dg, (size_t)C);
    cuda_test_compare("batchnorm_backward dgamma", shape, got, dg_cpu, (size_t)C, TOL_BN);
    cuda_test_download(t, got, d_db, (size_t)C);
    cuda_test_compare("batchnorm_backward dbeta", shape, got, db_cpu, (size_t)C, TOL_BN);

    free(in), free(gamma), free(beta), free(rm_cpu), free(rv_cpu), free(dout);
    free(din_cpu), free(dg_cpu), free(db_cpu), free(out_cpu), free(mean_cpu), free(rstd_cpu);
    free(got);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    check_shape(&t, 4, 8, 5, 5, 1);
    check_shape(&t, 2, 64, 19, 19, 1);
    check_shape(&t, 3, 5, 7, 3, 0);   /* running statistics NULL */
    check_shape(&t, 6, 3, 1, 1, 1);   /* one value per image: N = B = 6 */
    check_shape(&t, 2, 16, 38, 38, 1); /* 38x38 local map */
    cuda_test_sync(&t, "batchnorm");
    cuda_test_close(&t);
    return test_finish("test_cuda_batchnorm");
}
