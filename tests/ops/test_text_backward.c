/* test_text_backward.c: the backward passes of the text ops and dropout (cpu_ops.h, "backward:
 * text ops"; used by the trainer, issue 4) against PyTorch 1.13 autograd in float32
 * (ref_text_backward.py). One program, one ctest case per op (argv[1]):
 *   layernorm  forward_train (out bit-identical to the inference forward; mean, rstd) and
 *              backward (dinput, dweight, dbias), N x C from 1x1 to 97x768, C = 1, odd sizes;
 *   gelu       exact-erf derivative, n 1 .. 100003, incl. 0, ±10, ±30;
 *   softmax    backward from the saved output, 1x1 .. 300x97;
 *   attention  forward_train (out, probs) and backward (dqkv), HF-BERT style, padded batches,
 *              T = 1, with the dropout mask of afloc_cpu_dropout_mask (the reference rebuilds the
 *              same mask in numpy; the two are compared bit for bit first);
 *   embedding  scatter-add into word / position / token-type tables, heavily repeated ids;
 *   dropout    the mask generator against its numpy twin, mask statistics over 1e6 elements
 *              (zero fraction within 3σ of p, also after a zero), seed / offset / split
 *              consistency, forward and backward as adjoints.
 * Every backward is also checked to ACCUMULATE (a second call without zeroing gives exactly 2x)
 * and to be bit-identical for 1..4 OpenMP threads (ops_determinism.h). */
#include <math.h>

#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"

/* Tolerances: |got − want| <= atol·scale + rtol·|want| per element, where
 * scale = max(1, max |want|) of that tensor: gradients are judged against their own magnitude
 * (each line prints it). Worst figures below are fractions of scale, measured on x86-64 with
 * OpenBLAS; limits are ~5x those. */
static const ops_tolerance TOLERANCES[] = {
    /* forward_train out vs torch: as test_norm.c's "ln" (statistics in double here, PyTorch's
     * float Welford there). Worst seen 4.3e-7 (ln5, mean −5). */
    {"ln_out", 2e-6f, 0.0f},
    /* mean / rstd: ours in double rounded to float vs torch in float64 rounded; only the order
     * of a double sum differs. Worst seen 0; limit 2 ulp. */
    {"ln_stats", 0.0f, 2.5e-7f},
    /* dinput: per-row sums of C terms (double here, float there), then rstd·(g − a − x̂·b) with
     * cancellation between the terms. Worst seen 2.7e-7 (97x768). */
    {"ln_dinput", 1.5e-6f, 0.0f},
    /* dweight / dbias: sums over N rows (double here, float there). Worst seen 3.6e-7. */
    {"ln_dparam", 2e-6f, 0.0f},
    /* GELU': same formula as PyTorch in float; glibc erff/expf vs PyTorch's Sleef vectors differ
     * by an ulp or two. Worst seen 2.4e-7 at |want| ~1 (2 ulp); limit ~4 ulp. */
    {"gelu_dinput", 2e-7f, 2.5e-7f},
    /* softmax': the row dot in double vs float, then y ∘ (dy − dot). Worst seen 5.6e-8. */
    {"sm_dinput", 3e-7f, 0.0f},
    /* attention out / probs: as test_attention.c (scores differ by a few ulps: other GEMM order;
     * exp turns a score error into the same relative probability error). Worst seen 1.2e-6 (out)
     * and 6.9e-7 (probs), both at T = 97. */
    {"att_out", 6e-6f, 0.0f},
    {"att_probs", 4e-6f, 0.0f},
    /* dqkv: three chained products (reductions over T and HS) around the softmax backward.
     * Worst seen 6.9e-7 (T = 97). */
    {"att_dqkv", 4e-6f, 0.0f},
    /* embedding tables: sums of up to ~70 dout rows (repeated ids) in token order; torch 1.13
     * happens to add in the same order (worst seen 0), another order would cost a few ulps. */
    {"emb_grad", 5e-7f, 0.0f},
};

static const ops_tolerance *tol(const char *name) {
    return ops_tolerance_find(TOLERANCES, sizeof TOLERANCES / sizeof TOLERANCES[0], name);
}

static ops_summary summary;

/* Compares with atol scaled by max |want|. */
static void compare(const char *label, const char *tol_name, const float *got, const float *want,
                    size_t n) {
    const ops_tolerance *t = tol(tol_name);
    float scale = ops_max_abs(want, n);
    if (scale < 1.0f) scale = 1.0f;
    char full[160];
    snprintf(full, sizeof full, "%s (|max| %.3g)", label, (double)scale);
    if (t) ops_compare(&summary, full, t, scale, got, want, n);
    else test_failures++;
}

/* ---- accumulation: a backward called twice without zeroing gives exactly twice the first ---- */

/* fn(ctx, out) zeroes out and runs the backward when *keep is 0, only runs it when *keep is 1. */
static void check_accumulates(const char *label, ops_run_fn fn, void *ctx, int *keep, size_t n) {
    float *once = malloc((n ? n : 1) * sizeof(float));
    float *twice = malloc((n ? n : 1) * sizeof(float));
    size_t bad = 0;
    CHECK(once && twice);
    if (once && twice) {
        *keep = 0;
        fn(ctx, once);
        memcpy(twice, once, n * sizeof(float));
        *keep = 1;
        fn(ctx, twice);
        *keep = 0;
        for (size_t i = 0; i < n; i++) bad += twice[i] != 2.0f * once[i];
        printf("  %-34s %9zu  second call = 2x first  %s\n", label, n,
               bad ? "DIFFER (FAIL)" : "exact");
        if (bad) {
            fprintf(stderr, "  %s: %zu elements differ from 2x\n", label, bad);
            test_failures++;
        }
    }
    free(once);
    free(twice);
}

/* Reads int32 params "<pre>.params"; returns NULL when the case does not exist. */
static int32_t *read_params(const char *dir, const char *pre) {
    char name[64];
    size_t n = 0;
    snprintf(name, sizeof name, "%s.params", pre);
    return ops_tensor_read(dir, name, OPS_I32, &n);
}

/* ==== LayerNorm ==== */

typedef struct ln_ctx {
    const float *in, *w, *dout, *mean, *rstd;
    int32_t N, C, keep;
} ln_ctx;

/* out = dinput (N·C) | dweight (C) | dbias (C). */
static void ln_backward_run(void *p, float *out) {
    const ln_ctx *c = p;
    const size_t NC = (size_t)c->N * c->C;
    if (!c->keep) memset(out, 0, (NC + 2 * (size_t)c->C) * sizeof(float));
    afloc_cpu_layernorm_backward(out, out + NC, out + NC + c->C, c->dout, c->in, c->w, c->mean,
                                 c->rstd, c->N, c->C);
}

static int layernorm_case(const char *dir, int i) {
    char pre[16], label[96];
    snprintf(pre, sizeof pre, "ln%d", i);
    int32_t *p = read_params(dir, pre);
    if (!p) return 0;
    const int32_t N = p[0], C = p[1];
    free(p);
    const size_t NC = (size_t)N * C, total = NC + 2 * (size_t)C;
    float *eps = ops_read_f32(dir, pre, "eps", 1), *in = ops_read_f32(dir, pre, "in", NC),
          *w = ops_read_f32(dir, pre, "weight", C), *b = ops_read_f32(dir, pre, "bias", C),
          *dout = ops_read_f32(dir, pre, "dout", NC), *out = ops_read_f32(dir, pre, "out", NC),
          *mean = ops_read_f32(dir, pre, "mean", N), *rstd = ops_read_f32(dir, pre, "rstd", N),
          *dx = ops_read_f32(dir, pre, "dinput", NC), *dw = ops_read_f32(dir, pre, "dweight", C),
          *db = ops_read_f32(dir, pre, "dbias", C);
    float *got = malloc(NC * sizeof(float)), *ref = malloc(NC * sizeof(float)),
          *gmean = malloc(N * sizeof(float)), *grstd = malloc(N * sizeof(float)),
          *grad = malloc(total * sizeof(float));
    const int ok = eps && in && w && b && dout && out && mean && rstd && dx && dw && db && got &&
                   ref && gmean && grstd && grad;
    CHECK(ok);
    if (ok) {
        afloc_cpu_layernorm_forward_train(got, gmean, grstd, in, w, b, N, C, eps[0]);
        afloc_cpu_layernorm_forward(ref, in, w, b, N, C, eps[0]);
        CHECK(memcmp(got, ref, NC * sizeof(float)) == 0);
        snprintf(label, sizeof label, "%s N%d C%d out", pre, N, C);
        compare(label, "ln_out", got, out, NC);
        snprintf(label, sizeof label, "%s mean", pre);
        compare(label, "ln_stats", gmean, mean, N);
        snprintf(label, sizeof label, "%s rstd", pre);
        compare(label, "ln_stats", grstd, rstd, N);
        ln_ctx ctx = {in, w, dout, gmean, grstd, N, C, 0};
        ln_backward_run(&ctx, grad);
        snprintf(label, sizeof label, "%s dinput", pre);
        compare(label, "ln_dinput", grad, dx, NC);
        snprintf(label, sizeof label, "%s dweight", pre);
        compare(label, "ln_dparam", grad + NC, dw, C);
        snprintf(label, sizeof label, "%s dbias", pre);
        compare(label, "ln_dparam", grad + NC + C, db, C);
        snprintf(label, sizeof label, "%s accumulate", pre);
        check_accumulates(label, ln_backward_run, &ctx, &ctx.keep, total);
        snprintf(label, sizeof label, "%s backward determinism", pre);
        ops_check_thread_counts(label, ln_backward_run, &ctx, total);
    }
    free(eps); free(in); free(w); free(b); free(dout); free(out); free(mean); free(rstd);
    free(dx); free(dw); free(db); free(got); free(ref); free(gmean); free(grstd); free(grad);
    return 1;
}

/* ==== GELU ==== */

typedef struct gelu_ctx {
    const float *in, *dout;
    size_t n;
    int32_t keep;
} gelu_ctx;

static void gelu_backward_run(void *p, float *out) {
    const gelu_ctx *c = p;
    if (!c->keep) memset(out, 0, c->n * sizeof(float));
    afloc_cpu_gelu_backward(out, c->dout, c->in, c->n);
}

static int gelu_case(const char *dir, int i) {
    char pre[16], label[96];
    size_t n = 0;
    snprintf(pre, sizeof pre, "ge%d", i);
    float *in = ops_read_f32(dir, pre, "in", 0);
    if (!in) return 0;
    snprintf(label, sizeof label, "%s.in", pre);
    free(ops_tensor_read(dir, label, OPS_F32, &n));
    float *dout = ops_read_f32(dir, pre, "dout", n), *want = ops_read_f32(dir, pre, "dinput", n);
    float *got = malloc(n * sizeof(float));
    CHECK(dout && want && got);
    if (dout && want && got) {
        gelu_ctx ctx = {in, dout, n, 0};
        gelu_backward_run(&ctx, got);
        snprintf(label, sizeof label, "%s gelu n%zu dinput", pre, n);
        compare(label, "gelu_dinput", got, want, n);
        snprintf(label, sizeof label, "%s accumulate", pre);
        check_accumulates(label, gelu_backward_run, &ctx, &ctx.keep, n);
        if (n > 50000) {
            snprintf(label, sizeof label, "%s determinism", pre);
            ops_check_thread_counts(label, gelu_backward_run, &ctx, n);
        }
    }
    free(in); free(dout); free(want); free(got);
    return 1;
}

/* ==== softmax ==== */

typedef struct sm_ctx {
    const float *y, *dout;
    int32_t N, C, keep;
} sm_ctx;

static void sm_backward_run(void *p, float *out) {
    const sm_ctx *c = p;
    if (!c->keep) memset(out, 0, (size_t)c->N * c->C * sizeof(float));
    afloc_cpu_softmax_backward(out, c->dout, c->y, c->N, c->C);
}

static int softmax_case(const char *dir, int i) {
    char pre[16], label[96];
    snprintf(pre, sizeof pre, "sm%d", i);
    int32_t *p = read_params(dir, pre);
    if (!p) return 0;
    const int32_t N = p[0], C = p[1];
    free(p);
    const size_t n = (size_t)N * C;
    float *in = ops_read_f32(dir, pre, "in", n), *dout = ops_read_f32(dir, pre, "dout", n),
          *want = ops_read_f32(dir, pre, "dinput", n);
    float *y = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    CHECK(in && dout && want && y && got);
    if (in && dout && want && y && got) {
        afloc_cpu_softmax_forward(y, in, N, C); /* the backward takes our own forward output */
        sm_ctx ctx = {y, dout, N, C, 0};
        sm_backward_run(&ctx, got);
        snprintf(label, sizeof label, "%s softmax N%d C%d dinput", pre, N, C);
        compare(label, "sm_dinput", got, want, n);
        snprintf(label, sizeof label, "%s accumulate", pre);
        check_accumulates(label, sm_backward_run, &ctx, &ctx.keep, n);
        snprintf(label, sizeof label, "%s determinism", pre);
        ops_check_thread_counts(label, sm_backward_run, &ctx, n);
    }
    free(in); free(dout); free(want); free(y); free(got);
    return 1;
}

/* ==== attention ==== */

typedef struct att_ctx {
    const float *qkv, *mask, *dmask, *dout, *probs;
    int32_t B, T, C, NH, keep;
    float *scratch;
} att_ctx;

static void att_backward_run(void *p, float *out) {
    const att_ctx *c = p;
    if (!c->keep) memset(out, 0, (size_t)c->B * c->T * 3 * c->C * sizeof(float));
    afloc_cpu_attention_backward(out, c->dout, c->qkv, c->probs, c->dmask, c->B, c->T, c->C,
                                 c->NH, c->scratch);
}

/* out = out (B·T·C) | probs (B·NH·T·T) of the training forward. */
static void att_forward_run(void *p, float *out) {
    const att_ctx *c = p;
    const size_t n = (size_t)c->B * c->T * c->C;
    afloc_cpu_attention_forward_train(out, out + n, c->qkv, c->mask, c->dmask, c->B, c->T, c->C,
                                      c->NH, c->scratch);
}

static int attention_case(const char *dir, int i) {
    char pre[16], label[128];
    snprintf(pre, sizeof pre, "at%d", i);
    int32_t *p = read_params(dir, pre);
    if (!p) return 0;
    const int32_t B = p[0], T = p[1], C = p[2], NH = p[3], has_mask = p[4], has_drop = p[5];
    const uint64_t seed = (uint64_t)(uint32_t)p[6] | (uint64_t)(uint32_t)p[7] << 32;
    const float prob = (float)(p[8] / 1e6);
    free(p);
    const size_t n = (size_t)B * T * C, n3 = 3 * n, nP = (size_t)B * NH * T * T;
    const size_t scratch_n = afloc_cpu_attention_scratch_floats(B, T, NH);
    const size_t bscratch_n = afloc_cpu_attention_backward_scratch_floats(B, T, NH);
    float *qkv = ops_read_f32(dir, pre, "qkv", n3), *dout = ops_read_f32(dir, pre, "dout", n),
          *out = ops_read_f32(dir, pre, "out", n), *probs = ops_read_f32(dir, pre, "probs", nP),
          *dqkv = ops_read_f32(dir, pre, "dqkv", n3);
    float *mask = has_mask ? ops_read_f32(dir, pre, "mask", (size_t)B * T) : NULL;
    float *dm_ref = has_drop ? ops_read_f32(dir, pre, "dropmask", nP) : NULL;
    float *dm = has_drop ? malloc(nP * sizeof(float)) : NULL;
    float *fwd = malloc((n + nP) * sizeof(float)), *grad = malloc(n3 * sizeof(float));
    float *scratch = malloc((scratch_n > bscratch_n ? scratch_n : bscratch_n) * sizeof(float));
    const int ok = qkv && dout && out && probs && dqkv && (!has_mask || mask) &&
                   (!has_drop || (dm_ref && dm)) && fwd && grad && scratch;
    CHECK(ok);
    CHECK(bscratch_n == nP);
    if (ok) {
        if (has_drop) {
            afloc_cpu_dropout_mask(dm, nP, prob, seed, 0);
            const int same = memcmp(dm, dm_ref, nP * sizeof(float)) == 0;
            CHECK(same);
            printf("  %-34s %9zu  p %.2f  C == numpy  %s\n", "  dropout mask", nP, (double)prob,
                   same ? "bit-identical" : "DIFFER (FAIL)");
        }
        att_ctx ctx = {qkv, mask, dm, dout, fwd + n, B, T, C, NH, 0, scratch};
        att_forward_run(&ctx, fwd);
        snprintf(label, sizeof label, "%s B%d T%d C%d NH%d%s%s out", pre, B, T, C, NH,
                 has_mask ? " masked" : "", has_drop ? " dropout" : "");
        compare(label, "att_out", fwd, out, n);
        snprintf(label, sizeof label, "%s probs", pre);
        compare(label, "att_probs", fwd + n, probs, nP);
        if (!has_drop) { /* without dropout the training forward is the inference forward */
            float *inf = malloc(n * sizeof(float));
            CHECK(inf != NULL);
            if (inf) {
                afloc_cpu_attention_forward(inf, qkv, mask, B, T, C, NH, scratch);
                CHECK(memcmp(inf, fwd, n * sizeof(float)) == 0);
            }
            free(inf);
        }
        att_backward_run(&ctx, grad);
        snprintf(label, sizeof label, "%s dqkv", pre);
        compare(label, "att_dqkv", grad, dqkv, n3);
        snprintf(label, sizeof label, "%s accumulate", pre);
        check_accumulates(label, att_backward_run, &ctx, &ctx.keep, n3);
        if (B * NH > 1) {
            snprintf(label, sizeof label, "%s forward_train determinism", pre);
            ops_check_thread_counts(label, att_forward_run, &ctx, n + nP);
            snprintf(label, sizeof label, "%s backward determinism", pre);
            ops_check_thread_counts(label, att_backward_run, &ctx, n3);
        }
    }
    free(qkv); free(dout); free(out); free(probs); free(dqkv); free(mask); free(dm_ref);
    free(dm); free(fwd); free(grad); free(scratch);
    return 1;
}

/* ==== embedding ==== */

typedef struct emb_ctx {
    const float *dout;
    const int32_t *ids, *types;
    int32_t T, C, V, P, keep;
} emb_ctx;

/* out = dword (V·C) | dposition (P·C) | dtoken_type (2·C). */
static void emb_backward_run(void *p, float *out) {
    const emb_ctx *c = p;
    const size_t wn = (size_t)c->V * c->C, pn = (size_t)c->P * c->C;
    if (!c->keep) memset(out, 0, (wn + pn + 2 * (size_t)c->C) * sizeof(float));
    afloc_cpu_embedding_backward(out, out + wn, out + wn + pn, c->dout, c->ids, c->types, c->T,
                                 c->C);
}

/* Accumulation and order: starting from the first call's result `grad`, a second call must give
 * exactly the fold g[row] += dout[t] for t = 0 .. T−1, done here one token at a time. (Not 2x:
 * with repeated ids the second call adds term by term onto the first sum.) */
static void check_embedding_order(const char *pre, emb_ctx *ctx, const float *grad, size_t total) {
    const size_t C = (size_t)ctx->C, wn = (size_t)ctx->V * C, pn = (size_t)ctx->P * C;
    float *got = malloc(total * sizeof(float)), *want = malloc(total * sizeof(float));
    CHECK(got && want);
    if (got && want) {
        memcpy(got, grad, total * sizeof(float));
        memcpy(want, grad, total * sizeof(float));
        ctx->keep = 1;
        emb_backward_run(ctx, got);
        ctx->keep = 0;
        for (int32_t t = 0; t < ctx->T; t++) {
            const float *g = ctx->dout + (size_t)t * C;
            float *w = want + (size_t)ctx->ids[t] * C, *p = want + wn + (size_t)t * C;
            float *y = want + wn + pn + (size_t)(ctx->types ? ctx->types[t] : 0) * C;
            for (size_t c = 0; c < C; c++) {
                w[c] += g[c];
                p[c] += g[c];
                y[c] += g[c];
            }
        }
        const int same = memcmp(got, want, total * sizeof(float)) == 0;
        CHECK(same);
        printf("  %-34s %9zu  second call = token-order fold  %s\n", pre, total,
               same ? "exact" : "DIFFER (FAIL)");
    }
    free(got);
    free(want);
}

static int embedding_case(const char *dir, int i) {
    char pre[16], label[96];
    snprintf(pre, sizeof pre, "em%d", i);
    int32_t *p = read_params(dir, pre);
    if (!p) return 0;
    const int32_t T = p[0], C = p[1], V = p[2], P = p[3], has_type = p[4];
    free(p);
    const size_t wn = (size_t)V * C, pn = (size_t)P * C, total = wn + pn + 2 * (size_t)C;
    size_t k = 0;
    snprintf(label, sizeof label, "%s.ids", pre);
    int32_t *ids = ops_tensor_read(dir, label, OPS_I32, &k);
    snprintf(label, sizeof label, "%s.type_ids", pre);
    int32_t *types = ops_tensor_read(dir, label, OPS_I32, &k);
    float *dout = ops_read_f32(dir, pre, "dout", (size_t)T * C),
          *dword = ops_read_f32(dir, pre, "dword", wn),
          *dpos = ops_read_f32(dir, pre, "dposition", pn),
          *dtyp = ops_read_f32(dir, pre, "dtoken_type", 2 * (size_t)C);
    float *grad = malloc(total * sizeof(float));
    const int ok = ids && types && dout && dword && dpos && dtyp && grad;
    CHECK(ok);
    if (ok) {
        emb_ctx ctx = {dout, ids, has_type ? types : NULL, T, C, V, P, 0};
        emb_backward_run(&ctx, grad);
        snprintf(label, sizeof label, "%s T%d C%d V%d%s dword", pre, T, C, V,
                 has_type ? "" : " (type_ids NULL)");
        compare(label, "emb_grad", grad, dword, wn);
        snprintf(label, sizeof label, "%s dposition", pre);
        compare(label, "emb_grad", grad + wn, dpos, pn);
        snprintf(label, sizeof label, "%s dtoken_type", pre);
        compare(label, "emb_grad", grad + wn + pn, dtyp, 2 * (size_t)C);
        check_embedding_order(pre, &ctx, grad, total);
        snprintf(label, sizeof label, "%s determinism", pre);
        ops_check_thread_counts(label, emb_backward_run, &ctx, total);
        /* NULL tables are skipped: only dposition changes. */
        float *only = calloc(total, sizeof(float));
        CHECK(only != NULL);
        if (only) {
            afloc_cpu_embedding_backward(NULL, only + wn, NULL, dout, ids, ctx.types, T, C);
            int fine = memcmp(only + wn, grad + wn, pn * sizeof(float)) == 0;
            for (size_t j = 0; j < wn; j++) fine &= only[j] == 0.0f;
            for (size_t j = wn + pn; j < total; j++) fine &= only[j] == 0.0f;
            CHECK(fine);
        }
        free(only);
    }
    free(ids); free(types); free(dout); free(dword); free(dpos); free(dtyp); free(grad);
    return 1;
}

/* ==== dropout ==== */

typedef struct drop_ctx {
    float p;
    uint64_t seed, offset;
} drop_ctx;

static void drop_mask_run(void *p, float *out) {
    const drop_ctx *c = p;
    afloc_cpu_dropout_mask(out, 1000000, c->p, c->seed, c->offset);
}

/* The generator against its numpy twin (ref_text_backward.py), when the oracle is there. */
static void dropout_vs_numpy(void) {
    char dir[64];
    if (ops_oracle_run("ref_text_backward.py", dir, sizeof dir) != 0) {
        printf("  numpy cross-check skipped\n");
        return;
    }
    int cases = 0;
    for (;; cases++) {
        char pre[16];
        snprintf(pre, sizeof pre, "dm%d", cases);
        int32_t *p = read_params(dir, pre);
        if (!p) break;
        const size_t n = (size_t)p[0];
        const uint64_t seed = (uint64_t)(uint32_t)p[1] | (uint64_t)(uint32_t)p[2] << 32;
        const uint64_t offset = (uint64_t)(uint32_t)p[3] | (uint64_t)(uint32_t)p[4] << 32;
        const float prob = (float)(p[5] / 1e6);
        free(p);
        float *want = ops_read_f32(dir, pre, "mask", n), *got = malloc(n * sizeof(float));
        CHECK(want && got);
        if (want && got) {
            afloc_cpu_dropout_mask(got, n, prob, seed, offset);
            const int same = memcmp(got, want, n * sizeof(float)) == 0;
            CHECK(same);
            printf("  %s mask n%zu p %.2f seed %llu offset %llu  C == numpy  %s\n", pre, n,
                   (double)prob, (unsigned long long)seed, (unsigned long long)offset,
                   same ? "bit-identical" : "DIFFER (FAIL)");
        }
        free(want);
        free(got);
    }
    ops_oracle_remove(dir);
    CHECK(cases >= 5);
}

static int run_dropout(void) {
    enum { N = 1000000 };
    float *m = malloc(N * sizeof(float)), *m2 = malloc(N * sizeof(float));
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *g = malloc(N * sizeof(float)), *dx = malloc(N * sizeof(float));
    CHECK(m && m2 && x && y && g && dx);
    if (!(m && m2 && x && y && g && dx)) return test_finish("ops_dropout");
    const float ps[] = {0.1f, 0.5f};
    double worst_sigma = 0.0;
    for (int k = 0; k < 2; k++) {
        const float p = ps[k];
        const float scale = (float)(1.0 / (1.0 - (double)p));
        afloc_cpu_dropout_mask(m, N, p, 20240614u + (uint64_t)k, 0);
        size_t zeros = 0, other = 0, after_zero = 0, zero_after_zero = 0;
        for (size_t i = 0; i < N; i++) {
            zeros += m[i] == 0.0f;
            other += m[i] != 0.0f && m[i] != scale;
            if (i > 0 && m[i - 1] == 0.0f) {
                after_zero++;
                zero_after_zero += m[i] == 0.0f;
            }
        }
        /* fraction of zeros, and of zeros right after a zero (a serial correlation would move
         * it), each within 3σ of p for Bernoulli(p) draws. */
        const double sigma = sqrt((double)p * (1.0 - p) / N);
        const double z1 = ((double)zeros / N - p) / sigma;
        const double sigma2 = sqrt((double)p * (1.0 - p) / (double)after_zero);
        const double z2 = ((double)zero_after_zero / (double)after_zero - p) / sigma2;
        CHECK(fabs(z1) < 3.0);
        CHECK(fabs(z2) < 3.0);
        CHECK(other == 0);
        if (fabs(z1) > worst_sigma) worst_sigma = fabs(z1);
        if (fabs(z2) > worst_sigma) worst_sigma = fabs(z2);
        printf("  p %.1f: zero fraction %.6f (%+.2f σ), after a zero %.6f (%+.2f σ), values "
               "other than 0 and %.9g: %zu\n",
               (double)p, (double)zeros / N, z1, (double)zero_after_zero / (double)after_zero,
               z2, (double)scale, other);
    }
    /* Same seed → same mask: across calls, thread counts, and splits into (offset) pieces. */
    drop_ctx ctx = {0.1f, 77, 5};
    drop_mask_run(&ctx, m);
    drop_mask_run(&ctx, m2);
    CHECK(memcmp(m, m2, N * sizeof(float)) == 0);
    ops_check_thread_counts("dropout mask threads", drop_mask_run, &ctx, N);
    afloc_cpu_dropout_mask(m2, 123457, 0.1f, 77, 5);
    afloc_cpu_dropout_mask(m2 + 123457, N - 123457, 0.1f, 77, 5 + 123457);
    const int split_same = memcmp(m, m2, N * sizeof(float)) == 0;
    CHECK(split_same);
    afloc_cpu_dropout_mask(m2, N, 0.1f, 78, 5);
    size_t differ = 0;
    for (size_t i = 0; i < N; i++) differ += (m[i] == 0.0f) != (m2[i] == 0.0f);
    /* independent masks disagree on 2p(1−p) = 18% of elements */
    CHECK(differ > N / 6 && differ < N / 5);
    printf("  same seed: repeat, threads 1..4, split at 123457 %s; seed+1 disagrees on %.2f%%\n",
           split_same ? "bit-identical" : "DIFFER (FAIL)", 100.0 * (double)differ / N);
    /* p outside (0, 1). */
    afloc_cpu_dropout_mask(m2, 1000, 0.0f, 1, 0);
    for (int i = 0; i < 1000; i++) CHECK(m2[i] == 1.0f);
    afloc_cpu_dropout_mask(m2, 1000, 1.0f, 1, 0);
    for (int i = 0; i < 1000; i++) CHECK(m2[i] == 0.0f);
    /* forward / backward: out = x ∘ m, dx += g ∘ m; then <g, forward(x)> = <backward(g), x>
     * (adjoints), the forward in place equals out of place, and backward accumulates. */
    for (size_t i = 0; i < N; i++) {
        x[i] = (float)((double)((i * 2654435761u) % 2001u) / 1000.0 - 1.0);
        g[i] = (float)((double)((i * 40503u + 17u) % 1999u) / 999.5 - 1.0);
    }
    afloc_cpu_dropout_forward(y, x, m, N);
    memset(dx, 0, N * sizeof(float));
    afloc_cpu_dropout_backward(dx, g, m, N);
    double lhs = 0.0, rhs = 0.0;
    int exact = 1;
    for (size_t i = 0; i < N; i++) {
        lhs += (double)g[i] * y[i];
        rhs += (double)dx[i] * x[i];
        exact &= y[i] == x[i] * m[i] && dx[i] == g[i] * m[i];
    }
    CHECK(exact);
    const double adj = fabs(lhs - rhs) / (fabs(lhs) > 1e-30 ? fabs(lhs) : 1e-30);
    CHECK(adj < 1e-6);
    afloc_cpu_dropout_backward(dx, g, m, N);
    int doubled = 1;
    for (size_t i = 0; i < N; i++) doubled &= dx[i] == 2.0f * g[i] * m[i];
    CHECK(doubled);
    memcpy(m2, x, N * sizeof(float));
    afloc_cpu_dropout_forward(m2, m2, m, N);
    CHECK(memcmp(m2, y, N * sizeof(float)) == 0);
    printf("  forward/backward: elementwise exact %s, <g, f(x)> vs <f'(g), x> rel %.2e, "
           "accumulate 2x %s\n",
           exact ? "yes" : "NO", adj, doubled ? "exact" : "DIFFER (FAIL)");
    dropout_vs_numpy();
    free(m); free(m2); free(x); free(y); free(g); free(dx);
    printf("ops_dropout: 1e6 elements, worst deviation %.2f σ, adjoint rel error %.2e\n",
           worst_sigma, adj);
    return test_finish("ops_dropout");
}

/* ==== main ==== */

typedef int (*case_fn)(const char *dir, int i);

int main(int argc, char **argv) {
    static const struct {
        const char *op, *test;
        case_fn fn;
        int min_cases;
    } OPS[] = {
        {"layernorm", "ops_layernorm_backward_vs_torch", layernorm_case, 6},
        {"gelu", "ops_gelu_backward_vs_torch", gelu_case, 4},
        {"softmax", "ops_softmax_backward_vs_torch", softmax_case, 5},
        {"attention", "ops_attention_backward_vs_torch", attention_case, 7},
        {"embedding", "ops_embedding_backward_vs_torch", embedding_case, 4},
    };
    if (argc != 2) {
        fprintf(stderr, "usage: %s layernorm|gelu|softmax|attention|embedding|dropout\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "dropout") == 0) return run_dropout();
    for (size_t k = 0; k < sizeof OPS / sizeof OPS[0]; k++) {
        if (strcmp(argv[1], OPS[k].op) != 0) continue;
        char dir[64];
        const int rc = ops_oracle_run("ref_text_backward.py", dir, sizeof dir);
        if (rc) return rc;
        int cases = 0;
        while (OPS[k].fn(dir, cases)) cases++;
        ops_oracle_remove(dir);
        CHECK(cases >= OPS[k].min_cases);
        printf("%s: %d cases, %d tensors, max abs %.3e, max rel %.3e, %d failed\n", OPS[k].test,
               cases, summary.tensors, summary.max_abs, summary.max_rel, summary.failed);
        return test_finish(OPS[k].test);
    }
    fprintf(stderr, "unknown op %s\n", argv[1]);
    return 2;
}
