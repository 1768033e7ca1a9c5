/* similarity.c: the localization map of the CPU backend (MODEL.md §8.1–8.2): the raw map, a dot
 * product of the layer-3 patch features with the report embedding (torch.einsum('dhw,d->hw')),
 * and its smoothing, scipy.ndimage.gaussian_filter(m, sigma, truncate=4.0, mode='reflect')
 * reproduced bit for bit.
 * Layouts: features (D, H, W) row-major, text (D), maps (H, W) row-major.
 * Dimension letters: D joint embedding, H W spatial, r kernel radius.
 *
 * What scipy 1.10 does, and what this file repeats operation by operation:
 *  - gaussian_filter1d: radius r = int(truncate·sigma + 0.5) in double; weights
 *    phi(x) = exp(−0.5/sigma² · x²) for x = −r..r, divided by their numpy sum (numpy's pairwise
 *    summation, reproduced in pairwise_sum below).
 *  - gaussian_filter: axis 0 (down the columns) first, then axis 1; the first pass is stored in the
 *    output's dtype (float32) and the second reads it back.
 *  - correlate1d (ni_filters.c, symmetric kernel branch): per output sample, in double,
 *    acc = x[i]·w[0], then for k = r down to 1: acc += (x[i−k] + x[i+k])·w[k]; stored as float.
 *  - mode 'reflect' (NI_ExtendLine): … c b a | a b c … d | d c b …, repeated with period 2n when
 *    the radius exceeds the line (a 1-sample line is constant).
 * One caveat: numpy computes exp with its own SIMD routine on AVX-512 machines, which differs from
 * the C library's exp in the last bit of some weights. That moves the double accumulator by
 * ~1e-16 relative, which changes the float32 result only when it falls within that distance of a
 * rounding boundary (not seen in tests/ops). */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"

#if defined(__clang__)
/* Each multiply and add must round separately, as in scipy's build; GCC's ISO mode already
 * defaults to no contraction (and does not know this pragma). */
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- raw similarity map ---- */

/* Positions per block: each block is independent and owns its outputs. */
enum { SIMILARITY_BLOCK = 256 };

void afloc_cpu_similarity_map_forward(float *out, const float *features, const float *text,
                                      int32_t D, int32_t H, int32_t W) {
    const size_t P = (size_t)H * (size_t)W;
    const int64_t blocks = (int64_t)((P + SIMILARITY_BLOCK - 1) / SIMILARITY_BLOCK);
#pragma omp parallel for schedule(static) if (blocks > 1 && (int64_t)P * D > 262144)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const size_t p0 = (size_t)blk * SIMILARITY_BLOCK;
        const size_t n = P - p0 < SIMILARITY_BLOCK ? P - p0 : SIMILARITY_BLOCK;
        float *restrict o = out + p0;
        for (size_t p = 0; p < n; p++) o[p] = 0.0f;
        for (int32_t d = 0; d < D; d++) {
            const float *restrict f = features + (size_t)d * P + p0;
            const float t = text[d];
            for (size_t p = 0; p < n; p++) o[p] += f[p] * t;
        }
    }
}

/* ---- Gaussian kernel, as scipy builds it ---- */

/* Weights for |x| < GAUSS_TABLE are tabulated on the stack; farther taps (radius ≥ 1024, i.e.
 * truncate·sigma ≥ 1023.5) are computed when used, so no radius needs an allocation. */
enum { GAUSS_TABLE = 1024 };

typedef struct gauss_kernel {
    int64_t radius;
    double  coef;               /* −0.5 / sigma²                     */
    double  sum;                /* numpy's sum of phi over −r..r       */
    double  weight[GAUSS_TABLE]; /* weight[k] = phi(k) / sum, k ≤ min(r, GAUSS_TABLE − 1) */
} gauss_kernel;

/* phi(x) = exp(coef · x²), x² formed exactly as numpy's integer x ** 2. */
static double gauss_phi(const gauss_kernel *g, int64_t x) {
    return exp(g->coef * (double)(x * x));
}

/* numpy's pairwise sum (DOUBLE_pairwise_sum) of phi over array indices lo .. lo+n−1 of the tap
 * array x = −r..r: below 8 terms a plain loop; up to 128 terms eight interleaved sums combined as
 * ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) then the tail; above that, halves cut at a multiple of 8. */
static double pairwise_sum(const gauss_kernel *g, int64_t lo, int64_t n) {
    if (n < 8) {
        double res = 0.0;
        for (int64_t i = 0; i < n; i++) res += gauss_phi(g, lo + i - g->radius);
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int l = 0; l < 8; l++) r[l] = gauss_phi(g, lo + l - g->radius);
        int64_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (int l = 0; l < 8; l++) r[l] += gauss_phi(g, lo + i + l - g->radius);
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += gauss_phi(g, lo + i - g->radius);
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(g, lo, n2) + pairwise_sum(g, lo + n2, n - n2);
}

static void gauss_kernel_init(gauss_kernel *g, double sigma, double truncate) {
    /* int(truncate·sigma + 0.5) truncates toward zero; a negative radius is taken as 0 and an
     * absurd one is capped (the model code validates sigma and truncate). */
    double rd = truncate * sigma + 0.5;
    if (!(rd >= 0.0)) rd = 0.0;
    if (rd > 1073741823.0) rd = 1073741823.0;
    g->radius = (int64_t)rd;
    g->coef = -0.5 / (sigma * sigma);
    g->sum = pairwise_sum(g, 0, 2 * g->radius + 1);
    const int64_t last = g->radius < GAUSS_TABLE - 1 ? g->radius : GAUSS_TABLE - 1;
    for (int64_t k = 0; k <= last; k++) g->weight[k] = gauss_phi(g, k) / g->sum;
}

static double gauss_weight(const gauss_kernel *g, int64_t k) {
    return k < GAUSS_TABLE ? g->weight[k] : gauss_phi(g, k) / g->sum;
}

/* Index of position p (any integer) on a line of n samples under scipy's 'reflect'. */
static int32_t reflect_index(int64_t p, int32_t n) {
    const int64_t period = 2 * (int64_t)n;
    int64_t m = p % period;
    if (m < 0) m += period;
    return (int32_t)(m < n ? m : period - 1 - m);
}

/* ---- the two passes ---- */

/* Columns per chunk of the axis-0 pass: the double accumulators of one chunk stay on the stack. */
enum { GAUSS_CHUNK = 64 };

/* Axis 0: dst row i = Σ_k w[k] · (src row i−k + src row i+k), per column, in double. */
static void gauss_pass_rows(float *dst, const float *src, int32_t H, int32_t W,
                            const gauss_kernel *g, int32_t i) {
    const double w0 = g->weight[0];
    for (int32_t j0 = 0; j0 < W; j0 += GAUSS_CHUNK) {
        const int32_t n = W - j0 < GAUSS_CHUNK ? W - j0 : GAUSS_CHUNK;
        double acc[GAUSS_CHUNK];
        const float *restrict c = src + (size_t)i * W + j0;
        for (int32_t j = 0; j < n; j++) acc[j] = (double)c[j] * w0;
        for (int64_t k = g->radius; k >= 1; k--) {
            const double wk = gauss_weight(g, k);
            const float *restrict a = src + (size_t)reflect_index(i - k, H) * W + j0;
            const float *restrict b = src + (size_t)reflect_index(i + k, H) * W + j0;
            for (int32_t j = 0; j < n; j++) acc[j] += ((double)a[j] + (double)b[j]) * wk;
        }
        float *restrict o = dst + (size_t)i * W + j0;
        for (int32_t j = 0; j < n; j++) o[j] = (float)acc[j];
    }
}

/* Axis 1: dst[i][j] = Σ_k w[k] · (src[i][j−k] + src[i][j+k]), in double. */
static void gauss_pass_cols(float *dst, const float *src, int32_t W, const gauss_kernel *g,
                            int32_t i) {
    const float *restrict s = src + (size_t)i * W;
    float *restrict o = dst + (size_t)i * W;
    const int64_t r = g->radius;
    for (int32_t j = 0; j < W; j++) {
        double acc = (double)s[j] * g->weight[0];
        if (j - r >= 0 && j + r < W) {
            for (int64_t k = r; k >= 1; k--)
                acc += ((double)s[j - k] + (double)s[j + k]) * gauss_weight(g, k);
        } else {
            for (int64_t k = r; k >= 1; k--)
                acc += ((double)s[reflect_index(j - k, W)] + (double)s[reflect_index(j + k, W)]) *
                       gauss_weight(g, k);
        }
        o[j] = (float)acc;
    }
}

void afloc_cpu_gaussian_smooth_forward(float *out, const float *in, int32_t H, int32_t W,
                                       float sigma, float truncate, float *scratch) {
    if (H <= 0 || W <= 0) return;
    /* scipy skips an axis whose sigma is not above 1e-15; with both skipped it copies. */
    if (!((double)sigma > 1e-15)) {
        memcpy(out, in, (size_t)H * (size_t)W * sizeof *out);
        return;
    }
    gauss_kernel g;
    gauss_kernel_init(&g, (double)sigma, (double)truncate);
    const int64_t work = (int64_t)H * W * (2 * g.radius + 1);
#pragma omp parallel if (H > 1 && work > 200000)
    {
#pragma omp for schedule(static)
        for (int32_t i = 0; i < H; i++) gauss_pass_rows(scratch, in, H, W, &g, i);
#pragma omp for schedule(static)
        for (int32_t i = 0; i < H; i++) gauss_pass_cols(out, scratch, W, &g, i);
    }
}
