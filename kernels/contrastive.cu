/* contrastive.cu: the AFLoc losses on the device (MODEL.md §6), twins of src/cpu/contrastive.c:
 *
 *   global (§6.1)  G[j, i] = temp3·⟨g_j, r_i⟩ / max(‖g_j‖·‖r_i‖, 1e-8)
 *   local  (§6.2)  a = v_jᵀ w_i, softmax over the n = cap_len[i] words, ×temp1, softmax over the
 *                  S regions → α, c = v_j α, ρ_t = cos(c_t, w_t), M[j, i] = temp3·log Σ_t e^{temp2·ρ_t}
 *   loss = CE(X, diag) + CE(Xᵀ, diag), mean over rows (rows are images j), in double.
 *   within-image sentence loss (not in the paper): see its section below.
 *
 * Letters: B batch, D embedding, S = H·W regions, T text slots (n = cap_len[i] <= T used).
 * Layouts as the CPU: image (B, D, S), text (B, D, T) channels-first; α (B, T, S) word-major.
 *
 * Local loss plan. Images are visited in chunks of `jc` images; a chunk holds all B texts for
 * each of its images, i.e. P = jc·B pairs, pair p = jj·B + i (jj: image within the chunk). Every
 * pair keeps all T slots so that one GEMM covers all texts of an image: with Wt (B, T, D) the
 * transposed texts, a_j (B·T, S) = Wt v_j is ONE sgemm (S × B·T × D), and so are c, dα, dv, dw.
 * Slots t >= n are masked in the small kernels (α, dc, da rows exactly 0), so they add exact
 * zeros to every product. GEMMs run strided-batched over the chunk's images. Sweep 1 computes M,
 * the CE gives dM, sweep 2 recomputes each chunk's forward (skipped when one chunk holds all
 * images: its buffers are still intact) and backpropagates. dimage[j] gets its own rows from the
 * GEMM (beta = 1); dtext[i] sums the per-image partials of a chunk in increasing j, chunks in
 * order, so the result depends only on the shape. cuBLAS is deterministic on one stream.
 *
 * Numerics as the CPU: dot products, norms, cosines, softmax sums, log-sum-exp and CE in double;
 * elementwise values stored in float. In AFLOC_DEVICE_MATH_BF16 the GEMMs use bf16 tensor cores
 * (CUBLAS_COMPUTE_32F_FAST_16BF); the small kernels stay fp32/fp64. */
#include <math.h>

#include "cuda_common.cuh"

/* GLoRIA's cosine_similarity / global_loss eps, the clamp on the product of the norms. */
#define CONTRASTIVE_EPS 1e-8

/* Block size of the row kernels (power of two: the tree reductions rely on it). */
enum { ROW_THREADS = 256, ELEM_THREADS = 256, CE_THREADS = 256 };

/* Images per chunk of the local loss: at most LOCAL_CHUNK_MAX, and only as many as fit the
 * budget. One image already gives GEMMs of S × B·T × D, so more images per chunk buy little at
 * training sizes; the cap keeps the scratch small. At B 64, D 768, S 1444, T 64 one image needs
 * 96.3 MB of pair buffers, so jc = 4 and the scratch is 398 MB (0.40 GB); at B 128, T 100 one
 * image needs 301 MB, jc = 2, scratch 0.64 GB. B > 4 takes the recompute path (sweep 2). */
enum { LOCAL_CHUNK_MAX = 4 };
static const size_t LOCAL_PAIR_BUDGET = (size_t)768 << 20;

/* ---- device helpers ---- */

/* Sum of v over the block in a fixed tree order (blockDim.x a power of two <= 1024); every
 * thread gets the result. sh holds blockDim.x doubles. */
static __device__ double block_sum(double v, double *sh) {
    const unsigned tid = threadIdx.x;
    __syncthreads(); /* sh may still be read from a previous call */
    sh[tid] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half) sh[tid] += sh[tid + half];
        __syncthreads();
    }
    return sh[0];
}

static __device__ float block_max(float v, float *sh) {
    const unsigned tid = threadIdx.x;
    __syncthreads();
    sh[tid] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half) sh[tid] = fmaxf(sh[tid], sh[tid + half]);
        __syncthreads();
    }
    return sh[0];
}

/* Backward of ρ = num / max(nx·ny, eps) with respect to x: dρ/dx = fy·y + fx·x (the CPU's
 * cosine_grad_factors). */
static __device__ void cosine_grad_factors(double *fy, double *fx, double rho, double nx,
                                           double ny) {
    const double den = nx * ny;
    if (den >= CONTRASTIVE_EPS) {
        *fy = 1.0 / den;
        *fx = nx > 0.0 ? -rho / (nx * nx) : 0.0;
    } else {
        *fy = 1.0 / CONTRASTIVE_EPS;
        *fx = 0.0;
    }
}

/* The window of text i: cap_len clamped to [1, T] (memory safety only, as the CPU). */
static __device__ int words_of(const int32_t *cap_len, int i, int T) {
    const int n = cap_len[i];
    return n < 1 ? 1 : n > T ? T : n;
}

static size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

/* ---- shared: symmetric cross-entropy ---- */

/* One block. X (B, B) double, rows images. dX (B, B) = (softmax_rows − I)/B + (softmax_cols −
 * I)/B, written in the CPU's order; lse (2B) scratch; *loss = CE(X) + CE(Xᵀ). */
static __global__ void symmetric_ce_kernel(float *loss, double *dX, double *lse, const double *X,
                                           int B) {
    const double inv_b = 1.0 / (double)B;
    double *lse_row = lse, *lse_col = lse + B;
    for (int r = threadIdx.x; r < B; r += blockDim.x) {
        for (int dir = 0; dir < 2; dir++) {
            const size_t step_row = dir ? 1 : (size_t)B, step_col = dir ? (size_t)B : 1;
            const double *x = X + (size_t)r * step_row;
            double mx = x[0];
            for (int k = 1; k < B; k++)
                if (x[(size_t)k * step_col] > mx) mx = x[(size_t)k * step_col];
            double sum = 0.0;
            for (int k = 0; k < B; k++) sum += exp(x[(size_t)k * step_col] - mx);
            (dir ? lse_col : lse_row)[r] = mx + log(sum);
        }
    }
    __syncthreads();
    for (size_t k = threadIdx.x; k < (size_t)B * B; k += blockDim.x) {
        const int j = (int)(k / B), i = (int)(k % B);
        double d = 0.0;
        d += exp(X[k] - lse_row[j]) * inv_b;
        if (i == j) d -= inv_b;
        d += exp(X[k] - lse_col[i]) * inv_b;
        if (i == j) d -= inv_b;
        dX[k] = d;
    }
    if (threadIdx.x == 0) {
        double l = 0.0;
        for (int r = 0; r < B; r++) l += (lse_row[r] - X[(size_t)r * B + r]) * inv_b;
        for (int r = 0; r < B; r++) l += (lse_col[r] - X[(size_t)r * B + r]) * inv_b;
        *loss = (float)l;
    }
}

/* ---- global loss kernels ---- */

/* Block per row of [image; text] (2B rows of D): norms[row] = ‖row‖ in double. */
static __global__ void global_norms_kernel(double *norms, const float *image, const float *text,
                                           int B, int D) {
    __shared__ double sh[ROW_THREADS];
    const int row = blockIdx.x;
    const float *x = row < B ? image + (size_t)row * D : text + (size_t)(row - B) * D;
    double acc = 0.0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) acc += (double)x[d] * x[d];
    const double s = block_sum(acc, sh);
    if (threadIdx.x == 0) norms[row] = sqrt(s);
}

/* Block per pair (j, i): G[j, i] = temp3·⟨g_j, r_i⟩ / max(ng_j·nr_i, eps). */
static __global__ void global_scores_kernel(double *G, const float *image, const float *text,
                                            const double *ng, const double *nr, int B, int D,
                                            float temp3) {
    __shared__ double sh[ROW_THREADS];
    const int j = blockIdx.x / B, i = blockIdx.x % B;
    const float *g = image + (size_t)j * D, *r = text + (size_t)i * D;
    double acc = 0.0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) acc += (double)g[d] * r[d];
    const double dot = block_sum(acc, sh);
    if (threadIdx.x == 0) {
        const double den = ng[j] * nr[i];
        G[(size_t)j * B + i] = temp3 * dot / (den > CONTRASTIVE_EPS ? den : CONTRASTIVE_EPS);
    }
}

/* Thread per (row, d). dimage (side 0): row j sums over i in increasing order; dtext (side 1):
 * row i sums over j. Exactly the CPU's loops. */
static __global__ void global_grad_kernel(float *grad, const float *image, const float *text,
                                          const double *G, const double *dG, const double *ng,
                                          const double *nr, int B, int D, float temp3, int side) {
    const size_t total = (size_t)B * D;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        const int row = (int)(k / D), d = (int)(k % D);
        double acc = 0.0;
        for (int o = 0; o < B; o++) {
            const int j = side ? o : row, i = side ? row : o;
            const double cosv = G[(size_t)j * B + i] / temp3;
            const double dc = temp3 * dG[(size_t)j * B + i];
            double f_other, f_self;
            if (side == 0) {
                cosine_grad_factors(&f_other, &f_self, cosv, ng[j], nr[i]);
                acc += dc * (f_other * text[(size_t)i * D + d] + f_self * image[(size_t)j * D + d]);
            } else {
                cosine_grad_factors(&f_other, &f_self, cosv, nr[i], ng[j]);
                acc += dc * (f_other * image[(size_t)j * D + d] + f_self * text[(size_t)i * D + d]);
            }
        }
        grad[k] += (float)acc;
    }
}

/* ---- global loss launcher ---- */

/* Scratch: G, dG (B·B doubles), ng, nr (B each), lse (2B). */
static size_t global_scratch(int32_t B) {
    const size_t b = B > 0 ? (size_t)B : 0;
    return align256(2 * b * b * sizeof(double)) + align256(4 * b * sizeof(double));
}

/* A loss over empty sizes is 0, as on the CPU; it is written all the same, so that no stale value
 * stays in the caller's buffer. */
static void write_zero_loss(afloc_device *dev, float *loss, const char *where) {
    afloc_cuda_record_cuda(dev, cudaMemsetAsync(loss, 0, sizeof(float), dev->stream), where);
}

static size_t cuda_global_loss_scratch_bytes(afloc_device *dev, int32_t B, int32_t D) {
    (void)dev;
    (void)D;
    return global_scratch(B);
}

static void cuda_global_loss(afloc_device *dev, float *loss, float *dimage, float *dtext,
                             const float *image, const float *text, int32_t B, int32_t D,
                             float temp3, void *scratch) {
    afloc_device_scope scope(dev);
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0) {
        write_zero_loss(dev, loss, "global_loss");
        return;
    }
    const size_t b = (size_t)B;
    double *G = (double *)scratch;
    double *dG = G + b * b;
    double *ng = (double *)((char *)scratch + align256(2 * b * b * sizeof(double)));
    double *nr = ng + b, *lse = nr + b;
    global_norms_kernel<<<2 * B, ROW_THREADS, 0, dev->stream>>>(ng, image, text, B, D);
    if (AFLOC_CUDA_LAUNCHED(dev, "global_loss") != AFLOC_OK) return;
    global_scores_kernel<<<(unsigned)(b * b), ROW_THREADS, 0, dev->stream>>>(G, image, text, ng,
                                                                              nr, B, D, temp3);
    if (AFLOC_CUDA_LAUNCHED(dev, "global_loss") != AFLOC_OK) return;
    symmetric_ce_kernel<<<1, CE_THREADS, 0, dev->stream>>>(loss, dG, lse, G, B);
    if (AFLOC_CUDA_LAUNCHED(dev, "global_loss") != AFLOC_OK) return;
    const unsigned blocks = afloc_cuda_blocks(b * (size_t)(D > 0 ? D : 0), ELEM_THREADS);
    if (dimage && D > 0) {
        global_grad_kernel<<<blocks, ELEM_THREADS, 0, dev->stream>>>(dimage, image, text, G, dG,
                                                                     ng, nr, B, D, temp3, 0);
        if (AFLOC_CUDA_LAUNCHED(dev, "global_loss") != AFLOC_OK) return;
    }
    if (dtext && D > 0) {
        global_grad_kernel<<<blocks, ELEM_THREADS, 0, dev->stream>>>(dtext, image, text, G, dG,
                                                                     ng, nr, B, D, temp3, 1);
        AFLOC_CUDA_LAUNCHED(dev, "global_loss");
    }
}

/* ---- local loss kernels (P pairs of a chunk, pair p = jj·B + i) ---- */

/* Wt (B, T, D) = text (B, D, T) transposed per text, with the slots past a text's words set to 0:
 * the CPU never reads them, and the dimage GEMM multiplies them by zeros, which would turn an
 * Inf or NaN left there into NaN. Thread per output element. */
static __global__ void transpose_text_kernel(float *wt, const float *text, const int32_t *cap_len,
                                             int B, int D, int T) {
    const size_t total = (size_t)B * T * D;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        const size_t d = k % D, t = (k / D) % T, i = k / ((size_t)D * T);
        wt[k] = (int)t < words_of(cap_len, (int)i, T) ? text[(i * D + d) * T + t] : 0.0f;
    }
}

/* In place on x (P, T, S): softmax over the n words of pair p for every region s (CPU's
 * softmax_over_words: float exps, double sum); rows t >= n set to 0. Thread per (p, s). */
static __global__ void softmax_words_kernel(float *x, const int32_t *cap_len, int P, int B, int S,
                                            int T) {
    const size_t total = (size_t)P * S;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        const size_t p = k / S, s = k % S;
        const int n = words_of(cap_len, (int)(p % B), T);
        float *col = x + p * T * S + s;
        float mx = col[0];
        for (int t = 1; t < n; t++)
            if (col[(size_t)t * S] > mx) mx = col[(size_t)t * S];
        double sum = 0.0;
        for (int t = 0; t < n; t++) {
            const float e = expf(col[(size_t)t * S] - mx);
            col[(size_t)t * S] = e;
            sum += e;
        }
        for (int t = 0; t < n; t++) col[(size_t)t * S] = (float)(col[(size_t)t * S] / sum);
        for (int t = n; t < T; t++) col[(size_t)t * S] = 0.0f;
    }
}

/* Block per row (p, t): alpha = softmax over s of temp1·a1 (CPU's softmax_over_regions); rows
 * t >= n of pair p are 0. */
static __global__ void softmax_regions_kernel(float *alpha, const float *a1,
                                              const int32_t *cap_len, int B, int S, int T,
                                              float temp1) {
    __shared__ double shd[ROW_THREADS];
    __shared__ float shf[ROW_THREADS];
    const size_t row = blockIdx.x; /* p·T + t */
    const int t = (int)(row % T);
    const int n = words_of(cap_len, (int)((row / T) % B), T);
    float *y = alpha + row * S;
    if (t >= n) { /* uniform over the block: no barrier is skipped by part of it */
        for (int s = threadIdx.x; s < S; s += blockDim.x) y[s] = 0.0f;
        return;
    }
    const float *x = a1 + row * S;
    float mx = -INFINITY;
    /* explicit roundings: the CPU rounds temp1·x before subtracting, nvcc would fuse the two */
    for (int s = threadIdx.x; s < S; s += blockDim.x) mx = fmaxf(mx, __fmul_rn(temp1, x[s]));
    mx = block_max(mx, shf);
    double acc = 0.0;
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
        const float e = expf(__fsub_rn(__fmul_rn(temp1, x[s]), mx));
        y[s] = e;
        acc += e;
    }
    const double inv = 1.0 / block_sum(acc, shd);
    for (int s = threadIdx.x; s < S; s += blockDim.x) y[s] = (float)(y[s] * inv);
}

/* Block per row (p, t) with t < n: ρ = ⟨c_t, w_t⟩ / max(‖c_t‖·‖w_t‖, eps) and both norms, in
 * double. c (P, T, D), wt (B, T, D). Rows t >= n get zeros. */
static __global__ void cosine_kernel(double *rho, double *nc, double *nw, const float *c,
                                     const float *wt, const int32_t *cap_len, int B, int D,
                                     int T) {
    __shared__ double sh[ROW_THREADS];
    const size_t row = blockIdx.x;
    const int t = (int)(row % T), i = (int)((row / T) % B);
    const int n = words_of(cap_len, i, T);
    if (t >= n) {
        if (threadIdx.x == 0) rho[row] = nc[row] = nw[row] = 0.0;
        return;
    }
    const float *ct = c + row * D, *wr = wt + ((size_t)i * T + t) * D;
    double dot = 0.0, sc = 0.0, sw = 0.0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        dot += (double)ct[d] * wr[d];
        sc += (double)ct[d] * ct[d];
        sw += (double)wr[d] * wr[d];
    }
    dot = block_sum(dot, sh);
    sc = block_sum(sc, sh);
    sw = block_sum(sw, sh);
    if (threadIdx.x == 0) {
        const double a = sqrt(sc), b = sqrt(sw), den = a * b;
        nc[row] = a;
        nw[row] = b;
        rho[row] = dot / (den > CONTRASTIVE_EPS ? den : CONTRASTIVE_EPS);
    }
}

/* Thread per pair: R = log Σ_{t<n} exp(temp2·ρ_t) (stable), pw_t = exp(temp2·ρ_t − R), and
 * M[j, i] = temp3·R when M is not NULL (j = j0 + p / B). */
static __global__ void pair_lse_kernel(double *M, double *pw, const double *rho,
                                       const int32_t *cap_len, int P, int B, int T, int j0,
                                       float temp2, float temp3) {
    for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < P; p += gridDim.x * blockDim.x) {
        const int i = p % B, n = words_of(cap_len, i, T);
        const double *r = rho + (size_t)p * T;
        double mx = temp2 * r[0];
        for (int t = 1; t < n; t++)
            if (temp2 * r[t] > mx) mx = temp2 * r[t];
        double sum = 0.0;
        for (int t = 0; t < n; t++) sum += exp(temp2 * r[t] - mx);
        const double R = mx + log(sum);
        for (int t = 0; t < T; t++) pw[(size_t)p * T + t] = t < n ? exp(temp2 * r[t] - R) : 0.0;
        if (M) M[(size_t)(j0 + p / B) * B + i] = temp3 * R;
    }
}

/* attention[j] (T, S) = α of pair (j, j) for the chunk's images j0 .. j0 + jc − 1. */
static __global__ void copy_attention_kernel(float *attention, const float *alpha, int jc, int B,
                                             int S, int T, int j0) {
    const size_t per = (size_t)T * S, total = (size_t)jc * per;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        const size_t jj = k / per, e = k % per, j = (size_t)j0 + jj;
        attention[j * per + e] = alpha[(jj * B + j) * per + e];
    }
}

/* Element per (p, t, d): through the cosine and the log-sum-exp. c (P, T, D) is overwritten by
 * dc; dw (P, T, D) = the direct part of dL/dw. drho = temp3·dM[j, i]·temp2·pw_t. */
static __global__ void cosine_backward_kernel(float *c_dc, float *dw, const float *wt,
                                              const double *rho, const double *nc,
                                              const double *nw, const double *pw,
                                              const double *dM, const int32_t *cap_len, int P,
                                              int B, int D, int T, int j0, float temp2,
                                              float temp3) {
    const size_t total = (size_t)P * T * D;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        const size_t row = k / D, d = k % D, p = row / T;
        const int t = (int)(row % T), i = (int)(p % B);
        const int n = words_of(cap_len, i, T);
        if (t >= n) {
            c_dc[k] = 0.0f;
            dw[k] = 0.0f;
            continue;
        }
        const int j = j0 + (int)(p / B);
        const double dR = temp3 * dM[(size_t)j * B + i];
        const double drho = dR * temp2 * pw[row];
        double fw, fc, fc2, fw2;
        cosine_grad_factors(&fw, &fc, rho[row], nc[row], nw[row]);
        cosine_grad_factors(&fc2, &fw2, rho[row], nw[row], nc[row]);
        const float cv = c_dc[k], wv = wt[((size_t)i * T + t) * D + d];
        c_dc[k] = (float)(drho * (fw * wv + fc * cv));
        dw[k] = (float)(drho * (fc2 * cv + fw2 * wv));
    }
}

/* Block per row (p, t): g ← temp1·α∘(g − Σ_s α g) (region softmax backward, dot in double, used
 * in float as the CPU); rows t >= n set to 0. */
static __global__ void softmax_regions_backward_kernel(float *g, const float *alpha,
                                                       const int32_t *cap_len, int B, int S,
                                                       int T, float temp1) {
    __shared__ double sh[ROW_THREADS];
    const size_t row = blockIdx.x;
    const int t = (int)(row % T);
    const int n = words_of(cap_len, (int)((row / T) % B), T);
    float *gr = g + row * S;
    if (t >= n) {
        for (int s = threadIdx.x; s < S; s += blockDim.x) gr[s] = 0.0f;
        return;
    }
    const float *y = alpha + row * S;
    double acc = 0.0;
    for (int s = threadIdx.x; s < S; s += blockDim.x) acc += (double)y[s] * gr[s];
    const float dotf = (float)block_sum(acc, sh);
    for (int s = threadIdx.x; s < S; s += blockDim.x) gr[s] = temp1 * (y[s] * (gr[s] - dotf));
}

/* Thread per (p, s): da ← a1∘(da − Σ_{t<n} a1 da) over the words (word softmax backward); rows
 * t >= n set to 0. */
static __global__ void softmax_words_backward_kernel(float *g, const float *a1,
                                                     const int32_t *cap_len, int P, int B, int S,
                                                     int T) {
    const size_t total = (size_t)P * S;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        const size_t p = k / S, s = k % S;
        const int n = words_of(cap_len, (int)(p % B), T);
        float *gc = g + p * T * S + s;
        const float *yc = a1 + p * T * S + s;
        double dot = 0.0;
        for (int t = 0; t < n; t++) dot += (double)yc[(size_t)t * S] * gc[(size_t)t * S];
        const float dotf = (float)dot;
        for (int t = 0; t < n; t++)
            gc[(size_t)t * S] = yc[(size_t)t * S] * (gc[(size_t)t * S] - dotf);
        for (int t = n; t < T; t++) gc[(size_t)t * S] = 0.0f;
    }
}

/* Element per (i, t, d) with t < n_i: dtext[i, d, t] += dw[jj, i, t, d] for jj = 0 .. jc − 1 in
 * order (float adds in the CPU's order: one image after the other). */
static __global__ void add_dtext_kernel(float *dtext, const float *dw, const int32_t *cap_len,
                                        int jc, int B, int D, int T) {
    const size_t per_image = (size_t)B * T * D;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < per_image;
         k += (size_t)gridDim.x * blockDim.x) {
        const size_t d = k % D, t = (k / D) % T, i = k / ((size_t)D * T);
        if ((int)t >= words_of(cap_len, (int)i, T)) continue;
        float *out = dtext + (i * D + d) * T + t;
        float x = *out;
        for (int jj = 0; jj < jc; jj++) x += dw[(size_t)jj * per_image + k];
        *out = x;
    }
}

/* ---- local loss: scratch layout ---- */

/* Images per chunk: as many as fit LOCAL_PAIR_BUDGET, at most LOCAL_CHUNK_MAX and B, at least 1. */
static size_t local_pair_bytes_per_image(size_t B, size_t D, size_t S, size_t T) {
    return B * T * ((3 * S + 2 * D) * sizeof(float) + 4 * sizeof(double));
}

static int32_t local_chunk_images(int32_t B, int32_t D, int32_t S, int32_t T) {
    const size_t per = local_pair_bytes_per_image((size_t)B, (size_t)D, (size_t)S, (size_t)T);
    size_t jc = per ? LOCAL_PAIR_BUDGET / per : (size_t)B;
    if (jc > LOCAL_CHUNK_MAX) jc = LOCAL_CHUNK_MAX;
    if (jc > (size_t)B) jc = (size_t)B;
    if (jc < 1) jc = 1;
    return (int32_t)jc;
}

typedef struct local_buf {
    double *M, *dM, *lse;  /* (B, B), (B, B), (2B)                                 */
    float *wt;             /* (B, T, D) transposed texts                           */
    double *rho, *nc, *nw, *pw; /* (P, T) each                                   */
    float *a1, *alpha, *da; /* (P, T, S): a → a1; α; dα → da                        */
    float *c, *dw;         /* (P, T, D): c → dc; direct dw, then + da vᵀ           */
} local_buf;

/* Carves (or, with base NULL, only measures) the scratch; returns its size in bytes. Every
 * buffer starts on a 256-byte boundary. */
static size_t local_carve(local_buf *lb, char *base, int32_t B, int32_t D, int32_t S, int32_t T) {
    const size_t b = (size_t)B, d = (size_t)D, s = (size_t)S, t = (size_t)T;
    const size_t pt = (size_t)local_chunk_images(B, D, S, T) * b * t; /* pair rows P·T */
    const size_t fs = sizeof(float), ds = sizeof(double);
    enum { PARTS = 13 };
    const size_t sizes[PARTS] = {
        b * b * ds, b * b * ds, 2 * b * ds,              /* M, dM, lse        */
        b * t * d * fs,                                  /* wt                */
        pt * ds, pt * ds, pt * ds, pt * ds,              /* rho, nc, nw, pw   */
        pt * s * fs, pt * s * fs, pt * s * fs,           /* a1, alpha, da     */
        pt * d * fs, pt * d * fs};                       /* c, dw             */
    char *at[PARTS];
    size_t off = 0;
    for (int k = 0; k < PARTS; k++) {
        at[k] = base ? base + off : NULL;
        off += align256(sizes[k]);
    }
    if (lb) {
        lb->M = (double *)at[0];
        lb->dM = (double *)at[1];
        lb->lse = (double *)at[2];
        lb->wt = (float *)at[3];
        lb->rho = (double *)at[4];
        lb->nc = (double *)at[5];
        lb->nw = (double *)at[6];
        lb->pw = (double *)at[7];
        lb->a1 = (float *)at[8];
        lb->alpha = (float *)at[9];
        lb->da = (float *)at[10];
        lb->c = (float *)at[11];
        lb->dw = (float *)at[12];
    }
    return off;
}

static size_t cuda_local_loss_scratch_bytes(afloc_device *dev, int32_t B, int32_t D, int32_t S,
                                            int32_t T) {
    (void)dev;
    if (B <= 0 || D <= 0 || S <= 0 || T <= 0) return 0;
    return local_carve(NULL, NULL, B, D, S, T);
}

/* ---- local loss: GEMMs ---- */

/* Column-major C = op(A)·op(B) + beta·C, strided-batched over `batch`; fp32 in the parity mode
 * (the handle is in pedantic math), bf16 tensor cores in the bf16 mode. */
static void gemm(afloc_device *dev, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                 int k, const float *A, int lda, long long sa, const float *Bm, int ldb,
                 long long sb, float beta, float *C, int ldc, long long sc, int batch) {
    const float one = 1.0f;
    if (dev->math == AFLOC_DEVICE_MATH_BF16) {
        AFLOC_CUBLAS(dev,
                     cublasGemmStridedBatchedEx(dev->cublas, ta, tb, m, n, k, &one, A, CUDA_R_32F,
                                                lda, sa, Bm, CUDA_R_32F, ldb, sb, &beta, C,
                                                CUDA_R_32F, ldc, sc, batch,
                                                CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT),
                     "local_loss");
    } else {
        AFLOC_CUBLAS(dev,
                     cublasSgemmStridedBatched(dev->cublas, ta, tb, m, n, k, &one, A, lda, sa, Bm,
                                               ldb, sb, &beta, C, ldc, sc, batch),
                     "local_loss");
    }
}

typedef struct local_shape {
    int B, D, S, T;
    float temp1, temp2, temp3;
} local_shape;

static bool launched(afloc_device *dev) {
    return AFLOC_CUDA_LAUNCHED(dev, "local_loss") == AFLOC_OK;
}

/* Forward of the chunk of images j0 .. j0 + jc − 1 against all texts: fills a1, α, c, ρ, nc, nw,
 * pw (and M[j, ·] when M is not NULL, attention rows of its matching pairs when not NULL). All
 * row-major per pair; cuBLAS sees them column-major (see the file comment). */
static void chunk_forward(afloc_device *dev, const local_buf *lb, double *M, float *attention,
                          const float *image, const int32_t *cap_len, const local_shape *sh,
                          int j0, int jc) {
    const int B = sh->B, D = sh->D, S = sh->S, T = sh->T, BT = B * T, P = jc * B;
    const float *v = image + (size_t)j0 * D * S;
    const long long sv = (long long)D * S, sts = (long long)BT * S, std_ = (long long)BT * D;
    /* a (S × BT, col-major) = v_j (S × D) · Wt (D × BT) */
    gemm(dev, CUBLAS_OP_N, CUBLAS_OP_N, S, BT, D, v, S, sv, lb->wt, D, 0, 0.0f, lb->a1, S, sts,
         jc);
    const size_t ps = (size_t)P * S;
    softmax_words_kernel<<<afloc_cuda_blocks(ps, ELEM_THREADS), ELEM_THREADS, 0, dev->stream>>>(
        lb->a1, cap_len, P, B, S, T);
    if (!launched(dev)) return;
    softmax_regions_kernel<<<(unsigned)(P * T), ROW_THREADS, 0, dev->stream>>>(
        lb->alpha, lb->a1, cap_len, B, S, T, sh->temp1);
    if (!launched(dev)) return;
    /* c (D × BT, col-major) = v_jᵀ (D × S) · α (S × BT) */
    gemm(dev, CUBLAS_OP_T, CUBLAS_OP_N, D, BT, S, v, S, sv, lb->alpha, S, sts, 0.0f, lb->c, D,
         std_, jc);
    cosine_kernel<<<(unsigned)(P * T), ROW_THREADS, 0, dev->stream>>>(lb->rho, lb->nc, lb->nw,
                                                                      lb->c, lb->wt, cap_len, B,
                                                                      D, T);
    if (!launched(dev)) return;
    pair_lse_kernel<<<afloc_cuda_blocks((size_t)P, 128), 128, 0, dev->stream>>>(
        M, lb->pw, lb->rho, cap_len, P, B, T, j0, sh->temp2, sh->temp3);
    if (!launched(dev)) return;
    if (attention) {
        const size_t n = (size_t)jc * T * S;
        copy_attention_kernel<<<afloc_cuda_blocks(n, ELEM_THREADS), ELEM_THREADS, 0,
                                dev->stream>>>(attention, lb->alpha, jc, B, S, T, j0);
        launched(dev);
    }
}

/* Backward of the chunk from its direct gradients (dc (P, T, D); the direct part of dw in
 * lb->dw) through the contexts and both softmaxes: dimage rows j0 .. j0 + jc − 1 and dtext (all
 * texts) += their share. */
static void chunk_backward_context(afloc_device *dev, const local_buf *lb, const float *dc,
                                   float *dimage, float *dtext, const float *image,
                                   const int32_t *cap_len, const local_shape *sh, int j0,
                                   int jc) {
    const int B = sh->B, D = sh->D, S = sh->S, T = sh->T, BT = B * T, P = jc * B;
    const float *v = image + (size_t)j0 * D * S;
    const long long sv = (long long)D * S, sts = (long long)BT * S, std_ = (long long)BT * D;
    /* dα (S × BT) = v_j (S × D) · dc (D × BT) */
    gemm(dev, CUBLAS_OP_N, CUBLAS_OP_N, S, BT, D, v, S, sv, dc, D, std_, 0.0f, lb->da, S, sts,
         jc);
    softmax_regions_backward_kernel<<<(unsigned)(P * T), ROW_THREADS, 0, dev->stream>>>(
        lb->da, lb->alpha, cap_len, B, S, T, sh->temp1);
    if (!launched(dev)) return;
    const size_t ps = (size_t)P * S;
    softmax_words_backward_kernel<<<afloc_cuda_blocks(ps, ELEM_THREADS), ELEM_THREADS, 0,
                                    dev->stream>>>(lb->da, lb->a1, cap_len, P, B, S, T);
    if (!launched(dev)) return;
    if (dimage) {
        /* dv_j (S × D) += α (S × BT) · dcᵀ (BT × D) + da (S × BT) · Wtᵀ (BT × D) */
        float *dv = dimage + (size_t)j0 * D * S;
        gemm(dev, CUBLAS_OP_N, CUBLAS_OP_T, S, D, BT, lb->alpha, S, sts, dc, D, std_, 1.0f, dv,
             S, sv, jc);
        gemm(dev, CUBLAS_OP_N, CUBLAS_OP_T, S, D, BT, lb->da, S, sts, lb->wt, D, 0, 1.0f, dv, S,
             sv, jc);
    }
    if (dtext) {
        /* dw (D × BT) += v_jᵀ (D × S) · da (S × BT), then summed over the chunk's images */
        gemm(dev, CUBLAS_OP_T, CUBLAS_OP_N, D, BT, S, v, S, sv, lb->da, S, sts, 1.0f, lb->dw, D,
             std_, jc);
        const size_t n = (size_t)B * T * D;
        add_dtext_kernel<<<afloc_cuda_blocks(n, ELEM_THREADS), ELEM_THREADS, 0, dev->stream>>>(
            dtext, lb->dw, cap_len, jc, B, D, T);
        launched(dev);
    }
}

/* Backward of the chunk after chunk_forward, with dM known: the direct gradients through the
 * cosines and the log-sum-exp (dc overwrites lb->c), then chunk_backward_context. */
static void chunk_backward(afloc_device *dev, const local_buf *lb, float *dimage, float *dtext,
                           const float *image, const int32_t *cap_len, const local_shape *sh,
                           int j0, int jc) {
    const int B = sh->B, D = sh->D, T = sh->T, P = jc * B;
    const size_t ptd = (size_t)P * T * D;
    cosine_backward_kernel<<<afloc_cuda_blocks(ptd, ELEM_THREADS), ELEM_THREADS, 0,
                             dev->stream>>>(lb->c, lb->dw, lb->wt, lb->rho, lb->nc, lb->nw,
                                            lb->pw, lb->dM, cap_len, P, B, D, T, j0, sh->temp2,
                                            sh->temp3);
    if (!launched(dev)) return;
    chunk_backward_context(dev, lb, lb->c, dimage, dtext, image, cap_len, sh, j0, jc);
}

/* ---- local loss launcher ---- */

static void cuda_local_loss(afloc_device *dev, float *loss, float *dimage, float *dtext,
                            float *attention, const float *image, const float *text,
                            const int32_t *cap_len, int32_t B, int32_t D, int32_t S, int32_t T,
                            float temp1, float temp2, float temp3, void *scratch) {
    afloc_device_scope scope(dev);
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || D <= 0 || S <= 0 || T <= 0) {
        write_zero_loss(dev, loss, "local_loss");
        return;
    }
    local_buf lb;
    local_carve(&lb, (char *)scratch, B, D, S, T);
    const local_shape sh = {B, D, S, T, temp1, temp2, temp3};
    const int jc_max = local_chunk_images(B, D, S, T);
    const size_t btd = (size_t)B * T * D;
    transpose_text_kernel<<<afloc_cuda_blocks(btd, ELEM_THREADS), ELEM_THREADS, 0,
                            dev->stream>>>(lb.wt, text, cap_len, B, D, T);
    if (!launched(dev)) return;
    /* sweep 1: M and the attention maps */
    for (int j0 = 0; j0 < B; j0 += jc_max) {
        const int jc = B - j0 < jc_max ? B - j0 : jc_max;
        chunk_forward(dev, &lb, lb.M, attention, image, cap_len, &sh, j0, jc);
        if (afloc_cuda_failed(dev)) return;
    }
    symmetric_ce_kernel<<<1, CE_THREADS, 0, dev->stream>>>(loss, lb.dM, lb.lse, lb.M, B);
    if (!launched(dev) || (!dimage && !dtext)) return;
    /* sweep 2: recompute (unless one chunk holds every image) and backpropagate, in j order */
    for (int j0 = 0; j0 < B; j0 += jc_max) {
        const int jc = B - j0 < jc_max ? B - j0 : jc_max;
        if (jc_max < B) chunk_forward(dev, &lb, NULL, NULL, image, cap_len, &sh, j0, jc);
        chunk_backward(dev, &lb, dimage, dtext, image, cap_len, &sh, j0, jc);
        if (afloc_cuda_failed(dev)) return;
    }
}

/* ---- within-image sentence loss (not in the paper; afloc_cpu_sentence_contrast_loss) ----
 *
 * Plan: images one at a time, each as a local-loss chunk of one image and one text (B = 1,
 * cap_len and the text offset to image i): chunk_forward gives the L_DS forward of the matching
 * pair (a1, α, c and the norms); then the K×K scores of its sentences (slots 1..K), their
 * symmetric CE and the direct gradients of c and w in the kernels below; then
 * chunk_backward_context. K is read on the device from cap_len, so an image with K < 2 runs the
 * same launches on zero gradients and adds exact zeros. The loss is summed in a device double in
 * image order, as the CPU does. */

/* Images with at least two sentences (cap_len >= 3), on the device; every caller counts alike. */
static __device__ int within_counted(const int32_t *cap_len, int B, int T) {
    int counted = 0;
    for (int b = 0; b < B; b++) counted += words_of(cap_len, b, T) >= 3;
    return counted;
}

/* Block per (t, u), t, u < T: Z[t·K + u] = temp3·cos(c_{t+1}, w_{u+1}) (1e-8 clamp) for
 * t, u < K = n − 1 of image i; nc / nw from cosine_kernel. c (T, D), wt (T, D). */
static __global__ void within_scores_kernel(double *Z, const float *c, const float *wt,
                                            const double *nc, const double *nw,
                                            const int32_t *cap_len_i, int D, int T, float temp3) {
    __shared__ double sh[ROW_THREADS];
    const int K = words_of(cap_len_i, 0, T) - 1;
    const int t = (int)(blockIdx.x / T), u = (int)(blockIdx.x % T);
    if (K < 2 || t >= K || u >= K) return; /* uniform over the block */
    const float *ct = c + (size_t)(t + 1) * D, *wu = wt + (size_t)(u + 1) * D;
    double dot = 0.0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) dot += (double)ct[d] * wu[d];
    dot = block_sum(dot, sh);
    if (threadIdx.x == 0) {
        const double den = nc[t + 1] * nw[u + 1];
        Z[(size_t)t * K + u] = temp3 * dot / (den > CONTRASTIVE_EPS ? den : CONTRASTIVE_EPS);
    }
}

/* One thread: the symmetric CE of Z (K, K) in the CPU's order (symmetric_ce), *acc += L_i /
 * counted, and G = weight·temp3·dZ/counted (the gradient with respect to the cosines). */
static __global__ void within_ce_kernel(double *acc, double *G, const double *Z,
                                        const int32_t *cap_len, int i, int B, int T,
                                        float temp3, float weight) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    const int K = words_of(cap_len, i, T) - 1;
    if (K < 2) return;
    const double inv_k = 1.0 / (double)K, inv_count = 1.0 / (double)within_counted(cap_len, B, T);
    double loss = 0.0;
    for (int k = 0; k < K * K; k++) G[k] = 0.0;
    for (int dir = 0; dir < 2; dir++) {
        const int step_row = dir ? 1 : K, step_col = dir ? K : 1;
        for (int r = 0; r < K; r++) {
            const double *x = Z + (size_t)r * step_row;
            double *g = G + (size_t)r * step_row;
            double mx = x[0];
            for (int k = 1; k < K; k++)
                if (x[(size_t)k * step_col] > mx) mx = x[(size_t)k * step_col];
            double sum = 0.0;
            for (int k = 0; k < K; k++) sum += exp(x[(size_t)k * step_col] - mx);
            const double lse = mx + log(sum);
            loss += (lse - x[(size_t)r * step_col]) * inv_k;
            for (int k = 0; k < K; k++) g[(size_t)k * step_col] += exp(x[(size_t)k * step_col] - lse) * inv_k;
            g[(size_t)r * step_col] -= inv_k;
        }
    }
    *acc += loss * inv_count;
    const double scale = (double)weight * temp3 * inv_count;
    for (int k = 0; k < K * K; k++) G[k] *= scale;
}

/* Element per (slot, d): dc (T, D) and the direct dw (T, D) of image i from G (K, K); slot 0
 * ([CLS]) and slots >= n are 0. Each sum runs in the CPU's order (dc_t over u, dw_u over t, each
 * term rounded to float before it is added). */
static __global__ void within_backward_kernel(float *dc, float *dw, const float *c,
                                              const float *wt, const double *nc,
                                              const double *nw, const double *Z, const double *G,
                                              const int32_t *cap_len_i, int D, int T,
                                              float temp3) {
    const int K = words_of(cap_len_i, 0, T) - 1;
    const size_t total = (size_t)T * D;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        const int slot = (int)(k / D), d = (int)(k % D);
        float gc = 0.0f, gw = 0.0f;
        if (K >= 2 && slot >= 1 && slot <= K) {
            const int a = slot - 1; /* the slot as a row t of G, and as a column u */
            const float cv = c[k], wv = wt[k];
            for (int u = 0; u < K; u++) { /* dc_a = Σ_u G[a, u]·∂cos(c_a, w_u)/∂c_a */
                const double g = G[(size_t)a * K + u];
                if (g == 0.0) continue;
                double fw, fc;
                cosine_grad_factors(&fw, &fc, Z[(size_t)a * K + u] / temp3, nc[a + 1], nw[u + 1]);
                gc += (float)(g * (fw * wt[(size_t)(u + 1) * D + d] + fc * cv));
            }
            for (int t = 0; t < K; t++) { /* dw_a = Σ_t G[t, a]·∂cos(c_t, w_a)/∂w_a */
                const double g = G[(size_t)t * K + a];
                if (g == 0.0) continue;
                double fc2, fw2;
                cosine_grad_factors(&fc2, &fw2, Z[(size_t)t * K + a] / temp3, nw[a + 1], nc[t + 1]);
                gw += (float)(g * (fc2 * c[(size_t)(t + 1) * D + d] + fw2 * wv));
            }
        }
        dc[k] = gc;
        dw[k] = gw;
    }
}

static __global__ void store_loss_kernel(float *loss, const double *acc) { *loss = (float)*acc; }

typedef struct within_buf {
    local_buf lb;        /* one image's local-loss chunk (B = 1)                  */
    double *acc;         /* (1) the loss sum                                     */
    double *Z, *G;       /* (T, T) scores and d(weight·L)/dcos                   */
    float *dc;           /* (T, D) direct gradient of the contexts (lb.c is read) */
} within_buf;

static size_t within_carve(within_buf *wb, char *base, int32_t D, int32_t S, int32_t T) {
    size_t off = local_carve(wb ? &wb->lb : NULL, base, 1, D, S, T);
    const size_t t = (size_t)T;
    enum { PARTS = 4 };
    const size_t sizes[PARTS] = {sizeof(double), t * t * sizeof(double), t * t * sizeof(double),
                                 t * (size_t)D * sizeof(float)};
    char *at[PARTS];
    for (int k = 0; k < PARTS; k++) {
        at[k] = base ? base + off : NULL;
        off += align256(sizes[k]);
    }
    if (wb) {
        wb->acc = (double *)at[0];
        wb->Z = (double *)at[1];
        wb->G = (double *)at[2];
        wb->dc = (float *)at[3];
    }
    return off;
}

static size_t cuda_sentence_contrast_scratch_bytes(afloc_device *dev, int32_t B, int32_t D,
                                                   int32_t S, int32_t T) {
    (void)dev;
    (void)B;
    if (D <= 0 || S <= 0 || T <= 0) return 0;
    return within_carve(NULL, NULL, D, S, T);
}

static void cuda_sentence_contrast_loss(afloc_device *dev, float *loss, float *dimage,
                                        float *dtext, const float *image, const float *text,
                                        const int32_t *cap_len, int32_t B, int32_t D, int32_t S,
                                        int32_t T, float temp1, float temp3, float weight,
                                        void *scratch) {
    afloc_device_scope scope(dev);
    if (afloc_cuda_failed(dev)) return;
    if (B <= 0 || D <= 0 || S <= 0 || T <= 0) {
        write_zero_loss(dev, loss, "sentence_contrast");
        return;
    }
    within_buf wb;
    within_carve(&wb, (char *)scratch, D, S, T);
    if (afloc_cuda_record_cuda(dev, cudaMemsetAsync(wb.acc, 0, sizeof(double), dev->stream),
                               "sentence_contrast") != AFLOC_OK)
        return;
    const size_t img_n = (size_t)D * S, txt_n = (size_t)D * T, td = (size_t)T * D;
    const local_shape one = {1, D, S, T, temp1, 1.0f, temp3}; /* temp2 does not enter L_WS */
    const local_buf *lb = &wb.lb;
    for (int i = 0; i < B; i++) {
        const float *v = image + i * img_n;
        const int32_t *cap_i = cap_len + i;
        transpose_text_kernel<<<afloc_cuda_blocks(td, ELEM_THREADS), ELEM_THREADS, 0,
                                dev->stream>>>(lb->wt, text + i * txt_n, cap_i, 1, D, T);
        if (!launched(dev)) return;
        chunk_forward(dev, lb, NULL, NULL, v, cap_i, &one, 0, 1);
        within_scores_kernel<<<(unsigned)(T * T), ROW_THREADS, 0, dev->stream>>>(
            wb.Z, lb->c, lb->wt, lb->nc, lb->nw, cap_i, D, T, temp3);
        if (!launched(dev)) return;
        within_ce_kernel<<<1, 1, 0, dev->stream>>>(wb.acc, wb.G, wb.Z, cap_len, i, B, T, temp3,
                                                   weight);
        if (!launched(dev)) return;
        if (dimage || dtext) {
            within_backward_kernel<<<afloc_cuda_blocks(td, ELEM_THREADS), ELEM_THREADS, 0,
                                     dev->stream>>>(wb.dc, lb->dw, lb->c, lb->wt, lb->nc, lb->nw,
                                                    wb.Z, wb.G, cap_i, D, T, temp3);
            if (!launched(dev)) return;
            chunk_backward_context(dev, lb, wb.dc, dimage ? dimage + i * img_n : NULL,
                                   dtext ? dtext + i * txt_n : NULL, v, cap_i, &one, 0, 1);
        }
        if (afloc_cuda_failed(dev)) return;
    }
    store_loss_kernel<<<1, 1, 0, dev->stream>>>(loss, wb.acc);
    launched(dev);
}

/* ---- registration ---- */

extern "C" void afloc_cuda_register_contrastive(afloc_device_ops *ops) {
    ops->global_loss = cuda_global_loss;
    ops->global_loss_scratch_bytes = cuda_global_loss_scratch_bytes;
    ops->local_loss = cuda_local_loss;
    ops->local_loss_scratch_bytes = cuda_local_loss_scratch_bytes;
    ops->sentence_contrast_loss = cuda_sentence_contrast_loss;
    ops->sentence_contrast_scratch_bytes = cuda_sentence_contrast_scratch_bytes;
}
