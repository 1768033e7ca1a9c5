/* test_cuda_contrastive.c: the device AFLoc losses (kernels/contrastive.cu) against their CPU
 * twins afloc_cpu_global_loss, afloc_cpu_local_loss and afloc_cpu_sentence_contrast_loss (the
 * within-image sentence loss, not in the paper; src/cpu/contrastive.c) on the same
 * random inputs: the loss, both gradients (accumulated onto non-zero contents) and the local
 * attention maps; forward-only calls (NULL gradients); one gradient alone; and bit-identical
 * repeats on the device. The device scratch is filled with NaN bytes first, so a kernel that reads
 * scratch it never wrote shows up as a NaN mismatch.
 *
 * Inputs are realistic: embeddings uniform in [-1.73, 1.73] (unit variance, as N(0, 1)-ish
 * features), temp1 4, temp2 5, temp3 10 (MODEL.md §6), cap_len mixed including 1 (§5.8).
 *
 * Tolerances (scale-relative, cuda_test.h):
 *  - loss 1e-5: both sides compute scores, log-sum-exp and CE in double; the remaining difference
 *    is the fp32 rounding of the GEMMs (other summation order) entering M through ρ, ~1e-6.
 *  - dimage, dtext 1e-4: the gradients pass through up to four fp32 GEMMs of length D, S or B·T
 *    summed in another order than OpenBLAS (the device sums all B texts of an image in one
 *    product, the CPU adds them pair by pair), and through the temp1-sharpened softmax whose
 *    backward subtracts nearly equal terms. Seen on an H200 (2026-11-30): at most 1.6e-5
 *    (dimage, B 4 D 768 S 1444 T 16), 8.2e-6 (dtext); loss at most 8.4e-8.
 *  - attention 1e-4: α = softmax_s(4·softmax_t(a)) amplifies the fp32 GEMM error of a; seen
 *    2.3e-5 at B 8 D 768 S 361 T 20.
 *  - global gradients 1e-5: every sum is in double on both sides, only the final float differs
 *    (seen: 0, bit-identical).
 *  - within-image loss: the local loss's limits (the same GEMMs and softmaxes, one image at a
 *    time); not yet run on hardware (added 2026-12-01 without a GPU). */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

static const float TEMP1 = 4.0f, TEMP2 = 5.0f, TEMP3 = 10.0f;
static const double TOL_LOSS = 1e-5, TOL_GRAD = 1e-4, TOL_ATT = 1e-4, TOL_GLOBAL_GRAD = 1e-5;
static const float UNIT = 1.73f; /* uniform(-UNIT, UNIT) has variance ~1 */

/* Device scratch of `bytes`, filled with 0xFF (NaN) so unwritten reads show. */
static void *nan_scratch(cuda_test *t, size_t bytes) {
    void *d = cuda_test_alloc(t, bytes);
    if (bytes) {
        unsigned char *h = (unsigned char *)malloc(bytes);
        if (!h) {
            fprintf(stderr, "out of host memory\n");
            exit(1);
        }
        memset(h, 0xFF, bytes);
        if (t->ops->upload(t->dev, d, h, bytes) != AFLOC_OK) test_failures++;
        free(h);
    }
    return d;
}

static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t k = 0; k < n; k++)
        if (fabs((double)x[k]) > m) m = fabs((double)x[k]);
    return m;
}

/* prefill (n) = uniform(-1, 1)·max|grad| (or 1 when grad is 0), want = prefill + grad. */
static float *prefill_for(float *want, const float *grad, size_t n, uint64_t seed) {
    double scale = max_abs(grad, n);
    if (scale == 0.0) scale = 1.0;
    float *p = cuda_test_random(n, -1.0f, 1.0f, seed);
    for (size_t k = 0; k < n; k++) {
        p[k] = (float)(p[k] * scale);
        want[k] = p[k] + grad[k];
    }
    return p;
}

static void compare_loss(const char *op, const char *shape, cuda_test *t, const float *d_loss,
                         float want) {
    float got = 0.0f;
    cuda_test_download(t, &got, d_loss, 1);
    cuda_test_compare(op, shape, &got, &want, 1, TOL_LOSS);
}

/* ---- global loss ---- */

static void test_global(cuda_test *t, int32_t B, int32_t D, uint64_t seed) {
    const size_t n = (size_t)B * D;
    char shape[64];
    snprintf(shape, sizeof shape, "B%d D%d", (int)B, (int)D);
    float *image = cuda_test_random(n, -UNIT, UNIT, seed);
    float *text = cuda_test_random(n, -UNIT, UNIT, seed + 1);
    float *gi = cuda_test_host(n), *gt = cuda_test_host(n);
    float *cpu_scratch = cuda_test_host(afloc_cpu_global_loss_scratch_floats(B));
    const float loss = afloc_cpu_global_loss(gi, gt, image, text, B, D, TEMP3, cpu_scratch);
    float *want_i = cuda_test_host(n), *want_t = cuda_test_host(n);
    float *pre_i = prefill_for(want_i, gi, n, seed + 2);
    float *pre_t = prefill_for(want_t, gt, n, seed + 3);

    float *d_image = cuda_test_upload(t, image, n), *d_text = cuda_test_upload(t, text, n);
    float *d_gi = cuda_test_upload(t, pre_i, n), *d_gt = cuda_test_upload(t, pre_t, n);
    float *d_loss = cuda_test_upload(t, &(float){-1.0f}, 1);
    void *scratch = nan_scratch(t, t->ops->global_loss_scratch_bytes(t->dev, B, D));
    t->ops->global_loss(t->dev, d_loss, d_gi, d_gt, d_image, d_text, B, D, TEMP3, scratch);
    float *got = cuda_test_host(n);
    compare_loss("global_loss loss", shape, t, d_loss, loss);
    cuda_test_download(t, got, d_gi, n);
    cuda_test_compare("global_loss dimage", shape, got, want_i, n, TOL_GLOBAL_GRAD);
    cuda_test_download(t, got, d_gt, n);
    cuda_test_compare("global_loss dtext", shape, got, want_t, n, TOL_GLOBAL_GRAD);

    /* forward only: NULL gradients, fresh NaN scratch */
    float *d_loss2 = cuda_test_upload(t, &(float){-1.0f}, 1);
    scratch = nan_scratch(t, t->ops->global_loss_scratch_bytes(t->dev, B, D));
    t->ops->global_loss(t->dev, d_loss2, NULL, NULL, d_image, d_text, B, D, TEMP3, scratch);
    compare_loss("global_loss loss (fwd only)", shape, t, d_loss2, loss);
    cuda_test_sync(t, "global_loss");
    free(image), free(text), free(gi), free(gt), free(cpu_scratch), free(want_i), free(want_t);
    free(pre_i), free(pre_t), free(got);
}

/* ---- local loss ---- */

typedef struct local_case {
    int32_t B, D, S, T;
    const int32_t *cap_len;
    int grads; /* 3 both, 1 dimage only, 2 dtext only */
    int repeat; /* 1: run twice and require bit-identical results */
} local_case;

static void test_local(cuda_test *t, const local_case *c, uint64_t seed) {
    const int32_t B = c->B, D = c->D, S = c->S, T = c->T;
    const size_t ni = (size_t)B * D * S, nt = (size_t)B * D * T, na = (size_t)B * T * S;
    char shape[64];
    snprintf(shape, sizeof shape, "B%d D%d S%d T%d", (int)B, (int)D, (int)S, (int)T);
    float *image = cuda_test_random(ni, -UNIT, UNIT, seed);
    float *text = cuda_test_random(nt, -UNIT, UNIT, seed + 1);
    float *gi = cuda_test_host(ni), *gt = cuda_test_host(nt), *att = cuda_test_host(na);
    float *cpu_scratch = cuda_test_host(afloc_cpu_local_loss_scratch_floats(B, D, S, T));
    const float loss = afloc_cpu_local_loss(gi, gt, att, image, text, c->cap_len, B, D, S, T,
                                            TEMP1, TEMP2, TEMP3, cpu_scratch);
    float *want_i = cuda_test_host(ni), *want_t = cuda_test_host(nt);
    float *pre_i = prefill_for(want_i, gi, ni, seed + 2);
    float *pre_t = prefill_for(want_t, gt, nt, seed + 3);
    if (!(c->grads & 1)) memcpy(want_i, pre_i, ni * sizeof(float)); /* untouched */
    if (!(c->grads & 2)) memcpy(want_t, pre_t, nt * sizeof(float));

    float *d_image = cuda_test_upload(t, image, ni), *d_text = cuda_test_upload(t, text, nt);
    int32_t *d_cap = cuda_test_upload_i32(t, c->cap_len, (size_t)B);
    float *d_gi = cuda_test_upload(t, pre_i, ni), *d_gt = cuda_test_upload(t, pre_t, nt);
    float *d_att = (float *)nan_scratch(t, na * sizeof(float));
    float *d_loss = cuda_test_upload(t, &(float){-1.0f}, 1);
    const size_t scratch_bytes = t->ops->local_loss_scratch_bytes(t->dev, B, D, S, T);
    void *scratch = nan_scratch(t, scratch_bytes);
    t->ops->local_loss(t->dev, d_loss, (c->grads & 1) ? d_gi : NULL, (c->grads & 2) ? d_gt : NULL,
                       d_att, d_image, d_text, d_cap, B, D, S, T, TEMP1, TEMP2, TEMP3, scratch);
    float *got_i = cuda_test_host(ni), *got_t = cuda_test_host(nt), *got_a = cuda_test_host(na);
    compare_loss("local_loss loss", shape, t, d_loss, loss);
    cuda_test_download(t, got_i, d_gi, ni);
    cuda_test_compare("local_loss dimage", shape, got_i, want_i, ni, TOL_GRAD);
    cuda_test_download(t, got_t, d_gt, nt);
    cuda_test_compare("local_loss dtext", shape, got_t, want_t, nt, TOL_GRAD);
    cuda_test_download(t, got_a, d_att, na);
    cuda_test_compare("local_loss attention", shape, got_a, att, na, TOL_ATT);

    if (c->repeat) {
        /* same call again on the same device state: every bit must repeat */
        float *d_gi2 = cuda_test_upload(t, pre_i, ni), *d_gt2 = cuda_test_upload(t, pre_t, nt);
        float *d_loss2 = cuda_test_upload(t, &(float){-1.0f}, 1);
        t->ops->local_loss(t->dev, d_loss2, d_gi2, d_gt2, d_att, d_image, d_text, d_cap, B, D, S,
                           T, TEMP1, TEMP2, TEMP3, scratch);
        float *again = cuda_test_host(ni > nt ? ni : nt);
        float l1 = 0.0f, l2 = 1.0f;
        cuda_test_download(t, &l1, d_loss, 1);
        cuda_test_download(t, &l2, d_loss2, 1);
        CHECK(memcmp(&l1, &l2, sizeof l1) == 0);
        if (c->grads == 3) {
            cuda_test_download(t, again, d_gi2, ni);
            CHECK(memcmp(again, got_i, ni * sizeof(float)) == 0);
            cuda_test_download(t, again, d_gt2, nt);
            CHECK(memcmp(again, got_t, nt * sizeof(float)) == 0);
        }
        printf("%-28s %-26s bit-identical repeat checked\n", "local_loss determinism", shape);
        free(again);
    }

    /* forward only, no attention: the loss alone */
    float *d_loss3 = cuda_test_upload(t, &(float){-1.0f}, 1);
    scratch = nan_scratch(t, scratch_bytes);
    t->ops->local_loss(t->dev, d_loss3, NULL, NULL, NULL, d_image, d_text, d_cap, B, D, S, T,
                       TEMP1, TEMP2, TEMP3, scratch);
    compare_loss("local_loss loss (fwd only)", shape, t, d_loss3, loss);
    cuda_test_sync(t, "local_loss");
    printf("%-28s %-26s scratch %.3g MB\n", "local_loss scratch", shape, scratch_bytes / 1e6);
    free(image), free(text), free(gi), free(gt), free(att), free(cpu_scratch);
    free(want_i), free(want_t), free(pre_i), free(pre_t), free(got_i), free(got_t), free(got_a);
}

/* ---- within-image sentence loss ---- */

static void test_within(cuda_test *t, const local_case *c, float weight, uint64_t seed) {
    const int32_t B = c->B, D = c->D, S = c->S, T = c->T;
    const size_t ni = (size_t)B * D * S, nt = (size_t)B * D * T;
    char shape[64];
    snprintf(shape, sizeof shape, "B%d D%d S%d T%d w%g", (int)B, (int)D, (int)S, (int)T,
             (double)weight);
    float *image = cuda_test_random(ni, -UNIT, UNIT, seed);
    float *text = cuda_test_random(nt, -UNIT, UNIT, seed + 1);
    float *gi = cuda_test_host(ni), *gt = cuda_test_host(nt);
    float *cpu_scratch = cuda_test_host(afloc_cpu_sentence_contrast_scratch_floats(D, S, T));
    const float loss = afloc_cpu_sentence_contrast_loss(gi, gt, image, text, c->cap_len, B, D, S,
                                                        T, TEMP1, TEMP3, weight, cpu_scratch);
    float *want_i = cuda_test_host(ni), *want_t = cuda_test_host(nt);
    float *pre_i = prefill_for(want_i, gi, ni, seed + 2);
    float *pre_t = prefill_for(want_t, gt, nt, seed + 3);
    float *d_image = cuda_test_upload(t, image, ni), *d_text = cuda_test_upload(t, text, nt);
    int32_t *d_cap = cuda_test_upload_i32(t, c->cap_len, (size_t)B);
    float *d_gi = cuda_test_upload(t, pre_i, ni), *d_gt = cuda_test_upload(t, pre_t, nt);
    float *d_loss = cuda_test_upload(t, &(float){-1.0f}, 1);
    const size_t scratch_bytes = t->ops->sentence_contrast_scratch_bytes(t->dev, B, D, S, T);
    void *scratch = nan_scratch(t, scratch_bytes);
    t->ops->sentence_contrast_loss(t->dev, d_loss, d_gi, d_gt, d_image, d_text, d_cap, B, D, S, T,
                                   TEMP1, TEMP3, weight, scratch);
    float *got_i = cuda_test_host(ni), *got_t = cuda_test_host(nt);
    compare_loss("sentence_contrast loss", shape, t, d_loss, loss);
    cuda_test_download(t, got_i, d_gi, ni);
    cuda_test_compare("sentence_contrast dimage", shape, got_i, want_i, ni, TOL_GRAD);
    cuda_test_download(t, got_t, d_gt, nt);
    cuda_test_compare("sentence_contrast dtext", shape, got_t, want_t, nt, TOL_GRAD);
    float *d_loss2 = cuda_test_upload(t, &(float){-1.0f}, 1); /* forward only */
    t->ops->sentence_contrast_loss(t->dev, d_loss2, NULL, NULL, d_image, d_text, d_cap, B, D, S,
                                   T, TEMP1, TEMP3, weight, nan_scratch(t, scratch_bytes));
    compare_loss("sentence_contrast loss (fwd only)", shape, t, d_loss2, loss);
    cuda_test_sync(t, "sentence_contrast");
    free(image), free(text), free(gi), free(gt), free(cpu_scratch), free(want_i), free(want_t);
    free(pre_i), free(pre_t), free(got_i), free(got_t);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    const int32_t globals[][2] = {{1, 5}, {2, 5}, {8, 5}, {1, 768}, {2, 768}, {8, 768}};
    for (size_t k = 0; k < sizeof globals / sizeof globals[0]; k++)
        test_global(&t, globals[k][0], globals[k][1], 100 + 10 * k);

    static const int32_t cap_a[] = {1, 4};
    static const int32_t cap_b[] = {1, 12, 5, 8};
    static const int32_t cap_c[] = {20, 7, 13, 1, 20, 3, 16, 11};
    static const int32_t cap_d[] = {16, 9, 4, 12};
    const local_case cases[] = {
        {2, 8, 6, 4, cap_a, 3, 0},
        {2, 8, 6, 4, cap_a, 1, 0},     /* dimage alone */
        {4, 64, 19 * 19, 12, cap_b, 2, 0}, /* dtext alone */
        {4, 64, 19 * 19, 12, cap_b, 3, 0},
        {8, 768, 19 * 19, 20, cap_c, 3, 1}, /* two chunks: the recompute path */
        {4, 768, 38 * 38, 16, cap_d, 3, 0}, /* word level */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        test_local(&t, &cases[k], 1000 + 10 * k);

    /* within-image: images with and without two sentences (cap 1 and 2 have none), the shipped
     * chest X-ray model's shape (D 128, 32x32 map), another weight */
    static const int32_t cap_e[] = {6, 2, 1, 9};
    const local_case within[] = {{2, 8, 6, 4, cap_a, 3, 0}, {4, 64, 19 * 19, 12, cap_b, 3, 0},
                                 {4, 128, 32 * 32, 12, cap_e, 3, 0},
                                 {8, 128, 32 * 32, 20, cap_c, 3, 0}};
    for (size_t k = 0; k < sizeof within / sizeof within[0]; k++)
        test_within(&t, &within[k], k == 1 ? 0.3f : 1.0f, 2000 + 10 * k);

    /* empty sizes: as on the CPU, each loss is 0 and is written (a stale value must not stay) */
    {
        const float stale[1] = {7.0f};
        float *d_loss = cuda_test_upload(&t, stale, 1), back[1] = {-1.0f};
        int32_t *d_cap = cuda_test_upload_i32(&t, cap_a, 2);
        float *d_any = (float *)cuda_test_alloc(&t, 64 * sizeof(float));
        t.ops->global_loss(t.dev, d_loss, NULL, NULL, d_any, d_any, 0, 8, 10.0f, NULL);
        cuda_test_download(&t, back, d_loss, 1);
        CHECK(back[0] == 0.0f);
        CHECK(t.ops->upload(t.dev, d_loss, stale, sizeof stale) == AFLOC_OK);
        t.ops->local_loss(t.dev, d_loss, NULL, NULL, NULL, d_any, d_any, d_cap, 2, 8, 0, 4, 4.0f,
                          5.0f, 10.0f, NULL);
        cuda_test_download(&t, back, d_loss, 1);
        CHECK(back[0] == 0.0f);
        CHECK(t.ops->upload(t.dev, d_loss, stale, sizeof stale) == AFLOC_OK);
        t.ops->sentence_contrast_loss(t.dev, d_loss, NULL, NULL, d_any, d_any, d_cap, 0, 8, 6, 4,
                                      4.0f, 10.0f, 1.0f, NULL);
        cuda_test_download(&t, back, d_loss, 1);
        CHECK(back[0] == 0.0f);
    }

    /* the scratch at a training shape (no run): B 64, D 768, S 1444, T 64 */
    const size_t big = t.ops->local_loss_scratch_bytes(t.dev, 64, 768, 1444, 64);
    printf("local_loss scratch at B64 D768 S1444 T64: %.3g GB\n", big / 1e9);
    CHECK(big < (size_t)2 << 30);

    cuda_test_close(&t);
    return test_finish("test_cuda_contrastive");
}
