/* test_vision_threads.c: the determinism rule of cpu_ops.h for the vision ops (conv.c, gemm.c,
 * pool.c, resize.c, activation.c): each op runs with OpenMP teams of 1, 2 and 3 threads under
 * OpenBLAS pools of 1, 2 and 3 threads, and every output must be bit-identical (memcmp) to the
 * run with one OpenMP thread and the same OpenBLAS pool. The rule promises nothing across
 * OpenBLAS pool sizes (fixed per process): on an AMD EPYC with Debian's OpenBLAS 0.3.21 a
 * threaded sgemm rounds differently from a single-threaded one, while on the machines this test
 * was first run on it did not; how many of those comparisons agree is printed for the record. Shapes are large enough that OpenBLAS and OpenMP really split the work
 * (a layer2-sized 3x3 conv, a ResNet 1x1 conv, a BERT-sized linear with GELU). */
#include <omp.h>
#include <stdint.h>

#include "cpu/cpu_ops.h"
#include "ops_io.h"

void openblas_set_num_threads(int num_threads); /* OpenBLAS extension (its cblas.h) */

static void fill(float *x, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
    }
}

typedef struct op_case {
    const char *name;
    size_t out_n;
    void (*run)(float *out, const float *const *args);
} op_case;

static float *g_in, *g_w, *g_b, *g_res, *g_scratch;

static void run_conv3(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_conv2d_forward(out, g_in, g_w, g_b, g_res, 1, 2, 64, 38, 38, 64, 3, 1, 1, g_scratch);
}
static void run_conv7(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_conv2d_forward(out, g_in, g_w, g_b, NULL, 1, 1, 3, 151, 149, 64, 7, 2, 3, g_scratch);
}
static void run_conv1(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_conv2d_forward(out, g_in, g_w, g_b, g_res, 0, 3, 256, 19, 19, 512, 1, 1, 0, g_scratch);
}
static void run_linear(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_linear_forward(out, g_in, g_w, g_b, 1, 97, 768, 1536);
}
static void run_maxpool(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_maxpool2d_forward(out, g_in, 2, 64, 75, 75, 3, 2, 1);
}
static void run_avgpool(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_global_avgpool_forward(out, g_in, 3, 512, 19, 19);
}
static void run_resize(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_bilinear_resize_forward(out, g_in, 2, 3, 224, 224, 299, 299, 1);
}
static void run_gelu(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_gelu_forward(out, g_in, 300000);
}
static void run_add(float *out, const float *const *a) {
    (void)a;
    afloc_cpu_add_forward(out, g_in, g_res, 300000);
}

int main(void) {
    const size_t big = 2u * 64 * 151 * 151 + 1000000; /* covers every input below */
    g_in = malloc(big * sizeof(float));
    g_w = malloc((size_t)1536 * 768 * sizeof(float));
    g_b = malloc(1536 * sizeof(float));
    g_res = malloc(big * sizeof(float));
    g_scratch = malloc(((size_t)147 * 76 * 75 + (size_t)576 * 38 * 38) * sizeof(float));
    if (!g_in || !g_w || !g_b || !g_res || !g_scratch) return 1;
    fill(g_in, big, 1);
    fill(g_w, (size_t)1536 * 768, 2);
    for (size_t i = 0; i < (size_t)1536 * 768; i++) g_w[i] *= 0.05f;
    fill(g_b, 1536, 3);
    fill(g_res, big, 4);
    const op_case cases[] = {
        {"conv 3x3 B2 64x38x38 +b+r relu", (size_t)2 * 64 * 38 * 38, run_conv3},
        {"conv 7x7/2 151x149 +b relu", (size_t)64 * 76 * 75, run_conv7},
        {"conv 1x1 B3 256>512 19x19 +b+r", (size_t)3 * 512 * 19 * 19, run_conv1},
        {"linear 97x768>1536 +b gelu", (size_t)97 * 1536, run_linear},
        {"maxpool 3/2/1 B2 64x75x75", (size_t)2 * 64 * 38 * 38, run_maxpool},
        {"avgpool B3 512x19x19", (size_t)3 * 512, run_avgpool},
        {"resize 224>299 B2 C3 ac1", (size_t)2 * 3 * 299 * 299, run_resize},
        {"gelu 300000", 300000, run_gelu},
        {"add 300000", 300000, run_add},
    };
    const int n_cases = (int)(sizeof cases / sizeof cases[0]);
    int identical = 0, runs = 0, blas_identical = 0, blas_runs = 0;
    for (int c = 0; c < n_cases; c++) {
        float *one = calloc(cases[c].out_n, sizeof(float)); /* 1 OpenMP, 1 OpenBLAS thread */
        float *ref = calloc(cases[c].out_n, sizeof(float)); /* 1 OpenMP, blas_t OpenBLAS    */
        float *got = calloc(cases[c].out_n, sizeof(float));
        if (!one || !ref || !got) return 1;
        int ok = 1, blas_same = 1;
        for (int blas_t = 1; blas_t <= 3; blas_t++) {
            openblas_set_num_threads(blas_t);
            omp_set_num_threads(1);
            cases[c].run(ref, NULL);
            if (blas_t == 1) memcpy(one, ref, cases[c].out_n * sizeof(float));
            else {
                blas_runs++;
                int same = memcmp(one, ref, cases[c].out_n * sizeof(float)) == 0;
                blas_identical += same;
                blas_same &= same;
            }
            for (int omp_t = 2; omp_t <= 3; omp_t++) {
                omp_set_num_threads(omp_t);
                memset(got, 0xff, cases[c].out_n * sizeof(float));
                cases[c].run(got, NULL);
                runs++;
                if (memcmp(ref, got, cases[c].out_n * sizeof(float)) == 0) {
                    identical++;
                } else {
                    ok = 0;
                    fprintf(stderr, "  %s: differs with %d OpenMP / %d OpenBLAS threads\n",
                            cases[c].name, omp_t, blas_t);
                    test_failures++;
                }
            }
        }
        printf("  %-34s %9zu floats  %s%s\n", cases[c].name, cases[c].out_n,
               ok ? "bit-identical for 1/2/3 OpenMP threads" : "FAIL",
               blas_same ? "" : " (OpenBLAS pools of 2-3 round differently from 1)");
        free(one);
        free(ref);
        free(got);
    }
    printf("ops_vision_threads_deterministic: %d of %d runs bit-identical to 1 OpenMP thread; "
           "%d of %d OpenBLAS pools of 2-3 threads bit-identical to 1 (not required)\n",
           identical, runs, blas_identical, blas_runs);
    free(g_in), free(g_w), free(g_b), free(g_res), free(g_scratch);
    return test_finish("ops_vision_threads_deterministic");
}
