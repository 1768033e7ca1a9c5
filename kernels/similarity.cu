/* similarity.cu: the localization map on the device (MODEL.md §8.1–8.2), the twin of
 * src/cpu/similarity.c: the raw map, a dot product of the layer-3 patch features with the report
 * embedding (torch.einsum('dhw,d->hw')), and its smoothing,
 * scipy.ndimage.gaussian_filter(m, sigma, truncate, mode='reflect'), as the CPU reproduces it.
 * Layouts: features (D, H, W) row-major, text (D), maps (H, W) row-major.
 * Dimension letters: D joint embedding, H W spatial, P = H·W positions, r kernel radius.
 *
 * Bit-identical to the CPU twin by construction (explicitly rounded intrinsics everywhere, so nvcc
 * cannot contract a multiply-add into an FMA that the CPU, compiled as ISO C11, does not do):
 *  - map: one thread per position, float products added in increasing d from 0.0f;
 *  - Gaussian: the taps are computed on the host, in double, with the CPU's formulas and numpy's
 *    pairwise sum (the same libm exp as the CPU backend), and passed to the kernels as an argument
 *    struct; axis 0 (down the columns) into `scratch`, then axis 1 into `out`, one thread per
 *    sample, each accumulated in double as acc = x[i]·w0, then acc += (x[i−k] + x[i+k])·w[k] for
 *    k = r down to 1, with scipy's 'reflect' (half-sample symmetric, period 2n) outside the line.
 *
 * Radius bounds: taps k <= GAUSS_ARG_TAPS − 1 = 255 (truncate·sigma < 255.5, i.e. sigma < ~63.9 at
 * truncate 4) come from the host and are exact. Farther taps are computed on the device as
 * exp(coef·k²) / sum with CUDA's double exp (max 1 ulp error), which moves the double accumulator
 * by ~1e-16 relative: the float result then matches the CPU's within 1 ulp. A radius above
 * GAUSS_MAX_RADIUS (65536) is refused with AFLOC_ERR_INVALID_ARGUMENT recorded in the handle (the
 * work grows as H·W·r; the model uses sigma of a few pixels). */
#include <math.h>
#include <stdio.h>

#include "cuda_common.cuh"

/* ---- raw similarity map ---- */

/* out (P) = Σ_d features[d][p] · text[d]: one thread per position. */
static __global__ void similarity_map_forward_kernel(float *out, const float *features,
                                                     const float *text, int32_t D, size_t P) {
    for (size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x; p < P;
         p += (size_t)gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (int32_t d = 0; d < D; d++)
            acc = __fadd_rn(acc, __fmul_rn(features[(size_t)d * P + p], text[d]));
        out[p] = acc;
    }
}

/* ---- Gaussian taps, built on the host as scipy builds them (similarity.c) ---- */

enum { GAUSS_ARG_TAPS = 256 };
#define GAUSS_MAX_RADIUS 65536

/* Kernel argument (2,072 bytes, within the 4 KB parameter limit of every CUDA version). */
struct gauss_taps {
    int64_t radius;
    double  coef;                   /* −0.5 / sigma²                                        */
    double  sum;                    /* numpy's pairwise sum of phi over −r..r                */
    double  weight[GAUSS_ARG_TAPS]; /* weight[k] = phi(k) / sum for k <= min(r, 255), else 0 */
};

/* phi(x) = exp(coef · x²), x² formed exactly as numpy's integer x ** 2. */
static double gauss_phi_host(double coef, int64_t x) { return exp(coef * (double)(x * x)); }

/* numpy's DOUBLE_pairwise_sum of phi over array indices lo .. lo+n−1 of the tap array x = −r..r
 * (similarity.c's pairwise_sum, step for step). */
static double pairwise_sum_host(double coef, int64_t radius, int64_t lo, int64_t n) {
    if (n < 8) {
        double res = 0.0;
        for (int64_t i = 0; i < n; i++) res += gauss_phi_host(coef, lo + i - radius);
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int l = 0; l < 8; l++) r[l] = gauss_phi_host(coef, lo + l - radius);
        int64_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (int l = 0; l < 8; l++) r[l] += gauss_phi_host(coef, lo + i + l - radius);
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += gauss_phi_host(coef, lo + i - radius);
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum_host(coef, radius, lo, n2) +
           pairwise_sum_host(coef, radius, lo + n2, n - n2);
}

/* Radius int(truncate·sigma + 0.5) as the CPU computes it (negative or NaN gives 0, capped at
 * 2^30 − 1). The product is kept in a volatile so the host compiler cannot fuse it with the + 0.5
 * (the CPU rounds it separately). */
static int64_t gauss_radius_host(double sigma, double truncate) {
    volatile double product = truncate * sigma;
    double rd = product + 0.5;
    if (!(rd >= 0.0)) rd = 0.0;
    if (rd > 1073741823.0) rd = 1073741823.0;
    return (int64_t)rd;
}

/* Fills the taps for a radius already checked against GAUSS_MAX_RADIUS. */
static void gauss_taps_init(gauss_taps *g, double sigma, int64_t radius) {
    g->radius = radius;
    g->coef = -0.5 / (sigma * sigma);
    g->sum = pairwise_sum_host(g->coef, radius, 0, 2 * radius + 1);
    for (int64_t k = 0; k < GAUSS_ARG_TAPS; k++)
        g->weight[k] = k <= radius ? gauss_phi_host(g->coef, k) / g->sum : 0.0;
}

/* ---- Gaussian kernels ---- */

/* Tap k (1 <= k <= r): the host's value for k < 256, else computed here (see the top comment). */
static __device__ double gauss_weight(const gauss_taps &g, int64_t k) {
    return k < GAUSS_ARG_TAPS ? g.weight[k]
                              : __ddiv_rn(exp(__dmul_rn(g.coef, (double)(k * k))), g.sum);
}

/* Index of position p (any integer) on a line of n samples under scipy's 'reflect'. */
static __device__ int32_t reflect_index(int64_t p, int32_t n) {
    const int64_t period = 2 * (int64_t)n;
    int64_t m = p % period;
    if (m < 0) m += period;
    return (int32_t)(m < n ? m : period - 1 - m);
}

/* Axis 0: dst[i][j] = Σ_k w[k]·(src[i−k][j] + src[i+k][j]) in double; one thread per sample. */
static __global__ void gauss_pass_rows_kernel(float *dst, const float *src, int32_t H, int32_t W,
                                              const __grid_constant__ gauss_taps g) {
    const size_t n = (size_t)H * (size_t)W;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const int32_t i = (int32_t)(e / (size_t)W);
        const int32_t j = (int32_t)(e % (size_t)W);
        const int64_t r = g.radius;
        const bool inside = i - r >= 0 && i + r < H;
        double acc = __dmul_rn((double)src[e], g.weight[0]);
        for (int64_t k = r; k >= 1; k--) {
            const int32_t ia = inside ? (int32_t)(i - k) : reflect_index(i - k, H);
            const int32_t ib = inside ? (int32_t)(i + k) : reflect_index(i + k, H);
            const double a = (double)src[(size_t)ia * (size_t)W + (size_t)j];
            const double b = (double)src[(size_t)ib * (size_t)W + (size_t)j];
            acc = __dadd_rn(acc, __dmul_rn(__dadd_rn(a, b), gauss_weight(g, k)));
        }
        dst[e] = __double2float_rn(acc);
    }
}

/* Axis 1: dst[i][j] = Σ_k w[k]·(src[i][j−k] + src[i][j+k]) in double; one thread per sample. */
static __global__ void gauss_pass_cols_kernel(float *dst, const float *src, int32_t H, int32_t W,
                                              const __grid_constant__ gauss_taps g) {
    const size_t n = (size_t)H * (size_t)W;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const int32_t j = (int32_t)(e % (size_t)W);
        const float *s = src + (e - (size_t)j); /* row i */
        const int64_t r = g.radius;
        const bool inside = j - r >= 0 && j + r < W;
        double acc = __dmul_rn((double)s[j], g.weight[0]);
        for (int64_t k = r; k >= 1; k--) {
            const int32_t ja = inside ? (int32_t)(j - k) : reflect_index(j - k, W);
            const int32_t jb = inside ? (int32_t)(j + k) : reflect_index(j + k, W);
            acc = __dadd_rn(acc, __dmul_rn(__dadd_rn((double)s[ja], (double)s[jb]),
                                           gauss_weight(g, k)));
        }
        dst[e] = __double2float_rn(acc);
    }
}

/* ---- launchers ---- */

enum { SIMILARITY_THREADS = 256 };

static void cuda_similarity_map_forward(afloc_device *dev, float *out, const float *features,
                                        const float *text, int32_t D, int32_t H, int32_t W) {
    if (afloc_cuda_failed(dev)) return;
    if (H <= 0 || W <= 0) return;
    afloc_device_scope scope(dev);
    const size_t P = (size_t)H * (size_t)W;
    /* D <= 0 gives a zero map, as the CPU loop does. */
    similarity_map_forward_kernel<<<afloc_cuda_blocks(P, SIMILARITY_THREADS), SIMILARITY_THREADS,
                                    0, dev->stream>>>(out, features, text, D < 0 ? 0 : D, P);
    AFLOC_CUDA_LAUNCHED(dev, "similarity_map_forward");
}

/* scratch: H·W floats (the axis-0 pass). */
static void cuda_gaussian_smooth_forward(afloc_device *dev, float *out, const float *in,
                                         int32_t H, int32_t W, float sigma, float truncate,
                                         void *scratch) {
    if (afloc_cuda_failed(dev)) return;
    if (H <= 0 || W <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)H * (size_t)W;
    /* scipy skips an axis whose sigma is not above 1e-15; with both skipped it copies. */
    if (!((double)sigma > 1e-15)) {
        afloc_cuda_record_cuda(dev,
                               cudaMemcpyAsync(out, in, n * sizeof(float),
                                               cudaMemcpyDeviceToDevice, dev->stream),
                               "gaussian_smooth_forward");
        return;
    }
    const int64_t radius = gauss_radius_host((double)sigma, (double)truncate);
    if (radius > GAUSS_MAX_RADIUS) {
        char what[128];
        snprintf(what, sizeof what, "radius %lld (truncate·sigma) exceeds %d",
                 (long long)radius, GAUSS_MAX_RADIUS);
        afloc_cuda_record(dev, AFLOC_ERR_INVALID_ARGUMENT, "gaussian_smooth_forward", what);
        return;
    }
    gauss_taps taps;
    gauss_taps_init(&taps, (double)sigma, radius);
    float *mid = (float *)scratch; /* (H, W) */
    const unsigned grid = afloc_cuda_blocks(n, SIMILARITY_THREADS);
    gauss_pass_rows_kernel<<<grid, SIMILARITY_THREADS, 0, dev->stream>>>(mid, in, H, W, taps);
    if (AFLOC_CUDA_LAUNCHED(dev, "gaussian_smooth_forward") != AFLOC_OK) return;
    gauss_pass_cols_kernel<<<grid, SIMILARITY_THREADS, 0, dev->stream>>>(out, mid, H, W, taps);
    AFLOC_CUDA_LAUNCHED(dev, "gaussian_smooth_forward");
}

extern "C" void afloc_cuda_register_similarity(afloc_device_ops *ops) {
    ops->similarity_map_forward = cuda_similarity_map_forward;
    ops->gaussian_smooth_forward = cuda_gaussian_smooth_forward;
}
