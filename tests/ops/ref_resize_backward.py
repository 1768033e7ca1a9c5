"""ref_resize_backward.py: autograd gradient of torch.nn.functional.interpolate(mode='bilinear')
(upsample_bilinear2d_backward on CPU) for test_resize_backward.c. Case i writes r<i>.params
(int32: B C H W OH OW align_corners), r<i>.dout and r<i>.dinput."""
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # B  C   H    W    OH   OW  align
    (1, 3, 224, 224, 299, 299, 1),   # MODEL.md §3.1, the encoder's input upsample
    (1, 2, 19, 19, 224, 224, 0),     # MODEL.md §8.3, the map upsample
    (2, 3, 7, 5, 13, 11, 1),         # odd sides
    (2, 3, 7, 5, 13, 11, 0),
    (1, 4, 9, 9, 4, 5, 0),           # downsampling: several outputs per source, sparse sources
    (1, 4, 9, 9, 4, 5, 1),
    (1, 1, 5, 6, 10, 12, 0),         # C 1 (PyTorch's channels-last path)
    (1, 2, 1, 1, 3, 4, 1),           # 1x1 source
    (1, 2, 4, 3, 1, 1, 1),           # 1x1 output (align_corners scale 0)
    (1, 2, 4, 3, 1, 1, 0),
    (2, 2, 6, 6, 6, 6, 0),           # same size
]


def main():
    d = out_dir()
    g = generator(20240614)
    for i, (B, C, H, W, OH, OW, align) in enumerate(CASES):
        x = uniform(g, (B, C, H, W)).requires_grad_()
        y = F.interpolate(x, size=(OH, OW), mode="bilinear", align_corners=bool(align))
        dy = uniform(g, y.shape)
        y.backward(dy)
        pre = f"r{i}"
        write(d, pre + ".params", [B, C, H, W, OH, OW, align])
        write(d, pre + ".dout", dy)
        write(d, pre + ".dinput", x.grad)


if __name__ == "__main__":
    main()
