/* test_cuda_elementwise.c: kernels/elementwise.cu against src/cpu/activation.c and
 * src/cpu/dropout.c on the same random inputs: GELU forward/backward, ReLU forward/backward,
 * add, and dropout mask/forward/backward, at n = 1, 1000 and 2^20 (BERT's intermediate
 * activations are 8 × 100 × 3072 ≈ 2^21). Backward gradients start from random values, so the
 * += accumulation is checked. The dropout mask must be BIT-IDENTICAL to the CPU's (same
 * counter-based hash) for several (seed, offset, p), including p = 0, p = 1 and a mask built in
 * two calls (offset split) against one call.
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - GELU forward/backward 1e-6: the same float operation sequence, but the device's erff/expf
 *    are 2-ulp approximations and glibc's are nearly correctly rounded (a few float ulps).
 *  - ReLU, add, dropout: exact (bits, NaN payloads aside); the kernels do the CPU's exact float
 *    operations.
 *
 * Dimension letters: n element count. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

/* Elementwise transcendental ops: a few ulps of the device's erff/expf. */
#define TOL_GELU 1e-6

/* Bitwise equality of n floats, except that any NaN matches any NaN: PTX does not promise to
 * keep NaN payloads (on the H200 ReLU returned a NaN with other bits than its input's, probably
 * ptxas turning the select into a NaN-propagating max), and nothing depends on them. Prints one
 * line like cuda_test_compare. */
static void check_exact(const char *op, const char *shape, const float *gpu, const float *cpu,
                        size_t n) {
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0 && !(isnan(gpu[i]) && isnan(cpu[i]))) {
            if (!differ) first = i;
            differ++;
        }
    printf("%-28s %-26s %zu of %zu elements differ in bits, tol 0  %s\n", op, shape, differ, n,
           differ ? "FAIL" : "ok");
    if (differ) {
        fprintf(stderr, "  first at %zu: gpu %.9g cpu %.9g\n", first, (double)gpu[first],
                (double)cpu[first]);
        test_failures++;
    }
}

static void test_activations(cuda_test *t, size_t n) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%zu)", n);
    float *in = cuda_test_random(n, -5.0f, 5.0f, 11 + n);
    float *b = cuda_test_random(n, -2.0f, 2.0f, 12 + n);
    float *dout = cuda_test_random(n, -1.0f, 1.0f, 13 + n);
    float *dinit = cuda_test_random(n, -0.5f, 0.5f, 14 + n);
    /* exact zeros (ReLU output 0 -> no gradient), and a NaN that ReLU must pass through */
    for (size_t i = 0; i < n; i += 7) in[i] = 0.0f;
    float *relu_in = cuda_test_host(n);
    memcpy(relu_in, in, n * sizeof(float));
    if (n > 3) relu_in[3] = NAN;

    float *cpu = cuda_test_host(n), *gpu = cuda_test_host(n);
    float *d_in = cuda_test_upload(t, in, n), *d_b = cuda_test_upload(t, b, n);
    float *d_relu_in = cuda_test_upload(t, relu_in, n), *d_dout = cuda_test_upload(t, dout, n);
    float *d_out = (float *)cuda_test_alloc(t, n * sizeof(float));

    /* GELU forward / backward */
    afloc_cpu_gelu_forward(cpu, in, n);
    t->ops->gelu_forward(t->dev, d_out, d_in, n);
    cuda_test_download(t, gpu, d_out, n);
    cuda_test_compare("gelu_forward", shape, gpu, cpu, n, TOL_GELU);

    memcpy(cpu, dinit, n * sizeof(float));
    afloc_cpu_gelu_backward(cpu, dout, in, n);
    float *d_grad = cuda_test_upload(t, dinit, n);
    t->ops->gelu_backward(t->dev, d_grad, d_dout, d_in, n);
    cuda_test_download(t, gpu, d_grad, n);
    cuda_test_compare("gelu_backward", shape, gpu, cpu, n, TOL_GELU);

    /* ReLU forward / backward (from the forward's output, which has exact zeros and a NaN) */
    float *relu_out = cuda_test_host(n);
    afloc_cpu_relu_forward(relu_out, relu_in, n);
    t->ops->relu_forward(t->dev, d_out, d_relu_in, n);
    cuda_test_download(t, gpu, d_out, n);
    check_exact("relu_forward", shape, gpu, relu_out, n);

    memcpy(cpu, dinit, n * sizeof(float));
    afloc_cpu_relu_backward(cpu, dout, relu_out, n);
    float *d_relu_out = cuda_test_upload(t, relu_out, n);
    float *d_grad2 = cuda_test_upload(t, dinit, n);
    t->ops->relu_backward(t->dev, d_grad2, d_dout, d_relu_out, n);
    cuda_test_download(t, gpu, d_grad2, n);
    check_exact("relu_backward", shape, gpu, cpu, n);

    /* add */
    afloc_cpu_add_forward(cpu, in, b, n);
    t->ops->add_forward(t->dev, d_out, d_in, d_b, n);
    cuda_test_download(t, gpu, d_out, n);
    check_exact("add_forward", shape, gpu, cpu, n);

    free(in);
    free(b);
    free(dout);
    free(dinit);
    free(relu_in);
    free(relu_out);
    free(cpu);
    free(gpu);
}

/* The mask for (seed, offset, p) over n elements: in one call, and (n > 1) in two calls split
 * at n/3 (offset, then offset + n/3), both bit-identical to the CPU's one call. */
static void test_dropout_mask(cuda_test *t, size_t n, float p, uint64_t seed, uint64_t offset) {
    char shape[96];
    snprintf(shape, sizeof shape, "(%zu) p=%g seed=%llu off=%llu", n, (double)p,
             (unsigned long long)seed, (unsigned long long)offset);
    float *cpu = cuda_test_host(n), *gpu = cuda_test_host(n);
    afloc_cpu_dropout_mask(cpu, n, p, seed, offset);
    float *d_mask = (float *)cuda_test_alloc(t, n * sizeof(float));
    t->ops->dropout_mask(t->dev, d_mask, n, p, seed, offset);
    cuda_test_download(t, gpu, d_mask, n);
    check_exact("dropout_mask", shape, gpu, cpu, n);
    if (n > 1) {
        const size_t k = n / 3;
        float *d_split = (float *)cuda_test_alloc(t, n * sizeof(float));
        t->ops->dropout_mask(t->dev, d_split, k, p, seed, offset);
        t->ops->dropout_mask(t->dev, d_split + k, n - k, p, seed, offset + k);
        cuda_test_download(t, gpu, d_split, n);
        check_exact("dropout_mask split", shape, gpu, cpu, n);
    }
    /* sanity of the CPU oracle itself: the kept fraction is near 1 − p */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) kept += cpu[i] != 0.0f;
    if (n >= 1000 && p > 0.0f && p < 1.0f) {
        const double frac = (double)kept / (double)n, want = 1.0 - (double)p;
        CHECK(fabs(frac - want) < 0.05);
    }
    free(cpu);
    free(gpu);
}

static void test_dropout_apply(cuda_test *t, size_t n) {
    char shape[64];
    snprintf(shape, sizeof shape, "(%zu) p=0.1", n);
    float *in = cuda_test_random(n, -3.0f, 3.0f, 21 + n);
    float *dout = cuda_test_random(n, -1.0f, 1.0f, 22 + n);
    float *dinit = cuda_test_random(n, -0.5f, 0.5f, 23 + n);
    float *mask = cuda_test_host(n), *cpu = cuda_test_host(n), *gpu = cuda_test_host(n);
    afloc_cpu_dropout_mask(mask, n, 0.1f, 42, 1000);
    float *d_in = cuda_test_upload(t, in, n), *d_dout = cuda_test_upload(t, dout, n);
    float *d_mask = cuda_test_upload(t, mask, n);
    float *d_out = (float *)cuda_test_alloc(t, n * sizeof(float));

    afloc_cpu_dropout_forward(cpu, in, mask, n);
    t->ops->dropout_forward(t->dev, d_out, d_in, d_mask, n);
    cuda_test_download(t, gpu, d_out, n);
    check_exact("dropout_forward", shape, gpu, cpu, n);

    memcpy(cpu, dinit, n * sizeof(float));
    afloc_cpu_dropout_backward(cpu, dout, mask, n);
    float *d_grad = cuda_test_upload(t, dinit, n);
    t->ops->dropout_backward(t->dev, d_grad, d_dout, d_mask, n);
    cuda_test_download(t, gpu, d_grad, n);
    check_exact("dropout_backward", shape, gpu, cpu, n);

    free(in);
    free(dout);
    free(dinit);
    free(mask);
    free(cpu);
    free(gpu);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    const size_t sizes[] = {1, 1000, (size_t)1 << 20};
    for (int s = 0; s < 3; s++) {
        test_activations(&t, sizes[s]);
        test_dropout_apply(&t, sizes[s]);
    }

    const float probs[] = {0.0f, 0.1f, 0.5f, 0.999f, 1.0f};
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 5; k++)
            test_dropout_mask(&t, sizes[s], probs[k], 1234u + (uint64_t)k, 0);
    /* other seeds and offsets, including a huge seed and an offset past 2^32 */
    test_dropout_mask(&t, 4099, 0.1f, 0, 7);
    test_dropout_mask(&t, 100000, 0.1f, 0xFFFFFFFFFFFFFFFFull, ((uint64_t)1 << 33) + 5);
    test_dropout_mask(&t, 1000, 0.3f, 7, 123456789);

    cuda_test_sync(&t, "elementwise");
    cuda_test_close(&t);
    return test_finish("test_cuda_elementwise");
}
