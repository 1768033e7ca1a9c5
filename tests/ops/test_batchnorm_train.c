/* test_batchnorm_train.c: afloc_cpu_batchnorm2d_train_forward / _backward (norm_batch.c; used by
 * the trainer, issue 4) against torch.nn.functional.batch_norm(training=True, momentum 0.1,
 * eps 1e-5) and its autograd on the cases of ref_batchnorm_train.py: N = B·H·W from 2 to 2888,
 * C 1..64, 1x1 images. Checks out, the saved mean / rstd, the updated running mean / var, and
 * dinput / dgamma / dbeta (after one call and, accumulated, after two); forward and backward
 * outputs must be bit-identical for 1/2/3/4 threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_grad.h"

/* Tolerances (atol relative to the tensor's max |value|). Statistics are double here and double
 * (accumulate type) in PyTorch, so the forward differs only by the final float roundings; the
 * saved mean/rstd are PyTorch's own (torch.native_batch_norm). The gradients reduce over
 * N = B·H·W (≤ 2888) in double on both sides; dgamma / dbeta are those reductions themselves;
 * dinput's atol follows its terms' size (see run_case), since it cancels at N = 2.
 * Worst seen (max|err| / scale): out 4.4e-7, mean 0, rstd 7.5e-8 (1 ulp), running mean 1.2e-7,
 * running var 8.7e-8, dinput 2.2e-7, dgamma 2.3e-7, dbeta 3.2e-7. Limits ~10x. */
static const ops_tolerance TOLERANCES[] = {
    {"out", 4e-6f, 1e-5f},
    {"mean", 1e-7f, 1e-6f},
    {"rstd", 1e-6f, 1e-6f},
    {"run_mean", 1e-6f, 1e-6f},
    {"run_var", 1e-6f, 1e-6f},
    {"dinput", 2e-6f, 1e-5f},
    {"dgamma", 2e-6f, 1e-5f},
    {"dbeta", 2e-6f, 1e-5f},
};

typedef struct bn_case {
    const float *in, *gamma, *beta, *rm, *rv, *dout;
    int32_t B, C, H, W;
} bn_case;

/* The determinism runner: out, mean, rstd, running stats, then dinput, dgamma, dbeta. */
static void run_both(void *ctx, float *o) {
    const bn_case *c = ctx;
    const size_t n = (size_t)c->B * c->C * c->H * c->W, C = (size_t)c->C;
    float *mean = o + n, *rstd = mean + C, *rm = rstd + C, *rv = rm + C, *di = rv + C;
    float *dg = di + n, *db = dg + C;
    memcpy(rm, c->rm, C * sizeof(float));
    memcpy(rv, c->rv, C * sizeof(float));
    memset(di, 0, (n + 2 * C) * sizeof(float));
    afloc_cpu_batchnorm2d_train_forward(o, mean, rstd, rm, rv, c->in, c->gamma, c->beta, c->B,
                                        c->C, c->H, c->W, 1e-5f, 0.1f);
    afloc_cpu_batchnorm2d_backward(di, dg, db, c->dout, c->in, mean, rstd, c->gamma, c->B, c->C,
                                   c->H, c->W);
}

static int run_case(const char *dir, int i, ops_summary *s) {
    char pre[32], label[96];
    int32_t p[4];
    snprintf(pre, sizeof pre, "b%d", i);
    if (!ops_read_params(dir, pre, p, 4)) return 0;
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3];
    const size_t n = (size_t)B * C * H * W, nc = (size_t)C;
    float *in = ops_read_f32(dir, pre, "in", n), *dout = ops_read_f32(dir, pre, "dout", n);
    float *gamma = ops_read_f32(dir, pre, "gamma", nc), *beta = ops_read_f32(dir, pre, "beta", nc);
    float *rm0 = ops_read_f32(dir, pre, "running_mean", nc);
    float *rv0 = ops_read_f32(dir, pre, "running_var", nc);
    float *w_out = ops_read_f32(dir, pre, "out", n), *w_mean = ops_read_f32(dir, pre, "mean", nc);
    float *w_rstd = ops_read_f32(dir, pre, "rstd", nc);
    float *w_rm = ops_read_f32(dir, pre, "running_mean_new", nc);
    float *w_rv = ops_read_f32(dir, pre, "running_var_new", nc);
    float *w_di = ops_read_f32(dir, pre, "dinput", n);
    float *w_dg = ops_read_f32(dir, pre, "dgamma", nc), *w_db = ops_read_f32(dir, pre, "dbeta", nc);
    float *out = malloc(n * sizeof(float)), *di = calloc(n, sizeof(float));
    float *mean = malloc(nc * sizeof(float)), *rstd = malloc(nc * sizeof(float));
    float *rm = malloc(nc * sizeof(float)), *rv = malloc(nc * sizeof(float));
    float *dg = calloc(nc, sizeof(float)), *db = calloc(nc, sizeof(float));
    const int ok = in && dout && gamma && beta && rm0 && rv0 && w_out && w_mean && w_rstd &&
                   w_rm && w_rv && w_di && w_dg && w_db && out && di && mean && rstd && rm && rv &&
                   dg && db;
    CHECK(ok);
    if (ok) {
        snprintf(label, sizeof label, "%s B%d C%d %dx%d", pre, B, C, H, W);
        memcpy(rm, rm0, nc * sizeof(float));
        memcpy(rv, rv0, nc * sizeof(float));
        afloc_cpu_batchnorm2d_train_forward(out, mean, rstd, rm, rv, in, gamma, beta, B, C, H, W,
                                            1e-5f, 0.1f);
        ops_grad_compare(s, label, &TOLERANCES[0], 1, out, w_out, n);
        ops_grad_compare(s, label, &TOLERANCES[1], 1, mean, w_mean, nc);
        ops_grad_compare(s, label, &TOLERANCES[2], 1, rstd, w_rstd, nc);
        ops_grad_compare(s, label, &TOLERANCES[3], 1, rm, w_rm, nc);
        ops_grad_compare(s, label, &TOLERANCES[4], 1, rv, w_rv, nc);
        /* dinput = γ·rstd·(dout − two means): it cancels to ~0 at N = 2, so its atol follows
         * max|dout|·max(|γ|·rstd), the size of the terms. */
        float di_scale = 0.0f;
        for (size_t c = 0; c < nc; c++)
            if (fabsf(gamma[c]) * w_rstd[c] > di_scale) di_scale = fabsf(gamma[c]) * w_rstd[c];
        di_scale *= ops_max_abs(dout, n);
        for (int pass = 1; pass <= 2; pass++) {
            afloc_cpu_batchnorm2d_backward(di, dg, db, dout, in, mean, rstd, gamma, B, C, H, W);
            ops_grad_compare_scaled(s, label, &TOLERANCES[5], pass, di, w_di, n, di_scale);
            ops_grad_compare(s, label, &TOLERANCES[6], pass, dg, w_dg, nc);
            ops_grad_compare(s, label, &TOLERANCES[7], pass, db, w_db, nc);
        }
        /* NULL running statistics: the same normalised output. */
        afloc_cpu_batchnorm2d_train_forward(out, mean, rstd, NULL, NULL, in, gamma, beta, B, C, H,
                                            W, 1e-5f, 0.1f);
        ops_grad_compare(s, label, &TOLERANCES[0], 1, out, w_out, n);
        bn_case c = {in, gamma, beta, rm0, rv0, dout, B, C, H, W};
        snprintf(label, sizeof label, "%s threads (fwd+bwd)", pre);
        ops_check_thread_counts(label, run_both, &c, 2 * n + 6 * nc);
    }
    free(in), free(dout), free(gamma), free(beta), free(rm0), free(rv0), free(w_out);
    free(w_mean), free(w_rstd), free(w_rm), free(w_rv), free(w_di), free(w_dg), free(w_db);
    free(out), free(di), free(mean), free(rstd), free(rm), free(rv), free(dg), free(db);
    return 1;
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_batchnorm_train.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    while (run_case(dir, cases, &summary)) cases++;
    ops_oracle_remove(dir);
    CHECK(cases >= 7);
    printf("ops_batchnorm_train_vs_torch: %d cases, %d tensors, max abs %.3e, max rel %.3e, "
           "%d failed\n",
           cases, summary.tensors, summary.max_abs, summary.max_rel, summary.failed);
    ops_grad_report("ops_batchnorm_train_vs_torch");
    return test_finish("ops_batchnorm_train_vs_torch");
}
