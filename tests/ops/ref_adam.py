"""ref_adam.py: torch.optim.Adam + torch.nn.utils.clip_grad_norm_ trajectories and learning-rate
schedules for test_adam.c (MODEL.md §7.1).

Parameters are four tensors of sizes SIZES, stored concatenated in one buffer as the trainer keeps
them (STYLE.md §6); clipping runs over the list jointly. Doubles (hyperparameters, rates, norms)
are written as int32 pairs holding their IEEE bits, so the C side compares them exactly.

Files: sizes (int32), p0 (initial parameters), g<s> (raw gradients of step s = 1..STEPS, the same
for every config); per config c<k>: .hparams (doubles lr b1 b2 eps wd max_norm), .p<s>
(parameters after step s), .norm<s> (torch's float32 total_norm), .coef<s> (the clamped clip
coefficient torch multiplied in), .norm64_<s> (the norm in float64, double), .m / .v (moments
after the last step). Schedules: steplr<i>.params (int32 step_size, epochs), .hparams (doubles
base gamma), .lr (doubles: lr of epochs 0..epochs-1); cosine<i>.params (int32 steps...),
.hparams (doubles base min warmup total), .lr (doubles at those steps)."""
import math

import numpy as np
import torch

from ops_ref_common import generator, out_dir, uniform, write

SIZES = [1, 7, 1000, 100003]
STEPS = 10
# Gradient magnitude per step: the large ones are clipped (norm ~ 180 · scale), the small ones
# (norm below 0.25) are not, so both branches of clip_grad_norm_ run.
GRAD_SCALES = [1.0, 1e-3, 30.0, 1e-4, 1.0, 0.5, 1e-3, 2.0, 1e-5, 1.0]
CONFIGS = [
    # lr     beta1 beta2  eps   weight_decay max_norm
    (2e-5, 0.5, 0.999, 1e-8, 1e-6, 0.25),  # the official run
    (1e-3, 0.9, 0.999, 1e-8, 0.1, 0.25),   # torch's default betas, strong decay, larger steps
]
STEPLR = [(1, 0.9, 2e-5, 12), (3, 0.5, 1e-3, 12)]
COSINE = [
    # base   min    warmup total  steps
    (1e-3, 1e-5, 100, 1000, [0, 1, 50, 98, 99, 100, 101, 300, 550, 998, 999, 1000, 1001, 5000]),
    (3e-4, 0.0, 0, 10, [0, 1, 5, 9, 10, 11]),
    (1e-3, 1e-4, 7, 7, [0, 3, 6, 7, 8]),
]


def doubles(values):
    return np.asarray(values, dtype="<f8").view("<i4")


def cosine_lr(base, low, warmup, total, s):
    if s < warmup:
        return base * (s + 1) / warmup
    if s >= total:
        return low
    t = (s - warmup) / (total - warmup)
    return low + (base - low) * 0.5 * (1.0 + math.cos(math.pi * t))


def main():
    d = out_dir()
    g = generator(20240712)
    write(d, "sizes", SIZES)
    p0 = [uniform(g, (n,)) for n in SIZES]
    write(d, "p0", torch.cat(p0))
    grads = []
    for s in range(STEPS):
        step_grads = [uniform(g, (n,)) * GRAD_SCALES[s] for n in SIZES]
        grads.append(step_grads)
        write(d, f"g{s + 1}", torch.cat(step_grads))
    for k, (lr, b1, b2, eps, wd, max_norm) in enumerate(CONFIGS):
        pre = f"c{k}"
        write(d, pre + ".hparams", doubles([lr, b1, b2, eps, wd, max_norm]))
        params = [torch.nn.Parameter(p.clone()) for p in p0]
        opt = torch.optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
        for s in range(STEPS):
            for p, gr in zip(params, grads[s]):
                p.grad = gr.clone()
            norm64 = math.sqrt(sum(float((gr.double() ** 2).sum()) for gr in grads[s]))
            total = torch.nn.utils.clip_grad_norm_(params, max_norm)
            coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # what clip_grad_norm_ applied
            opt.step()
            write(d, f"{pre}.p{s + 1}", torch.cat([p.detach() for p in params]))
            write(d, f"{pre}.norm{s + 1}", total.reshape(1))
            write(d, f"{pre}.coef{s + 1}", coef.reshape(1))
            write(d, f"{pre}.norm64_{s + 1}", doubles([norm64]))
        write(d, pre + ".m", torch.cat([opt.state[p]["exp_avg"] for p in params]))
        write(d, pre + ".v", torch.cat([opt.state[p]["exp_avg_sq"] for p in params]))
    for i, (step_size, gamma, base, epochs) in enumerate(STEPLR):
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=base)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
        lrs = []
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        write(d, f"steplr{i}.params", [step_size, epochs])
        write(d, f"steplr{i}.hparams", doubles([base, gamma]))
        write(d, f"steplr{i}.lr", doubles(lrs))
    for i, (base, low, warmup, total, steps) in enumerate(COSINE):
        write(d, f"cosine{i}.params", steps)
        write(d, f"cosine{i}.hparams", doubles([base, low, warmup, total]))
        write(d, f"cosine{i}.lr", doubles([cosine_lr(base, low, warmup, total, s) for s in steps]))


if __name__ == "__main__":
    main()
