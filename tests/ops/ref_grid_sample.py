"""ref_grid_sample.py: torch.nn.functional.grid_sample(mode='bilinear' or 'bicubic',
padding_mode='border', align_corners=True) at the points (oy·step_y, ox·step_x), reference cases
for test_grid_sample.c. Case i writes s<i>.params (int32: B C H W OH OW cubic), s<i>.steps
(float32: step_y step_x), s<i>.in, s<i>.out."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

SHAPES = [
    # B C  H   W   OH   OW   step_y            step_x
    (1, 1, 32, 32, 256, 256, 511 / (16 * 255), 511 / (16 * 255)),  # the shipped CXR model's read-out
    (1, 1, 19, 19, 224, 224, 298 / (16 * 223), 298 / (16 * 223)),  # the paper's sizes
    (2, 3, 7, 5, 13, 11, 0.5, 0.4),       # enlarging, unequal axes
    (1, 2, 13, 11, 5, 4, 3.0, 2.5),       # shrinking
    (1, 1, 6, 6, 20, 20, 0.37, 0.37),     # points past the last sample: read at the border
    (1, 1, 1, 1, 3, 4, 0.7, 0.7),         # a single pixel
    (1, 2, 5, 6, 1, 1, 1.0, 1.0),         # a single output
    (3, 1, 19, 19, 299, 224, 0.06, 0.08), # unequal output axes, B 3
    (1, 1, 2, 3, 9, 9, 0.3, 0.3),         # fewer than four taps per axis (cubic: all clamped)
]
# Every shape bilinear (bilinear_sample.c), then every shape bicubic (bicubic_sample.c).
CASES = [shape + (0,) for shape in SHAPES] + [shape + (1,) for shape in SHAPES]


def main():
    d = out_dir()
    g = generator(161632)
    for i, (B, C, H, W, OH, OW, sy, sx, cubic) in enumerate(CASES):
        sy32, sx32 = torch.tensor(sy, dtype=torch.float32).item(), torch.tensor(sx, dtype=torch.float32).item()
        x = uniform(g, (B, C, H, W), -3.0, 3.0)
        ys = torch.arange(OH, dtype=torch.float64) * sy32
        xs = torch.arange(OW, dtype=torch.float64) * sx32
        # grid_sample's normalised coordinates for align_corners=True: -1 + 2·p / (side − 1)
        gy = (ys * 2 / (H - 1) - 1) if H > 1 else torch.zeros_like(ys)
        gx = (xs * 2 / (W - 1) - 1) if W > 1 else torch.zeros_like(xs)
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)
        grid = grid.unsqueeze(0).expand(B, OH, OW, 2).to(torch.float64)
        mode = "bicubic" if cubic else "bilinear"
        y = F.grid_sample(x.double(), grid, mode=mode, padding_mode="border", align_corners=True)
        write(d, f"s{i}.params", [B, C, H, W, OH, OW, cubic])
        write(d, f"s{i}.steps", torch.tensor([sy32, sx32], dtype=torch.float32))
        write(d, f"s{i}.in", x)
        write(d, f"s{i}.out", y.float())


if __name__ == "__main__":
    main()
