/* test_cuda_norm.c: kernels/norm.cu against src/cpu/norm.c (LayerNorm, eps 1e-12 as BERT) on
 * the same random inputs: the inference forward, the training forward (its output must equal the
 * inference forward's bit for bit, plus the saved mean and rstd) and the backward's three
 * gradients, which start from random values so the += accumulation is checked. Shapes (N, C):
 * (1, 1), (3, 5), (77, 768) and (256, 768) (BERT hidden size, a batch of text tokens). One call
 * also passes NULL dweight and dbias.
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - out, mean, rstd 1e-6: statistics in double on both sides (only the summation order differs,
 *    ~1e-16), then the same float operations; at most 1 float ulp where a double rounds across.
 *  - dinput 1e-5: the two row means are double sums in another order rounded to float; a 1-ulp
 *    change of mean(g·x̂) is multiplied by x̂·rstd, so allow a reduction's tolerance.
 *  - dweight, dbias 1e-6: the same sums in the same order in double (bit-identical expected;
 *    the line "bit-identical" reports it).
 *
 * Dimension letters: N rows, C features. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_OUT 1e-6
#define TOL_STATS 1e-6
#define TOL_DINPUT 1e-5
#define TOL_PARAMS 1e-6

static const float EPS = 1e-12f;

static void report_bits(const char *what, const char *shape, const float *gpu, const float *cpu,
                        size_t n) {
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0;
    printf("  %s %s: %s (%zu of %zu differ)\n", what, shape,
           differ ? "not bit-identical" : "bit-identical", differ, n);
}

static void test_shape(cuda_test *t, int32_t N, int32_t C, int params_null) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%d, %d)%s", N, C, params_null ? " no dw/db" : "");
    const size_t nc = (size_t)N * (size_t)C;
    float *in = cuda_test_random(nc, -2.0f, 2.0f, 31 + nc);
    /* a different offset per row, so the mean is not ~0 */
    for (int32_t n = 0; n < N; n++)
        for (int32_t c = 0; c < C; c++) in[(size_t)n * C + c] += 0.25f * (float)(n % 9) - 1.0f;
    float *weight = cuda_test_random((size_t)C, 0.5f, 1.5f, 32 + C);
    float *bias = cuda_test_random((size_t)C, -0.5f, 0.5f, 33 + C);
    float *dout = cuda_test_random(nc, -1.0f, 1.0f, 34 + nc);
    float *dx0 = cuda_test_random(nc, -0.5f, 0.5f, 35 + nc);
    float *dw0 = cuda_test_random((size_t)C, -0.5f, 0.5f, 36 + C);
    float *db0 = cuda_test_random((size_t)C, -0.5f, 0.5f, 37 + C);

    float *cpu_out = cuda_test_host(nc), *cpu_mean = cuda_test_host((size_t)N);
    float *cpu_rstd = cuda_test_host((size_t)N), *gpu = cuda_test_host(nc);
    float *gpu_train = cuda_test_host(nc);

    float *d_in = cuda_test_upload(t, in, nc), *d_w = cuda_test_upload(t, weight, (size_t)C);
    float *d_b = cuda_test_upload(t, bias, (size_t)C), *d_dout = cuda_test_upload(t, dout, nc);
    float *d_out = (float *)cuda_test_alloc(t, nc * sizeof(float));
    float *d_out_train = (float *)cuda_test_alloc(t, nc * sizeof(float));
    float *d_mean = (float *)cuda_test_alloc(t, (size_t)N * sizeof(float));
    float *d_rstd = (float *)cuda_test_alloc(t, (size_t)N * sizeof(float));

    /* forwards */
    afloc_cpu_layernorm_forward_train(cpu_out, cpu_mean, cpu_rstd, in, weight, bias, N, C, EPS);
    t->ops->layernorm_forward(t->dev, d_out, d_in, d_w, d_b, N, C, EPS);
    t->ops->layernorm_forward_train(t->dev, d_out_train, d_mean, d_rstd, d_in, d_w, d_b, N, C,
                                    EPS);
    cuda_test_download(t, gpu, d_out, nc);
    cuda_test_compare("layernorm_forward", shape, gpu, cpu_out, nc, TOL_OUT);
    report_bits("forward out", shape, gpu, cpu_out, nc);
    cuda_test_download(t, gpu_train, d_out_train, nc);
    cuda_test_compare("layernorm_forward_train", shape, gpu_train, cpu_out, nc, TOL_OUT);
    CHECK(memcmp(gpu, gpu_train, nc * sizeof(float)) == 0); /* train == inference, bitwise */
    float *gpu_mean = cuda_test_host((size_t)N), *gpu_rstd = cuda_test_host((size_t)N);
    cuda_test_download(t, gpu_mean, d_mean, (size_t)N);
    cuda_test_download(t, gpu_rstd, d_rstd, (size_t)N);
    cuda_test_compare("layernorm_forward_train mean", shape, gpu_mean, cpu_mean, (size_t)N,
                      TOL_STATS);
    cuda_test_compare("layernorm_forward_train rstd", shape, gpu_rstd, cpu_rstd, (size_t)N,
                      TOL_STATS);

    /* backward, from the CPU's saved statistics on both sides (so only the backward differs) */
    float *cpu_dx = cuda_test_host(nc), *cpu_dw = cuda_test_host((size_t)C);
    float *cpu_db = cuda_test_host((size_t)C);
    memcpy(cpu_dx, dx0, nc * sizeof(float));
    memcpy(cpu_dw, dw0, (size_t)C * sizeof(float));
    memcpy(cpu_db, db0, (size_t)C * sizeof(float));
    afloc_cpu_layernorm_backward(cpu_dx, params_null ? NULL : cpu_dw, params_null ? NULL : cpu_db,
                                 dout, in, weight, cpu_mean, cpu_rstd, N, C);
    float *d_dx = cuda_test_upload(t, dx0, nc), *d_dw = cuda_test_upload(t, dw0, (size_t)C);
    float *d_db = cuda_test_upload(t, db0, (size_t)C);
    float *d_cmean = cuda_test_upload(t, cpu_mean, (size_t)N);
    float *d_crstd = cuda_test_upload(t, cpu_rstd, (size_t)N);
    t->ops->layernorm_backward(t->dev, d_dx, params_null ? NULL : d_dw, params_null ? NULL : d_db,
                               d_dout, d_in, d_w, d_cmean, d_crstd, N, C);
    cuda_test_download(t, gpu, d_dx, nc);
    cuda_test_compare("layernorm_backward dinput", shape, gpu, cpu_dx, nc, TOL_DINPUT);
    float *gpu_c = cuda_test_host((size_t)C);
    cuda_test_download(t, gpu_c, d_dw, (size_t)C);
    cuda_test_compare("layernorm_backward dweight", shape, gpu_c, cpu_dw, (size_t)C, TOL_PARAMS);
    report_bits("dweight", shape, gpu_c, cpu_dw, (size_t)C);
    cuda_test_download(t, gpu_c, d_db, (size_t)C);
    cuda_test_compare("layernorm_backward dbias", shape, gpu_c, cpu_db, (size_t)C, TOL_PARAMS);
    report_bits("dbias", shape, gpu_c, cpu_db, (size_t)C);

    free(in);
    free(weight);
    free(bias);
    free(dout);
    free(dx0);
    free(dw0);
    free(db0);
    free(cpu_out);
    free(cpu_mean);
    free(cpu_rstd);
    free(gpu);
    free(gpu_train);
    free(gpu_mean);
    free(gpu_rstd);
    free(cpu_dx);
    free(cpu_dw);
    free(cpu_db);
    free(gpu_c);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    test_shape(&t, 1, 1, 0);
    test_shape(&t, 3, 5, 0);
    test_shape(&t, 77, 768, 0);
    test_shape(&t, 77, 768, 1);
    test_shape(&t, 256, 768, 0);
    cuda_test_sync(&t, "norm");
    cuda_test_close(&t);
    return test_finish("test_cuda_norm");
}
