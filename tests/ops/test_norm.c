/* test_norm.c: norm.c against PyTorch (ref_norm.py).
 *  - afloc_cpu_layernorm_forward vs torch.nn.functional.layer_norm in fp32 and in fp64, eps 1e-12
 *    (BERT) and 1e-5, on shapes 1x1 .. 97x768 and 16x2048, shifted means and a zero-variance row.
 *  - afloc_cpu_batchnorm_fold: the folded weight and bias vs the same fold done in float64 by torch,
 *    then a conv with the folded parameters (a float64 loop here) vs torch's conv2d → BatchNorm2d
 *    in eval mode; and the in-place fold equals the out-of-place one.
 *  - LayerNorm is bit-identical for 1..4 OpenMP threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"

/* Tolerances (per element |got − want| <= atol·scale + rtol·|want|; scale = max |want| for the
 * conv outputs, 1 otherwise).
 * ln: outputs O(1); both sides normalise in fp32 after statistics taken differently (double here,
 *     PyTorch's float Welford there). Worst seen 1.7e-6 abs at the −20 offset; limit 3x.
 * wfold/bfold: both compute γ/sqrt(var + eps) and the products in double and round once. Worst
 *     seen 0; the limit allows 1 ulp for a libm sqrt that differs.
 * bn_out: the reference is conv in fp32 (oneDNN order) then BN in fp32; ours is the conv in double
 *     with float-rounded folded weights. Worst seen 1.1e-5 abs at outputs up to ~30 (var 1e-3
 *     makes a scale of ~30), i.e. ~4e-7 of the output scale; limit ~25x. */
static const ops_tolerance TOLERANCES[] = {
    {"ln", 5e-6f, 0.0f},
    /* ln64: against torch in float64 rounded to float: only our final float rounding steps.
     * Worst seen 2.4e-7 abs; limit ~4x. */
    {"ln64", 1e-6f, 0.0f},
    {"fold", 0.0f, 1.2e-7f},
    {"bn_out", 1e-5f, 0.0f},
};

typedef struct ln_ctx {
    const float *in, *w, *b;
    int32_t N, C;
    float eps;
} ln_ctx;

static void ln_run(void *p, float *out) {
    const ln_ctx *c = p;
    afloc_cpu_layernorm_forward(out, c->in, c->w, c->b, c->N, c->C, c->eps);
}

static int layernorm_case(const char *dir, int i, ops_summary *summary) {
    char pre[16], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "l%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    const int32_t N = p[0], C = p[1];
    free(p);
    const size_t count = (size_t)N * C;
    float *eps = ops_read_f32(dir, pre, "eps", 1);
    float *in = ops_read_f32(dir, pre, "in", count);
    float *w = ops_read_f32(dir, pre, "weight", (size_t)C);
    float *b = ops_read_f32(dir, pre, "bias", (size_t)C);
    float *want = ops_read_f32(dir, pre, "out", count);
    float *want64 = ops_read_f32(dir, pre, "out64", count);
    float *got = malloc(count * sizeof(float));
    CHECK(eps && in && w && b && want && want64 && got);
    if (eps && in && w && b && want && want64 && got) {
        afloc_cpu_layernorm_forward(got, in, w, b, N, C, eps[0]);
        char label[96];
        snprintf(label, sizeof label, "%s layernorm %dx%d eps %g vs fp64", pre, N, C,
                 (double)eps[0]);
        ops_compare(summary, label, &TOLERANCES[1], 1.0f, got, want64, count);
        /* With C = 1, x − mean is 0 and the output is the bias. PyTorch's fp32 kernel computes
         * x·rstd + (−rstd·mean) with an FMA, which leaves the rounding error of rstd·x (rstd = 1e6
         * at eps 1e-12) instead of 0; its answer is off by ~0.04, so only fp64 judges that case. */
        if (C > 1) {
            snprintf(label, sizeof label, "%s layernorm %dx%d eps %g vs fp32", pre, N, C,
                     (double)eps[0]);
            ops_compare(summary, label, &TOLERANCES[0], 1.0f, got, want, count);
        }
        if (N * C >= 97 * 768) {
            ln_ctx ctx = {in, w, b, N, C, eps[0]};
            snprintf(label, sizeof label, "%s layernorm determinism", pre);
            ops_check_thread_counts(label, ln_run, &ctx, count);
        }
    }
    free(eps);
    free(in);
    free(w);
    free(b);
    free(want);
    free(want64);
    free(got);
    return 1;
}

/* out (B, OC, OH, OW) = conv(in, weight) + bias, accumulated in double: an independent check of
 * the folded parameters that does not depend on conv.c. */
static void conv_double(float *out, const float *in, const float *weight, const float *bias,
                        int32_t B, int32_t C, int32_t H, int32_t W, int32_t OC, int32_t K,
                        int32_t stride, int32_t pad) {
    const int32_t OH = (H + 2 * pad - K) / stride + 1, OW = (W + 2 * pad - K) / stride + 1;
    for (int32_t b = 0; b < B; b++)
        for (int32_t o = 0; o < OC; o++)
            for (int32_t y = 0; y < OH; y++)
                for (int32_t x = 0; x < OW; x++) {
                    double acc = bias[o];
                    for (int32_t c = 0; c < C; c++)
                        for (int32_t ky = 0; ky < K; ky++)
                            for (int32_t kx = 0; kx < K; kx++) {
                                const int32_t iy = y * stride - pad + ky, ix = x * stride - pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)in[(((size_t)b * C + c) * H + iy) * W + ix] *
                                       (double)weight[(((size_t)o * C + c) * K + ky) * K + kx];
                            }
                    out[(((size_t)b * OC + o) * OH + y) * OW + x] = (float)acc;
                }
}

static int fold_case(const char *dir, int i, ops_summary *summary) {
    char pre[16], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "f%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3], OC = p[4], K = p[5], stride = p[6],
                  pad = p[7];
    free(p);
    const int32_t OH = (H + 2 * pad - K) / stride + 1, OW = (W + 2 * pad - K) / stride + 1;
    const size_t per_oc = (size_t)C * K * K, wn = (size_t)OC * per_oc;
    const size_t out_n = (size_t)B * OC * OH * OW;
    float *eps = ops_read_f32(dir, pre, "eps", 1);
    float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
    float *weight = ops_read_f32(dir, pre, "weight", wn);
    float *gamma = ops_read_f32(dir, pre, "gamma", (size_t)OC);
    float *beta = ops_read_f32(dir, pre, "beta", (size_t)OC);
    float *mean = ops_read_f32(dir, pre, "mean", (size_t)OC);
    float *var = ops_read_f32(dir, pre, "var", (size_t)OC);
    float *want = ops_read_f32(dir, pre, "out", out_n);
    float *wfold = ops_read_f32(dir, pre, "wfold", wn);
    float *bfold = ops_read_f32(dir, pre, "bfold", (size_t)OC);
    float *gw = malloc(wn * sizeof(float)), *gb = malloc((size_t)OC * sizeof(float));
    float *inplace_w = malloc(wn * sizeof(float)), *inplace_b = malloc((size_t)OC * sizeof(float));
    float *got = malloc(out_n * sizeof(float));
    const int ok = eps && in && weight && gamma && beta && mean && var && want && wfold && bfold &&
                   gw && gb && inplace_w && inplace_b && got;
    CHECK(ok);
    if (ok) {
        char label[96];
        afloc_cpu_batchnorm_fold(gw, gb, weight, gamma, beta, mean, var, OC, per_oc, eps[0]);
        snprintf(label, sizeof label, "%s fold weight OC%d x %zu", pre, OC, per_oc);
        ops_compare(summary, label, &TOLERANCES[2], 1.0f, gw, wfold, wn);
        snprintf(label, sizeof label, "%s fold bias", pre);
        ops_compare(summary, label, &TOLERANCES[2], 1.0f, gb, bfold, (size_t)OC);

        memcpy(inplace_w, weight, wn * sizeof(float));
        afloc_cpu_batchnorm_fold(inplace_w, inplace_b, inplace_w, gamma, beta, mean, var, OC,
                                 per_oc, eps[0]);
        CHECK(memcmp(inplace_w, gw, wn * sizeof(float)) == 0);
        CHECK(memcmp(inplace_b, gb, (size_t)OC * sizeof(float)) == 0);

        conv_double(got, in, gw, gb, B, C, H, W, OC, K, stride, pad);
        snprintf(label, sizeof label, "%s folded conv vs conv->bn B%d C%d %dx%d K%d", pre, B, C, H,
                 W, K);
        ops_compare(summary, label, &TOLERANCES[3], ops_max_abs(want, out_n), got, want, out_n);
    }
    free(eps);
    free(in);
    free(weight);
    free(gamma);
    free(beta);
    free(mean);
    free(var);
    free(want);
    free(wfold);
    free(bfold);
    free(gw);
    free(gb);
    free(inplace_w);
    free(inplace_b);
    free(got);
    return 1;
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_norm.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int ln_cases = 0, fold_cases = 0;
    while (layernorm_case(dir, ln_cases, &summary)) ln_cases++;
    while (fold_case(dir, fold_cases, &summary)) fold_cases++;
    ops_oracle_remove(dir);
    CHECK(ln_cases >= 7 && fold_cases >= 4);
    printf("ops_norm_cpu_vs_torch: %d layernorm + %d fold cases, %d tensors, max abs %.3e, "
           "max rel %.3e, %d failed\n",
           ln_cases, fold_cases, summary.tensors, summary.max_abs, summary.max_rel,
           summary.failed);
    return test_finish("ops_norm_cpu_vs_torch");
}
