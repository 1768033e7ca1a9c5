/* adam.c: the optimizer step of MODEL.md §7.1, used by the trainer (issue 4): Adam with PyTorch
 * semantics (torch.optim.Adam 1.13, the single-tensor path taken when foreach is unset, L2 weight
 * decay added to the gradient, not AdamW) and global-norm gradient clipping
 * (torch.nn.utils.clip_grad_norm_, norm_type 2).
 *
 * The update reproduces torch's float32 rounding step by step, so parameters match torch bit for
 * bit (measured in tests/ops/test_adam.c). PyTorch's CPU kernels (AVX2 build, gcc) fuse
 * "a + s·b" and "a + s·b·c" into FMAs, including the scalar tails, so this file calls fmaf()
 * exactly where they do and rounds everything else separately (the library is compiled as
 * ISO C11, where gcc does not contract on its own, and no expression below has a product
 * feeding a sum, so clang's -ffp-contract=on or -march=native cannot fuse anything either).
 * For one element, with g the gradient:
 *   g = g·scale                       clip_grad_norm_'s g.mul_(clip_coef); scale 1: none
 *   g = fma(p, wd, g)                 grad.add(param, alpha=wd), skipped when wd == 0
 *   m = fma(g, 1−β1, m·β1)            exp_avg.mul_(β1).add_(grad, alpha=1−β1)
 *   v = fma((1−β2)·g, g, v·β2)        exp_avg_sq.mul_(β2).addcmul_(grad, grad, value=1−β2)
 *   d = sqrt(v) / sqrt(1−β2^t) + eps  (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
 *   p = p + (−lr/(1−β1^t) · m) / d    param.addcdiv_(exp_avg, denom, value=−step_size)
 * The scalars (1−β1, 1−β2, bias corrections, step size) are computed in double, as Python does,
 * and rounded to float where torch hands them to a float kernel. That is why the hyperparameters
 * are doubles here: 1 − 0.9 in double rounds to 0.1f, but 1 − 0.9f does not.
 *
 * Threads: every element is independent, so any OpenMP split gives the same bits. The norm's sum
 * of squares runs in double over fixed blocks of NORM_BLOCK elements, each summed in index order,
 * and the block sums are added in block order: bit-identical for any team size. */
#include <math.h>

#include "cpu/cpu_ops.h"

/* Elements per norm block, and blocks per parallel round (the partials live on the stack). */
#define NORM_BLOCK 4096
#define NORM_ROUND 64
/* Below this many elements the update runs on one thread (team start-up costs more). */
#define ADAM_PARALLEL_MIN 32768

void afloc_cpu_adam_update(float *params, float *m, float *v, const float *grads, size_t n,
                           double lr, double beta1, double beta2, double eps,
                           double weight_decay, int64_t step, float grad_scale) {
    const double bias_correction1 = 1.0 - pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - pow(beta2, (double)step);
    const float neg_step_size = (float)(-(lr / bias_correction1));
    const float bc2_sqrt = (float)sqrt(bias_correction2);
    const float b1 = (float)beta1, b2 = (float)beta2;
    const float one_minus_b1 = (float)(1.0 - beta1), one_minus_b2 = (float)(1.0 - beta2);
    const float wd = (float)weight_decay, epsf = (float)eps;
    const int decay = weight_decay != 0.0;
    const int scaled = grad_scale != 1.0f;
    const int64_t count = (int64_t)n;
#pragma omp parallel for schedule(static) if (count >= ADAM_PARALLEL_MIN)
    for (int64_t i = 0; i < count; i++) {
        float g = grads[i];
        if (scaled) g = g * grad_scale;
        if (decay) g = fmaf(params[i], wd, g);
        const float mi = fmaf(g, one_minus_b1, m[i] * b1);
        const float vi = fmaf(one_minus_b2 * g, g, v[i] * b2);
        const float denom = sqrtf(vi) / bc2_sqrt + epsf;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] + (neg_step_size * mi) / denom;
    }
}

double afloc_cpu_sum_squares(const float *x, size_t n) {
    const size_t blocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    double total = 0.0;
    for (size_t first = 0; first < blocks; first += NORM_ROUND) {
        const int32_t round =
            (int32_t)(blocks - first < NORM_ROUND ? blocks - first : NORM_ROUND);
        double partial[NORM_ROUND];
#pragma omp parallel for schedule(static) if (round > 1)
        for (int32_t b = 0; b < round; b++) {
            const size_t start = (first + (size_t)b) * NORM_BLOCK;
            const size_t end = start + NORM_BLOCK < n ? start + NORM_BLOCK : n;
            double s = 0.0;
            for (size_t i = start; i < end; i++) s += (double)x[i] * (double)x[i];
            partial[b] = s;
        }
        for (int32_t b = 0; b < round; b++) total += partial[b];
    }
    return total;
}

double afloc_cpu_grad_norm(const float *grads, size_t n) {
    return sqrt(afloc_cpu_sum_squares(grads, n));
}

/* clip_grad_norm_ computes, on float32 tensors: clip_coef = max_norm / (total_norm + 1e-6), where
 * the Python-scalar division is Tensor.__rdiv__ = reciprocal() * max_norm, then clamp(max=1). A
 * NaN norm gives a NaN factor, as torch.clamp propagates NaN (the caller should skip the step);
 * an infinite norm gives 0. */
float afloc_clip_factor(double total_norm, float max_norm) {
    const float norm = (float)total_norm;
    const float coef = (1.0f / (norm + 1e-6f)) * max_norm;
    if (isnan(coef)) return coef;
    return coef < 1.0f ? coef : 1.0f;
}
