"""ref_linear.py: torch.nn.functional.linear (+ exact GELU) and the elementwise activations, for
test_linear.c. Linear case i: l<i>.params (int32: N C OC has_bias gelu), l<i>.in, l<i>.weight,
optionally l<i>.bias, l<i>.out. Elementwise: e.x, e.y, e.gelu, e.relu, e.add (add = x + y)."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # N   C     OC    bias gelu
    (1, 1, 1, 0, 0),
    (1, 7, 5, 0, 0),
    (3, 2048, 768, 1, 0),     # global embedder (MODEL.md §3.3), B 3
    (33, 256, 1024, 1, 1),    # a BERT intermediate layer, narrowed
    (17, 768, 768, 1, 0),     # a BERT projection
    (5, 13, 9, 0, 1),         # GELU without bias, odd sizes
]


def main():
    d = out_dir()
    g = generator(4242)
    for i, (N, C, OC, has_bias, gelu) in enumerate(CASES):
        x = uniform(g, (N, C), -2.0, 2.0)
        w = uniform(g, (OC, C)) / C ** 0.5
        b = uniform(g, (OC,)) if has_bias else None
        y = F.linear(x, w, b)
        if gelu:
            y = F.gelu(y)
        write(d, f"l{i}.params", [N, C, OC, has_bias, gelu])
        write(d, f"l{i}.in", x)
        write(d, f"l{i}.weight", w)
        if b is not None:
            write(d, f"l{i}.bias", b)
        write(d, f"l{i}.out", y)
    # Elementwise: a dense sweep of [−10, 10] plus the special values.
    sweep = torch.linspace(-10.0, 10.0, 40001)
    special = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, float("inf"), float("-inf"),
                            float("nan"), 5.5, -5.5, 3e-8, -3e-8])
    x = torch.cat([sweep, special, uniform(g, (9999,), -4.0, 4.0)])
    y = uniform(g, x.shape, -4.0, 4.0)
    write(d, "e.x", x)
    write(d, "e.y", y)
    write(d, "e.gelu", F.gelu(x))
    write(d, "e.relu", torch.relu(x))
    write(d, "e.add", x + y)


if __name__ == "__main__":
    main()
