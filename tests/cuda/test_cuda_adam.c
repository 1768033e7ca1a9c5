/* test_cuda_adam.c: kernels/adam.cu against src/cpu/adam.c on the same random inputs.
 *  - adam_update: three steps (step 1, 2, 3, fresh gradients each step) over n = 1, 1000 and
 *    2^20, with weight decay 0.01 and grad_scale 1 then 0.37 then 0.5 (clip factors), plus one
 *    run without weight decay or scaling; params, m and v compared after the last step.
 *  - sum_squares: n = 0, 1, 12345 and 2^22 against afloc_cpu_sum_squares.
 *
 * Tolerances:
 *  - adam 1e-6 scale-relative (cuda_test.h): the kernel performs the CPU's float operations in
 *    the CPU's order with FMAs at the same places, so it is expected bit-identical; the test
 *    reports the max ulp difference and whether the bits match, and fails only past 1e-6.
 *  - sum_squares 1e-12 relative: the same double sums in the same order (bit-identity reported).
 *
 * Dimension letters: n element count. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_ADAM 1e-6
#define TOL_SUM_SQUARES 1e-12

/* Distance in representable floats (0 for equal bits; both finite assumed). */
static int64_t ulp_distance(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    /* map the sign-magnitude encoding onto a monotonic integer line */
    const int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia;
    const int64_t lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return la > lb ? la - lb : lb - la;
}

static void compare_adam(const char *what, const char *shape, const float *gpu, const float *cpu,
                         size_t n) {
    int64_t worst = 0;
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) {
        const int64_t d = ulp_distance(gpu[i], cpu[i]);
        differ += d != 0;
        if (d > worst) worst = d;
    }
    cuda_test_compare(what, shape, gpu, cpu, n, TOL_ADAM);
    printf("  %s %s: %s, max %lld ulp (%zu of %zu differ)\n", what, shape,
           differ ? "not bit-identical" : "bit-identical", (long long)worst, differ, n);
}

static void test_adam(cuda_test *t, size_t n, double weight_decay, int scale) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%zu) wd=%g%s", n, weight_decay, scale ? " scaled" : "");
    const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    const float scales[3] = {1.0f, scale ? 0.37f : 1.0f, scale ? 0.5f : 1.0f};
    float *params = cuda_test_random(n, -1.0f, 1.0f, 51 + n);
    float *m = cuda_test_host(n), *v = cuda_test_host(n);
    float *d_p = cuda_test_upload(t, params, n);
    float *d_m = (float *)cuda_test_alloc(t, n * sizeof(float)); /* zeroed, like m and v */
    float *d_v = (float *)cuda_test_alloc(t, n * sizeof(float));
    float *d_g = (float *)cuda_test_alloc(t, n * sizeof(float));
    for (int64_t step = 1; step <= 3; step++) {
        float *grads = cuda_test_random(n, -0.1f, 0.1f, 52 + n + (size_t)step);
        afloc_cpu_adam_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, step,
                              scales[step - 1]);
        if (t->ops->upload(t->dev, d_g, grads, n * sizeof(float)) != AFLOC_OK) test_failures++;
        t->ops->adam_update(t->dev, d_p, d_m, d_v, d_g, n, lr, beta1, beta2, eps, weight_decay,
                            step, scales[step - 1]);
        free(grads);
    }
    float *gpu = cuda_test_host(n);
    cuda_test_download(t, gpu, d_p, n);
    compare_adam("adam_update params", shape, gpu, params, n);
    cuda_test_download(t, gpu, d_m, n);
    compare_adam("adam_update m", shape, gpu, m, n);
    cuda_test_download(t, gpu, d_v, n);
    compare_adam("adam_update v", shape, gpu, v, n);
    free(params);
    free(m);
    free(v);
    free(gpu);
}

static void test_sum_squares(cuda_test *t, size_t n) {
    float *x = cuda_test_random(n, -2.0f, 2.0f, 61 + n);
    const double want = afloc_cpu_sum_squares(x, n);
    float *d_x = cuda_test_upload(t, x, n);
    const size_t scratch_bytes = t->ops->sum_squares_scratch_bytes(t->dev, n);
    void *scratch = cuda_test_alloc(t, scratch_bytes);
    double *d_out = (double *)cuda_test_alloc(t, sizeof(double));
    const double poison = -1.0; /* overwritten by the op, also for n = 0 */
    if (t->ops->upload(t->dev, d_out, &poison, sizeof poison) != AFLOC_OK) test_failures++;
    t->ops->sum_squares(t->dev, d_out, d_x, n, scratch);
    double got = -2.0;
    if (t->ops->download(t->dev, &got, d_out, sizeof got) != AFLOC_OK) {
        fprintf(stderr, "sum_squares download: %s\n", t->ops->message(t->dev));
        test_failures++;
    }
    const double rel = fabs(got - want) / (fabs(want) > 1e-300 ? fabs(want) : 1e-300);
    const int ok = (n == 0 ? got == 0.0 : rel <= TOL_SUM_SQUARES);
    printf("%-28s (%zu)%*s gpu %.17g cpu %.17g rel %.3g (%s), tol %.0e  %s\n", "sum_squares", n,
           8, "", got, want, rel, memcmp(&got, &want, sizeof got) ? "not bit-identical"
                                                                : "bit-identical",
           TOL_SUM_SQUARES, ok ? "ok" : "FAIL");
    if (!ok) test_failures++;
    free(x);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    const size_t sizes[] = {1, 1000, (size_t)1 << 20};
    for (int s = 0; s < 3; s++) test_adam(&t, sizes[s], 0.01, 1);
    test_adam(&t, 1000, 0.0, 0);

    const size_t sum_sizes[] = {0, 1, 12345, (size_t)1 << 22};
    for (int s = 0; s < 4; s++) test_sum_squares(&t, sum_sizes[s]);

    cuda_test_sync(&t, "adam");
    cuda_test_close(&t);
    return test_finish("test_cuda_adam");
}
