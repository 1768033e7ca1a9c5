/* test_resize.c: afloc_cpu_bilinear_resize_forward (resize.c) against
 * torch.nn.functional.interpolate(mode='bilinear') on the cases of ref_resize.py: 224→299 with
 * align_corners 1 (MODEL.md §3.1), 19→224 with align_corners 0 (§8.3), odd sides enlarging and
 * shrinking in both modes, single pixels in and out, unequal axes. */
#include "cpu/cpu_ops.h"
#include "ops_io.h"

/* Tolerances. With C > 1 PyTorch runs its generic NCHW kernel, whose index math (double source
 * index, float λ) and FMA-contracted blend resize.c reproduces: bit-identical required.
 * With C == 1 the input is also "channels-last contiguous" and PyTorch takes its channels-last
 * kernel, a 4-term weighted sum in another order: worst seen 4.8e-7 (2 ulp of |x| <= 3). */
static const ops_tolerance TOLERANCES[] = {
    {"nchw", 0.0f, 0.0f},
    {"c1", 1e-6f, 1e-6f},
};

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[32], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "r%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    if (n != 7) {
        free(p);
        test_failures++;
        return 0;
    }
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3], OH = p[4], OW = p[5], ac = p[6];
    free(p);
    const size_t out_n = (size_t)B * C * OH * OW;
    float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
    float *want = ops_read_f32(dir, pre, "out", out_n);
    float *got = malloc(out_n * sizeof(float));
    CHECK(in && want && got);
    if (in && want && got) {
        afloc_cpu_bilinear_resize_forward(got, in, B, C, H, W, OH, OW, ac);
        char label[96];
        snprintf(label, sizeof label, "%s B%d C%d %dx%d->%dx%d ac%d", pre, B, C, H, W, OH, OW, ac);
        ops_compare(summary, label, &TOLERANCES[C == 1 ? 1 : 0], 1.0f, got, want, out_n);
        size_t exact = 0;
        for (size_t k = 0; k < out_n; k++) exact += got[k] == want[k];
        if (exact != out_n) printf("    %zu of %zu bit-identical\n", exact, out_n);
    }
    free(in);
    free(want);
    free(got);
    return 1;
}

int main(void) {
    return ops_run_cases("ref_resize.py", run_case, 12, "ops_resize_cpu_vs_torch");
}
