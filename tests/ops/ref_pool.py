"""ref_pool.py: torch max_pool2d / AdaptiveAvgPool2d(1) reference cases for test_pool.c.
Max case i: m<i>.params (int32: B C H W K stride pad), m<i>.in, m<i>.out.
Average case i: a<i>.params (int32: B C H W), a<i>.in, a<i>.out."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

MAX_CASES = [
    # B C  H   W   K  s  p
    (1, 4, 150, 150, 3, 2, 1),  # the ResNet stem: 150 → 75
    (2, 3, 15, 17, 3, 2, 1),    # odd sides
    (1, 2, 9, 8, 2, 2, 0),
    (1, 3, 7, 7, 3, 1, 1),
    (2, 2, 5, 3, 1, 1, 0),      # K 1: a copy
    (1, 1, 1, 1, 3, 2, 1),      # 1x1 image, window mostly padding
]
AVG_CASES = [(2, 5, 10, 10), (1, 3, 1, 1), (3, 4, 7, 3), (1, 64, 19, 19)]


def main():
    d = out_dir()
    g = generator(7531)
    for i, (B, C, H, W, K, s, p) in enumerate(MAX_CASES):
        # All-negative inputs in odd cases, so a zero (instead of −∞) padding would show.
        x = uniform(g, (B, C, H, W), -2.0, 2.0 if i % 2 == 0 else -0.5)
        y = F.max_pool2d(x, K, stride=s, padding=p)
        write(d, f"m{i}.params", [B, C, H, W, K, s, p])
        write(d, f"m{i}.in", x)
        write(d, f"m{i}.out", y)
    for i, (B, C, H, W) in enumerate(AVG_CASES):
        x = uniform(g, (B, C, H, W), -1.0, 3.0)
        y = torch.nn.AdaptiveAvgPool2d(1)(x).reshape(B, C)
        write(d, f"a{i}.params", [B, C, H, W])
        write(d, f"a{i}.in", x)
        write(d, f"a{i}.out", y)


if __name__ == "__main__":
    main()
