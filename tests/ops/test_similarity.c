/* test_similarity.c: similarity.c against PyTorch and SciPy (ref_similarity.py).
 *  - afloc_cpu_similarity_map_forward vs torch.einsum('dhw,d->hw'), D 1 .. 768, maps 1x1 .. 38x38.
 *  - afloc_cpu_gaussian_smooth_forward vs scipy.ndimage.gaussian_filter(float32, sigma, truncate,
 *    mode='reflect') on 1x1 .. 224x224 maps, sigma 0, 0.1, 0.5, 1.5, 3, 20, 300 (radius 0 .. 1200,
 *    so lines shorter than the radius reflect many times), truncate 4 and 2.5. Expected bit-exact: the
 *    summary counts elements that are not, and any difference above 1 ulp fails.
 *  - both bit-identical for 1..4 OpenMP threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"

/* similarity: fp32 sums of D products in increasing d here, PyTorch's einsum goes through a GEMV
 *     with another order; outputs O(1), error ~ eps·sqrt(D). Worst seen 8.9e-7 abs; limit 4.5x.
 * gaussian: the same double operations in the same order as scipy's correlate1d, so identical,
 *     except that numpy's AVX-512 exp may differ from libm's in the last bit of a weight
 *     (similarity.c), which could move a result by 1 ulp: rtol 2^-23 allows exactly that. */
static const ops_tolerance TOLERANCES[] = {
    {"similarity", 4e-6f, 0.0f},
    {"gaussian", 0.0f, 1.1920929e-7f},
};

typedef struct sim_ctx {
    const float *f, *t;
    int32_t D, H, W;
} sim_ctx;

static void sim_run(void *p, float *out) {
    const sim_ctx *c = p;
    afloc_cpu_similarity_map_forward(out, c->f, c->t, c->D, c->H, c->W);
}

typedef struct gauss_ctx {
    const float *in;
    int32_t H, W;
    float sigma, truncate;
    float *scratch;
} gauss_ctx;

static void gauss_run(void *p, float *out) {
    const gauss_ctx *c = p;
    afloc_cpu_gaussian_smooth_forward(out, c->in, c->H, c->W, c->sigma, c->truncate, c->scratch);
}

static int similarity_case(const char *dir, int i, ops_summary *summary) {
    char pre[16], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "m%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    const int32_t D = p[0], H = p[1], W = p[2];
    free(p);
    const size_t hw = (size_t)H * W;
    float *f = ops_read_f32(dir, pre, "features", (size_t)D * hw);
    float *t = ops_read_f32(dir, pre, "text", (size_t)D);
    float *want = ops_read_f32(dir, pre, "out", hw);
    float *got = malloc(hw * sizeof(float));
    CHECK(f && t && want && got);
    if (f && t && want && got) {
        char label[96];
        sim_ctx ctx = {f, t, D, H, W};
        sim_run(&ctx, got);
        snprintf(label, sizeof label, "%s similarity D%d %dx%d", pre, D, H, W);
        ops_compare(summary, label, &TOLERANCES[0], 1.0f, got, want, hw);
        if ((size_t)D * hw > 262144) {
            snprintf(label, sizeof label, "%s similarity determinism", pre);
            ops_check_thread_counts(label, sim_run, &ctx, hw);
        }
    }
    free(f);
    free(t);
    free(want);
    free(got);
    return 1;
}

static int gaussian_case(const char *dir, int i, ops_summary *summary, size_t *inexact,
                         size_t *total) {
    char pre[16], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "g%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    const int32_t H = p[0], W = p[1];
    free(p);
    const size_t hw = (size_t)H * W;
    float *sigma = ops_read_f32(dir, pre, "sigma", 2);
    float *in = ops_read_f32(dir, pre, "in", hw);
    float *want = ops_read_f32(dir, pre, "out", hw);
    float *got = malloc(hw * sizeof(float));
    float *scratch = malloc(hw * sizeof(float));
    CHECK(sigma && in && want && got && scratch);
    if (sigma && in && want && got && scratch) {
        char label[96];
        gauss_ctx ctx = {in, H, W, sigma[0], sigma[1], scratch};
        gauss_run(&ctx, got);
        snprintf(label, sizeof label, "%s gaussian %dx%d sigma %g trunc %g", pre, H, W,
                 (double)sigma[0], (double)sigma[1]);
        ops_compare(summary, label, &TOLERANCES[1], 1.0f, got, want, hw);
        for (size_t k = 0; k < hw; k++) *inexact += memcmp(&got[k], &want[k], sizeof(float)) != 0;
        *total += hw;
        if (hw * 13 > 200000) {
            snprintf(label, sizeof label, "%s gaussian determinism", pre);
            ops_check_thread_counts(label, gauss_run, &ctx, hw);
        }
    }
    free(sigma);
    free(in);
    free(want);
    free(got);
    free(scratch);
    return 1;
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_similarity.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary sim = {0}, gauss = {0};
    int sim_cases = 0, gauss_cases = 0;
    size_t inexact = 0, total = 0;
    while (similarity_case(dir, sim_cases, &sim)) sim_cases++;
    while (gaussian_case(dir, gauss_cases, &gauss, &inexact, &total)) gauss_cases++;
    ops_oracle_remove(dir);
    CHECK(sim_cases >= 5 && gauss_cases >= 16);
    printf("ops_similarity_cpu_vs_scipy: similarity %d cases max abs %.3e; gaussian %d cases, "
           "%zu of %zu elements not bit-identical to scipy, max abs %.3e; %d failed\n",
           sim_cases, sim.max_abs, gauss_cases, inexact, total, gauss.max_abs,
           sim.failed + gauss.failed);
    return test_finish("ops_similarity_cpu_vs_scipy");
}
