/* test_conv_backward.c: afloc_cpu_conv2d_backward (conv.c; used by the trainer, issue 4) against
 * PyTorch autograd of F.conv2d on the cases of ref_conv_backward.py: kernels 1/3/5/7, strides 1/2,
 * pads 0/1/3, B 1..4, odd and 1x1 sides, the pointwise path and the im2col path, with and without
 * bias and dinput. Each gradient is checked after one call and, accumulated, after a second one
 * (2x); dinput + dweight + dbias must be bit-identical for 1/2/3/4 threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_grad.h"

/* Tolerances (atol is relative to the tensor's max |value|). fp32 both sides with another
 * summation order (OpenBLAS here, PyTorch's mkldnn/thnn there). Worst seen (max|err|/max|want|):
 * dinput 5.4e-7 (sums OC·K·K ≤ 576 products), dweight 2.3e-6 (sums B·OH·OW ≤ 5776 products),
 * dbias 1.5e-6 (double sums here, float there, ≤ 5776 terms). Limits ~10x. */
static const ops_tolerance TOLERANCES[] = {
    {"dinput", 5e-6f, 1e-4f},
    {"dweight", 2e-5f, 1e-4f},
    {"dbias", 1.5e-5f, 1e-4f},
};

typedef struct conv_case {
    const float *in, *weight, *dout;
    int32_t B, C, H, W, OC, K, stride, pad, has_bias;
    float *scratch;
} conv_case;

/* The determinism runner: all three gradients from zero, concatenated into out. */
static void run_backward(void *ctx, float *out) {
    const conv_case *c = ctx;
    const size_t ni = (size_t)c->B * c->C * c->H * c->W;
    const size_t nw = (size_t)c->OC * c->C * c->K * c->K;
    memset(out, 0, (ni + nw + (size_t)c->OC) * sizeof(float));
    afloc_cpu_conv2d_backward(out, out + ni, c->has_bias ? out + ni + nw : NULL, c->dout, c->in,
                              c->weight, c->B, c->C, c->H, c->W, c->OC, c->K, c->stride, c->pad,
                              c->scratch);
}

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[32], label[128];
    int32_t p[9];
    snprintf(pre, sizeof pre, "c%d", i);
    if (!ops_read_params(dir, pre, p, 9)) return 0;
    conv_case c = {NULL, NULL, NULL, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], NULL};
    const int32_t OH = afloc_conv_out_size(c.H, c.K, c.stride, c.pad);
    const int32_t OW = afloc_conv_out_size(c.W, c.K, c.stride, c.pad);
    const size_t ni = (size_t)c.B * c.C * c.H * c.W, nw = (size_t)c.OC * c.C * c.K * c.K;
    const size_t no = (size_t)c.B * c.OC * OH * OW;
    float *in = ops_read_f32(dir, pre, "in", ni);
    float *weight = ops_read_f32(dir, pre, "weight", nw);
    float *dout = ops_read_f32(dir, pre, "dout", no);
    float *want_di = ops_read_f32(dir, pre, "dinput", ni);
    float *want_dw = ops_read_f32(dir, pre, "dweight", nw);
    float *want_db = c.has_bias ? ops_read_f32(dir, pre, "dbias", (size_t)c.OC) : NULL;
    const size_t scratch_n = afloc_cpu_conv2d_backward_scratch_floats(c.B, c.C, c.H, c.W, c.OC,
                                                                      c.K, c.stride, c.pad);
    float *scratch = malloc((scratch_n ? scratch_n : 1) * sizeof(float));
    float *di = calloc(ni, sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = calloc((size_t)c.OC, sizeof(float));
    const int ok = in && weight && dout && want_di && want_dw && (!c.has_bias || want_db) &&
                   scratch && di && dw && db;
    CHECK(ok);
    if (ok) {
        c.in = in, c.weight = weight, c.dout = dout, c.scratch = scratch;
        snprintf(label, sizeof label, "%s B%d C%d %dx%d OC%d K%d s%d p%d", pre, c.B, c.C, c.H, c.W,
                 c.OC, c.K, c.stride, c.pad);
        for (int pass = 1; pass <= 2; pass++) {
            afloc_cpu_conv2d_backward(di, dw, c.has_bias ? db : NULL, dout, in, weight, c.B, c.C,
                                      c.H, c.W, c.OC, c.K, c.stride, c.pad, scratch);
            ops_grad_compare(summary, label, &TOLERANCES[0], pass, di, want_di, ni);
            ops_grad_compare(summary, label, &TOLERANCES[1], pass, dw, want_dw, nw);
            if (c.has_bias) ops_grad_compare(summary, label, &TOLERANCES[2], pass, db, want_db, (size_t)c.OC);
        }
        /* dinput NULL: the weight gradients alone, unchanged. */
        memset(dw, 0, nw * sizeof(float));
        afloc_cpu_conv2d_backward(NULL, dw, NULL, dout, in, weight, c.B, c.C, c.H, c.W, c.OC, c.K,
                                  c.stride, c.pad, scratch);
        ops_grad_compare(summary, label, &TOLERANCES[1], 1, dw, want_dw, nw);
        if (i % 3 == 0 || c.B * c.C * c.H * c.W > 10000) {
            snprintf(label, sizeof label, "%s threads", pre);
            ops_check_thread_counts(label, run_backward, &c, ni + nw + (size_t)c.OC);
        }
    }
    free(in), free(weight), free(dout), free(want_di), free(want_dw), free(want_db);
    free(scratch), free(di), free(dw), free(db);
    return 1;
}

int main(void) {
    CHECK(afloc_cpu_conv2d_backward_scratch_floats(2, 64, 75, 75, 256, 1, 1, 0) == 0);
    CHECK(afloc_cpu_conv2d_backward_scratch_floats(1, 3, 299, 299, 64, 7, 2, 3) ==
          (size_t)147 * 150 * 150);
    char dir[64];
    int rc = ops_oracle_run("ref_conv_backward.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    const double t0 = ops_now_seconds();
    while (run_case(dir, cases, &summary)) cases++;
    ops_oracle_remove(dir);
    CHECK(cases >= 10);
    printf("ops_conv_backward_vs_torch: %d cases, %d tensors, max abs %.3e, max rel %.3e, "
           "%d failed, %.2f s\n",
           cases, summary.tensors, summary.max_abs, summary.max_rel, summary.failed,
           ops_now_seconds() - t0);
    ops_grad_report("ops_conv_backward_vs_torch");
    return test_finish("ops_conv_backward_vs_torch");
}
