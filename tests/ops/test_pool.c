/* test_pool.c: afloc_cpu_maxpool2d_forward and afloc_cpu_global_avgpool_forward (pool.c) against
 * torch max_pool2d and AdaptiveAvgPool2d(1) on the cases of ref_pool.py: the ResNet stem pool
 * (3/2/1 on 150), odd sides, all-negative inputs (−∞ padding), K 1, 1x1 images. */
#include "cpu/cpu_ops.h"
#include "ops_io.h"

/* Tolerances. Max pooling selects an input value: exact. The average is summed in double here
 * and in float by PyTorch; worst seen 1.2e-7 on O(1) means, limit ~10x. */
static const ops_tolerance TOLERANCES[] = {
    {"max", 0.0f, 0.0f},
    {"avg", 1e-6f, 1e-6f},
};

static int read_params(const char *dir, const char *pre, int32_t *p, size_t want) {
    char name[64];
    size_t n = 0;
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *t = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!t) return 0;
    if (n != want) {
        free(t);
        test_failures++;
        return 0;
    }
    memcpy(p, t, want * sizeof *p);
    free(t);
    return 1;
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_pool.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    char pre[32], label[96];
    int32_t p[7];
    for (int i = 0;; i++) {
        snprintf(pre, sizeof pre, "m%d", i);
        if (!read_params(dir, pre, p, 7)) break;
        const int32_t B = p[0], C = p[1], H = p[2], W = p[3], K = p[4], s = p[5], pad = p[6];
        const size_t out_n = (size_t)B * C * afloc_conv_out_size(H, K, s, pad) *
                             afloc_conv_out_size(W, K, s, pad);
        float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
        float *want = ops_read_f32(dir, pre, "out", out_n);
        float *got = malloc(out_n * sizeof(float));
        CHECK(in && want && got);
        if (in && want && got) {
            afloc_cpu_maxpool2d_forward(got, in, B, C, H, W, K, s, pad);
            snprintf(label, sizeof label, "max %s B%d C%d %dx%d K%d s%d p%d", pre, B, C, H, W, K,
                     s, pad);
            ops_compare(&summary, label, &TOLERANCES[0], 1.0f, got, want, out_n);
        }
        free(in), free(want), free(got);
        cases++;
    }
    for (int i = 0;; i++) {
        snprintf(pre, sizeof pre, "a%d", i);
        if (!read_params(dir, pre, p, 4)) break;
        const int32_t B = p[0], C = p[1], H = p[2], W = p[3];
        float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
        float *want = ops_read_f32(dir, pre, "out", (size_t)B * C);
        float *got = malloc((size_t)B * C * sizeof(float));
        CHECK(in && want && got);
        if (in && want && got) {
            afloc_cpu_global_avgpool_forward(got, in, B, C, H, W);
            snprintf(label, sizeof label, "avg %s B%d C%d %dx%d", pre, B, C, H, W);
            ops_compare(&summary, label, &TOLERANCES[1], 1.0f, got, want, (size_t)B * C);
        }
        free(in), free(want), free(got);
        cases++;
    }
    ops_oracle_remove(dir);
    CHECK(cases >= 10);
    printf("ops_pool_cpu_vs_torch: %d cases, max abs %.3e, max rel %.3e, %d failed\n", cases,
           summary.max_abs, summary.max_rel, summary.failed);
    return test_finish("ops_pool_cpu_vs_torch");
}
