/* test_cuda_attention.c: the CUDA attention core (kernels/attention.cu) against its CPU twin
 * (src/cpu/attention.c): inference forward, training forward without and with a dropout mask
 * (out and probs), and the backward pass (dqkv, with and without the dropout mask, accumulating
 * onto non-zero gradients), over shapes from 1 token/1 head to BERT's C = 768, NH = 12 with
 * padding masks. Also checks that two backward runs give the same bits (no atomics).
 *
 * Tolerances (scale-relative, see cuda_test.h):
 *  - out, probs: 2e-5. Same math in fp32; the scores' dot products over HS and P·V over T are
 *    summed in another order than OpenBLAS, and CUDA's expf differs from glibc's by ~1 ulp.
 *  - dqkv: 5e-5. Three chained products (dout·Vᵀ, the softmax backward, dS·K / dSᵀ·Q) each in
 *    another order, plus the row sum whose cancellation in dP − rowsum amplifies rounding. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

static const double TOL_FORWARD = 2e-5;
static const double TOL_BACKWARD = 5e-5;

typedef struct shape {
    int32_t B, T, C, NH;
    int use_mask; /* 1: a padding mask with some tokens 0; 0: mask NULL */
} shape;

/* Padding mask: sample b keeps its first T − (b·3 mod T/2 + b) tokens (at least one), so the
 * samples have different lengths and some have padding. */
static float *padding_mask(int32_t B, int32_t T) {
    float *mask = cuda_test_host((size_t)B * (size_t)T);
    for (int32_t b = 0; b < B; b++) {
        int32_t pad = T > 1 ? (b * 3) % (T / 2 + 1) + b : 0;
        if (pad > T - 1) pad = T - 1;
        for (int32_t t = 0; t < T; t++) mask[(size_t)b * T + t] = t < T - pad ? 1.0f : 0.0f;
    }
    return mask;
}

static void run_shape(cuda_test *t, const shape *s, int index) {
    const int32_t B = s->B, T = s->T, C = s->C, NH = s->NH;
    const size_t n_qkv = (size_t)B * T * 3 * C, n_out = (size_t)B * T * C;
    const size_t n_probs = (size_t)B * NH * T * T;
    char name[64];
    snprintf(name, sizeof name, "B%d T%d C%d NH%d%s", (int)B, (int)T, (int)C, (int)NH,
             s->use_mask ? " pad" : "");

    float *qkv = cuda_test_random(n_qkv, -1.5f, 1.5f, 100 + (uint64_t)index);
    float *dout = cuda_test_random(n_out, -1.0f, 1.0f, 200 + (uint64_t)index);
    /* Small initial gradient: a missing += still shows (~1e-2 of the scale), and the gradient
     * itself dominates the scale of the comparison. */
    float *dqkv0 = cuda_test_random(n_qkv, -0.05f, 0.05f, 300 + (uint64_t)index);
    float *mask = s->use_mask ? padding_mask(B, T) : NULL;
    float *dmask = cuda_test_host(n_probs);
    afloc_cpu_dropout_mask(dmask, n_probs, 0.1f, 4242 + (uint64_t)index, 0);

    float *scratch = cuda_test_host(afloc_cpu_attention_scratch_floats(B, T, NH));
    float *bscratch = cuda_test_host(afloc_cpu_attention_backward_scratch_floats(B, T, NH));
    float *cpu_out = cuda_test_host(n_out), *gpu_out = cuda_test_host(n_out);
    float *cpu_probs = cuda_test_host(n_probs), *gpu_probs = cuda_test_host(n_probs);
    float *cpu_dqkv = cuda_test_host(n_qkv), *gpu_dqkv = cuda_test_host(n_qkv);

    float *d_qkv = cuda_test_upload(t, qkv, n_qkv);
    float *d_dout = cuda_test_upload(t, dout, n_out);
    float *d_mask = mask ? cuda_test_upload(t, mask, (size_t)B * T) : NULL;
    float *d_dmask = cuda_test_upload(t, dmask, n_probs);
    float *d_out = (float *)cuda_test_alloc(t, n_out * sizeof(float));
    float *d_probs = (float *)cuda_test_alloc(t, n_probs * sizeof(float));
    float *d_probs_drop = (float *)cuda_test_alloc(t, n_probs * sizeof(float));
    float *d_dqkv = (float *)cuda_test_alloc(t, n_qkv * sizeof(float));
    const size_t fwd_bytes = t->ops->attention_scratch_bytes(t->dev, B, T, NH);
    const size_t bwd_bytes = t->ops->attention_backward_scratch_bytes(t->dev, B, T, NH);
    void *d_scratch = fwd_bytes ? cuda_test_alloc(t, fwd_bytes) : NULL;
    void *d_bscratch = cuda_test_alloc(t, bwd_bytes);

    /* Inference forward. */
    afloc_cpu_attention_forward(cpu_out, qkv, mask, B, T, C, NH, scratch);
    t->ops->attention_forward(t->dev, d_out, d_qkv, d_mask, B, T, C, NH, d_scratch);
    cuda_test_download(t, gpu_out, d_out, n_out);
    cuda_test_compare("attention_forward out", name, gpu_out, cpu_out, n_out, TOL_FORWARD);

    /* Training forward, no dropout: P without dropout feeds the first backward. */
    t->ops->zero(t->dev, d_out, n_out * sizeof(float));
    afloc_cpu_attention_forward_train(cpu_out, cpu_probs, qkv, mask, NULL, B, T, C, NH, scratch);
    t->ops->attention_forward_train(t->dev, d_out, d_probs, d_qkv, d_mask, NULL, B, T, C, NH,
                                    d_scratch);
    cuda_test_download(t, gpu_out, d_out, n_out);
    cuda_test_download(t, gpu_probs, d_probs, n_probs);
    cuda_test_compare("forward_train out", name, gpu_out, cpu_out, n_out, TOL_FORWARD);
    cuda_test_compare("forward_train probs", name, gpu_probs, cpu_probs, n_probs, TOL_FORWARD);

    /* Backward without dropout, onto a zero gradient. Both sides use the CPU's probs, so this
     * checks the backward alone. */
    float *d_cpu_probs = cuda_test_upload(t, cpu_probs, n_probs);
    memset(cpu_dqkv, 0, n_qkv * sizeof(float));
    afloc_cpu_attention_backward(cpu_dqkv, dout, qkv, cpu_probs, NULL, B, T, C, NH, bscratch);
    t->ops->zero(t->dev, d_dqkv, n_qkv * sizeof(float));
    t->ops->attention_backward(t->dev, d_dqkv, d_dout, d_qkv, d_cpu_probs, NULL, B, T, C, NH,
                               d_bscratch);
    cuda_test_download(t, gpu_dqkv, d_dqkv, n_qkv);
    cuda_test_compare("backward dqkv (no dropout)", name, gpu_dqkv, cpu_dqkv, n_qkv,
                      TOL_BACKWARD);

    /* Training forward with the dropout mask. */
    afloc_cpu_attention_forward_train(cpu_out, cpu_probs, qkv, mask, dmask, B, T, C, NH,
                                      scratch);
    t->ops->attention_forward_train(t->dev, d_out, d_probs_drop, d_qkv, d_mask, d_dmask, B, T, C,
                                    NH, d_scratch);
    cuda_test_download(t, gpu_out, d_out, n_out);
    cuda_test_download(t, gpu_probs, d_probs_drop, n_probs);
    cuda_test_compare("forward_train out (drop)", name, gpu_out, cpu_out, n_out, TOL_FORWARD);
    cuda_test_compare("forward_train probs (drop)", name, gpu_probs, cpu_probs, n_probs,
                      TOL_FORWARD);

    /* Backward with the dropout mask, accumulating onto dqkv0; the device uses its own probs
     * (the training chain as the trainer runs it). */
    memcpy(cpu_dqkv, dqkv0, n_qkv * sizeof(float));
    afloc_cpu_attention_backward(cpu_dqkv, dout, qkv, cpu_probs, dmask, B, T, C, NH, bscratch);
    if (t->ops->upload(t->dev, d_dqkv, dqkv0, n_qkv * sizeof(float)) != AFLOC_OK) test_failures++;
    t->ops->attention_backward(t->dev, d_dqkv, d_dout, d_qkv, d_probs_drop, d_dmask, B, T, C,
                               NH, d_bscratch);
    cuda_test_download(t, gpu_dqkv, d_dqkv, n_qkv);
    cuda_test_compare("backward dqkv (drop, +=)", name, gpu_dqkv, cpu_dqkv, n_qkv, TOL_BACKWARD);

    /* Determinism: the same backward again gives the same bits. */
    float *again = cuda_test_host(n_qkv);
    if (t->ops->upload(t->dev, d_dqkv, dqkv0, n_qkv * sizeof(float)) != AFLOC_OK) test_failures++;
    t->ops->attention_backward(t->dev, d_dqkv, d_dout, d_qkv, d_probs_drop, d_dmask, B, T, C,
                               NH, d_bscratch);
    cuda_test_download(t, again, d_dqkv, n_qkv);
    CHECK(memcmp(again, gpu_dqkv, n_qkv * sizeof(float)) == 0);
    cuda_test_sync(t, name);

    free(again);
    free(qkv);
    free(dout);
    free(dqkv0);
    free(mask);
    free(dmask);
    free(scratch);
    free(bscratch);
    free(cpu_out);
    free(gpu_out);
    free(cpu_probs);
    free(gpu_probs);
    free(cpu_dqkv);
    free(gpu_dqkv);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    /* Size 1, odd sizes with HS = 4, BERT at a short padded caption, a realistic training batch,
     * T = 128 (one key per thread of the 128-thread blocks) and T = 300 (several per thread). */
    const shape shapes[] = {
        {1, 1, 4, 1, 0},      {2, 5, 12, 3, 1},    {3, 17, 768, 12, 1},
        {8, 64, 768, 12, 0},  {2, 128, 256, 4, 1}, {1, 300, 64, 1, 1},
    };
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) run_shape(&t, &shapes[i], i);
    cuda_test_close(&t);
    return test_finish("test_cuda_attention");
}
