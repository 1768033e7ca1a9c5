/* test_bilinear_sample.c: afloc_cpu_bilinear_sample_forward (bilinear_sample.c) against
 * torch.nn.functional.grid_sample(padding_mode='border', align_corners=True) on the cases of
 * ref_bilinear_sample.py: the shipped CXR model's and the paper's centred heatmap read-outs,
 * enlarging and shrinking, points past the border, single pixels in and out. */
#include "cpu/cpu_ops.h"
#include "ops_io.h"

/* The oracle blends in double from the same float32 steps; libafloc rounds λ to float and blends
 * in float (fma), so outputs (|x| <= 3) differ by a few ulp: worst seen is printed below. */
static const ops_tolerance TOLERANCE = {"sample", 2e-6f, 1e-6f};

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[32], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "s%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    if (n != 6) {
        free(p);
        test_failures++;
        return 0;
    }
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3], OH = p[4], OW = p[5];
    free(p);
    const size_t out_n = (size_t)B * C * OH * OW;
    float *steps = ops_read_f32(dir, pre, "steps", 2);
    float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
    float *want = ops_read_f32(dir, pre, "out", out_n);
    float *got = malloc(out_n * sizeof(float));
    CHECK(steps && in && want && got);
    if (steps && in && want && got) {
        afloc_cpu_bilinear_sample_forward(got, in, B, C, H, W, OH, OW, steps[0], steps[1]);
        char label[96];
        snprintf(label, sizeof label, "%s B%d C%d %dx%d->%dx%d step %.4g,%.4g", pre, B, C, H, W,
                 OH, OW, steps[0], steps[1]);
        ops_compare(summary, label, &TOLERANCE, 1.0f, got, want, out_n);
    }
    free(steps);
    free(in);
    free(want);
    free(got);
    return 1;
}

int main(void) {
    return ops_run_cases("ref_bilinear_sample.py", run_case, 8, "ops_bilinear_sample_cpu_vs_torch");
}
