/* test_grid_sample.c: afloc_cpu_bilinear_sample_forward (bilinear_sample.c) and
 * afloc_cpu_bicubic_sample_forward (bicubic_sample.c) against
 * torch.nn.functional.grid_sample(padding_mode='border', align_corners=True) on the cases of
 * ref_grid_sample.py: the shipped CXR model's and the paper's centred heatmap read-outs,
 * enlarging and shrinking, points past the border, single pixels in and out, inputs narrower
 * than the four cubic taps. */
#include "cpu/cpu_ops.h"
#include "ops_io.h"

/* The oracle blends in double from the same float32 steps; libafloc rounds λ (t) to float and
 * blends in float, so outputs (|x| <= 3) differ by a few ulp: worst seen is printed below. The
 * cubic sums 16 products whose weights reach 1.1 in magnitude, hence its looser bound. */
static const ops_tolerance BILINEAR = {"bilinear", 2e-6f, 1e-6f};
static const ops_tolerance BICUBIC = {"bicubic", 4e-6f, 2e-6f};

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[32], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "s%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    if (n != 7) {
        free(p);
        test_failures++;
        return 0;
    }
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3], OH = p[4], OW = p[5], cubic = p[6];
    free(p);
    const size_t out_n = (size_t)B * C * OH * OW;
    float *steps = ops_read_f32(dir, pre, "steps", 2);
    float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
    float *want = ops_read_f32(dir, pre, "out", out_n);
    float *got = malloc(out_n * sizeof(float));
    CHECK(steps && in && want && got);
    if (steps && in && want && got) {
        if (cubic) afloc_cpu_bicubic_sample_forward(got, in, B, C, H, W, OH, OW, steps[0], steps[1]);
        else afloc_cpu_bilinear_sample_forward(got, in, B, C, H, W, OH, OW, steps[0], steps[1]);
        char label[96];
        snprintf(label, sizeof label, "%s %s B%d C%d %dx%d->%dx%d step %.4g,%.4g", pre,
                 cubic ? "bicubic" : "bilinear", B, C, H, W, OH, OW, steps[0], steps[1]);
        ops_compare(summary, label, cubic ? &BICUBIC : &BILINEAR, 1.0f, got, want, out_n);
    }
    free(steps);
    free(in);
    free(want);
    free(got);
    return 1;
}

int main(void) {
    return ops_run_cases("ref_grid_sample.py", run_case, 18, "ops_grid_sample_cpu_vs_torch");
}
