/* test_cuda_text_aggregate.c: kernels/text_aggregate.cu against src/cpu/text_aggregate.c on the
 * same random inputs: word groups, sentence means and the report mean (MODEL.md §5.3–§5.6),
 * forward and backward, for random captions (lengths 3..T, word groups of 1–3 wordpieces,
 * sentences cut at random "." words, including two "." in a row: an empty sentence), at the tiny
 * test size (C 32, T 24, B 3) and the paper's (C 768, T 97, B 16), and a backward with only the
 * report gradient (gw, gs NULL).
 *
 * Tolerance 1e-6 (scale-relative, cuda_test.h): the kernels run the CPU's loops per channel with
 * explicitly rounded adds and IEEE divisions, so the results are expected BIT-EXACT (the count of
 * differing elements is printed).
 *
 * Dimension letters: B captions, C hidden, T token slots, L tokens of a caption. */
#include "cpu/cpu_ops.h"
#include "cuda_test.h"
#include "text_units.h"

#define TOL 1e-6

static uint64_t rng_state = 12345;
static int32_t rnd(int32_t n) { /* 0..n-1 */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((rng_state >> 33) % (uint64_t)n);
}

/* A caption's units as text_units.c would build them: [CLS], words of 1–3 pieces, [SEP];
 * sentences end at "." words (never the last word) and at [SEP]. */
static void random_units(afloc_text_units *u, int32_t T) {
    memset(u, 0, sizeof *u);
    int32_t L = 3 + rnd(T - 2); /* 3..T */
    u->length = L;
    int32_t g = 0, token = 1;
    u->groups[g++] = (afloc_word_group){.first = 0, .count = 1, .is_bracket = 1};
    while (token < L - 1) {
        int32_t count = 1 + rnd(3);
        if (token + count > L - 1) count = L - 1 - token;
        u->groups[g] = (afloc_word_group){.first = token, .count = count, .is_period = rnd(4) == 0};
        token += count;
        g++;
    }
    u->groups[g++] = (afloc_word_group){.first = L - 1, .count = 1, .is_bracket = 1};
    u->group_count = g;
    u->n_words = g - 2;
    int32_t n = u->n_words, previous = 0;
    for (int32_t k = 1; k <= n + 1; k++) {
        int delimiter = k == n + 1 || (k <= n - 1 && u->groups[k].is_period);
        if (!delimiter) continue;
        u->sentence_first[u->sentence_count] = previous + 1;
        u->sentence_words[u->sentence_count] = k - previous - 1;
        u->sentence_count++;
        previous = k;
    }
}

static void test_size(cuda_test *t, int32_t B, int32_t C, int32_t T, int only_report) {
    char shape[64];
    snprintf(shape, sizeof shape, "B%d C%d T%d%s", B, C, T, only_report ? " gr only" : "");
    const size_t TC = (size_t)T * C, U = (size_t)AFLOC_TEXT_UNITS_INTS(T);
    int32_t *units = (int32_t *)calloc((size_t)B * U, sizeof(int32_t));
    int empty_sentences = 0;
    for (int32_t b = 0; b < B; b++) {
        afloc_text_units u;
        random_units(&u, T);
        for (int32_t j = 0; j < u.sentence_count; j++) empty_sentences += u.sentence_words[j] == 0;
        afloc_text_units_pack(&u, T, units + (size_t)b * U);
    }
    float *hsum = cuda_test_random((size_t)B * TC, -2.0f, 2.0f, 7 + TC);
    float *gw = cuda_test_random((size_t)B * TC, -1.0f, 1.0f, 8 + TC);
    float *gs = cuda_test_random((size_t)B * TC, -1.0f, 1.0f, 9 + TC);
    float *gr = cuda_test_random((size_t)B * C, -1.0f, 1.0f, 10 + TC);
    float *cw = cuda_test_host((size_t)B * TC), *cs = cuda_test_host((size_t)B * TC);
    float *cr = cuda_test_host((size_t)B * C), *cdh = cuda_test_host((size_t)B * TC);
    float *gw_out = cuda_test_host((size_t)B * TC), *gs_out = cuda_test_host((size_t)B * TC);
    float *gr_out = cuda_test_host((size_t)B * C), *gdh = cuda_test_host((size_t)B * TC);
    float *scratch = cuda_test_host(TC);
    afloc_cpu_text_aggregate_forward(cw, cs, cr, hsum, units, B, C, T);
    afloc_cpu_text_aggregate_backward(cdh, only_report ? NULL : gw, only_report ? NULL : gs, gr,
                                      units, B, C, T, scratch);

    int32_t *d_units = cuda_test_upload_i32(t, units, (size_t)B * U);
    float *d_hsum = cuda_test_upload(t, hsum, (size_t)B * TC);
    float *d_gw = cuda_test_upload(t, gw, (size_t)B * TC), *d_gs = cuda_test_upload(t, gs, (size_t)B * TC);
    float *d_gr = cuda_test_upload(t, gr, (size_t)B * C);
    float *d_w = (float *)cuda_test_alloc(t, (size_t)B * TC * sizeof(float));
    float *d_s = (float *)cuda_test_alloc(t, (size_t)B * TC * sizeof(float));
    float *d_r = (float *)cuda_test_alloc(t, (size_t)B * C * sizeof(float));
    float *d_dh = (float *)cuda_test_alloc(t, (size_t)B * TC * sizeof(float)); /* zeroed, as cdh */
    float *d_slot = (float *)cuda_test_alloc(t, (size_t)B * TC * sizeof(float));
    t->ops->text_aggregate_forward(t->dev, d_w, d_s, d_r, d_hsum, d_units, B, C, T);
    t->ops->text_aggregate_backward(t->dev, d_dh, only_report ? NULL : d_gw, only_report ? NULL : d_gs,
                                    d_gr, d_units, B, C, T, d_slot);
    cuda_test_sync(t, shape);
    cuda_test_download(t, gw_out, d_w, (size_t)B * TC);
    cuda_test_download(t, gs_out, d_s, (size_t)B * TC);
    cuda_test_download(t, gr_out, d_r, (size_t)B * C);
    cuda_test_download(t, gdh, d_dh, (size_t)B * TC);
    printf("%s: %d empty sentences among the captions\n", shape, empty_sentences);
    cuda_test_compare("text_aggregate words", shape, gw_out, cw, (size_t)B * TC, TOL);
    cuda_test_report_bits("text_aggregate words", shape, gw_out, cw, (size_t)B * TC);
    cuda_test_compare("text_aggregate sentences", shape, gs_out, cs, (size_t)B * TC, TOL);
    cuda_test_report_bits("text_aggregate sentences", shape, gs_out, cs, (size_t)B * TC);
    cuda_test_compare("text_aggregate report", shape, gr_out, cr, (size_t)B * C, TOL);
    cuda_test_report_bits("text_aggregate report", shape, gr_out, cr, (size_t)B * C);
    cuda_test_compare("text_aggregate_backward dh", shape, gdh, cdh, (size_t)B * TC, TOL);
    cuda_test_report_bits("text_aggregate_backward dh", shape, gdh, cdh, (size_t)B * TC);
    free(units);
    free(hsum);
    free(gw);
    free(gs);
    free(gr);
    free(cw);
    free(cs);
    free(cr);
    free(cdh);
    free(gw_out);
    free(gs_out);
    free(gr_out);
    free(gdh);
    free(scratch);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    test_size(&t, 3, 32, 24, 0);
    test_size(&t, 16, 768, 97, 0);
    test_size(&t, 4, 64, 40, 1);
    cuda_test_close(&t);
    return test_finish("test_cuda_text_aggregate");
}
