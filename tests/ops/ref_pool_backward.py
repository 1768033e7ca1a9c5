"""ref_pool_backward.py: autograd gradients of torch.nn.functional.max_pool2d and of
torch.nn.AdaptiveAvgPool2d(1) for test_pool_backward.c. Max case i writes m<i>.params (int32:
B C H W K stride pad), m<i>.in, m<i>.dout, m<i>.dinput; average case i writes a<i>.params
(B C H W), a<i>.dout, a<i>.dinput. Some inputs are quantised to a few levels so windows hold
ties, one holds NaN, one −∞, to pin PyTorch's argmax choice."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

MAX_CASES = [
    # B  C   H   W   K  s  p  special
    (1, 3, 21, 21, 3, 2, 1, None),      # the ResNet stem pool, overlapping windows
    (2, 4, 9, 7, 3, 2, 1, "ties"),      # few distinct values: ties in most windows
    (1, 2, 8, 8, 2, 2, 0, "ties"),      # non-overlapping 2x2 with ties
    (2, 3, 6, 5, 3, 1, 1, "nan"),       # NaNs (single and several per window)
    (1, 2, 5, 5, 3, 2, 1, "neginf"),    # −∞ everywhere in some windows
    (1, 1, 1, 1, 1, 1, 0, None),        # 1x1, K 1
    (3, 5, 4, 9, 1, 2, 0, None),        # K 1 stride 2: a subsampling
    (1, 2, 3, 3, 3, 1, 1, "ties"),      # every window covers most of the image
    (1, 1, 7, 7, 3, 3, 1, "allneg"),    # all-negative values with padding
]

AVG_CASES = [(2, 3, 5, 7), (1, 1, 1, 1), (2, 8, 19, 19), (1, 4, 10, 10), (3, 2, 3, 1)]


def main():
    d = out_dir()
    g = generator(20240613)
    for i, (B, C, H, W, K, s, p, special) in enumerate(MAX_CASES):
        x = uniform(g, (B, C, H, W))
        if special == "ties":
            x = torch.round(x * 2.0) / 2.0
        elif special == "nan":
            x = torch.where(uniform(g, x.shape) > 0.8, torch.full_like(x, float("nan")), x)
        elif special == "neginf":
            x = torch.where(uniform(g, x.shape) > 0.0, torch.full_like(x, float("-inf")), x)
        elif special == "allneg":
            x = x.abs().neg() - 0.5
        x.requires_grad_()
        y = F.max_pool2d(x, K, s, p)
        dy = uniform(g, y.shape)
        y.backward(dy)
        pre = f"m{i}"
        write(d, pre + ".params", [B, C, H, W, K, s, p])
        write(d, pre + ".in", x)
        write(d, pre + ".dout", dy)
        write(d, pre + ".dinput", x.grad)
    pool = torch.nn.AdaptiveAvgPool2d(1)
    for i, (B, C, H, W) in enumerate(AVG_CASES):
        x = uniform(g, (B, C, H, W)).requires_grad_()
        y = pool(x)
        dy = uniform(g, y.shape)
        y.backward(dy)
        pre = f"a{i}"
        write(d, pre + ".params", [B, C, H, W])
        write(d, pre + ".dout", dy)
        write(d, pre + ".dinput", x.grad)


if __name__ == "__main__":
    main()
