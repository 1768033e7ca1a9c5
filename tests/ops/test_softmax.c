/* test_softmax.c: afloc_cpu_softmax_forward (softmax.c) against torch.softmax(dim=-1)
 * (ref_softmax.py) on rows of 1 .. 1000 entries, wide value ranges and −10000-masked entries;
 * the in-place call equals the out-of-place one; bit-identical for 1..4 OpenMP threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"

/* Outputs are probabilities in [0, 1]. expf vs PyTorch's vectorised exp (≤ 1 ulp each) and another
 * summation order of the row sum: relative error a few ulps. Worst seen 1.2e-7 abs (on an
 * entry near 1), 6.8e-7 rel; limits ~7x. */
static const ops_tolerance TOLERANCES[] = {
    {"softmax", 1e-9f, 5e-6f},
};

typedef struct sm_ctx {
    const float *in;
    int32_t N, C;
} sm_ctx;

static void sm_run(void *p, float *out) {
    const sm_ctx *c = p;
    afloc_cpu_softmax_forward(out, c->in, c->N, c->C);
}

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[16], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "s%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    const int32_t N = p[0], C = p[1];
    free(p);
    const size_t count = (size_t)N * C;
    float *in = ops_read_f32(dir, pre, "in", count);
    float *want = ops_read_f32(dir, pre, "out", count);
    float *got = malloc(count * sizeof(float));
    float *inplace = malloc(count * sizeof(float));
    CHECK(in && want && got && inplace);
    if (in && want && got && inplace) {
        char label[96];
        afloc_cpu_softmax_forward(got, in, N, C);
        snprintf(label, sizeof label, "%s softmax %dx%d", pre, N, C);
        ops_compare(summary, label, &TOLERANCES[0], 1.0f, got, want, count);
        memcpy(inplace, in, count * sizeof(float));
        afloc_cpu_softmax_forward(inplace, inplace, N, C);
        CHECK(memcmp(inplace, got, count * sizeof(float)) == 0);
        if (count > 100000) {
            sm_ctx ctx = {in, N, C};
            snprintf(label, sizeof label, "%s softmax determinism", pre);
            ops_check_thread_counts(label, sm_run, &ctx, count);
        }
    }
    free(in);
    free(want);
    free(got);
    free(inplace);
    return 1;
}

int main(void) {
    return ops_run_cases("ref_softmax.py", run_case, 6, "ops_softmax_cpu_vs_torch");
}
