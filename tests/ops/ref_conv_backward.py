"""ref_conv_backward.py: autograd gradients of torch.nn.functional.conv2d for
test_conv_backward.c. Case i writes c<i>.params (int32: B C H W OC K stride pad has_bias),
c<i>.in, c<i>.weight, c<i>.dout (the upstream gradient) and the gradients c<i>.dinput,
c<i>.dweight, c<i>.dbias (when has_bias)."""
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # B  C   H   W   OC  K  s  p  bias
    (1, 3, 17, 19, 5, 7, 2, 3, 1),      # the stem: 7x7/2, pad 3, odd sides
    (3, 8, 9, 11, 16, 3, 1, 1, 1),      # bottleneck 3x3, B 3
    (2, 16, 10, 7, 8, 1, 1, 0, 0),      # pointwise (no im2col), no bias
    (3, 8, 13, 13, 12, 1, 2, 0, 1),     # downsample 1x1/2 (im2col path)
    (1, 4, 1, 1, 3, 3, 1, 1, 0),        # 1x1 image, 3x3 kernel, all padding but the centre
    (2, 12, 19, 19, 20, 3, 2, 1, 1),    # strided 3x3, 19 → 10
    (1, 5, 8, 6, 7, 3, 2, 0, 1),        # stride 2 without padding, even sides
    (1, 1, 5, 5, 1, 5, 1, 0, 1),        # C = OC = 1, kernel = image: 1x1 output
    (4, 32, 38, 38, 32, 3, 1, 1, 1),    # a layer2-sized reduction: dweight sums 4·38·38 = 5776
    (2, 256, 5, 5, 64, 1, 1, 0, 1),     # long pointwise reduction for dinput (OC 64)
]


def main():
    d = out_dir()
    g = generator(20240611)
    for i, (B, C, H, W, OC, K, s, p, has_bias) in enumerate(CASES):
        x = uniform(g, (B, C, H, W)).requires_grad_()
        w = (uniform(g, (OC, C, K, K)) / (C * K * K) ** 0.5).requires_grad_()
        b = uniform(g, (OC,)).requires_grad_() if has_bias else None
        y = F.conv2d(x, w, b, stride=s, padding=p)
        dy = uniform(g, y.shape)
        y.backward(dy)
        pre = f"c{i}"
        write(d, pre + ".params", [B, C, H, W, OC, K, s, p, has_bias])
        write(d, pre + ".in", x)
        write(d, pre + ".weight", w)
        write(d, pre + ".dout", dy)
        write(d, pre + ".dinput", x.grad)
        write(d, pre + ".dweight", w.grad)
        if b is not None:
            write(d, pre + ".dbias", b.grad)


if __name__ == "__main__":
    main()
