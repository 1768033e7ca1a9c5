/* test_contrastive.c: the AFLoc losses of contrastive.c (MODEL.md §6), used by the trainer
 * (issue 4), against an independent GLoRIA-style PyTorch reference with autograd gradients
 * (ref_contrastive.py, run in float64; its float32 run is reported for scale):
 *  - global loss L_GR: B 1..8, D 8..768, temp3 10 and 4, a zero image row (the 1e-8 clamp);
 *  - local loss: B 1, 2, 3, 4, 7; D 8, 64, 768; S 4, 361, 1444; T 1..40 with cap_len 1..T per
 *    sample; temperatures 4/5/10 and 5/10/4; the loss, dimage, dtext and the attention maps;
 *  - the within-image sentence loss L_WS (not in the paper): images with and without two
 *    sentences, none at all (loss 0), S 4..1024 (the shipped model's 32x32 map), D 8..128;
 *  - accumulation: a second call on the same buffers gives twice the gradients;
 *  - bit-identical results for 1..4 OpenMP threads;
 *  - the time of one L_SW-sized forward + backward (B 8, D 768, S 1444 = 38×38, T 30), printed. */
#include <cblas.h> /* openblas_get/set_num_threads */

#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_grad.h"

/* Tolerances against the float64 reference (worst seen on this machine, then the limit).
 * loss: rel 1e-5 as issue 4 asks; the scores, log-sum-exp and CE are double here, the remaining
 *   error comes from the fp32 GEMMs (affinities over D, contexts over S) through ρ: worst seen
 *   rel 6.9e-8 (PyTorch's own fp32 run: 3.3e-7). atol 1e-6 covers B = 1, where the loss is 0.
 * dimage / dtext: atol relative to the tensor's max |value| (ops_grad.h; elementwise relative
 *   error is meaningless for the many near-zero entries). The local gradient goes through both
 *   softmaxes in fp32 (α, da, the GEMMs reducing over S ≤ 1444 and D ≤ 768, and the
 *   cancellations in da1 − Σ a1·da1): worst seen 2.2e-6 (dimage) and 6.7e-7 (dtext) of the
 *   max; the global loss is double throughout and matches to the last float bit. Limit 2e-5.
 * attention: probabilities in [0, 1] from fp32 softmaxes of fp32 affinities; worst seen 9.9e-7
 *   of the max. Limit 1e-5. */
static const ops_tolerance TOLERANCES[] = {
    {"loss", 1e-6f, 1e-5f},
    {"dimage", 2e-5f, 0.0f},
    {"dtext", 2e-5f, 0.0f},
    {"attention", 1e-5f, 0.0f},
};

enum { TOL_LOSS, TOL_DIMAGE, TOL_DTEXT, TOL_ATT };

/* ---- one configuration, shared by both losses ---- */

enum { KIND_GLOBAL, KIND_LOCAL, KIND_WITHIN }; /* the loss of a case */

typedef struct loss_case {
    int kind;                        /* KIND_*; the last two work on maps (S, T used) */
    int32_t B, D, S, T;              /* global: S = T = 1 unused */
    float temp1, temp2, temp3;
    const float *image, *text;       /* (B, D[, S]), (B, D[, T]) */
    const int32_t *cap_len;          /* (B), local only */
    float *scratch;
    float weight;                    /* within-image: the gradients are of weight·L */
} loss_case;

static size_t image_n(const loss_case *c) { return (size_t)c->B * c->D * (c->kind != KIND_GLOBAL ? c->S : 1); }
static size_t text_n(const loss_case *c) { return (size_t)c->B * c->D * (c->kind != KIND_GLOBAL ? c->T : 1); }
static size_t att_n(const loss_case *c) {
    return c->kind == KIND_LOCAL ? (size_t)c->B * c->T * c->S : 0;
}

/* Calls the loss once, accumulating into dimage / dtext, writing attention (may be NULL). */
static float loss_call(const loss_case *c, float *dimage, float *dtext, float *attention) {
    if (c->kind == KIND_GLOBAL)
        return afloc_cpu_global_loss(dimage, dtext, c->image, c->text, c->B, c->D, c->temp3,
                                     c->scratch);
    if (c->kind == KIND_WITHIN)
        return afloc_cpu_sentence_contrast_loss(dimage, dtext, c->image, c->text, c->cap_len,
                                                c->B, c->D, c->S, c->T, c->temp1, c->temp3,
                                                c->weight, c->scratch);
    return afloc_cpu_local_loss(dimage, dtext, attention, c->image, c->text, c->cap_len, c->B,
                                c->D, c->S, c->T, c->temp1, c->temp2, c->temp3, c->scratch);
}

/* Determinism: out = [loss, dimage, dtext, attention] from zeroed gradients. */
static void run_all(void *ctx, float *out) {
    const loss_case *c = ctx;
    const size_t ni = image_n(c), nt = text_n(c);
    memset(out, 0, (1 + ni + nt + att_n(c)) * sizeof(float));
    out[0] = loss_call(c, out + 1, out + 1 + ni, c->kind == KIND_LOCAL ? out + 1 + ni + nt : NULL);
}

/* ---- checks against the reference ---- */

static void check_loss(ops_summary *s, const char *label, float got, float want64, float want32,
                       double *worst_rel, double *worst_rel32) {
    char full[160];
    snprintf(full, sizeof full, "%s loss (%.7g; torch fp32 %.7g)", label, (double)got,
             (double)want32);
    ops_compare(s, full, &TOLERANCES[TOL_LOSS], 1.0f, &got, &want64, 1);
    if (want64 != 0.0f) {
        const double rel = fabs((double)got - want64) / fabs((double)want64);
        const double rel32 = fabs((double)want32 - want64) / fabs((double)want64);
        if (rel > *worst_rel) *worst_rel = rel;
        if (rel32 > *worst_rel32) *worst_rel32 = rel32;
    } else {
        CHECK(got == 0.0f);
    }
}

typedef struct wants {
    float *loss64, *loss32, *dimage, *dtext, *attention;
} wants;

static void wants_free(wants *w) {
    free(w->loss64);
    free(w->loss32);
    free(w->dimage);
    free(w->dtext);
    free(w->attention);
}

/* Two calls on zeroed buffers: after the first, compare with the reference; after the second,
 * with twice the gradients (the loss and attention must not change). */
static void check_case(ops_summary *s, const char *label, const loss_case *c, const wants *w,
                       double *worst_rel, double *worst_rel32) {
    const size_t ni = image_n(c), nt = text_n(c), na = att_n(c);
    float *di = calloc(ni, sizeof(float)), *dt = calloc(nt, sizeof(float));
    float *att = na ? malloc(na * sizeof(float)) : NULL;
    CHECK(di && dt && (!na || att));
    if (!di || !dt || (na && !att)) goto done;
    if (att) memset(att, 0xff, na * sizeof(float)); /* NaN: every element must be written */
    for (int pass = 1; pass <= 2; pass++) {
        const float loss = loss_call(c, di, dt, att);
        if (pass == 1) {
            check_loss(s, label, loss, w->loss64[0], w->loss32[0], worst_rel, worst_rel32);
            if (att)
                ops_grad_compare(s, label, &TOLERANCES[TOL_ATT], 1, att, w->attention, na);
        }
        ops_grad_compare(s, label, &TOLERANCES[TOL_DIMAGE], pass, di, w->dimage, ni);
        ops_grad_compare(s, label, &TOLERANCES[TOL_DTEXT], pass, dt, w->dtext, nt);
    }
    /* forward only (both gradients NULL) returns the same loss */
    float *att2 = na ? malloc(na * sizeof(float)) : NULL;
    const float again = loss_call(c, NULL, NULL, att2);
    const float first = loss_call(c, di, dt, att);
    CHECK(again == first);
    if (att2) CHECK(memcmp(att, att2, na * sizeof(float)) == 0);
    free(att2);
    if (c->kind == KIND_WITHIN) { /* weight 2: the same loss, twice the gradients (compared as pass 2) */
        loss_case c2 = *c;
        c2.weight = 2.0f;
        memset(di, 0, ni * sizeof(float));
        memset(dt, 0, nt * sizeof(float));
        CHECK(loss_call(&c2, di, dt, NULL) == first);
        ops_grad_compare(s, label, &TOLERANCES[TOL_DIMAGE], 2, di, w->dimage, ni);
        ops_grad_compare(s, label, &TOLERANCES[TOL_DTEXT], 2, dt, w->dtext, nt);
    }
done:
    free(di);
    free(dt);
    free(att);
}

/* 1..4 OpenMP threads must give the same bits (the promise of cpu_ops.h). For the local loss,
 * whose products OpenBLAS threads from its own pool, OpenBLAS on one thread against its default
 * pool is also run and the largest difference printed, for information only: OpenBLAS's thread
 * count is a process setting (OPENBLAS_NUM_THREADS), and at D 768 its split does change the last
 * bits (seen: ~1e-7 relative), so runs are reproducible only at the same OpenBLAS setting. */
static void check_threads(const char *label, loss_case *c) {
    char full[160];
    const size_t n = 1 + image_n(c) + text_n(c) + att_n(c);
    snprintf(full, sizeof full, "%s determinism", label);
    ops_check_thread_counts(full, run_all, c, n);
    if (c->kind == KIND_GLOBAL) return;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    CHECK(a && b);
    if (a && b) {
        const int saved = openblas_get_num_threads();
        run_all(c, a);
        openblas_set_num_threads(1);
        run_all(c, b);
        openblas_set_num_threads(saved);
        double worst = 0.0, scale = 0.0;
        for (size_t k = 0; k < n; k++) {
            const double d = fabs((double)a[k] - (double)b[k]);
            if (d > worst) worst = d;
            if (fabs((double)a[k]) > scale) scale = fabs((double)a[k]);
        }
        printf("  %-34s %9zu  OpenBLAS 1 vs %d threads: max diff %.2e of max %.2e (info)\n",
               full, n, saved, worst, scale);
    }
    free(a);
    free(b);
}

/* ---- cases ---- */

static int global_case(const char *dir, int k, ops_summary *s, double *wr, double *wr32) {
    char pre[16], label[96];
    int32_t p[2];
    snprintf(pre, sizeof pre, "g%d", k);
    if (!ops_read_params(dir, pre, p, 2)) return 0;
    loss_case c = {KIND_GLOBAL, p[0], p[1], 1, 1, 0.0f, 0.0f, 0.0f, NULL, NULL, NULL, NULL, 0.0f};
    const size_t n = (size_t)c.B * c.D;
    float *temps = ops_read_f32(dir, pre, "temps", 1);
    float *image = ops_read_f32(dir, pre, "image", n), *text = ops_read_f32(dir, pre, "text", n);
    wants w = {ops_read_f32(dir, pre, "loss64", 1), ops_read_f32(dir, pre, "loss32", 1),
               ops_read_f32(dir, pre, "dimage", n), ops_read_f32(dir, pre, "dtext", n), NULL};
    float *scratch = malloc(afloc_cpu_global_loss_scratch_floats(c.B) * sizeof(float));
    const int ok = temps && image && text && w.loss64 && w.loss32 && w.dimage && w.dtext && scratch;
    CHECK(ok);
    if (ok) {
        c.temp3 = temps[0], c.image = image, c.text = text, c.scratch = scratch;
        snprintf(label, sizeof label, "%s global B%d D%d t3=%g", pre, c.B, c.D, (double)c.temp3);
        check_case(s, label, &c, &w, wr, wr32);
        if (c.B >= 4) check_threads(label, &c);
    }
    free(temps);
    free(image);
    free(text);
    free(scratch);
    wants_free(&w);
    return 1;
}

/* KIND_LOCAL: case l<k> (temps 1, 2, 3; attention); KIND_WITHIN: case w<k> (temps 1, 3) */
static int local_case(int kind, const char *dir, int k, ops_summary *s, double *wr,
                      double *wr32) {
    char pre[16], label[128];
    int32_t p[4];
    size_t ncap = 0;
    snprintf(pre, sizeof pre, "%s%d", kind == KIND_LOCAL ? "l" : "w", k);
    if (!ops_read_params(dir, pre, p, 4)) return 0;
    loss_case c = {kind, p[0], p[1], p[2], p[3], 0.0f, 0.0f, 0.0f, NULL, NULL, NULL, NULL, 0.0f};
    const size_t ni = image_n(&c), nt = text_n(&c), na = att_n(&c);
    char name[64];
    snprintf(name, sizeof name, "%s.cap_len", pre);
    int32_t *cap = ops_tensor_read(dir, name, OPS_I32, &ncap);
    float *temps = ops_read_f32(dir, pre, "temps", kind == KIND_LOCAL ? 3 : 2);
    float *image = ops_read_f32(dir, pre, "image", ni), *text = ops_read_f32(dir, pre, "text", nt);
    wants w = {ops_read_f32(dir, pre, "loss64", 1), ops_read_f32(dir, pre, "loss32", 1),
               ops_read_f32(dir, pre, "dimage", ni), ops_read_f32(dir, pre, "dtext", nt),
               na ? ops_read_f32(dir, pre, "attention", na) : NULL};
    const size_t scratch_n = kind == KIND_LOCAL
                                 ? afloc_cpu_local_loss_scratch_floats(c.B, c.D, c.S, c.T)
                                 : afloc_cpu_sentence_contrast_scratch_floats(c.D, c.S, c.T);
    float *scratch = malloc(scratch_n * sizeof(float));
    const int ok = cap && ncap == (size_t)c.B && temps && image && text && w.loss64 && w.loss32 &&
                   w.dimage && w.dtext && (w.attention || !na) && scratch;
    CHECK(ok);
    if (ok) {
        if (kind == KIND_LOCAL) c.temp1 = temps[0], c.temp2 = temps[1], c.temp3 = temps[2];
        else c.temp1 = temps[0], c.temp3 = temps[1];
        c.image = image, c.text = text, c.cap_len = cap, c.scratch = scratch, c.weight = 1.0f;
        int len = snprintf(label, sizeof label, "%s %s B%d D%d S%d T%d caps", pre,
                           kind == KIND_LOCAL ? "local" : "within", c.B, c.D, c.S, c.T);
        for (int32_t b = 0; b < c.B && len < 100; b++)
            len += snprintf(label + len, sizeof label - (size_t)len, "%s%d", b ? "," : " ", cap[b]);
        check_case(s, label, &c, &w, wr, wr32);
        if (c.B >= 3 && c.S >= 361) check_threads(label, &c);
    }
    free(cap);
    free(temps);
    free(image);
    free(text);
    free(scratch);
    wants_free(&w);
    return 1;
}

/* ---- timing: L_SW at B 8, D 768, S 1444, T 30 ---- */

static double time_local(double *forward_ms, int threads) {
    const int32_t B = 8, D = 768, S = 1444, T = 30;
    const size_t ni = (size_t)B * D * S, nt = (size_t)B * D * T;
    float *image = malloc(ni * sizeof(float)), *text = malloc(nt * sizeof(float));
    float *di = calloc(ni, sizeof(float)), *dt = calloc(nt, sizeof(float));
    float *scratch = malloc(afloc_cpu_local_loss_scratch_floats(B, D, S, T) * sizeof(float));
    int32_t cap[8] = {30, 30, 24, 17, 30, 9, 28, 30};
    double ms = -1.0;
    if (image && text && di && dt && scratch) {
        uint32_t x = 12345u; /* xorshift: uniform(−0.47, 0.47), the scale of the test cases */
        for (size_t i = 0; i < ni + nt; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            const float u = (float)(x >> 8) * (1.0f / 16777216.0f) * 0.94f - 0.47f;
            if (i < ni) image[i] = u;
            else text[i - ni] = u;
        }
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
        double t0 = ops_now_seconds();
        const float l0 = afloc_cpu_local_loss(NULL, NULL, NULL, image, text, cap, B, D, S, T,
                                              4.0f, 5.0f, 10.0f, scratch);
        *forward_ms = 1e3 * (ops_now_seconds() - t0);
        t0 = ops_now_seconds();
        const float l1 = afloc_cpu_local_loss(di, dt, NULL, image, text, cap, B, D, S, T, 4.0f,
                                              5.0f, 10.0f, scratch);
        ms = 1e3 * (ops_now_seconds() - t0);
        omp_set_num_threads(saved);
        CHECK(l0 == l1 && isfinite(l0));
        for (size_t i = 0; i < ni; i++)
            if (!isfinite(di[i])) {
                CHECK(!"finite dimage");
                break;
            }
    }
    free(image);
    free(text);
    free(di);
    free(dt);
    free(scratch);
    return ms;
}

int main(void) {
    CHECK(afloc_cpu_global_loss_scratch_floats(4) >= 2 * (2 * 16 + 8));
    char dir[64];
    int rc = ops_oracle_run("ref_contrastive.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    double worst_rel = 0.0, worst_rel32 = 0.0;
    int globals = 0, locals = 0, withins = 0;
    while (global_case(dir, globals, &summary, &worst_rel, &worst_rel32)) globals++;
    while (local_case(KIND_LOCAL, dir, locals, &summary, &worst_rel, &worst_rel32)) locals++;
    while (local_case(KIND_WITHIN, dir, withins, &summary, &worst_rel, &worst_rel32)) withins++;
    ops_oracle_remove(dir);
    CHECK(globals >= 6 && locals >= 7 && withins >= 5);
    double fwd_ms = -1.0;
    const double ms = time_local(&fwd_ms, 2);
    CHECK(ms > 0.0);
    ops_grad_report("ops_contrastive_vs_torch");
    printf("ops_contrastive_vs_torch: %d global + %d local + %d within-image cases, loss max "
           "rel %.2e vs float64 "
           "(torch fp32: %.2e), %d failed; L_SW B8 D768 S1444 T30 on 2 threads: forward %.0f ms, "
           "forward+backward %.0f ms\n",
           globals, locals, withins, worst_rel, worst_rel32, summary.failed, fwd_ms, ms);
    return test_finish("ops_contrastive_vs_torch");
}
