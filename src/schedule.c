/* schedule.c: the learning-rate schedules of schedule.h (MODEL.md §7.1): constant, StepLR per
 * epoch (torch.optim.lr_scheduler.StepLR, chained form) and linear warmup + cosine decay. */
#include "schedule.h"

#include <math.h>

#include "error.h"

/* π in double (M_PI is not ISO C), the same value as Python's math.pi. */
static const double PI = 3.14159265358979323846;

void afloc_lr_schedule_official(afloc_lr_schedule *s) {
    s->kind = AFLOC_LR_STEP;
    s->base_lr = 2e-5;
    s->gamma = 0.9;
    s->step_epochs = 1;
    s->warmup_steps = 0;
    s->total_steps = 0;
    s->min_lr = 0.0;
}

static int rate_ok(double r) {
    return isfinite(r) && r >= 0.0;
}

afloc_status afloc_lr_schedule_check(const afloc_lr_schedule *s, const char *who) {
    const afloc_status bad = AFLOC_ERR_INVALID_ARGUMENT;
    if (!s) return afloc_fail(bad, "%s: learning-rate schedule is NULL", who);
    if (s->kind < AFLOC_LR_CONSTANT || s->kind > AFLOC_LR_WARMUP_COSINE)
        return afloc_fail(bad, "%s: schedule kind %d is not 0 (constant), 1 (step) or 2 (cosine)",
                          who, (int)s->kind);
    if (!rate_ok(s->base_lr))
        return afloc_fail(bad, "%s: base learning rate %g is not finite and >= 0", who,
                          s->base_lr);
    if (s->kind == AFLOC_LR_STEP && !(isfinite(s->gamma) && s->gamma > 0.0))
        return afloc_fail(bad, "%s: StepLR gamma %g is not finite and > 0", who, s->gamma);
    if (s->kind == AFLOC_LR_STEP && s->step_epochs < 1)
        return afloc_fail(bad, "%s: StepLR step_epochs %d is below 1", who, (int)s->step_epochs);
    if (s->kind == AFLOC_LR_WARMUP_COSINE && !rate_ok(s->min_lr))
        return afloc_fail(bad, "%s: min learning rate %g is not finite and >= 0", who, s->min_lr);
    if (s->kind == AFLOC_LR_WARMUP_COSINE &&
        (s->warmup_steps < 0 || s->total_steps < s->warmup_steps))
        return afloc_fail(bad, "%s: warmup_steps %lld, total_steps %lld: need 0 <= warmup <= total",
                          who, (long long)s->warmup_steps, (long long)s->total_steps);
    return AFLOC_OK;
}

static double step_lr(const afloc_lr_schedule *s, int32_t epoch) {
    /* StepLR.get_lr multiplies the current rate by gamma at each epoch that is a multiple of
     * step_size; repeating the multiplications keeps torch's rounding. */
    double lr = s->base_lr;
    const int32_t steps = s->step_epochs >= 1 ? epoch / s->step_epochs : 0;
    for (int32_t k = 0; k < steps; k++) lr *= s->gamma;
    return lr;
}

static double warmup_cosine_lr(const afloc_lr_schedule *s, int64_t step) {
    if (step < s->warmup_steps) return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    if (step >= s->total_steps) return s->min_lr;
    const double t = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    return s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1.0 + cos(PI * t));
}

double afloc_lr_at(const afloc_lr_schedule *s, int64_t step, int32_t epoch) {
    if (step < 0) step = 0;
    if (epoch < 0) epoch = 0;
    switch (s->kind) {
    case AFLOC_LR_STEP: return step_lr(s, epoch);
    case AFLOC_LR_WARMUP_COSINE: return warmup_cosine_lr(s, step);
    default: return s->base_lr;
    }
}
