/* test_conv.c: afloc_cpu_conv2d_forward (conv.c) against torch.nn.functional.conv2d with the
 * fused bias / residual / ReLU epilogue, on the cases of ref_conv.py: kernels 1/3/7, strides 1/2,
 * pads 0/1/3, B 1/2/3, odd and 1x1 sides, reductions up to 1024. Also checks afloc_conv_out_size
 * on the ResNet-50 chain (MODEL.md §3.2: 299 → 150 → 75 → 38 → 19 → 10). */
#include "cpu/cpu_ops.h"
#include "ops_io.h"

/* Tolerances. Both sides are fp32 with another summation order (OpenBLAS sgemm here, oneDNN in
 * PyTorch), so the error grows like eps·sqrt(reduction)·|terms|; weights are scaled by
 * 1/sqrt(C·K·K), so outputs are O(1). Worst seen: 9.5e-7 abs; limits ~10x that. */
static const ops_tolerance TOLERANCES[] = {
    {"out", 1e-5f, 1e-4f},
};

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[32];
    size_t n = 0;
    snprintf(pre, sizeof pre, "c%d", i);
    char name[64];
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0; /* no more cases */
    if (n != 11) {
        fprintf(stderr, "%s: %zu params\n", name, n);
        free(p);
        test_failures++;
        return 0;
    }
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3], OC = p[4], K = p[5], stride = p[6],
                  pad = p[7], has_bias = p[8], has_res = p[9], relu = p[10];
    free(p);
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    const size_t out_n = (size_t)B * OC * OH * OW;
    float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
    float *weight = ops_read_f32(dir, pre, "weight", (size_t)OC * C * K * K);
    float *bias = has_bias ? ops_read_f32(dir, pre, "bias", (size_t)OC) : NULL;
    float *res = has_res ? ops_read_f32(dir, pre, "residual", out_n) : NULL;
    float *want = ops_read_f32(dir, pre, "out", out_n);
    const size_t scratch_n = afloc_cpu_conv2d_scratch_floats(B, C, H, W, OC, K, stride, pad);
    float *scratch = malloc((scratch_n ? scratch_n : 1) * sizeof(float));
    float *got = malloc(out_n * sizeof(float));
    CHECK(in && weight && want && got && scratch && (!has_bias || bias) && (!has_res || res));
    if (in && weight && want && got && scratch && (!has_bias || bias) && (!has_res || res)) {
        afloc_cpu_conv2d_forward(got, in, weight, bias, res, relu, B, C, H, W, OC, K, stride, pad,
                                 scratch);
        char label[128];
        snprintf(label, sizeof label, "%s B%d C%d %dx%d OC%d K%d s%d p%d%s%s%s", pre, B, C, H, W,
                 OC, K, stride, pad, has_bias ? " +b" : "", has_res ? " +r" : "",
                 relu ? " relu" : "");
        ops_compare(summary, label, &TOLERANCES[0], 1.0f, got, want, out_n);
    }
    free(in);
    free(weight);
    free(bias);
    free(res);
    free(want);
    free(got);
    free(scratch);
    return 1;
}

int main(void) {
    /* ResNet-50 at 299 (MODEL.md §3.2). */
    CHECK(afloc_conv_out_size(299, 7, 2, 3) == 150);
    CHECK(afloc_conv_out_size(150, 3, 2, 1) == 75);
    CHECK(afloc_conv_out_size(75, 3, 2, 1) == 38);
    CHECK(afloc_conv_out_size(38, 1, 2, 0) == 19);
    CHECK(afloc_conv_out_size(19, 3, 2, 1) == 10);
    CHECK(afloc_conv_out_size(2, 5, 1, 0) == 0);
    CHECK(afloc_cpu_conv2d_scratch_floats(2, 64, 75, 75, 256, 1, 1, 0) == 0);
    CHECK(afloc_cpu_conv2d_scratch_floats(1, 3, 299, 299, 64, 7, 2, 3) == (size_t)147 * 150 * 150);

    char dir[64];
    int rc = ops_oracle_run("ref_conv.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    while (run_case(dir, cases, &summary)) cases++;
    ops_oracle_remove(dir);
    CHECK(cases >= 10);
    printf("ops_conv_cpu_vs_torch: %d cases, %d tensors, max abs %.3e, max rel %.3e, %d failed\n",
           cases, summary.tensors, summary.max_abs, summary.max_rel, summary.failed);
    return test_finish("ops_conv_cpu_vs_torch");
}
