"""ref_resize.py: torch.nn.functional.interpolate(mode='bilinear') reference cases for
test_resize.c. Case i writes r<i>.params (int32: B C H W OH OW align_corners), r<i>.in, r<i>.out."""
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # B C  H    W    OH   OW  ac
    (1, 3, 224, 224, 299, 299, 1),  # MODEL.md §3.1: the encoder's input upsampling
    (1, 1, 19, 19, 224, 224, 0),    # MODEL.md §8.3: the heatmap back to 224
    (2, 3, 7, 5, 13, 11, 1),        # odd sides, enlarging, both modes
    (2, 3, 7, 5, 13, 11, 0),
    (1, 2, 13, 11, 5, 4, 1),        # shrinking, both modes
    (1, 2, 13, 11, 5, 4, 0),
    (1, 1, 1, 1, 3, 4, 0),          # a single pixel
    (1, 1, 1, 1, 3, 4, 1),
    (1, 2, 5, 6, 1, 1, 1),          # to a single pixel (align_corners scale 0)
    (1, 2, 5, 6, 1, 1, 0),
    (3, 1, 19, 19, 299, 224, 0),    # unequal axes, B 3
    (1, 1, 300, 2, 7, 301, 1),      # long and thin
]


def main():
    d = out_dir()
    g = generator(299224)
    for i, (B, C, H, W, OH, OW, ac) in enumerate(CASES):
        x = uniform(g, (B, C, H, W), -3.0, 3.0)
        y = F.interpolate(x, size=(OH, OW), mode="bilinear", align_corners=bool(ac))
        write(d, f"r{i}.params", [B, C, H, W, OH, OW, ac])
        write(d, f"r{i}.in", x)
        write(d, f"r{i}.out", y)


if __name__ == "__main__":
    main()
