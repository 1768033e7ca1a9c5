"""ref_similarity.py: references for test_similarity.c (MODEL.md §8.1–8.2).

Similarity case i: m<i>.params (int32 D H W), m<i>.features (D, H, W), m<i>.text (D),
m<i>.out = torch.einsum('dhw,d->hw', features, text).
Gaussian case i: g<i>.params (int32 H W), g<i>.sigma (float32 [sigma, truncate]), g<i>.in (H, W),
g<i>.out = scipy.ndimage.gaussian_filter(in (float32), sigma, truncate=truncate, mode='reflect')."""
import sys

import numpy as np
import torch

from ops_ref_common import generator, out_dir, uniform, write

try:
    from scipy import ndimage
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e}")
    sys.exit(77)

SIMILARITY_CASES = [
    # D    H   W
    (768, 19, 19),   # the layer-3 map
    (768, 38, 38),   # the layer-2 map
    (1, 1, 1),
    (5, 7, 3),
    (3, 1, 9),
]

GAUSSIAN_CASES = [
    # H    W    sigma truncate
    (19, 19, 1.5, 4.0),    # the production map: radius 6, one reflection
    (1, 1, 1.5, 4.0),      # a single sample: every tap reflects onto it
    (5, 7, 1.5, 4.0),      # radius 6 > 5 and 7: reflections of reflections
    (38, 38, 1.5, 4.0),
    (19, 19, 0.5, 4.0),    # radius 2
    (19, 19, 3.0, 4.0),    # radius 12
    (5, 7, 3.0, 4.0),      # radius 12: several periods of the reflection
    (2, 3, 3.0, 4.0),
    (1, 9, 1.5, 4.0),
    (9, 1, 0.5, 4.0),
    (19, 19, 1.5, 2.5),    # another truncate: radius 4
    (224, 224, 1.5, 4.0),  # large enough for the threaded path
    (5, 7, 0.0, 4.0),      # sigma 0: scipy copies
    (6, 5, 0.1, 4.0),      # radius 0: a single tap of weight 1
    (7, 5, 20.0, 4.0),     # radius 80: 161 taps, numpy's pairwise sum splits in halves
    (3, 4, 300.0, 4.0),    # radius 1200: taps beyond similarity.c's 1024-entry table
]


def main():
    d = out_dir()
    g = generator(20240615)
    for i, (dd, h, w) in enumerate(SIMILARITY_CASES):
        f = uniform(g, (dd, h, w), -1.0, 1.0)
        t = uniform(g, (dd,), -1.0, 1.0) / dd ** 0.5
        write(d, f"m{i}.params", [dd, h, w])
        write(d, f"m{i}.features", f)
        write(d, f"m{i}.text", t)
        write(d, f"m{i}.out", torch.einsum("dhw,d->hw", f, t))
    for i, (h, w, sigma, truncate) in enumerate(GAUSSIAN_CASES):
        # A raw-map-like input: a smooth bump plus noise, magnitudes ~1..10, float32.
        yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
        bump = 8.0 * torch.exp(-((yy - 0.3 * h) ** 2 + (xx - 0.6 * w) ** 2) / (0.1 * h * w + 1.0))
        m = (bump + uniform(g, (h, w), -2.0, 2.0)).numpy().astype(np.float32)
        out = ndimage.gaussian_filter(m, sigma=sigma, truncate=truncate, mode="reflect")
        assert out.dtype == np.float32
        write(d, f"g{i}.params", [h, w])
        write(d, f"g{i}.sigma", np.array([sigma, truncate], dtype=np.float32))
        write(d, f"g{i}.in", m)
        write(d, f"g{i}.out", out)


if __name__ == "__main__":
    main()
