/* test_cuda_embedding.c: kernels/embedding.cu against src/cpu/embedding.c on the same random
 * tables: BERT input embeddings forward and backward at the AFLoc text size (T = 77, C = 768,
 * vocabulary 500, 512 positions), an odd (T = 13, C = 37) and (T = 1, C = 1). Word ids repeat
 * (drawn from 24 distinct values), so the backward's per-row accumulation order matters;
 * type_ids are NULL (all 0) or a 0/1 mix; the backward runs with all three gradient tables and
 * with some of them NULL (frozen). Gradient tables start from random values, so += is checked.
 *
 * Tolerances (scale-relative, cuda_test.h): 1e-6 for all, though everything is expected
 * BIT-EXACT (same float additions in the same order: the forward's (word + type) + position, and
 * the backward's increasing-token walk per column); the differing-element count is printed.
 *
 * Dimension letters: T tokens, C hidden, V vocabulary. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"

#define TOL_EMBEDDING 1e-6

enum { POSITIONS = 512 };

static void compare(const char *op, const char *shape, const float *gpu, const float *cpu,
                    size_t n) {
    cuda_test_compare(op, shape, gpu, cpu, n, TOL_EMBEDDING);
    cuda_test_report_bits(op, shape, gpu, cpu, n);
}

/* with_types: type_ids given; grads: bit 0 dword, bit 1 dposition, bit 2 dtoken_type. */
static void test_embedding(cuda_test *t, int32_t T, int32_t C, int32_t V, int with_types,
                           int grads) {
    char shape[64];
    snprintf(shape, sizeof shape, "T%d C%d V%d types%d grads%d", T, C, V, with_types, grads);
    const size_t nw = (size_t)V * C, np = (size_t)POSITIONS * C, ny = (size_t)2 * C;
    const size_t no = (size_t)T * C;
    float *word = cuda_test_random(nw, -1.0f, 1.0f, 1 + nw);
    float *position = cuda_test_random(np, -1.0f, 1.0f, 2 + np);
    float *token_type = cuda_test_random(ny, -1.0f, 1.0f, 3 + ny);
    float *dout = cuda_test_random(no, -1.0f, 1.0f, 4 + no);
    int32_t *ids = (int32_t *)calloc((size_t)T, sizeof(int32_t));
    int32_t *type_ids = (int32_t *)calloc((size_t)T, sizeof(int32_t));
    if (!ids || !type_ids) exit(1);
    for (int32_t i = 0; i < T; i++) {
        ids[i] = (int32_t)(((uint32_t)i * 2654435761u >> 7) % 24u) * (V / 24 > 0 ? V / 24 : 1);
        if (ids[i] >= V) ids[i] = V - 1;
        type_ids[i] = (i * 7 / 3) % 2;
    }
    const int32_t *types_host = with_types ? type_ids : NULL;

    /* forward */
    float *cpu = cuda_test_host(no), *gpu = cuda_test_host(no);
    afloc_cpu_embedding_forward(cpu, ids, types_host, word, position, token_type, T, C);
    float *d_word = cuda_test_upload(t, word, nw), *d_pos = cuda_test_upload(t, position, np);
    float *d_type = cuda_test_upload(t, token_type, ny), *d_dout = cuda_test_upload(t, dout, no);
    int32_t *d_ids = cuda_test_upload_i32(t, ids, (size_t)T);
    int32_t *d_types = with_types ? cuda_test_upload_i32(t, type_ids, (size_t)T) : NULL;
    float *d_out = (float *)cuda_test_alloc(t, no * sizeof(float));
    t->ops->embedding_forward(t->dev, d_out, d_ids, d_types, d_word, d_pos, d_type, T, C);
    cuda_test_download(t, gpu, d_out, no);
    compare("embedding_forward", shape, gpu, cpu, no);

    /* backward: gradient tables start from random values */
    float *gw = cuda_test_random(nw, -0.5f, 0.5f, 5 + nw);
    float *gp = cuda_test_random(np, -0.5f, 0.5f, 6 + np);
    float *gy = cuda_test_random(ny, -0.5f, 0.5f, 7 + ny);
    float *d_gw = cuda_test_upload(t, gw, nw), *d_gp = cuda_test_upload(t, gp, np);
    float *d_gy = cuda_test_upload(t, gy, ny);
    afloc_cpu_embedding_backward(grads & 1 ? gw : NULL, grads & 2 ? gp : NULL,
                                 grads & 4 ? gy : NULL, dout, ids, types_host, T, C);
    t->ops->embedding_backward(t->dev, grads & 1 ? d_gw : NULL, grads & 2 ? d_gp : NULL,
                               grads & 4 ? d_gy : NULL, d_dout, d_ids, d_types, T, C);
    /* a frozen (NULL) table must stay as it was: compare all three either way */
    float *back = cuda_test_host(np > nw ? np : nw);
    cuda_test_download(t, back, d_gw, nw);
    compare("embedding_backward dword", shape, back, gw, nw);
    cuda_test_download(t, back, d_gp, np);
    compare("embedding_backward dposition", shape, back, gp, np);
    cuda_test_download(t, back, d_gy, ny);
    compare("embedding_backward dtoken_type", shape, back, gy, ny);

    free(word);
    free(position);
    free(token_type);
    free(dout);
    free(ids);
    free(type_ids);
    free(cpu);
    free(gpu);
    free(gw);
    free(gp);
    free(gy);
    free(back);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);

    test_embedding(&t, 77, 768, 500, 0, 7);
    test_embedding(&t, 77, 768, 500, 1, 7);
    test_embedding(&t, 77, 768, 500, 1, 1); /* position and token type frozen */
    test_embedding(&t, 77, 768, 500, 0, 6); /* word table frozen */
    test_embedding(&t, 13, 37, 30, 1, 7);
    test_embedding(&t, 1, 1, 1, 1, 7);
    test_embedding(&t, 1, 1, 1, 0, 0);      /* every table frozen: nothing changes */

    cuda_test_sync(&t, "embedding");
    cuda_test_close(&t);
    return test_finish("test_cuda_embedding");
}
