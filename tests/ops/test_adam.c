/* test_adam.c: the optimizer pieces of MODEL.md §7.1, used by the trainer (issue 4), against
 * PyTorch 1.13 (ref_adam.py). Two programs' worth of cases, one per argument:
 *
 *  adam      afloc_cpu_adam_update / afloc_cpu_grad_norm / afloc_clip_factor against
 *            torch.optim.Adam + clip_grad_norm_ over 10 steps on four tensors (1, 7, 1000, 100003
 *            elements, one buffer), betas (0.5, 0.999) wd 1e-6 and (0.9, 0.999) wd 0.1, clipping
 *            at 0.25 jointly, with steps that clip and steps that do not. Two trajectories per
 *            config: "torch coef" feeds torch's own clip coefficient (isolates the Adam update),
 *            "own coef" feeds ours (the trainer's path). Then thread-count determinism.
 *  schedule  afloc_lr_at: StepLR against torch.optim.lr_scheduler.StepLR over 12 epochs, and
 *            warmup + cosine at key steps against the Python formula; afloc_lr_schedule_check. */
#include <math.h>

#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"
#include "schedule.h"

/* Tolerances. The update is the same float32 operation sequence as torch's kernels (fmaf where
 * they fuse), so with torch's clip coefficient parameters and moments must be bit-identical: 0/0.
 * With our own coefficient they are not: torch's total_norm is float32 (per-tensor norms
 * accumulated in float) and is off by up to ~7e-7 relative from the exact norm our double sum
 * gives, so the factor differs by a few ulps on clipped steps. The update m/sqrt(v) is nearly
 * scale-free (only eps and wd see the scale), so what changes is the rounding of p + update: a
 * few ulps of p (measured worst 6e-8 at |p| <= 1, one ulp at 0.5..1) over 10 steps; limit 4 ulps
 * relative plus 1e-8 absolute for the wd/eps share (δ 1e-6 · lr 1e-3 · 10 steps). */
static const ops_tolerance TOLERANCES[] = {
    {"params_exact", 0.0f, 0.0f},
    {"moments_exact", 0.0f, 0.0f},
    {"params_own", 1e-8f, 4.8e-7f},
};
/* Our norm (double, blocked) against torch's float32 total_norm: float rounding of each tensor's
 * norm in torch, ~1e-7; against the float64 norm: double summation order only. */
#define NORM_RTOL_TORCH 1e-6
#define NORM_RTOL_F64 1e-12

enum { STEPS = 10, CONFIGS = 2 };

static double read_double(const char *dir, const char *name, size_t index) {
    size_t n = 0;
    int32_t *bits = ops_tensor_read(dir, name, OPS_I32, &n);
    double value = NAN;
    if (bits && 2 * index + 1 < n) memcpy(&value, bits + 2 * index, sizeof value);
    else fprintf(stderr, "missing double %s[%zu]\n", name, index);
    free(bits);
    return value;
}

static float read_scalar(const char *dir, const char *name) {
    size_t n = 0;
    float *t = ops_tensor_read(dir, name, OPS_F32, &n);
    const float value = t && n == 1 ? t[0] : NAN;
    free(t);
    return value;
}

/* ---- adam ---- */

typedef struct adam_case {
    const float *p0;
    float *grads[STEPS];
    size_t n;
    double hp[6]; /* lr b1 b2 eps wd max_norm */
} adam_case;

/* Runs the three first steps with our own clip factor; out = params | m | v. */
static void run_adam(void *ctx, float *out) {
    const adam_case *c = ctx;
    float *p = out, *m = out + c->n, *v = out + 2 * c->n;
    memcpy(p, c->p0, c->n * sizeof(float));
    memset(m, 0, 2 * c->n * sizeof(float));
    for (int s = 0; s < 3; s++) {
        const float f = afloc_clip_factor(afloc_cpu_grad_norm(c->grads[s], c->n), (float)c->hp[5]);
        afloc_cpu_adam_update(p, m, v, c->grads[s], c->n, c->hp[0], c->hp[1], c->hp[2], c->hp[3],
                              c->hp[4], s + 1, f);
    }
}

/* Sum of squares as two floats holding the double's bits. */
static void run_sumsq(void *ctx, float *out) {
    const adam_case *c = ctx;
    const double s = afloc_cpu_sum_squares(c->grads[0], c->n);
    memcpy(out, &s, sizeof s);
}

static void adam_config(const char *dir, adam_case *c, int k, ops_summary *sum,
                        ops_summary *own, double *worst_norm_rel) {
    char name[64], label[96];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "c%d.hparams", k);
        c->hp[i] = read_double(dir, name, (size_t)i);
    }
    const size_t n = c->n;
    float *state[2][3]; /* [torch coef, own coef][params, m, v] */
    int ok = 1;
    for (int t = 0; t < 2; t++) {
        state[t][0] = malloc(n * sizeof(float));
        state[t][1] = calloc(n, sizeof(float));
        state[t][2] = calloc(n, sizeof(float));
        ok = ok && state[t][0] && state[t][1] && state[t][2];
        if (state[t][0]) memcpy(state[t][0], c->p0, n * sizeof(float));
    }
    CHECK(ok);
    int clipped = 0, coef_equal = 0;
    for (int s = 1; ok && s <= STEPS; s++) {
        snprintf(name, sizeof name, "c%d.norm%d", k, s);
        const float torch_norm = read_scalar(dir, name);
        snprintf(name, sizeof name, "c%d.coef%d", k, s);
        const float torch_coef = read_scalar(dir, name);
        snprintf(name, sizeof name, "c%d.norm64_%d", k, s);
        const double norm64 = read_double(dir, name, 0);
        const double norm = afloc_cpu_grad_norm(c->grads[s - 1], n);
        const float own_coef = afloc_clip_factor(norm, (float)c->hp[5]);
        const double rel_t = fabs(norm - (double)torch_norm) / (double)torch_norm;
        const double rel_64 = fabs(norm - norm64) / norm64;
        if (rel_t > worst_norm_rel[0]) worst_norm_rel[0] = rel_t;
        if (rel_64 > worst_norm_rel[1]) worst_norm_rel[1] = rel_64;
        if (!(rel_t <= NORM_RTOL_TORCH) || !(rel_64 <= NORM_RTOL_F64)) {
            fprintf(stderr, "  c%d step %d: norm %.17g, torch %.9g (rel %.3g), f64 %.17g (rel %.3g)\n",
                    k, s, norm, (double)torch_norm, rel_t, norm64, rel_64);
            test_failures++;
        }
        clipped += torch_coef < 1.0f;
        coef_equal += own_coef == torch_coef;
        const float coefs[2] = {torch_coef, own_coef};
        for (int t = 0; t < 2; t++)
            afloc_cpu_adam_update(state[t][0], state[t][1], state[t][2], c->grads[s - 1], n,
                                  c->hp[0], c->hp[1], c->hp[2], c->hp[3], c->hp[4], s, coefs[t]);
        char pre[16], field[16];
        snprintf(pre, sizeof pre, "c%d", k);
        snprintf(field, sizeof field, "p%d", s);
        float *want = ops_read_f32(dir, pre, field, n);
        CHECK(want != NULL);
        if (!want) break;
        snprintf(label, sizeof label, "c%d step %2d params (torch coef)", k, s);
        ops_compare(sum, label, &TOLERANCES[0], 1.0f, state[0][0], want, n);
        snprintf(label, sizeof label, "c%d step %2d params (own coef)", k, s);
        ops_compare(own, label, &TOLERANCES[2], 1.0f, state[1][0], want, n);
        free(want);
    }
    snprintf(label, sizeof label, "c%d", k);
    float *want_m = ops_read_f32(dir, label, "m", n), *want_v = ops_read_f32(dir, label, "v", n);
    CHECK(want_m && want_v);
    if (ok && want_m && want_v) {
        snprintf(label, sizeof label, "c%d exp_avg after %d steps", k, STEPS);
        ops_compare(sum, label, &TOLERANCES[1], 1.0f, state[0][1], want_m, n);
        snprintf(label, sizeof label, "c%d exp_avg_sq after %d steps", k, STEPS);
        ops_compare(sum, label, &TOLERANCES[1], 1.0f, state[0][2], want_v, n);
    }
    printf("  c%d: lr %g betas (%g, %g) wd %g: %d of %d steps clipped, own clip factor == "
           "torch's in %d of %d\n",
           k, c->hp[0], c->hp[1], c->hp[2], c->hp[4], clipped, STEPS, coef_equal, STEPS);
    CHECK(clipped > 0 && clipped < STEPS); /* both branches ran */
    if (k == 0) {
        ops_check_thread_counts("adam 3 steps threads", run_adam, c, 3 * n);
        ops_check_thread_counts("sum_squares threads", run_sumsq, c, 2);
    }
    free(want_m), free(want_v);
    for (int t = 0; t < 2; t++)
        for (int j = 0; j < 3; j++) free(state[t][j]);
}

/* Edge cases of the factor and the norm that need no oracle. */
static void adam_edges(void) {
    CHECK(afloc_clip_factor(0.0, 0.25f) == 1.0f);
    CHECK(afloc_clip_factor(0.1, 0.25f) == 1.0f);
    CHECK(afloc_clip_factor(INFINITY, 0.25f) == 0.0f);
    CHECK(isnan(afloc_clip_factor(NAN, 0.25f)));
    /* 1.0 exactly: (1/(1 + 1e-6f))·0.25 rounded, as torch's reciprocal() * max_norm. */
    CHECK(afloc_clip_factor(1.0, 0.25f) == (1.0f / (1.0f + 1e-6f)) * 0.25f);
    CHECK(afloc_cpu_grad_norm(NULL, 0) == 0.0);
    /* Many blocks and rounds (> 64 · 4096 elements): against a plain double sum. */
    const size_t n = 600001;
    float *x = malloc(n * sizeof(float));
    CHECK(x != NULL);
    if (!x) return;
    uint32_t state = 12345u;
    double plain = 0.0;
    for (size_t i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)(state >> 8) - (1 << 23)) / (float)(1 << 23);
        plain += (double)x[i] * (double)x[i];
    }
    const double got = afloc_cpu_sum_squares(x, n);
    const double rel = fabs(got - plain) / plain;
    printf("  sum_squares n %zu: blocked %.17g plain %.17g rel %.3e\n", n, got, plain, rel);
    CHECK(rel <= NORM_RTOL_F64);
    /* wd 0 skips the decay term as torch does: an infinite parameter must not turn the
     * gradient into inf·0 = NaN. */
    float p = INFINITY, m = 0.0f, v = 0.0f;
    const float g = 0.5f;
    afloc_cpu_adam_update(&p, &m, &v, &g, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1, 1.0f);
    CHECK(isinf(p) && m == 0.5f * (float)(1.0 - 0.9) && isfinite(v));
    free(x);
}

static int test_adam(void) {
    char dir[64], name[32];
    int rc = ops_oracle_run("ref_adam.py", dir, sizeof dir);
    if (rc) return rc;
    const double t0 = ops_now_seconds();
    ops_summary sum = {0}, own = {0};
    adam_case c = {0};
    size_t nsizes = 0;
    int32_t *sizes = ops_tensor_read(dir, "sizes", OPS_I32, &nsizes);
    for (size_t i = 0; sizes && i < nsizes; i++) c.n += (size_t)sizes[i];
    float *p0 = ops_tensor_read(dir, "p0", OPS_F32, &nsizes);
    int ok = sizes && p0 && nsizes == c.n;
    for (int s = 0; ok && s < STEPS; s++) {
        snprintf(name, sizeof name, "g%d", s + 1);
        size_t ng = 0;
        c.grads[s] = ops_tensor_read(dir, name, OPS_F32, &ng);
        ok = c.grads[s] && ng == c.n;
    }
    CHECK(ok);
    double worst_norm[2] = {0.0, 0.0};
    if (ok) {
        c.p0 = p0;
        for (int k = 0; k < CONFIGS; k++) adam_config(dir, &c, k, &sum, &own, worst_norm);
    }
    adam_edges();
    ops_oracle_remove(dir);
    printf("ops_adam_vs_torch: %d configs x %d steps, %zu elements; torch coef: %d tensors, max "
           "abs %.3e (0 = bit-exact); own coef: %d tensors, max abs %.3e, max rel %.3e; grad norm "
           "rel err vs torch f32 %.3e, vs f64 %.3e; %d failed, %.2f s\n",
           CONFIGS, STEPS, c.n, sum.tensors, sum.max_abs, own.tensors, own.max_abs, own.max_rel,
           worst_norm[0], worst_norm[1], sum.failed + own.failed, ops_now_seconds() - t0);
    free(sizes), free(p0);
    for (int s = 0; s < STEPS; s++) free(c.grads[s]);
    return test_finish("ops_adam_vs_torch");
}

/* ---- schedule ---- */

static int compare_rates(const char *label, const double *got, const double *want, int n) {
    int exact = 0, bad = 0;
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        const double rel = want[i] != 0.0 ? fabs(got[i] - want[i]) / fabs(want[i])
                                          : fabs(got[i]);
        exact += got[i] == want[i];
        if (rel > worst) worst = rel;
        if (got[i] != want[i]) {
            fprintf(stderr, "    %s[%d]: got %.17g want %.17g\n", label, i, got[i], want[i]);
            bad++;
        }
    }
    printf("  %-34s %3d rates  max rel %.3e  bit-exact %d/%d  %s\n", label, n, worst, exact, n,
           bad ? "FAIL" : "OK");
    if (bad) test_failures++;
    return exact;
}

static int test_schedule(void) {
    char dir[64], name[64];
    int rc = ops_oracle_run("ref_adam.py", dir, sizeof dir);
    if (rc) return rc;
    int total = 0, exact = 0, groups = 0;
    for (int i = 0;; i++, groups++) {
        size_t np = 0;
        snprintf(name, sizeof name, "steplr%d.params", i);
        int32_t *p = ops_tensor_read(dir, name, OPS_I32, &np);
        if (!p) break;
        afloc_lr_schedule s = {0};
        s.kind = AFLOC_LR_STEP;
        s.step_epochs = p[0];
        snprintf(name, sizeof name, "steplr%d.hparams", i);
        s.base_lr = read_double(dir, name, 0);
        s.gamma = read_double(dir, name, 1);
        CHECK_STATUS(afloc_lr_schedule_check(&s, "test"), AFLOC_OK);
        const int epochs = p[1];
        double got[64], want[64];
        snprintf(name, sizeof name, "steplr%d.lr", i);
        for (int e = 0; e < epochs && e < 64; e++) {
            got[e] = afloc_lr_at(&s, 12345, e);
            want[e] = read_double(dir, name, (size_t)e);
        }
        char label[64];
        snprintf(label, sizeof label, "StepLR step %d gamma %g", s.step_epochs, s.gamma);
        exact += compare_rates(label, got, want, epochs);
        total += epochs;
        free(p);
    }
    for (int i = 0;; i++, groups++) {
        size_t np = 0;
        snprintf(name, sizeof name, "cosine%d.params", i);
        int32_t *steps = ops_tensor_read(dir, name, OPS_I32, &np);
        if (!steps) break;
        afloc_lr_schedule s = {0};
        s.kind = AFLOC_LR_WARMUP_COSINE;
        snprintf(name, sizeof name, "cosine%d.hparams", i);
        s.base_lr = read_double(dir, name, 0);
        s.min_lr = read_double(dir, name, 1);
        s.warmup_steps = (int64_t)read_double(dir, name, 2);
        s.total_steps = (int64_t)read_double(dir, name, 3);
        CHECK_STATUS(afloc_lr_schedule_check(&s, "test"), AFLOC_OK);
        double got[64], want[64];
        snprintf(name, sizeof name, "cosine%d.lr", i);
        for (size_t j = 0; j < np && j < 64; j++) {
            got[j] = afloc_lr_at(&s, steps[j], 3);
            want[j] = read_double(dir, name, j);
        }
        char label[64];
        snprintf(label, sizeof label, "cosine warmup %lld total %lld", (long long)s.warmup_steps,
                 (long long)s.total_steps);
        exact += compare_rates(label, got, want, (int)np);
        total += (int)np;
        /* key points: first warmup step base/warmup, base at the end of warmup, min at total */
        if (s.warmup_steps > 0)
            CHECK(afloc_lr_at(&s, 0, 0) == s.base_lr / (double)s.warmup_steps);
        CHECK(afloc_lr_at(&s, s.warmup_steps, 0) == (s.total_steps > s.warmup_steps ? s.base_lr
                                                                                   : s.min_lr));
        CHECK(afloc_lr_at(&s, s.total_steps, 0) == s.min_lr);
        free(steps);
    }
    ops_oracle_remove(dir);
    CHECK(groups == 5);
    /* official defaults and the config checks */
    afloc_lr_schedule s;
    afloc_lr_schedule_official(&s);
    CHECK(afloc_lr_at(&s, 0, 0) == 2e-5 && afloc_lr_at(&s, 999, 2) == 2e-5 * 0.9 * 0.9);
    afloc_lr_schedule b = s;
    b.kind = 3;
    CHECK_STATUS(afloc_lr_schedule_check(&b, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    b = s, b.step_epochs = 0;
    CHECK_STATUS(afloc_lr_schedule_check(&b, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    b = s, b.gamma = 0.0;
    CHECK_STATUS(afloc_lr_schedule_check(&b, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    b = s, b.base_lr = NAN;
    CHECK_STATUS(afloc_lr_schedule_check(&b, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    b = s, b.kind = AFLOC_LR_WARMUP_COSINE, b.warmup_steps = 10, b.total_steps = 5;
    CHECK_STATUS(afloc_lr_schedule_check(&b, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    b.total_steps = 10, b.min_lr = -1.0;
    CHECK_STATUS(afloc_lr_schedule_check(&b, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_lr_schedule_check(NULL, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    printf("ops_lr_schedule: %d schedules, %d rates, %d bit-exact vs torch StepLR / Python "
           "formula\n", groups, total, exact);
    return test_finish("ops_lr_schedule");
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "adam") == 0) return test_adam();
    if (argc == 2 && strcmp(argv[1], "schedule") == 0) return test_schedule();
    fprintf(stderr, "usage: %s adam|schedule\n", argv[0]);
    return 2;
}
