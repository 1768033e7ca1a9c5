/* test_linear.c: afloc_cpu_linear_forward (gemm.c, with and without bias, with the fused exact
 * GELU) and the elementwise ops of activation.c (GELU, ReLU, add) against torch on the cases of
 * ref_linear.py: N 1..33, C 1..2048, OC 1..1024; GELU over a dense sweep of [−10, 10], ±0, ±inf,
 * NaN, tiny and huge values. */
#include "cpu/cpu_ops.h"
#include "ops_io.h"

/* Tolerances. linear: fp32 with another summation order (OpenBLAS vs MKL-DNN/Eigen in torch);
 * weights scaled by 1/sqrt(C) keep outputs O(1); worst seen ~1e-6, limit ~10x.
 * gelu: erff (glibc) vs PyTorch's vectorised erf polynomial, a few ulp; worst seen ~5e-7.
 * relu and add: one exact operation each. */
static const ops_tolerance TOLERANCES[] = {
    {"linear", 1e-5f, 1e-4f},
    {"gelu", 1e-6f, 4e-6f},
    {"exact", 0.0f, 0.0f},
};

static int run_linear(const char *dir, int i, ops_summary *summary) {
    char pre[32], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "l%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    if (n != 5) {
        free(p);
        test_failures++;
        return 0;
    }
    const int32_t N = p[0], C = p[1], OC = p[2], has_bias = p[3], gelu = p[4];
    free(p);
    const size_t out_n = (size_t)N * OC;
    float *in = ops_read_f32(dir, pre, "in", (size_t)N * C);
    float *w = ops_read_f32(dir, pre, "weight", (size_t)OC * C);
    float *bias = has_bias ? ops_read_f32(dir, pre, "bias", (size_t)OC) : NULL;
    float *want = ops_read_f32(dir, pre, "out", out_n);
    float *got = malloc(out_n * sizeof(float));
    CHECK(in && w && want && got && (!has_bias || bias));
    if (in && w && want && got && (!has_bias || bias)) {
        afloc_cpu_linear_forward(got, in, w, bias, gelu, N, C, OC);
        char label[96];
        snprintf(label, sizeof label, "linear %s N%d C%d OC%d%s%s", pre, N, C, OC,
                 has_bias ? " +b" : "", gelu ? " gelu" : "");
        ops_compare(summary, label, &TOLERANCES[0], 1.0f, got, want, out_n);
    }
    free(in), free(w), free(bias), free(want), free(got);
    return 1;
}

static void run_elementwise(const char *dir, ops_summary *summary) {
    size_t n = 0, ny = 0;
    float *x = ops_tensor_read(dir, "e.x", OPS_F32, &n);
    float *y = ops_tensor_read(dir, "e.y", OPS_F32, &ny);
    float *want_gelu = ops_read_f32(dir, "e", "gelu", n);
    float *want_relu = ops_read_f32(dir, "e", "relu", n);
    float *want_add = ops_read_f32(dir, "e", "add", n);
    float *got = malloc((n ? n : 1) * sizeof(float));
    CHECK(x && y && ny == n && want_gelu && want_relu && want_add && got);
    if (x && y && ny == n && want_gelu && want_relu && want_add && got) {
        afloc_cpu_gelu_forward(got, x, n);
        ops_compare(summary, "gelu", &TOLERANCES[1], 1.0f, got, want_gelu, n);
        memcpy(got, x, n * sizeof(float));
        afloc_cpu_gelu_forward(got, got, n); /* in place */
        ops_compare(summary, "gelu in place", &TOLERANCES[1], 1.0f, got, want_gelu, n);
        afloc_cpu_relu_forward(got, x, n);
        ops_compare(summary, "relu", &TOLERANCES[2], 1.0f, got, want_relu, n);
        afloc_cpu_add_forward(got, x, y, n);
        ops_compare(summary, "add", &TOLERANCES[2], 1.0f, got, want_add, n);
        memcpy(got, x, n * sizeof(float));
        afloc_cpu_add_forward(got, got, y, n); /* out == a */
        ops_compare(summary, "add in place", &TOLERANCES[2], 1.0f, got, want_add, n);
    }
    free(x), free(y), free(want_gelu), free(want_relu), free(want_add), free(got);
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_linear.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    while (run_linear(dir, cases, &summary)) cases++;
    run_elementwise(dir, &summary);
    ops_oracle_remove(dir);
    CHECK(cases >= 6);
    printf("ops_linear_cpu_vs_torch: %d linear cases + elementwise, max abs %.3e, max rel %.3e, "
           "%d failed\n", cases, summary.max_abs, summary.max_rel, summary.failed);
    return test_finish("ops_linear_cpu_vs_torch");
}
