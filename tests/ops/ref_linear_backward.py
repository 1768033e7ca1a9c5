"""ref_linear_backward.py: autograd gradients of torch.nn.functional.linear and torch.relu for
test_linear_backward.c. Linear case i writes l<i>.params (int32: N C OC has_bias), l<i>.in,
.weight, .dout, .dinput, .dweight, .dbias (when has_bias). ReLU case i writes u<i>.params
(int32: n), u<i>.out (the forward's output, with zeros, negative zero and NaN planted), .dout,
.dinput."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # N    C     OC   bias
    (1, 1, 1, 1),           # scalars
    (3, 5, 7, 1),           # odd sizes
    (4, 2048, 768, 1),      # the global image head (MODEL.md §10.2), batch 4
    (97, 768, 768, 1),      # a BERT dense layer over 97 tokens
    (97, 768, 3072, 0),     # BERT intermediate shape, no bias
    (130, 64, 70, 1),       # dbias over more than one 64-column block, ragged tail
    (2, 1, 9, 1),           # C 1
]

RELU_SIZES = [1, 17, 40000]


def main():
    d = out_dir()
    g = generator(20240615)
    for i, (N, C, OC, has_bias) in enumerate(CASES):
        x = uniform(g, (N, C)).requires_grad_()
        w = (uniform(g, (OC, C)) / C ** 0.5).requires_grad_()
        b = uniform(g, (OC,)).requires_grad_() if has_bias else None
        y = F.linear(x, w, b)
        dy = uniform(g, y.shape)
        y.backward(dy)
        pre = f"l{i}"
        write(d, pre + ".params", [N, C, OC, has_bias])
        write(d, pre + ".in", x)
        write(d, pre + ".weight", w)
        write(d, pre + ".dout", dy)
        write(d, pre + ".dinput", x.grad)
        write(d, pre + ".dweight", w.grad)
        if b is not None:
            write(d, pre + ".dbias", b.grad)
    for i, n in enumerate(RELU_SIZES):
        x = uniform(g, (n,))
        if n > 4:
            x[0], x[1], x[2], x[3] = 0.0, -0.0, float("nan"), 1e-30
        x.requires_grad_()
        y = torch.relu(x)
        dy = uniform(g, (n,))
        y.backward(dy)
        pre = f"u{i}"
        write(d, pre + ".params", [n])
        write(d, pre + ".out", y)
        write(d, pre + ".dout", dy)
        write(d, pre + ".dinput", x.grad)


if __name__ == "__main__":
    main()
