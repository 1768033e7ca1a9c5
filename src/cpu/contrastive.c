/* contrastive.c: the three AFLoc losses (MODEL.md §6), forward and backward, used by the trainer
 * (issue 4). They follow GLoRIA's losses.py (global_loss, local_loss, attention_fn,
 * cosine_similarity), which AFLoc copies, with AFLoc's text window (the first cap_len slots):
 *
 *   global (§6.1)  G[j, i] = temp3·⟨g_j, r_i⟩ / max(‖g_j‖·‖r_i‖, 1e-8)
 *   local  (§6.2)  for image j and text i with n = cap_len[i] words:
 *       a  = v_jᵀ w_i                       (S, n) raw affinities
 *       a1 = softmax over the n words       (per region s)
 *       α  = softmax over the S regions of temp1·a1   (per word t)
 *       c_t = Σ_s α[s, t] v_j[:, s],  ρ_t = ⟨c_t, w_t⟩ / max(‖c_t‖·‖w_t‖, 1e-8)
 *       M[j, i] = temp3 · log Σ_t exp(temp2·ρ_t)
 *   loss = CE(X, diag) + CE(Xᵀ, diag), mean over rows (rows are images j).
 *
 * Layouts: img_emb_g / text_emb_r (B, D); local image maps (B, D, S) channels-first (S = H·W);
 * text features (B, D, T) channels-first as the repo keeps them. Inside a pair everything is kept
 * word-major, (n, S) and (n, D), so both softmaxes and the cosines run over contiguous rows.
 *
 * Cost and memory (§6.5): the reference materialises B·B·S·T attention values. Here the B·B
 * pairs are visited one at a time with S·T-sized scratch: a first sweep keeps only M, and once
 * the CE gradient dM is known a second sweep recomputes each pair's forward (bit-identically:
 * same calls, same order) and backpropagates into dimage[j] and dtext[i]. Per pair that is 2
 * GEMMs forward + 2 recomputed + 3 backward of size S·D·n (cblas_sgemm, OpenBLAS threads each
 * product over its rows/columns, never over the reduction). Pairs run in the fixed order
 * (j, then i), so accumulation order, and the result, do not depend on the thread count.
 * The elementwise parts (softmaxes, cosines) run on the calling thread on purpose: with OpenMP
 * loops between the OpenBLAS-threaded products, GOMP's spinning workers fought OpenBLAS's own
 * pool for the cores and one L_SW step (B 8, D 768, S 1444, T 30, 2 cores) took 3.6 s instead of
 * 0.54 s (0.52 s with OMP_WAIT_POLICY=passive). Parallelising over pairs instead (fixed groups
 * of images, per-group dtext partials summed in group order, GEMMs small enough for OpenBLAS to
 * keep on the calling thread) is the next step for many-core training hosts.
 *
 * Gradients follow autograd on the reference formula: torch.clamp(min=eps) passes the gradient
 * only where ‖c‖·‖w‖ >= eps, and the gradient of a zero norm is 0 (torch.norm's backward).
 * Reductions that decide the loss value (cosines, log-sum-exp, CE) run in double. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu/cpu_ops.h"

/* GLoRIA's cosine_similarity / global_loss eps, the clamp on the product of the norms. */
static const double CONTRASTIVE_EPS = 1e-8;

/* Work (B·B·D) below which the global loss's gradient loops stay on the calling thread. */
enum { CONTRASTIVE_PARALLEL_MIN = 16384 };

/* ---- shared: symmetric cross-entropy ---- */

/* loss = CE(X, diag) + CE(Xᵀ, diag) for X (B, B) row-major (rows: images), mean reduction as
 * nn.CrossEntropyLoss. dX (B, B) = dloss/dX = (softmax_rows(X) − I)/B + (softmax_cols(X) − I)/B.
 * Everything in double, stable log-sum-exp. */
static double symmetric_ce(double *dX, const double *X, int32_t B) {
    const double inv_b = 1.0 / (double)B;
    double loss = 0.0;
    for (int32_t k = 0; k < B * B; k++) dX[k] = 0.0;
    for (int32_t dir = 0; dir < 2; dir++) {
        /* dir 0: rows j of X (image → text); dir 1: columns (text → image) */
        const int32_t step_row = dir ? 1 : B, step_col = dir ? B : 1;
        for (int32_t r = 0; r < B; r++) {
            const double *x = X + (size_t)r * step_row;
            double *dx = dX + (size_t)r * step_row;
            double max = x[0];
            for (int32_t k = 1; k < B; k++)
                if (x[(size_t)k * step_col] > max) max = x[(size_t)k * step_col];
            double sum = 0.0;
            for (int32_t k = 0; k < B; k++) sum += exp(x[(size_t)k * step_col] - max);
            const double lse = max + log(sum);
            loss += (lse - x[(size_t)r * step_col]) * inv_b;
            for (int32_t k = 0; k < B; k++)
                dx[(size_t)k * step_col] += exp(x[(size_t)k * step_col] - lse) * inv_b;
            dx[(size_t)r * step_col] -= inv_b;
        }
    }
    return loss;
}

/* Moves a float scratch pointer up to 8-byte alignment so doubles can be carved from it (the
 * scratch sizes include one float of slack for this). */
static double *align_double(float *p) {
    const uintptr_t u = (uintptr_t)p;
    return (double *)(void *)(u % 8 ? p + 1 : p);
}

/* Backward of ρ = num / max(nx·ny, eps) with respect to x: returns the factors
 * (fy, fx) with dρ/dx = fy·y + fx·x. The norm term vanishes where clamped or where ‖x‖ = 0. */
static void cosine_grad_factors(double *fy, double *fx, double rho, double nx, double ny) {
    const double den = nx * ny;
    if (den >= CONTRASTIVE_EPS) {
        *fy = 1.0 / den;
        *fx = nx > 0.0 ? -rho / (nx * nx) : 0.0;
    } else {
        *fy = 1.0 / CONTRASTIVE_EPS;
        *fx = 0.0;
    }
}

/* ---- global loss (§6.1) ---- */

size_t afloc_cpu_global_loss_scratch_floats(int32_t B) {
    /* G, dG (B, B) and the norms (2B) in double, plus alignment slack */
    const size_t b = B > 0 ? (size_t)B : 0;
    return 2 * (2 * b * b + 2 * b) + 2;
}

float afloc_cpu_global_loss(float *dimage, float *dtext, const float *image, const float *text,
                            int32_t B, int32_t D, float temp3, float *scratch) {
    if (B <= 0) return 0.0f;
    double *G = align_double(scratch);                         /* (B, B) */
    double *dG = G + (size_t)B * B;                            /* (B, B) */
    double *ng = dG + (size_t)B * B, *nr = ng + B;             /* (B), (B) */
    for (int32_t b = 0; b < B; b++) {
        double sg = 0.0, sr = 0.0;
        for (int32_t d = 0; d < D; d++) {
            sg += (double)image[(size_t)b * D + d] * image[(size_t)b * D + d];
            sr += (double)text[(size_t)b * D + d] * text[(size_t)b * D + d];
        }
        ng[b] = sqrt(sg);
        nr[b] = sqrt(sr);
    }
    for (int32_t j = 0; j < B; j++)
        for (int32_t i = 0; i < B; i++) {
            const float *g = image + (size_t)j * D, *r = text + (size_t)i * D;
            double dot = 0.0;
            for (int32_t d = 0; d < D; d++) dot += (double)g[d] * r[d];
            const double den = ng[j] * nr[i];
            G[(size_t)j * B + i] = temp3 * dot / (den > CONTRASTIVE_EPS ? den : CONTRASTIVE_EPS);
        }
    const double loss = symmetric_ce(dG, G, B);
    if (!dimage && !dtext) return (float)loss;
    /* dG now holds dL/dG; cos = G/temp3 and dcos = temp3·dG. dimage row j sums over i, dtext row
     * i over j, each in increasing order in double: one output row per thread. */
    if (dimage) {
#pragma omp parallel for schedule(static) if ((int64_t)B * B * D > CONTRASTIVE_PARALLEL_MIN)
        for (int32_t j = 0; j < B; j++) {
            const float *g = image + (size_t)j * D;
            for (int32_t d = 0; d < D; d++) {
                double acc = 0.0;
                for (int32_t i = 0; i < B; i++) {
                    const double cosv = G[(size_t)j * B + i] / temp3;
                    double fr, fg;
                    cosine_grad_factors(&fr, &fg, cosv, ng[j], nr[i]);
                    const double dc = temp3 * dG[(size_t)j * B + i];
                    acc += dc * (fr * text[(size_t)i * D + d] + fg * g[d]);
                }
                dimage[(size_t)j * D + d] += (float)acc;
            }
        }
    }
    if (dtext) {
#pragma omp parallel for schedule(static) if ((int64_t)B * B * D > CONTRASTIVE_PARALLEL_MIN)
        for (int32_t i = 0; i < B; i++) {
            const float *r = text + (size_t)i * D;
            for (int32_t d = 0; d < D; d++) {
                double acc = 0.0;
                for (int32_t j = 0; j < B; j++) {
                    const double cosv = G[(size_t)j * B + i] / temp3;
                    double fg, fr;
                    cosine_grad_factors(&fg, &fr, cosv, nr[i], ng[j]);
                    const double dc = temp3 * dG[(size_t)j * B + i];
                    acc += dc * (fg * image[(size_t)j * D + d] + fr * r[d]);
                }
                dtext[(size_t)i * D + d] += (float)acc;
            }
        }
    }
    return (float)loss;
}

/* ---- local loss (§6.2) ---- */

/* One pair's buffers, carved from the scratch (sizes for the largest n = T). */
typedef struct pair_buf {
    float *a1;      /* (n, S) a, then a1 = softmax over words */
    float *q;       /* (2n, S) [α; dα → da], contiguous so dv is one product */
    float *c;       /* (n, D) context c_t */
    float *k;       /* (2n, D) [dc; w], w = the text's first n columns transposed */
    float *dw;      /* (n, D) gradient for w */
    float *colmax;  /* (S) */
    double *colsum; /* (S) */
    double *rho, *nc, *nw, *p; /* (T) each: cosine, the two norms, softmax(temp2·ρ) */
} pair_buf;

size_t afloc_cpu_local_loss_scratch_floats(int32_t B, int32_t D, int32_t S, int32_t T) {
    const size_t b = B > 0 ? (size_t)B : 0, d = D > 0 ? (size_t)D : 0;
    const size_t s = S > 0 ? (size_t)S : 0, t = T > 0 ? (size_t)T : 0;
    const size_t doubles = 2 * b * b + s + 4 * t; /* M, dM, colsum, rho..p */
    return 2 * doubles + 2 + 3 * t * s + 4 * t * d + s;
}

static pair_buf pair_buf_carve(float *scratch, int32_t B, int32_t D, int32_t S, int32_t T,
                               double **M, double **dM) {
    pair_buf pb;
    double *dbl = align_double(scratch);
    *M = dbl;
    *dM = *M + (size_t)B * B;
    pb.colsum = *dM + (size_t)B * B;
    pb.rho = pb.colsum + S;
    pb.nc = pb.rho + T;
    pb.nw = pb.nc + T;
    pb.p = pb.nw + T;
    float *f = (float *)(void *)(pb.p + T);
    pb.a1 = f;
    pb.q = pb.a1 + (size_t)T * S;
    pb.c = pb.q + 2 * (size_t)T * S;
    pb.k = pb.c + (size_t)T * D;
    pb.dw = pb.k + 2 * (size_t)T * D;
    pb.colmax = pb.dw + (size_t)T * D;
    return pb;
}

/* A column softmax over the n rows of x (n, S) for each s, in place (the word softmax of step 2).
 * Rows are visited in order for every column, so the result does not depend on the split of s. */
static void softmax_over_words(float *x, const pair_buf *pb, int32_t n, int32_t S) {
    enum { COLS = 256 }; /* column block, fixed */
    const int32_t blocks = (S + COLS - 1) / COLS;
    for (int32_t blk = 0; blk < blocks; blk++) {
        const int32_t s0 = blk * COLS, s1 = s0 + COLS < S ? s0 + COLS : S;
        float *restrict mx = pb->colmax;
        double *restrict sum = pb->colsum;
        for (int32_t s = s0; s < s1; s++) {
            mx[s] = x[s];
            sum[s] = 0.0;
        }
        for (int32_t t = 1; t < n; t++)
            for (int32_t s = s0; s < s1; s++)
                if (x[(size_t)t * S + s] > mx[s]) mx[s] = x[(size_t)t * S + s];
        for (int32_t t = 0; t < n; t++)
            for (int32_t s = s0; s < s1; s++) {
                const float e = expf(x[(size_t)t * S + s] - mx[s]);
                x[(size_t)t * S + s] = e;
                sum[s] += e;
            }
        for (int32_t t = 0; t < n; t++)
            for (int32_t s = s0; s < s1; s++)
                x[(size_t)t * S + s] = (float)(x[(size_t)t * S + s] / sum[s]);
    }
}

/* alpha (n, S) = softmax over s of temp1·a1, one row per word (step 3). */
static void softmax_over_regions(float *alpha, const float *a1, int32_t n, int32_t S,
                                 float temp1) {
    for (int32_t t = 0; t < n; t++) {
        const float *restrict x = a1 + (size_t)t * S;
        float *restrict y = alpha + (size_t)t * S;
        float mx = temp1 * x[0];
        for (int32_t s = 1; s < S; s++)
            if (temp1 * x[s] > mx) mx = temp1 * x[s];
        double sum = 0.0;
        for (int32_t s = 0; s < S; s++) {
            y[s] = expf(temp1 * x[s] - mx);
            sum += y[s];
        }
        const double inv = 1.0 / sum;
        for (int32_t s = 0; s < S; s++) y[s] = (float)(y[s] * inv);
    }
}

/* Forward of pair (image v (D, S), text w (D, T) with n words): fills pb (a1, α, c, w copy, ρ and
 * its parts, p) and returns R = log Σ_t exp(temp2·ρ_t). */
static double pair_forward(const pair_buf *pb, const float *v, const float *w, int32_t n,
                           int32_t D, int32_t S, int32_t T, float temp1, float temp2) {
    float *wt = pb->k + (size_t)n * D; /* (n, D), second half of [dc; w] */
    for (int32_t t = 0; t < n; t++)
        for (int32_t d = 0; d < D; d++) wt[(size_t)t * D + d] = w[(size_t)d * T + t];
    /* a (n, S) = wᵀ v */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, S, D, 1.0f, wt, D, v, S, 0.0f,
                pb->a1, S);
    softmax_over_words(pb->a1, pb, n, S);
    softmax_over_regions(pb->q, pb->a1, n, S, temp1);
    /* c (n, D) = α vᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, S, 1.0f, pb->q, S, v, S, 0.0f,
                pb->c, D);
    for (int32_t t = 0; t < n; t++) {
        const float *ct = pb->c + (size_t)t * D, *wr = wt + (size_t)t * D;
        double dot = 0.0, sc = 0.0, sw = 0.0;
        for (int32_t d = 0; d < D; d++) {
            dot += (double)ct[d] * wr[d];
            sc += (double)ct[d] * ct[d];
            sw += (double)wr[d] * wr[d];
        }
        pb->nc[t] = sqrt(sc);
        pb->nw[t] = sqrt(sw);
        const double den = pb->nc[t] * pb->nw[t];
        pb->rho[t] = dot / (den > CONTRASTIVE_EPS ? den : CONTRASTIVE_EPS);
    }
    double mx = temp2 * pb->rho[0];
    for (int32_t t = 1; t < n; t++)
        if (temp2 * pb->rho[t] > mx) mx = temp2 * pb->rho[t];
    double sum = 0.0;
    for (int32_t t = 0; t < n; t++) sum += exp(temp2 * pb->rho[t] - mx);
    const double R = mx + log(sum);
    for (int32_t t = 0; t < n; t++) pb->p[t] = exp(temp2 * pb->rho[t] - R);
    return R;
}

/* The direct gradients of R = log Σ_t exp(temp2·ρ_t) after pair_forward, for dR = dL/dR(j, i):
 * dc (the first n rows of pb->k) and the cosine's part of dw (pb->dw), both overwritten. */
static void pair_direct_from_rho(const pair_buf *pb, int32_t n, int32_t D, float temp2,
                                 double dR) {
    const float *wt = pb->k + (size_t)n * D;
    float *dc = pb->k; /* (n, D) */
    /* dρ_t = dR·temp2·p_t */
    for (int32_t t = 0; t < n; t++) {
        const double drho = dR * temp2 * pb->p[t];
        double fw, fc, fc2, fw2;
        cosine_grad_factors(&fw, &fc, pb->rho[t], pb->nc[t], pb->nw[t]);
        cosine_grad_factors(&fc2, &fw2, pb->rho[t], pb->nw[t], pb->nc[t]);
        const float *ct = pb->c + (size_t)t * D, *wr = wt + (size_t)t * D;
        float *dct = dc + (size_t)t * D, *dwt = pb->dw + (size_t)t * D;
        for (int32_t d = 0; d < D; d++) {
            dct[d] = (float)(drho * (fw * wr[d] + fc * ct[d]));
            dwt[d] = (float)(drho * (fc2 * ct[d] + fw2 * wr[d]));
        }
    }
}

/* Backward of one pair from its direct gradients (dc in the first n rows of pb->k, the direct
 * part of dw in pb->dw) through the contexts and both softmaxes: dv (D, S) += …, dtext_i (D, T)
 * += … (either may be NULL). */
static void pair_backward_context(const pair_buf *pb, float *dv, float *dtext_i, const float *v,
                                  int32_t n, int32_t D, int32_t S, int32_t T, float temp1) {
    const float *dc = pb->k;                   /* (n, D) */
    const float *alpha = pb->q;                /* (n, S) */
    float *dq = pb->q + (size_t)n * S;         /* (n, S): dα, then da */
    /* dα (n, S) = dc v */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, S, D, 1.0f, dc, D, v, S, 0.0f, dq,
                S);
    /* through the region softmax (rows): dz = α∘(dα − Σ_s α dα); da1 = temp1·dz */
    for (int32_t t = 0; t < n; t++) {
        const float *restrict y = alpha + (size_t)t * S;
        float *restrict g = dq + (size_t)t * S;
        double dot = 0.0;
        for (int32_t s = 0; s < S; s++) dot += (double)y[s] * g[s];
        const float dotf = (float)dot;
        for (int32_t s = 0; s < S; s++) g[s] = temp1 * (y[s] * (g[s] - dotf));
    }
    /* through the word softmax (columns): da = a1∘(da1 − Σ_t a1 da1) */
    {
        enum { COLS = 256 };
        const int32_t blocks = (S + COLS - 1) / COLS;
        for (int32_t blk = 0; blk < blocks; blk++) {
            const int32_t s0 = blk * COLS, s1 = s0 + COLS < S ? s0 + COLS : S;
            double *restrict dot = pb->colsum;
            for (int32_t s = s0; s < s1; s++) dot[s] = 0.0;
            for (int32_t t = 0; t < n; t++)
                for (int32_t s = s0; s < s1; s++)
                    dot[s] += (double)pb->a1[(size_t)t * S + s] * dq[(size_t)t * S + s];
            for (int32_t t = 0; t < n; t++)
                for (int32_t s = s0; s < s1; s++) {
                    const float y = pb->a1[(size_t)t * S + s];
                    dq[(size_t)t * S + s] = y * (dq[(size_t)t * S + s] - (float)dot[s]);
                }
        }
    }
    /* dv (D, S) += [dc; w]ᵀ [α; da]: the context term and the affinity term in one product */
    if (dv)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, S, 2 * n, 1.0f, pb->k, D, pb->q,
                    S, 1.0f, dv, S);
    if (dtext_i) {
        /* dw (n, D) += da vᵀ, then scattered into the channels-first (D, T) gradient */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, S, 1.0f, dq, S, v, S, 1.0f,
                    pb->dw, D);
        for (int32_t d = 0; d < D; d++)
            for (int32_t t = 0; t < n; t++)
                dtext_i[(size_t)d * T + t] += pb->dw[(size_t)t * D + d];
    }
}

/* Backward of one pair after pair_forward, for dR = dL/dR(j, i). */
static void pair_backward(const pair_buf *pb, float *dv, float *dtext_i, const float *v,
                          int32_t n, int32_t D, int32_t S, int32_t T, float temp1, float temp2,
                          double dR) {
    pair_direct_from_rho(pb, n, D, temp2, dR);
    pair_backward_context(pb, dv, dtext_i, v, n, D, S, T, temp1);
}

/* The window of text i: cap_len clamped to [1, T] (the caller guarantees it; the clamp only keeps
 * a bad value from reading outside the tensor). */
static int32_t words_of(const int32_t *cap_len, int32_t i, int32_t T) {
    const int32_t n = cap_len[i];
    return n < 1 ? 1 : n > T ? T : n;
}

float afloc_cpu_local_loss(float *dimage, float *dtext, float *attention, const float *image,
                           const float *text, const int32_t *cap_len, int32_t B, int32_t D,
                           int32_t S, int32_t T, float temp1, float temp2, float temp3,
                           float *scratch) {
    if (B <= 0 || D <= 0 || S <= 0 || T <= 0) return 0.0f;
    double *M, *dM;
    const pair_buf pb = pair_buf_carve(scratch, B, D, S, T, &M, &dM);
    const size_t img_n = (size_t)D * S, txt_n = (size_t)D * T;
    /* sweep 1: the scores M[j, i] = temp3·R(j, i), and α of the matching pairs */
    for (int32_t j = 0; j < B; j++)
        for (int32_t i = 0; i < B; i++) {
            const int32_t n = words_of(cap_len, i, T);
            const double R = pair_forward(&pb, image + j * img_n, text + i * txt_n, n, D, S, T,
                                          temp1, temp2);
            M[(size_t)j * B + i] = temp3 * R;
            if (attention && i == j) {
                float *att = attention + (size_t)i * T * S;
                memcpy(att, pb.q, (size_t)n * S * sizeof(float));
                memset(att + (size_t)n * S, 0, (size_t)(T - n) * S * sizeof(float));
            }
        }
    const double loss = symmetric_ce(dM, M, B);
    if (!dimage && !dtext) return (float)loss;
    /* sweep 2: recompute each pair and backpropagate dM, in the fixed order (j, i) */
    for (int32_t j = 0; j < B; j++)
        for (int32_t i = 0; i < B; i++) {
            const double g = dM[(size_t)j * B + i];
            if (g == 0.0) continue; /* B = 1: nothing flows */
            const int32_t n = words_of(cap_len, i, T);
            pair_forward(&pb, image + j * img_n, text + i * txt_n, n, D, S, T, temp1, temp2);
            pair_backward(&pb, dimage ? dimage + j * img_n : NULL,
                          dtext ? dtext + i * txt_n : NULL, image + j * img_n, n, D, S, T,
                          temp1, temp2, temp3 * g);
        }
    return (float)loss;
}

/* ---- within-image sentence loss (not in the paper; see cpu_ops.h) ---- */

size_t afloc_cpu_sentence_contrast_scratch_floats(int32_t D, int32_t S, int32_t T) {
    /* one pair's buffers, with the T×T score matrices in place of the local loss's B×B */
    return afloc_cpu_local_loss_scratch_floats(T, D, S, T);
}

float afloc_cpu_sentence_contrast_loss(float *dimage, float *dtext, const float *image,
                                       const float *text, const int32_t *cap_len, int32_t B,
                                       int32_t D, int32_t S, int32_t T, float temp1,
                                       float temp3, float weight, float *scratch) {
    if (B <= 0 || D <= 0 || S <= 0 || T <= 0) return 0.0f;
    double *Z, *dZ; /* (K, K): rows the contexts c_t, columns the sentences w_u */
    const pair_buf pb = pair_buf_carve(scratch, T, D, S, T, &Z, &dZ);
    const size_t img_n = (size_t)D * S, txt_n = (size_t)D * T;
    int32_t counted = 0; /* images with at least two sentences */
    for (int32_t i = 0; i < B; i++)
        if (words_of(cap_len, i, T) >= 3) counted++;
    if (counted == 0) return 0.0f;
    const double inv_count = 1.0 / (double)counted, gscale = (double)weight * temp3 * inv_count;
    double loss = 0.0;
    for (int32_t i = 0; i < B; i++) {
        const int32_t n = words_of(cap_len, i, T), K = n - 1; /* slot 0 is [CLS] */
        if (K < 2) continue;
        const float *v = image + i * img_n;
        /* the attention of L_DS, all n slots taking part in the word softmax as there */
        pair_forward(&pb, v, text + i * txt_n, n, D, S, T, temp1, 1.0f);
        const float *wt = pb.k + (size_t)n * D;
        for (int32_t t = 0; t < K; t++)
            for (int32_t u = 0; u < K; u++) {
                const float *ct = pb.c + (size_t)(t + 1) * D, *wu = wt + (size_t)(u + 1) * D;
                double dot = 0.0;
                for (int32_t d = 0; d < D; d++) dot += (double)ct[d] * wu[d];
                const double den = pb.nc[t + 1] * pb.nw[u + 1];
                Z[(size_t)t * K + u] = temp3 * dot / (den > CONTRASTIVE_EPS ? den : CONTRASTIVE_EPS);
            }
        loss += symmetric_ce(dZ, Z, K) * inv_count;
        if (!dimage && !dtext) continue;
        float *dc = pb.k; /* (n, D); [CLS]'s row stays 0 */
        memset(dc, 0, (size_t)n * D * sizeof(float));
        memset(pb.dw, 0, (size_t)n * D * sizeof(float));
        for (int32_t t = 0; t < K; t++)
            for (int32_t u = 0; u < K; u++) {
                const double g = gscale * dZ[(size_t)t * K + u]; /* d(weight·L)/dcos */
                if (g == 0.0) continue;
                const double rho = Z[(size_t)t * K + u] / temp3;
                const float *ct = pb.c + (size_t)(t + 1) * D, *wu = wt + (size_t)(u + 1) * D;
                float *dct = dc + (size_t)(t + 1) * D, *dwu = pb.dw + (size_t)(u + 1) * D;
                double fw, fc, fc2, fw2;
                cosine_grad_factors(&fw, &fc, rho, pb.nc[t + 1], pb.nw[u + 1]);
                cosine_grad_factors(&fc2, &fw2, rho, pb.nw[u + 1], pb.nc[t + 1]);
                for (int32_t d = 0; d < D; d++) {
                    dct[d] += (float)(g * (fw * wu[d] + fc * ct[d]));
                    dwu[d] += (float)(g * (fc2 * ct[d] + fw2 * wu[d]));
                }
            }
        pair_backward_context(&pb, dimage ? dimage + i * img_n : NULL,
                              dtext ? dtext + i * txt_n : NULL, v, n, D, S, T, temp1);
    }
    return (float)loss;
}
