/* attention.c: the core of BERT self-attention (MODEL.md §5.1) on packed Q|K|V, as HF
 * transformers 4.2.1 BertSelfAttention computes it in eval mode:
 *   scores = Q·Kᵀ / sqrt(HS) + (1 − mask)·(−10000)   (bias on the key axis)
 *   P      = softmax(scores, dim=-1)                 (torch.softmax)
 *   out    = P·V, heads merged back into (T, C).
 * Layouts: qkv (B, T, 3C) row-major, each token's row Q | K | V with head h in columns
 * h·HS .. h·HS+HS−1 of each third; mask (B, T); out (B, T, C); scratch (B, NH, T, T) scores.
 * Dimension letters: B batch, T tokens, C hidden, NH heads, HS head size = C / NH.
 *
 * The two products of each head are cblas_sgemm calls on strided views of qkv and out (no copies).
 * OpenBLAS splits a product over its rows and columns only, never over the reduction, so every
 * score and output element is the same sequence of operations for any thread count (as in
 * gemm.c); the heads are independent OpenMP tasks with their own scratch and output columns.
 * Measured at T = 97, C = 768, NH = 12 on one core: 0.93 ms (PyTorch 1.13: 0.97 ms), against
 * 3.7 ms for plain loops built for baseline x86-64 (OpenBLAS picks AVX-512 kernels at run time). */
#include <cblas.h>
#include <math.h>

#include "cpu/cpu_ops.h"

/* Additive bias of a padded key, as HF BERT's get_extended_attention_mask. */
#define ATTENTION_MASK_BIAS (-10000.0f)

/* Query rows per cblas_sgemm call. OpenBLAS (pthreads build) hands a product of more than
 * 65536·4 multiply-adds to its own thread pool, and pools started from several OpenMP threads at
 * once would oversubscribe the cores; products cut below that size run in the calling thread
 * (at T = 97, HS = 64: 4 calls of 31 rows, no slower on one core than one call). The cut depends
 * on the shape only, and splitting rows does not change any element's reduction. */
static int32_t rows_per_call(int32_t T, int32_t HS) {
    const int64_t per_row = (int64_t)T * (HS > 0 ? HS : 1);
    const int64_t rows = (int64_t)196608 / per_row;
    return rows < 1 ? 1 : rows > T ? T : (int32_t)rows;
}

/* scores (T, T) of one sequence and head h: S = Q_h·K_hᵀ, then S[i][j] = S[i][j] / sqrt(HS)
 * + maskbias[j], in that order as HF does (matmul, divide, add). */
static void attention_scores(float *S, const float *qkv, const float *mask, int32_t T, int32_t C,
                             int32_t HS, int32_t h) {
    const int32_t ld = 3 * C, R = rows_per_call(T, HS);
    for (int32_t i0 = 0; i0 < T; i0 += R) {
        const int32_t m = T - i0 < R ? T - i0 : R;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, T, HS, 1.0f,
                    qkv + (size_t)i0 * ld + (size_t)h * HS, ld, qkv + (size_t)C + (size_t)h * HS,
                    ld, 0.0f, S + (size_t)i0 * T, T);
    }
    const float sqrt_hs = (float)sqrt((double)HS);
    for (int32_t i = 0; i < T; i++) {
        float *restrict s = S + (size_t)i * T;
        for (int32_t j = 0; j < T; j++) s[j] = s[j] / sqrt_hs;
        if (mask)
            for (int32_t j = 0; j < T; j++) s[j] = s[j] + (1.0f - mask[j]) * ATTENTION_MASK_BIAS;
    }
}

/* Columns h·HS .. of out (T, C): out_h = P·V_h. */
static void attention_values(float *out, const float *P, const float *qkv, int32_t T, int32_t C,
                             int32_t HS, int32_t h) {
    const int32_t R = rows_per_call(T, HS);
    for (int32_t i0 = 0; i0 < T; i0 += R) {
        const int32_t m = T - i0 < R ? T - i0 : R;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, HS, T, 1.0f, P + (size_t)i0 * T,
                    T, qkv + 2 * (size_t)C + (size_t)h * HS, 3 * C, 0.0f,
                    out + (size_t)i0 * C + (size_t)h * HS, C);
    }
}

size_t afloc_cpu_attention_scratch_floats(int32_t B, int32_t T, int32_t NH) {
    return (size_t)B * (size_t)NH * (size_t)T * (size_t)T;
}

/* One task per (sequence, head), each with its own (T, T) block of scratch and its own columns of
 * out, so no two threads touch the same output element. */
void afloc_cpu_attention_forward(float *out, const float *qkv, const float *mask, int32_t B,
                                 int32_t T, int32_t C, int32_t NH, float *scratch) {
    const int32_t HS = C / NH;
    const int32_t tasks = B * NH;
#pragma omp parallel for schedule(static) if (tasks > 1)
    for (int32_t task = 0; task < tasks; task++) {
        const int32_t b = task / NH, h = task % NH;
        const float *qkv_b = qkv + (size_t)b * T * 3 * (size_t)C;
        const float *mask_b = mask ? mask + (size_t)b * T : NULL;
        float *S = scratch + (size_t)task * T * T; /* (T, T) */
        attention_scores(S, qkv_b, mask_b, T, C, HS, h);
        afloc_cpu_softmax_forward(S, S, T, T);
        attention_values(out + (size_t)b * T * C, S, qkv_b, T, C, HS, h);
    }
}

/* ---- training (used by the trainer, issue 4) ---- */

/* As afloc_cpu_attention_forward, keeping P in `probs` (B, NH, T, T) for the backward pass. With a
 * dropout mask, HF (train mode) multiplies P by it before P·V; the dropped P is built in scratch,
 * so `probs` stays the softmax output the backward pass needs. */
void afloc_cpu_attention_forward_train(float *out, float *probs, const float *qkv,
                                       const float *mask, const float *dropout_mask, int32_t B,
                                       int32_t T, int32_t C, int32_t NH, float *scratch) {
    const int32_t HS = C / NH;
    const int32_t tasks = B * NH;
    const size_t TT = (size_t)T * (size_t)T;
#pragma omp parallel for schedule(static) if (tasks > 1)
    for (int32_t task = 0; task < tasks; task++) {
        const int32_t b = task / NH, h = task % NH;
        const float *qkv_b = qkv + (size_t)b * T * 3 * (size_t)C;
        const float *mask_b = mask ? mask + (size_t)b * T : NULL;
        float *P = probs + (size_t)task * TT;
        attention_scores(P, qkv_b, mask_b, T, C, HS, h);
        afloc_cpu_softmax_forward(P, P, T, T);
        const float *used = P;
        if (dropout_mask) {
            const float *restrict M = dropout_mask + (size_t)task * TT;
            float *restrict D = scratch + (size_t)task * TT;
            for (size_t k = 0; k < TT; k++) D[k] = P[k] * M[k];
            used = D;
        }
        attention_values(out + (size_t)b * T * C, used, qkv_b, T, C, HS, h);
    }
}

size_t afloc_cpu_attention_backward_scratch_floats(int32_t B, int32_t T, int32_t NH) {
    return (size_t)B * (size_t)NH * (size_t)T * (size_t)T;
}

/* Backward of one sequence and head h, with Pd = P ∘ M (M the dropout mask, or 1) and
 * S = Q·Kᵀ/√HS + maskbias, P = softmax(S), out = Pd·V:
 *   dV  += Pdᵀ · dout            dPd = dout · Vᵀ          dP = dPd ∘ M
 *   dS   = P ∘ (dP − rowsum(dP ∘ P)) / √HS   (softmax backward, then the scale)
 *   dQ  += dS · K                dK  += dSᵀ · Q
 * A (T, T) is the task's scratch: Pd first (when there is a mask), then dPd → dS in place. The
 * products are cut by output rows as in the forward (rows_per_call), which never splits a
 * reduction; beta 1 accumulates into dqkv. */
static void attention_backward_head(float *dqkv, const float *dout, const float *qkv,
                                    const float *P, const float *M, float *A, int32_t T,
                                    int32_t C, int32_t HS, int32_t h) {
    const int32_t ld = 3 * C, R = rows_per_call(T, HS);
    const size_t TT = (size_t)T * (size_t)T;
    const float *Q = qkv + (size_t)h * HS, *K = qkv + (size_t)C + (size_t)h * HS,
                *V = qkv + 2 * (size_t)C + (size_t)h * HS;
    float *dQ = dqkv + (size_t)h * HS, *dK = dqkv + (size_t)C + (size_t)h * HS,
          *dV = dqkv + 2 * (size_t)C + (size_t)h * HS;
    const float *dO = dout + (size_t)h * HS;

    const float *Pd = P;
    if (M) {
        for (size_t k = 0; k < TT; k++) A[k] = P[k] * M[k];
        Pd = A;
    }
    for (int32_t j0 = 0; j0 < T; j0 += R) { /* dV rows j0.. (keys) */
        const int32_t m = T - j0 < R ? T - j0 : R;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, HS, T, 1.0f, Pd + j0, T, dO, C,
                    1.0f, dV + (size_t)j0 * ld, ld);
    }
    for (int32_t i0 = 0; i0 < T; i0 += R) { /* dPd rows i0.. (queries) */
        const int32_t m = T - i0 < R ? T - i0 : R;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, T, HS, 1.0f, dO + (size_t)i0 * C,
                    C, V, ld, 0.0f, A + (size_t)i0 * T, T);
    }
    const float sqrt_hs = (float)sqrt((double)HS);
    for (int32_t i = 0; i < T; i++) {
        float *restrict a = A + (size_t)i * T;
        const float *restrict p = P + (size_t)i * T;
        if (M) {
            const float *restrict mi = M + (size_t)i * T;
            for (int32_t j = 0; j < T; j++) a[j] *= mi[j];
        }
        double dot = 0.0; /* as afloc_cpu_softmax_backward */
        for (int32_t j = 0; j < T; j++) dot += (double)a[j] * p[j];
        const float d = (float)dot;
        for (int32_t j = 0; j < T; j++) a[j] = p[j] * (a[j] - d) / sqrt_hs;
    }
    for (int32_t i0 = 0; i0 < T; i0 += R) { /* dQ rows i0.. */
        const int32_t m = T - i0 < R ? T - i0 : R;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, HS, T, 1.0f,
                    A + (size_t)i0 * T, T, K, ld, 1.0f, dQ + (size_t)i0 * ld, ld);
    }
    for (int32_t j0 = 0; j0 < T; j0 += R) { /* dK rows j0.. */
        const int32_t m = T - j0 < R ? T - j0 : R;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, HS, T, 1.0f, A + j0, T, Q, ld,
                    1.0f, dK + (size_t)j0 * ld, ld);
    }
}

/* One task per (sequence, head): each writes only its own columns of dqkv and its own scratch. */
void afloc_cpu_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                  const float *probs, const float *dropout_mask, int32_t B,
                                  int32_t T, int32_t C, int32_t NH, float *scratch) {
    const int32_t HS = C / NH;
    const int32_t tasks = B * NH;
    const size_t TT = (size_t)T * (size_t)T;
#pragma omp parallel for schedule(static) if (tasks > 1)
    for (int32_t task = 0; task < tasks; task++) {
        const int32_t b = task / NH;
        const size_t row3 = (size_t)b * T * 3 * (size_t)C;
        attention_backward_head(dqkv + row3, dout + (size_t)b * T * C, qkv + row3,
                                probs + (size_t)task * TT,
                                dropout_mask ? dropout_mask + (size_t)task * TT : NULL,
                                scratch + (size_t)task * TT, T, C, HS, task % NH);
    }
}
