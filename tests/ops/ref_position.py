"""ref_position.py: the position term of the deep-local embedding (config local_position, libafloc's,
not in the paper) as torch computes it, reference cases for test_position.c:
  y = x + einsum('ck,bkhw->bchw', weight, coords), coords[0] = px(w), coords[1] = py(h),
  px(w) = w - (W - 1)/2, py(h) = h - (H - 1)/2 (offsets from the grid's centre in cells),
forward and, by autograd, dweight for a random upstream gradient dy. Case i writes p<i>.params
(int32: B C H W), p<i>.x, p<i>.weight, p<i>.y, p<i>.dy, p<i>.dweight."""
import torch

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # B  C   H   W
    (2, 128, 32, 32),  # the shipped CXR config's layer-3 map, batch 2
    (1, 64, 19, 19),   # the paper's grid
    (3, 5, 7, 4),      # unequal axes
    (2, 3, 1, 6),      # a single row: py = 0
    (1, 2, 1, 1),      # a single cell: no position at all
    (16, 8, 10, 10),   # a training batch
]


def coords(H, W):
    def axis(n):
        return torch.arange(n, dtype=torch.float32) - (n - 1) / 2.0
    py, px = torch.meshgrid(axis(H), axis(W), indexing="ij")
    return torch.stack([px, py])                           # (2, H, W)


def main():
    d = out_dir()
    g = generator(2024)
    for i, (B, C, H, W) in enumerate(CASES):
        x = uniform(g, (B, C, H, W), -3.0, 3.0)
        weight = uniform(g, (C, 2), -2.0, 2.0).requires_grad_(True)
        y = x + torch.einsum("ck,khw->chw", weight.double(), coords(H, W).double()).float()
        dy = uniform(g, (B, C, H, W), -1.0, 1.0)
        y.backward(dy)
        write(d, f"p{i}.params", [B, C, H, W])
        write(d, f"p{i}.x", x)
        write(d, f"p{i}.weight", weight.detach())
        write(d, f"p{i}.y", y.detach())
        write(d, f"p{i}.dy", dy)
        write(d, f"p{i}.dweight", weight.grad)


if __name__ == "__main__":
    main()
