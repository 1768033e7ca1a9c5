/* test_pool_backward.c: afloc_cpu_maxpool2d_backward and afloc_cpu_global_avgpool_backward
 * (pool.c; used by the trainer, issue 4) against PyTorch autograd of F.max_pool2d and
 * AdaptiveAvgPool2d(1) on the cases of ref_pool_backward.py: the stem pool 3/2/1, ties, NaNs,
 * all −∞ windows, K 1, 1x1 images. Checked after one call and, accumulated, after two; bit-
 * identical for 1/2/3/4 threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_grad.h"

/* Tolerances. Max pooling routes each dout to one argmax and adds overlapping contributions in
 * PyTorch's order (outputs in scan order) from zero: exact, and a tie or NaN resolved otherwise
 * would move a whole gradient. The average spreads dout / (H·W) divided in float as PyTorch's
 * mean backward does: exact. */
static const ops_tolerance TOLERANCES[] = {
    {"max_dinput", 0.0f, 0.0f},
    {"avg_dinput", 0.0f, 0.0f},
    /* After the second (accumulating) call an input hit by overlapping windows holds
     * ((a + b) + a) + b, not 2·(a + b): 2 roundings, so 2 ulp (seen: 1.1e-7 rel). */
    {"max_dinput_acc", 0.0f, 2.5e-7f},
    /* one value per input: exactly doubled */
    {"avg_dinput_acc", 0.0f, 0.0f},
};

typedef struct pool_case {
    const float *in, *dout;
    int32_t p[7];
} pool_case;

static void run_max(void *ctx, float *out) {
    const pool_case *c = ctx;
    memset(out, 0, (size_t)c->p[0] * c->p[1] * c->p[2] * c->p[3] * sizeof(float));
    afloc_cpu_maxpool2d_backward(out, c->dout, c->in, c->p[0], c->p[1], c->p[2], c->p[3], c->p[4],
                                 c->p[5], c->p[6]);
}

static void run_avg(void *ctx, float *out) {
    const pool_case *c = ctx;
    memset(out, 0, (size_t)c->p[0] * c->p[1] * c->p[2] * c->p[3] * sizeof(float));
    afloc_cpu_global_avgpool_backward(out, c->dout, c->p[0], c->p[1], c->p[2], c->p[3]);
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_pool_backward.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    char pre[32], label[96];
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0;; i++) {
            pool_case c = {NULL, NULL, {0}};
            snprintf(pre, sizeof pre, "%c%d", kind == 0 ? 'm' : 'a', i);
            if (!ops_read_params(dir, pre, c.p, kind == 0 ? 7 : 4)) break;
            const int32_t B = c.p[0], C = c.p[1], H = c.p[2], W = c.p[3];
            const size_t ni = (size_t)B * C * H * W;
            const size_t no = kind == 0 ? (size_t)B * C *
                                              afloc_conv_out_size(H, c.p[4], c.p[5], c.p[6]) *
                                              afloc_conv_out_size(W, c.p[4], c.p[5], c.p[6])
                                        : (size_t)B * C;
            float *in = kind == 0 ? ops_read_f32(dir, pre, "in", ni) : NULL;
            float *dout = ops_read_f32(dir, pre, "dout", no);
            float *want = ops_read_f32(dir, pre, "dinput", ni);
            float *got = calloc(ni, sizeof(float));
            const int ok = (kind == 1 || in) && dout && want && got;
            CHECK(ok);
            if (ok) {
                c.in = in, c.dout = dout;
                if (kind == 0)
                    snprintf(label, sizeof label, "max %s B%d C%d %dx%d K%d s%d p%d", pre, B, C, H,
                             W, c.p[4], c.p[5], c.p[6]);
                else
                    snprintf(label, sizeof label, "avg %s B%d C%d %dx%d", pre, B, C, H, W);
                for (int pass = 1; pass <= 2; pass++) {
                    if (kind == 0)
                        afloc_cpu_maxpool2d_backward(got, dout, in, B, C, H, W, c.p[4], c.p[5],
                                                     c.p[6]);
                    else
                        afloc_cpu_global_avgpool_backward(got, dout, B, C, H, W);
                    ops_grad_compare(&summary, label, &TOLERANCES[kind + 2 * (pass - 1)], pass, got,
                                     want, ni);
                }
                snprintf(label, sizeof label, "%s threads", pre);
                ops_check_thread_counts(label, kind == 0 ? run_max : run_avg, &c, ni);
            }
            free(in), free(dout), free(want), free(got);
            cases++;
        }
    }
    ops_oracle_remove(dir);
    CHECK(cases >= 14);
    printf("ops_pool_backward_vs_torch: %d cases, %d tensors, max abs %.3e, max rel %.3e, "
           "%d failed\n",
           cases, summary.tensors, summary.max_abs, summary.max_rel, summary.failed);
    ops_grad_report("ops_pool_backward_vs_torch");
    return test_finish("ops_pool_backward_vs_torch");
}
