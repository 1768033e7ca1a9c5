/* test_position.c: the position term of the deep-local embedding (position.c, config
 * local_position) against torch on the cases of ref_position.py: forward (in place) and the weight
 * gradient by autograd, which must accumulate (+=) like every backward of the CPU ops. */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "ops_io.h"

/* Forward: torch adds the term computed in double and rounded once; libafloc adds fmaf(wx, px,
 * wy·py) in float, so |y| <= ~65 differs by a few ulp. Backward: both sum in double over at most
 * 2·32·32 cells and round once, so they agree to float rounding. */
static const ops_tolerance TOLERANCE[] = {{"forward", 4e-6f, 2e-6f}, {"dweight", 1e-5f, 2e-6f}};

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[32], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "p%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    if (n != 4) {
        free(p);
        test_failures++;
        return 0;
    }
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3];
    free(p);
    const size_t count = (size_t)B * C * H * W, wn = (size_t)C * 2;
    float *x = ops_read_f32(dir, pre, "x", count), *weight = ops_read_f32(dir, pre, "weight", wn);
    float *want_y = ops_read_f32(dir, pre, "y", count), *dy = ops_read_f32(dir, pre, "dy", count);
    float *want_dw = ops_read_f32(dir, pre, "dweight", wn);
    float *got_dw = malloc(wn * sizeof(float)), *twice = malloc(wn * sizeof(float));
    CHECK(x && weight && want_y && dy && want_dw && got_dw && twice);
    if (x && weight && want_y && dy && want_dw && got_dw && twice) {
        char label[96];
        snprintf(label, sizeof label, "%s B%d C%d %dx%d forward", pre, B, C, H, W);
        afloc_cpu_position_add_forward(x, weight, B, C, H, W); /* in place: x is now y */
        ops_compare(summary, label, &TOLERANCE[0], 1.0f, x, want_y, count);
        memset(got_dw, 0, wn * sizeof(float));
        afloc_cpu_position_add_backward(got_dw, dy, B, C, H, W);
        snprintf(label, sizeof label, "%s dweight", pre);
        ops_compare(summary, label, &TOLERANCE[1], 1.0f, got_dw, want_dw, wn);
        /* accumulation: a second backward into the same buffer doubles it */
        afloc_cpu_position_add_backward(got_dw, dy, B, C, H, W);
        for (size_t k = 0; k < wn; k++) twice[k] = 2.0f * want_dw[k];
        snprintf(label, sizeof label, "%s dweight accumulated", pre);
        ops_compare(summary, label, &TOLERANCE[1], 2.0f, got_dw, twice, wn);
    }
    free(x);
    free(weight);
    free(want_y);
    free(dy);
    free(want_dw);
    free(got_dw);
    free(twice);
    return 1;
}

int main(void) {
    return ops_run_cases("ref_position.py", run_case, 6, "ops_position_cpu_vs_torch");
}
