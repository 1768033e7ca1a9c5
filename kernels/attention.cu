/* attention.cu: the core of BERT self-attention (MODEL.md §5.1) on packed Q|K|V, the CUDA twin of
 * src/cpu/attention.c (HF transformers 4.2.1 BertSelfAttention):
 *   scores = Q·Kᵀ / sqrt(HS) + (1 − mask)·(−10000)   (bias on the key axis)
 *   P      = softmax(scores, dim=-1)                 (max subtracted, as torch.softmax)
 *   out    = (P ∘ dropout_mask)·V, heads merged back into (T, C).
 * Layouts: qkv (B, T, 3C) row-major, each token's row Q | K | V with head h in columns
 * h·HS .. h·HS+HS−1 of each third; mask (B, T); out and dout (B, T, C); probs, dropout_mask and
 * the backward's scratch (B, NH, T, T).
 * Dimension letters: B batch, T tokens, C hidden, NH heads, HS head size = C / NH.
 *
 * Design: T is short in AFLoc (report/caption tokens, typically <= ~100, at most 512), so every
 * pass is one fused kernel with one block of ATTENTION_THREADS threads per row:
 *  - forward: a block per (b, h, query i) holds Q_i and the scores row in shared memory; thread j
 *    computes score j as a dot product over d in increasing order; the softmax uses block
 *    reductions in a tree fixed by ATTENTION_THREADS; thread d computes out_i[d] over j in
 *    increasing order.
 *  - backward, pass 1: a block per (b, h, query i) computes dP_i = dout_i·Vᵀ (∘ dropout mask),
 *    dS_i = P_i ∘ (dP_i − Σ_j dP_ij·P_ij) / √HS with the row sum in double (as the CPU), stores
 *    dS_i in scratch and adds dQ_i += dS_i·K.
 *  - backward, pass 2: a block per (b, h, key j) adds dV_j += Σ_i Pd_ij·dout_i and
 *    dK_j += Σ_i dS_ij·Q_i, summing over i in increasing order.
 * Every output element is written by exactly one thread, so there are no atomics and the bits
 * depend only on the shape. Each block needs (HS + T) or 2·T floats of dynamic shared memory
 * (2.5 KiB at T = 512, HS = 128), far below the 48 KiB default. */
#include <limits.h>
#include <math.h>

#include "cuda_common.cuh"

/* Additive bias of a padded key, as HF BERT's get_extended_attention_mask (= the CPU's). */
#define ATTENTION_MASK_BIAS (-10000.0f)

/* Threads per block; the reductions' trees are shaped by it, so changing it changes bits (not
 * correctness). 128 = HS of up to 128 in one pass of the per-d loops. */
enum { ATTENTION_THREADS = 128 };

/* Largest dynamic shared memory for the rows (HS + T floats) without cudaFuncSetAttribute: the
 * default limit per block, minus the reduction buffer of ATTENTION_THREADS doubles that shares
 * the block's dynamic memory. */
static const size_t ATTENTION_MAX_SHARED = 48 * 1024 - ATTENTION_THREADS * sizeof(double);

/* T rounded up to a multiple of 4 floats (16 bytes): the shared rows' padded length. */
static __host__ __device__ inline int32_t attention_padded(int32_t T) { return (T + 3) & ~3; }

/* ---- block reductions (fixed tree, every thread gets the result) ---- */

template <typename R> static __device__ R block_sum(R value, R *red) {
    red[threadIdx.x] = value;
    __syncthreads();
    for (int s = ATTENTION_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) red[threadIdx.x] = red[threadIdx.x] + red[threadIdx.x + s];
        __syncthreads();
    }
    const R total = red[0];
    __syncthreads(); /* red is reused by the next reduction */
    return total;
}

static __device__ float block_max(float value, float *red) {
    red[threadIdx.x] = value;
    __syncthreads();
    for (int s = ATTENTION_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    const float total = red[0];
    __syncthreads();
    return total;
}

/* ---- kernels ---- */

/* One block per (b, h, query i); blockIdx.x = (b·NH + h)·T + i, the row of probs. probs may be
 * NULL (inference); dmask may be NULL (no dropout). Dynamic shared memory: (HS + T) floats. */
static __global__ void attention_forward_kernel(float *out, float *probs, const float *qkv,
                                                const float *mask, const float *dmask, int32_t T,
                                                int32_t C, int32_t NH, int32_t HS,
                                                float sqrt_hs) {
    /* One dynamic block, laid out explicitly: red (ATTENTION_THREADS) | q (HS) | p (T). */
    extern __shared__ double shared_block[];
    float *red = (float *)shared_block;
    float *q = red + ATTENTION_THREADS; /* (HS) query row i of head h   */
    float *p = q + HS;                  /* (T) scores, then probabilities */
    const size_t row = blockIdx.x;
    const int32_t i = (int32_t)(row % (size_t)T);
    const size_t bh = row / (size_t)T;
    const int32_t h = (int32_t)(bh % (size_t)NH);
    const size_t b = bh / (size_t)NH;
    const size_t ld = 3 * (size_t)C;
    const float *qkv_b = qkv + b * (size_t)T * ld;
    const float *Q = qkv_b + (size_t)i * ld + (size_t)h * HS;
    const float *K = qkv_b + (size_t)C + (size_t)h * HS;     /* key j at K + j·ld */
    const float *V = qkv_b + 2 * (size_t)C + (size_t)h * HS; /* value j at V + j·ld */
    const float *mask_b = mask ? mask + b * (size_t)T : NULL;

    for (int32_t d = threadIdx.x; d < HS; d += ATTENTION_THREADS) q[d] = Q[d];
    __syncthreads();

    float local_max = -INFINITY;
    for (int32_t j = threadIdx.x; j < T; j += ATTENTION_THREADS) {
        const float *k = K + (size_t)j * ld;
        float dot = 0.0f;
        for (int32_t d = 0; d < HS; d++) dot += q[d] * k[d];
        float s = dot / sqrt_hs; /* matmul, divide, add: HF's order (and the CPU's) */
        if (mask_b) s = __fadd_rn(s, __fmul_rn(1.0f - mask_b[j], ATTENTION_MASK_BIAS));
        p[j] = s;
        local_max = fmaxf(local_max, s);
    }
    const float row_max = block_max(local_max, red);

    float local_sum = 0.0f;
    for (int32_t j = threadIdx.x; j < T; j += ATTENTION_THREADS) {
        const float e = expf(p[j] - row_max);
        p[j] = e;
        local_sum += e;
    }
    const float inv = 1.0f / block_sum(local_sum, red);

    float *probs_row = probs ? probs + row * (size_t)T : NULL;
    const float *dmask_row = dmask ? dmask + row * (size_t)T : NULL;
    for (int32_t j = threadIdx.x; j < T; j += ATTENTION_THREADS) {
        float v = p[j] * inv;
        if (probs_row) probs_row[j] = v; /* before dropout, as the backward pass needs */
        if (dmask_row) v = v * dmask_row[j];
        p[j] = v;
    }
    __syncthreads();

    float *out_i = out + (b * (size_t)T + (size_t)i) * (size_t)C + (size_t)h * HS;
    for (int32_t d = threadIdx.x; d < HS; d += ATTENTION_THREADS) {
        float acc = 0.0f;
        for (int32_t j = 0; j < T; j++) acc += p[j] * V[(size_t)j * ld + (size_t)d];
        out_i[d] = acc;
    }
}

/* Backward pass 1: one block per (b, h, query i), blockIdx.x = (b·NH + h)·T + i. Writes row i of
 * dS (scaled by 1/√HS) into dscores (B, NH, T, T) and adds dQ_i += dS_i·K into dqkv.
 * Dynamic shared memory: (HS + T) floats. */
static __global__ void attention_backward_query_kernel(float *dqkv, float *dscores,
                                                       const float *dout, const float *qkv,
                                                       const float *probs, const float *dmask,
                                                       int32_t T, int32_t C, int32_t NH,
                                                       int32_t HS, float sqrt_hs) {
    /* One dynamic block, laid out explicitly: red (ATTENTION_THREADS doubles) | g (HS) | a (T). */
    extern __shared__ double shared_block[];
    double *red = shared_block;
    float *g = (float *)(red + ATTENTION_THREADS); /* (HS) dout row i of head h */
    float *a = g + HS;                             /* (T) dP, then dS           */
    const size_t row = blockIdx.x;
    const int32_t i = (int32_t)(row % (size_t)T);
    const size_t bh = row / (size_t)T;
    const int32_t h = (int32_t)(bh % (size_t)NH);
    const size_t b = bh / (size_t)NH;
    const size_t ld = 3 * (size_t)C;
    const float *qkv_b = qkv + b * (size_t)T * ld;
    const float *K = qkv_b + (size_t)C + (size_t)h * HS;
    const float *V = qkv_b + 2 * (size_t)C + (size_t)h * HS;
    const float *dO = dout + (b * (size_t)T + (size_t)i) * (size_t)C + (size_t)h * HS;
    const float *P = probs + row * (size_t)T;
    const float *M = dmask ? dmask + row * (size_t)T : NULL;

    for (int32_t d = threadIdx.x; d < HS; d += ATTENTION_THREADS) g[d] = dO[d];
    __syncthreads();

    double local = 0.0;
    for (int32_t j = threadIdx.x; j < T; j += ATTENTION_THREADS) {
        const float *v = V + (size_t)j * ld;
        float dot = 0.0f; /* dPd_ij = dout_i · V_j */
        for (int32_t d = 0; d < HS; d++) dot += g[d] * v[d];
        if (M) dot = dot * M[j]; /* dP = dPd ∘ M */
        a[j] = dot;
        local += (double)dot * (double)P[j];
    }
    const float rowdot = (float)block_sum(local, red); /* as afloc_cpu_softmax_backward: double */

    float *ds_row = dscores + row * (size_t)T;
    for (int32_t j = threadIdx.x; j < T; j += ATTENTION_THREADS) {
        const float s = P[j] * (a[j] - rowdot) / sqrt_hs;
        a[j] = s;
        ds_row[j] = s;
    }
    __syncthreads();

    float *dQ = dqkv + (b * (size_t)T + (size_t)i) * ld + (size_t)h * HS;
    for (int32_t d = threadIdx.x; d < HS; d += ATTENTION_THREADS) {
        float acc = 0.0f;
        for (int32_t j = 0; j < T; j++) acc += a[j] * K[(size_t)j * ld + (size_t)d];
        dQ[d] = dQ[d] + acc;
    }
}

/* Backward pass 2: one block per (b, h, key j), blockIdx.x = (b·NH + h)·T + j. Adds
 * dV_j += Σ_i Pd_ij·dout_i and dK_j += Σ_i dS_ij·Q_i into dqkv, reading dS from pass 1.
 * Dynamic shared memory: 2·T floats. */
static __global__ void attention_backward_key_kernel(float *dqkv, const float *dscores,
                                                     const float *dout, const float *qkv,
                                                     const float *probs, const float *dmask,
                                                     int32_t T, int32_t C, int32_t NH,
                                                     int32_t HS) {
    /* Both columns padded to TP = T rounded up to 4 floats and zero-filled: compute-sanitizer
     * caught the unrolled i loop below reading 12 bytes past an unpadded 2·T block (T = 128). */
    extern __shared__ double shared_block[];
    const int32_t TP = attention_padded(T);
    float *pd = (float *)shared_block; /* (TP) column j of P ∘ M */
    float *ds = pd + TP;               /* (TP) column j of dS    */
    const size_t row = blockIdx.x;
    const int32_t j = (int32_t)(row % (size_t)T);
    const size_t bh = row / (size_t)T;
    const int32_t h = (int32_t)(bh % (size_t)NH);
    const size_t b = bh / (size_t)NH;
    const size_t ld = 3 * (size_t)C;
    const size_t head = bh * (size_t)T * (size_t)T; /* start of this (b, h) in (B, NH, T, T) */

    for (int32_t i = threadIdx.x; i < TP; i += ATTENTION_THREADS) {
        if (i >= T) {
            pd[i] = 0.0f;
            ds[i] = 0.0f;
            continue;
        }
        const size_t at = head + (size_t)i * (size_t)T + (size_t)j;
        pd[i] = dmask ? probs[at] * dmask[at] : probs[at];
        ds[i] = dscores[at];
    }
    __syncthreads();

    const float *Q = qkv + b * (size_t)T * ld + (size_t)h * HS;         /* row i at Q + i·ld */
    const float *dO = dout + b * (size_t)T * (size_t)C + (size_t)h * HS; /* row i at dO + i·C */
    float *dK = dqkv + (b * (size_t)T + (size_t)j) * ld + (size_t)C + (size_t)h * HS;
    float *dV = dK + (size_t)C;
    for (int32_t d = threadIdx.x; d < HS; d += ATTENTION_THREADS) {
        float acc_k = 0.0f, acc_v = 0.0f;
        for (int32_t i = 0; i < T; i++) {
            acc_v += pd[i] * dO[(size_t)i * (size_t)C + (size_t)d];
            acc_k += ds[i] * Q[(size_t)i * ld + (size_t)d];
        }
        dK[d] = dK[d] + acc_k;
        dV[d] = dV[d] + acc_v;
    }
}

/* ---- launchers ---- */

/* Number of blocks (one per (b, h, row)) and a check of the launch limits; 0 when there is
 * nothing to do or the shape cannot be launched (then recorded under `where`). */
static size_t attention_rows(afloc_device *dev, int32_t B, int32_t T, int32_t C, int32_t NH,
                             const char *where) {
    if (afloc_cuda_failed(dev) || B <= 0 || T <= 0) return 0;
    if (NH <= 0 || C / NH <= 0) { /* the model never builds it; say so instead of doing nothing */
        afloc_cuda_record(dev, AFLOC_ERR_INVALID_ARGUMENT, where, "the head count must be in 1..C");
        return 0;
    }
    const size_t rows = (size_t)B * (size_t)NH * (size_t)T;
    const size_t shared = ((size_t)C / (size_t)NH + 2 * (size_t)attention_padded(T)) * sizeof(float);
    if (rows > (size_t)INT_MAX || shared > ATTENTION_MAX_SHARED) {
        afloc_cuda_record(dev, AFLOC_ERR_INVALID_ARGUMENT, where,
                          "B·NH·T blocks or the shared memory of one T row exceed the launch "
                          "limits");
        return 0;
    }
    return rows;
}

static void attention_forward_launch(afloc_device *dev, float *out, float *probs,
                                     const float *qkv, const float *mask,
                                     const float *dropout_mask, int32_t B, int32_t T, int32_t C,
                                     int32_t NH, const char *where) {
    const size_t rows = attention_rows(dev, B, T, C, NH, where);
    if (rows == 0) return;
    const int32_t HS = C / NH;
    const float sqrt_hs = (float)sqrt((double)HS); /* the CPU's constant */
    const size_t shared =
        ATTENTION_THREADS * sizeof(float) + ((size_t)HS + (size_t)attention_padded(T)) * sizeof(float);
    attention_forward_kernel<<<(unsigned)rows, ATTENTION_THREADS, shared, dev->stream>>>(
        out, probs, qkv, mask, dropout_mask, T, C, NH, HS, sqrt_hs);
    AFLOC_CUDA_LAUNCHED(dev, where);
}

static void cuda_attention_forward(afloc_device *dev, float *out, const float *qkv,
                                   const float *mask, int32_t B, int32_t T, int32_t C, int32_t NH,
                                   void *scratch) {
    (void)scratch; /* the fused kernel keeps each scores row in shared memory */
    afloc_device_scope scope(dev);
    attention_forward_launch(dev, out, NULL, qkv, mask, NULL, B, T, C, NH, "attention_forward");
}

/* The fused forward needs no scratch; 0 bytes (scratch may then be NULL). */
static size_t cuda_attention_scratch_bytes(afloc_device *dev, int32_t B, int32_t T, int32_t NH) {
    (void)dev;
    (void)B;
    (void)T;
    (void)NH;
    return 0;
}

static void cuda_attention_forward_train(afloc_device *dev, float *out, float *probs,
                                         const float *qkv, const float *mask,
                                         const float *dropout_mask, int32_t B, int32_t T,
                                         int32_t C, int32_t NH, void *scratch) {
    (void)scratch;
    afloc_device_scope scope(dev);
    attention_forward_launch(dev, out, probs, qkv, mask, dropout_mask, B, T, C, NH,
                             "attention_forward_train");
}

/* scratch: dS (B, NH, T, T) floats, written by pass 1 and read by pass 2. */
static size_t cuda_attention_backward_scratch_bytes(afloc_device *dev, int32_t B, int32_t T,
                                                    int32_t NH) {
    (void)dev;
    if (B <= 0 || T <= 0 || NH <= 0) return 0;
    return (size_t)B * (size_t)NH * (size_t)T * (size_t)T * sizeof(float);
}

static void cuda_attention_backward(afloc_device *dev, float *dqkv, const float *dout,
                                    const float *qkv, const float *probs,
                                    const float *dropout_mask, int32_t B, int32_t T, int32_t C,
                                    int32_t NH, void *scratch) {
    afloc_device_scope scope(dev);
    const char *where = "attention_backward";
    const size_t rows = attention_rows(dev, B, T, C, NH, where);
    if (rows == 0) return;
    const int32_t HS = C / NH;
    const float sqrt_hs = (float)sqrt((double)HS);
    float *dscores = (float *)scratch; /* (B, NH, T, T) */
    const size_t shared_query =
        ATTENTION_THREADS * sizeof(double) + ((size_t)HS + (size_t)attention_padded(T)) * sizeof(float);
    attention_backward_query_kernel<<<(unsigned)rows, ATTENTION_THREADS, shared_query, dev->stream>>>(
        dqkv, dscores, dout, qkv, probs, dropout_mask, T, C, NH, HS, sqrt_hs);
    if (AFLOC_CUDA_LAUNCHED(dev, where) != AFLOC_OK) return;
    attention_backward_key_kernel<<<(unsigned)rows, ATTENTION_THREADS,
                                    2 * (size_t)attention_padded(T) * sizeof(float), dev->stream>>>(
        dqkv, dscores, dout, qkv, probs, dropout_mask, T, C, NH, HS);
    AFLOC_CUDA_LAUNCHED(dev, where);
}

/* ---- registration ---- */

extern "C" void afloc_cuda_register_attention(afloc_device_ops *ops) {
    ops->attention_forward = cuda_attention_forward;
    ops->attention_scratch_bytes = cuda_attention_scratch_bytes;
    ops->attention_forward_train = cuda_attention_forward_train;
    ops->attention_backward = cuda_attention_backward;
    ops->attention_backward_scratch_bytes = cuda_attention_backward_scratch_bytes;
}
