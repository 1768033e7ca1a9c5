"""ref_norm.py: references for test_norm.c.

LayerNorm case i: l<i>.params (int32 N C), l<i>.eps (float32 [1]), l<i>.in (N, C), l<i>.weight,
l<i>.bias (C), l<i>.out = torch.nn.functional.layer_norm(in, (C,), weight, bias, eps) in float32
and l<i>.out64 = the same in float64, rounded to float32.

BatchNorm-fold case i: f<i>.params (int32 B C H W OC K stride pad), f<i>.eps, f<i>.in, f<i>.weight
(OC, C, K, K), f<i>.gamma/.beta/.mean/.var (OC), f<i>.out = BatchNorm2d(eval)(conv2d(in, weight)),
and f<i>.wfold/.bfold: the fold computed in float64 by torch and rounded once to float32."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

LAYERNORM_CASES = [
    # N    C     eps     offset  (offset shifts the mean: LayerNorm must cancel it)
    (1, 1, 1e-12, 0.0),       # one element: x − mean = 0, output = bias
    (1, 768, 1e-12, 0.0),     # one BERT token
    (97, 768, 1e-12, 3.0),    # BERT at the longest text, shifted mean
    (5, 7, 1e-5, 0.0),        # odd sizes, the BatchNorm eps
    (3, 33, 1e-5, -20.0),     # large offset against a small spread
    (16, 2048, 1e-5, 0.5),    # long rows
    (2, 5, 1e-12, 0.0),       # row 0 constant (zero variance), see below
]

FOLD_CASES = [
    # B  C   H   W  OC  K  s  p
    (1, 3, 9, 11, 8, 7, 2, 3),    # stem-like 7x7/2
    (2, 16, 7, 7, 12, 3, 1, 1),   # 3x3 with padding, B 2
    (1, 32, 5, 5, 24, 1, 1, 0),   # 1x1 (bottleneck conv1/conv3, downsample)
    (1, 1, 1, 1, 1, 1, 1, 0),     # everything 1
]


def layernorm(d, g):
    for i, (n, c, eps, offset) in enumerate(LAYERNORM_CASES):
        x = uniform(g, (n, c), -2.0, 2.0) + offset
        if i == len(LAYERNORM_CASES) - 1:
            x[0, :] = 0.75
        w = uniform(g, (c,), 0.5, 1.5)
        b = uniform(g, (c,), -0.5, 0.5)
        y = F.layer_norm(x, (c,), w, b, eps)
        y64 = F.layer_norm(x.double(), (c,), w.double(), b.double(), eps).float()
        p = f"l{i}"
        write(d, p + ".params", [n, c])
        write(d, p + ".eps", torch.tensor([eps], dtype=torch.float32))
        write(d, p + ".in", x)
        write(d, p + ".weight", w)
        write(d, p + ".bias", b)
        write(d, p + ".out", y)
        write(d, p + ".out64", y64)


def batchnorm_fold(d, g):
    eps = 1e-5
    for i, (bsz, c, h, w_, oc, k, s, pad) in enumerate(FOLD_CASES):
        x = uniform(g, (bsz, c, h, w_))
        weight = uniform(g, (oc, c, k, k)) / (c * k * k) ** 0.5
        bn = torch.nn.BatchNorm2d(oc, eps=eps)
        with torch.no_grad():
            bn.weight.copy_(uniform(g, (oc,), 0.5, 1.5))
            bn.bias.copy_(uniform(g, (oc,), -0.5, 0.5))
            bn.running_mean.copy_(uniform(g, (oc,), -0.5, 0.5))
            var = uniform(g, (oc,), 0.05, 2.0)
            var[0] = 1e-3  # a small variance: a large scale, the hard case for folding
            bn.running_var.copy_(var)
        bn.eval()
        with torch.no_grad():
            y = bn(F.conv2d(x, weight, None, stride=s, padding=pad))
        # The op takes eps as a float32, so the float64 fold uses that value (1e-5 rounded).
        eps32 = float(torch.tensor(eps, dtype=torch.float32))
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + eps32)
        wfold = (weight.double() * scale.view(-1, 1, 1, 1)).float()
        bfold = (bn.bias.double() - bn.running_mean.double() * scale).float()
        p = f"f{i}"
        write(d, p + ".params", [bsz, c, h, w_, oc, k, s, pad])
        write(d, p + ".eps", torch.tensor([eps], dtype=torch.float32))
        write(d, p + ".in", x)
        write(d, p + ".weight", weight)
        write(d, p + ".gamma", bn.weight)
        write(d, p + ".beta", bn.bias)
        write(d, p + ".mean", bn.running_mean)
        write(d, p + ".var", bn.running_var)
        write(d, p + ".out", y)
        write(d, p + ".wfold", wfold)
        write(d, p + ".bfold", bfold)


def main():
    d = out_dir()
    g = generator(20240611)
    layernorm(d, g)
    batchnorm_fold(d, g)


if __name__ == "__main__":
    main()
