/* test_resize_backward.c: afloc_cpu_bilinear_resize_backward (resize.c; used by the trainer,
 * issue 4) against PyTorch autograd of F.interpolate(mode='bilinear') on the cases of
 * ref_resize_backward.py: 224→299 align_corners 1 and 19→224 align_corners 0 (the model's two
 * resizes), odd sides, downsampling, C 1, 1x1 source and output, same size. Checked after one
 * call and, accumulated, after two; bit-identical for 1/2/3/4 threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_grad.h"

/* Tolerances (atol relative to max |dinput|). Each input gathers up to ~4·(OH/H)·(OW/W) weighted
 * terms (~560 at 19→224) in float, in output scan order; torch 1.13 is not reproduced bit for bit
 * (its weight products / accumulation differ in the last bit; neither (λy·λx)·g nor g·λy·λx
 * matches all cases), so each term may differ by ~1 ulp. Worst seen 1.1e-6 of max|dinput|
 * (224→299, accumulated pass); limit ~10x. */
static const ops_tolerance TOLERANCES[] = {
    {"dinput", 1e-5f, 1e-5f},
};

typedef struct resize_case {
    const float *dout;
    int32_t p[7];
} resize_case;

static void run_backward(void *ctx, float *out) {
    const resize_case *c = ctx;
    memset(out, 0, (size_t)c->p[0] * c->p[1] * c->p[2] * c->p[3] * sizeof(float));
    afloc_cpu_bilinear_resize_backward(out, c->dout, c->p[0], c->p[1], c->p[2], c->p[3], c->p[4],
                                       c->p[5], c->p[6]);
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_resize_backward.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    char pre[32], label[96];
    for (int i = 0;; i++) {
        resize_case c = {NULL, {0}};
        snprintf(pre, sizeof pre, "r%d", i);
        if (!ops_read_params(dir, pre, c.p, 7)) break;
        const int32_t B = c.p[0], C = c.p[1], H = c.p[2], W = c.p[3], OH = c.p[4], OW = c.p[5];
        const int32_t align = c.p[6];
        const size_t ni = (size_t)B * C * H * W, no = (size_t)B * C * OH * OW;
        float *dout = ops_read_f32(dir, pre, "dout", no);
        float *want = ops_read_f32(dir, pre, "dinput", ni);
        float *got = calloc(ni, sizeof(float));
        CHECK(dout && want && got);
        if (dout && want && got) {
            c.dout = dout;
            snprintf(label, sizeof label, "%s B%d C%d %dx%d->%dx%d ac%d", pre, B, C, H, W, OH, OW,
                     align);
            for (int pass = 1; pass <= 2; pass++) {
                afloc_cpu_bilinear_resize_backward(got, dout, B, C, H, W, OH, OW, align);
                ops_grad_compare(&summary, label, &TOLERANCES[0], pass, got, want, ni);
            }
            snprintf(label, sizeof label, "%s threads", pre);
            ops_check_thread_counts(label, run_backward, &c, ni);
        }
        free(dout), free(want), free(got);
        cases++;
    }
    ops_oracle_remove(dir);
    CHECK(cases >= 11);
    printf("ops_resize_backward_vs_torch: %d cases, %d tensors, max abs %.3e, max rel %.3e, "
           "%d failed\n",
           cases, summary.tensors, summary.max_abs, summary.max_rel, summary.failed);
    ops_grad_report("ops_resize_backward_vs_torch");
    return test_finish("ops_resize_backward_vs_torch");
}
