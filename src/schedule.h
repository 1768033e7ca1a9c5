/* schedule.h: learning-rate schedules of the trainer (issue 4; MODEL.md §7.1): constant, StepLR
 * stepped per epoch (the official run: 2e-5 · 0.9^epoch) and linear warmup + cosine decay (what
 * small from-scratch runs need). Filled from the training config; a pure function of
 * (step, epoch), so a resumed run gets the same rates. */
#ifndef AFLOC_SCHEDULE_H
#define AFLOC_SCHEDULE_H

#include <stdint.h>

#include "afloc/afloc.h"

enum {
    AFLOC_LR_CONSTANT = 0,      /* base_lr always */
    AFLOC_LR_STEP = 1,          /* torch.optim.lr_scheduler.StepLR, stepped once per epoch */
    AFLOC_LR_WARMUP_COSINE = 2, /* linear warmup, then cosine to min_lr */
};

/* Rates are double, like the Python floats of torch's param_groups, so the rate handed to
 * afloc_cpu_adam_update is bit-identical to torch's. */
typedef struct afloc_lr_schedule {
    int32_t kind;         /* AFLOC_LR_* */
    double base_lr;       /* all kinds */
    double gamma;         /* step: factor per step_epochs epochs */
    int32_t step_epochs;  /* step: StepLR step_size, >= 1 */
    int64_t warmup_steps; /* warmup_cosine: >= 0 */
    int64_t total_steps;  /* warmup_cosine: step at which min_lr is reached, >= warmup_steps */
    double min_lr;        /* warmup_cosine: final rate */
} afloc_lr_schedule;

/* The official run (MODEL.md §7.1): StepLR, base 2e-5, gamma 0.9, every epoch. */
void afloc_lr_schedule_official(afloc_lr_schedule *s);

/* Checks a schedule read from a config: known kind, finite rates >= 0, gamma > 0,
 * step_epochs >= 1, 0 <= warmup_steps <= total_steps. Returns AFLOC_OK, or
 * AFLOC_ERR_INVALID_ARGUMENT with a message that names `who` (the calling public function) and
 * the bad field. */
afloc_status afloc_lr_schedule_check(const afloc_lr_schedule *s, const char *who);

/* The rate for optimizer step `step` (0-based, counted over the whole run) in epoch `epoch`
 * (0-based), for a checked schedule:
 *  - constant: base_lr.
 *  - step: base_lr multiplied by gamma once per completed step_epochs epochs, one multiplication
 *    at a time in double, as StepLR's chained get_lr does (not the closed form gamma^k, which can
 *    differ in the last bit). Ignores `step`.
 *  - warmup_cosine: for step < warmup_steps, base_lr·(step + 1)/warmup_steps: it starts at
 *    base/warmup (a first step at 0 would be wasted) and reaches base_lr on the last warmup step;
 *    then base_lr at step warmup_steps, falling as
 *    min_lr + (base_lr − min_lr)·(1 + cos(π·t))/2
 *    with t = (step − warmup_steps)/(total_steps − warmup_steps), and min_lr from total_steps
 *    on. Ignores `epoch`.
 * Negative step or epoch count as 0. */
double afloc_lr_at(const afloc_lr_schedule *s, int64_t step, int32_t epoch);

#endif /* AFLOC_SCHEDULE_H */
