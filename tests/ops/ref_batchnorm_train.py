"""ref_batchnorm_train.py: torch.nn.functional.batch_norm in training mode (MODEL.md §3.4:
momentum 0.1, eps 1e-5) and its autograd backward, for test_batchnorm_train.c. Case i writes
b<i>.params (int32: B C H W), b<i>.in, .gamma, .beta, .running_mean, .running_var (before),
.dout, and the results .out, .mean, .rstd (the statistics PyTorch saves for the backward),
.running_mean_new, .running_var_new, .dinput, .dgamma, .dbeta."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # B  C   H   W
    (2, 3, 5, 7),       # odd sides
    (1, 4, 1, 2),       # two values per channel (the smallest N PyTorch accepts)
    (3, 1, 9, 9),       # one channel
    (2, 1, 1, 1),       # N = 2 from the batch alone
    (4, 16, 10, 10),    # N = 400
    (2, 64, 38, 38),    # a layer2-sized channel: N = 2888
    (8, 8, 19, 19),     # N = 2888 over 8 images
]


def main():
    d = out_dir()
    g = generator(20240612)
    for i, (B, C, H, W) in enumerate(CASES):
        # an offset and a spread per channel, so mean and variance are not trivial
        x = uniform(g, (B, C, H, W)) * uniform(g, (1, C, 1, 1), 0.5, 3.0) + uniform(g, (1, C, 1, 1), -2.0, 2.0)
        x.requires_grad_()
        gamma = uniform(g, (C,), 0.5, 1.5).requires_grad_()
        beta = uniform(g, (C,)).requires_grad_()
        rm = uniform(g, (C,))
        rv = uniform(g, (C,), 0.5, 2.0)
        rm_new, rv_new = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm_new, rv_new, gamma, beta, training=True, momentum=0.1, eps=1e-5)
        dy = uniform(g, y.shape)
        y.backward(dy)
        # the statistics PyTorch saves for its backward (native_batch_norm's 2nd / 3rd outputs)
        _, mean, rstd = torch.native_batch_norm(x.detach(), gamma.detach(), beta.detach(),
                                                rm.clone(), rv.clone(), True, 0.1, 1e-5)
        pre = f"b{i}"
        write(d, pre + ".params", [B, C, H, W])
        for name, t in (("in", x), ("gamma", gamma), ("beta", beta), ("running_mean", rm),
                        ("running_var", rv), ("dout", dy), ("out", y), ("mean", mean),
                        ("rstd", rstd), ("running_mean_new", rm_new),
                        ("running_var_new", rv_new), ("dinput", x.grad), ("dgamma", gamma.grad),
                        ("dbeta", beta.grad)):
            write(d, pre + "." + name, t)


if __name__ == "__main__":
    main()
