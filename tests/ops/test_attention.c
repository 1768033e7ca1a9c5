/* test_attention.c: afloc_cpu_attention_forward (attention.c) against an explicit HF-BERT-style
 * PyTorch attention (ref_attention.py): T 1 .. 97, C up to 768, 1 .. 12 heads, head sizes 5, 12,
 * 64, padded batches with the −10000 mask. Also:
 *  - padding does not leak: the real rows of a padded sequence match the same sequence run alone
 *    without padding (MODEL.md §5.1 lets BERT run on the real tokens only);
 *  - bit-identical for 1..4 OpenMP threads and for three concurrent callers;
 *  - the time of one BERT-base attention core at T = 97, C = 768, NH = 12 (printed). */
#include <pthread.h>

#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"

/* Outputs are convex combinations of V entries in [−3, 3]. Scores have magnitude up to ~25 and an
 * fp32 error of a few ulps (other summation order than PyTorch's sgemm); exp turns a score error
 * δ into a relative probability error δ, so out errors are ~|V|·δ ≈ 1e-6. Worst seen 3.8e-6 abs;
 * limit 4x. */
static const ops_tolerance TOLERANCES[] = {
    {"attention", 1.5e-5f, 0.0f},
};

typedef struct att_ctx {
    const float *qkv, *mask;
    int32_t B, T, C, NH;
    float *scratch;
} att_ctx;

static void att_run(void *p, float *out) {
    const att_ctx *c = p;
    afloc_cpu_attention_forward(out, c->qkv, c->mask, c->B, c->T, c->C, c->NH, c->scratch);
}

/* ---- concurrent callers ---- */

typedef struct caller {
    att_ctx ctx;
    float *out;
} caller;

static void *caller_main(void *p) {
    caller *c = p;
    for (int r = 0; r < 3; r++) att_run(&c->ctx, c->out);
    return NULL;
}

/* Three threads run the same attention at once, each with its own scratch and output. */
static void check_concurrent(const att_ctx *ctx, const float *want, size_t n) {
    enum { CALLERS = 3 };
    caller callers[CALLERS];
    pthread_t threads[CALLERS];
    const size_t scratch_n = afloc_cpu_attention_scratch_floats(ctx->B, ctx->T, ctx->NH);
    int started = 0, same = 1;
    for (int k = 0; k < CALLERS; k++) {
        callers[k].ctx = *ctx;
        callers[k].ctx.scratch = malloc(scratch_n * sizeof(float));
        callers[k].out = malloc(n * sizeof(float));
    }
    for (int k = 0; k < CALLERS; k++)
        if (callers[k].ctx.scratch && callers[k].out &&
            pthread_create(&threads[k], NULL, caller_main, &callers[k]) == 0)
            started |= 1 << k;
    for (int k = 0; k < CALLERS; k++) {
        if (started & (1 << k)) {
            pthread_join(threads[k], NULL);
            same &= memcmp(callers[k].out, want, n * sizeof(float)) == 0;
        }
        free(callers[k].ctx.scratch);
        free(callers[k].out);
    }
    CHECK(started == (1 << CALLERS) - 1);
    CHECK(same);
    printf("  %-34s %9zu  %d callers at once  %s\n", "concurrent callers", n, CALLERS,
           same ? "bit-identical" : "DIFFER (FAIL)");
}

/* ---- padding ---- */

/* Each sequence of a masked batch, cut to its real tokens and run alone without a mask, must give
 * the rows of the real tokens: the padded keys contribute exp(−10000 − max) = 0. Not bit for bit,
 * because OpenBLAS blocks a reduction over T keys differently from one over L keys; a leak would
 * show as an O(0.1) difference, so the attention tolerance applies. */
static void check_padding(const att_ctx *ctx, const float *got, ops_summary *summary) {
    const int32_t T = ctx->T, C = ctx->C;
    for (int32_t b = 0; b < ctx->B; b++) {
        int32_t L = 0;
        while (L < T && ctx->mask[(size_t)b * T + L] == 1.0f) L++;
        if (L == 0) continue;
        float *alone = malloc((size_t)L * C * sizeof(float));
        float *scratch = malloc(afloc_cpu_attention_scratch_floats(1, L, ctx->NH) * sizeof(float));
        CHECK(alone && scratch);
        if (alone && scratch) {
            char label[96];
            afloc_cpu_attention_forward(alone, ctx->qkv + (size_t)b * T * 3 * C, NULL, 1, L, C,
                                        ctx->NH, scratch);
            snprintf(label, sizeof label, "  seq %d: %d real of %d, alone vs padded", b, L, T);
            ops_compare(summary, label, &TOLERANCES[0], 1.0f, alone, got + (size_t)b * T * C,
                        (size_t)L * C);
        }
        free(alone);
        free(scratch);
    }
}

/* ---- timing ---- */

/* Median of 31 runs of the BERT-base core at T = 97 with `threads` OpenMP threads, in ms. */
static double time_attention(const att_ctx *ctx, float *out, int threads) {
    enum { RUNS = 31 };
    double t[RUNS];
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    att_run((void *)ctx, out); /* warm-up */
    for (int r = 0; r < RUNS; r++) {
        const double t0 = ops_now_seconds();
        att_run((void *)ctx, out);
        t[r] = ops_now_seconds() - t0;
    }
    omp_set_num_threads(saved);
    for (int a = 1; a < RUNS; a++) /* insertion sort, 31 values */
        for (int b = a; b > 0 && t[b - 1] > t[b]; b--) {
            const double x = t[b];
            t[b] = t[b - 1];
            t[b - 1] = x;
        }
    return 1e3 * t[RUNS / 2];
}

static int run_case(const char *dir, int i, ops_summary *summary, double *ms1, double *ms2) {
    char pre[16], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "a%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    const int32_t B = p[0], T = p[1], C = p[2], NH = p[3], has_mask = p[4];
    free(p);
    const size_t out_n = (size_t)B * T * C;
    const size_t scratch_n = afloc_cpu_attention_scratch_floats(B, T, NH);
    float *qkv = ops_read_f32(dir, pre, "qkv", out_n * 3);
    float *mask = has_mask ? ops_read_f32(dir, pre, "mask", (size_t)B * T) : NULL;
    float *want = ops_read_f32(dir, pre, "out", out_n);
    float *got = malloc(out_n * sizeof(float));
    float *scratch = malloc(scratch_n * sizeof(float));
    const int ok = qkv && (!has_mask || mask) && want && got && scratch;
    CHECK(ok);
    CHECK(scratch_n == (size_t)B * NH * T * T);
    if (ok) {
        char label[96];
        att_ctx ctx = {qkv, mask, B, T, C, NH, scratch};
        att_run(&ctx, got);
        snprintf(label, sizeof label, "%s attention B%d T%d C%d NH%d%s", pre, B, T, C, NH,
                 has_mask ? " masked" : "");
        ops_compare(summary, label, &TOLERANCES[0], 1.0f, got, want, out_n);
        if (has_mask) check_padding(&ctx, got, summary);
        if (T == 97 && C == 768 && NH == 12 && B == 1) {
            ops_check_thread_counts("attention determinism", att_run, &ctx, out_n);
            check_concurrent(&ctx, got, out_n);
            *ms1 = time_attention(&ctx, got, 1);
            *ms2 = time_attention(&ctx, got, 2);
        } else if (B > 1 && T > 1) {
            snprintf(label, sizeof label, "%s attention determinism", pre);
            ops_check_thread_counts(label, att_run, &ctx, out_n);
        }
    }
    free(qkv);
    free(mask);
    free(want);
    free(got);
    free(scratch);
    return 1;
}

int main(void) {
    CHECK(afloc_cpu_attention_scratch_floats(2, 97, 12) == (size_t)2 * 12 * 97 * 97);
    char dir[64];
    int rc = ops_oracle_run("ref_attention.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    double ms1 = -1.0, ms2 = -1.0;
    int cases = 0;
    while (run_case(dir, cases, &summary, &ms1, &ms2)) cases++;
    ops_oracle_remove(dir);
    CHECK(cases >= 7);
    CHECK(ms1 > 0.0);
    printf("ops_attention_cpu_vs_torch: %d cases, max abs %.3e, max rel %.3e, %d failed; "
           "T=97 C=768 NH=12: %.3f ms (1 thread), %.3f ms (2 threads), median of 31\n",
           cases, summary.max_abs, summary.max_rel, summary.failed, ms1, ms2);
    return test_finish("ops_attention_cpu_vs_torch");
}
