"""ref_softmax.py: references for test_softmax.c. Case i: s<i>.params (int32 N C), s<i>.in (N, C),
s<i>.out = torch.softmax(in, dim=-1)."""
import torch

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # N      C     spread
    (1, 1, 1.0),        # a single entry: exactly 1
    (1, 97, 4.0),       # one attention row at the longest text
    (1164, 97, 8.0),    # 12 heads x 97 queries
    (5, 7, 1.0),        # odd sizes
    (3, 1000, 30.0),    # long rows, wide range (exp underflow for most entries)
    (4, 13, 3.0),       # with −10000-masked entries, as attention produces
]


def main():
    d = out_dir()
    g = generator(20240612)
    for i, (n, c, spread) in enumerate(CASES):
        x = uniform(g, (n, c), -spread, spread)
        if i == len(CASES) - 1:
            x[:, 9:] += -10000.0
        write(d, f"s{i}.params", [n, c])
        write(d, f"s{i}.in", x)
        write(d, f"s{i}.out", torch.softmax(x, dim=-1))


if __name__ == "__main__":
    main()
