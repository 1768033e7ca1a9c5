"""ref_conv.py: torch.nn.functional.conv2d (+ bias, + residual, ReLU) reference cases for
test_conv.c. Case i writes c<i>.params (int32: B C H W OC K stride pad has_bias has_residual relu),
c<i>.in, c<i>.weight, optionally c<i>.bias and c<i>.residual, and c<i>.out."""
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # B  C   H   W   OC  K  s  p  bias res relu
    (1, 3, 17, 19, 5, 7, 2, 3, 1, 0, 1),      # the stem: 7x7/2, pad 3, odd sides
    (3, 8, 9, 11, 16, 3, 1, 1, 1, 1, 1),      # bottleneck 3x3 with residual and ReLU, B 3
    (1, 16, 10, 7, 8, 1, 1, 0, 0, 0, 0),      # pointwise, no bias (the embedding heads)
    (3, 8, 13, 13, 12, 1, 2, 0, 1, 0, 0),     # downsample 1x1/2
    (1, 4, 1, 1, 3, 3, 1, 1, 0, 0, 1),        # 1x1 image, 3x3 kernel, all padding but the centre
    (2, 12, 19, 19, 20, 3, 2, 1, 1, 1, 1),    # strided 3x3 with residual, 19 → 10
    (1, 5, 8, 6, 7, 3, 2, 0, 1, 0, 0),        # stride 2 without padding, even sides
    (1, 64, 38, 38, 64, 3, 1, 1, 1, 1, 1),    # a real layer2-sized reduction (576)
    (1, 1024, 5, 5, 96, 1, 1, 0, 1, 1, 0),    # long pointwise reduction (1024)
    (1, 3, 7, 7, 4, 7, 1, 3, 0, 1, 0),        # 7x7 stride 1, residual without bias or ReLU
]


def main():
    d = out_dir()
    g = generator(20240503)
    for i, (B, C, H, W, OC, K, s, p, has_bias, has_res, relu) in enumerate(CASES):
        x = uniform(g, (B, C, H, W))
        # Kaiming-like scale keeps outputs O(1), so one atol fits every case.
        w = uniform(g, (OC, C, K, K)) / (C * K * K) ** 0.5
        b = uniform(g, (OC,)) if has_bias else None
        y = F.conv2d(x, w, b, stride=s, padding=p)
        r = uniform(g, y.shape) if has_res else None
        if r is not None:
            y = y + r
        if relu:
            y = F.relu(y)
        pre = f"c{i}"
        write(d, pre + ".params", [B, C, H, W, OC, K, s, p, has_bias, has_res, relu])
        write(d, pre + ".in", x)
        write(d, pre + ".weight", w)
        if b is not None:
            write(d, pre + ".bias", b)
        if r is not None:
            write(d, pre + ".residual", r)
        write(d, pre + ".out", y)


if __name__ == "__main__":
    main()
