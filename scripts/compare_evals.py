#!/usr/bin/env python3
"""compare_evals.py A.json B.json: two models scored by `afloc eval` on the same held-out set,
compared row by row. Prints, for model B against model A:

  pointing   the macro-averaged pointing game (MODEL.md §9) of A and of B, B minus A with a 95 %
             bootstrap CI, and the rows B newly hits ("gained") and misses ("lost");
  laterality the laterality gap (correct-side minus swapped-side pointing, macro over the
             categories, on the rows whose prompt names a side) of A and of B, and B minus A.

Both differences are paired: every bootstrap draw resamples the *images* with replacement (all
rows of a drawn image come along) and scores both models on the same draw, so the CI is that of
the difference, much narrower than the two models' own CIs would suggest. models/README.md quotes
its output as "paired +x [lo, hi]". Reads the per_row array of each metrics.json; standard
library only. Exit status 2 on unusable input (the two files must hold the same rows).

Why not `afloc eval`'s own bootstrap (src/eval_bootstrap.c): that one scores one model,
resampling pairs within each category; a paired difference needs both models on the same draw
of images. Its CI bounds also sit one order statistic apart from these: it takes the reference's
indices int(0.025 R) - 1 and int(0.975 R) - 1 of the sorted draws, this script int(0.025 R) and
int(0.975 R) - 1, the rule every paired figure in models/README.md was computed with (so they
reproduce exactly)."""
import argparse
import json
import random
import sys

ROW_KEYS = ("line", "image", "category", "hit", "swapped_hit")


def load_rows(path):
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)["per_row"]
        if not isinstance(rows, list) or not all(
                isinstance(r, dict) and all(k in r for k in ROW_KEYS) for r in rows):
            raise ValueError("a row lacks one of " + ", ".join(ROW_KEYS))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"compare_evals: {path}: not an `afloc eval` metrics.json with per_row "
              f"({type(e).__name__}: {e})", file=sys.stderr)
        sys.exit(2)
    return rows


def macro(a, sel, value):
    """Mean over categories of the mean of value(row) over the selected rows of each category."""
    sums = {}
    for i in sel:
        s = sums.setdefault(a[i]["category"], [0.0, 0])
        s[0] += value(i)
        s[1] += 1
    return sum(v / n for v, n in sums.values()) / len(sums) if sums else float("nan")


def paired(a, b, rows, value_a, value_b, draws, seed):
    """(A, B, B - A, CI low, CI high) of a macro average, bootstrapped over images."""
    by_image = {}
    for i in rows:
        by_image.setdefault(a[i]["image"], []).append(i)
    images = sorted(by_image)
    rng = random.Random(seed)
    diffs = []
    for _ in range(draws):
        sel = [i for im in (rng.choice(images) for _ in images) for i in by_image[im]]
        diffs.append(macro(b, sel, value_b) - macro(a, sel, value_a))
    diffs.sort()
    lo, hi = diffs[int(0.025 * draws)], diffs[int(0.975 * draws) - 1]
    va, vb = macro(a, rows, value_a), macro(b, rows, value_b)
    return va, vb, vb - va, lo, hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="metrics.json of the reference model")
    ap.add_argument("b", help="metrics.json of the model compared with it")
    ap.add_argument("--draws", type=int, default=1000, help="bootstrap draws (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    args = ap.parse_args()
    if args.draws < 40:
        ap.error("--draws must be at least 40")
    a, b = load_rows(args.a), load_rows(args.b)
    if [(r["line"], r["image"], r["category"]) for r in a] != \
       [(r["line"], r["image"], r["category"]) for r in b]:
        print("compare_evals: the two files do not hold the same rows (same held-out set and "
              "--limit?)", file=sys.stderr)
        return 2
    if not a:
        print("compare_evals: no rows", file=sys.stderr)
        return 2
    rows = list(range(len(a)))
    va, vb, d, lo, hi = paired(a, b, rows, lambda i: a[i]["hit"], lambda i: b[i]["hit"],
                               args.draws, args.seed)
    gained = sum(1 for x, y in zip(a, b) if y["hit"] and not x["hit"])
    lost = sum(1 for x, y in zip(a, b) if x["hit"] and not y["hit"])
    print(f"pointing    A {va:.3f}  B {vb:.3f}  B-A {d:+.3f} [{lo:+.3f}, {hi:+.3f}]  "
          f"rows gained {gained}, lost {lost} (of {len(rows)})")
    side = [i for i in rows if a[i]["swapped_hit"] is not None and b[i]["swapped_hit"] is not None]
    if side:
        va, vb, d, lo, hi = paired(a, b, side,
                                   lambda i: a[i]["hit"] - a[i]["swapped_hit"],
                                   lambda i: b[i]["hit"] - b[i]["swapped_hit"],
                                   args.draws, args.seed)
        print(f"laterality  gap A {va:+.3f}  B {vb:+.3f}  B-A {d:+.3f} [{lo:+.3f}, {hi:+.3f}]  "
              f"({len(side)} rows with a side word)")
    else:
        print("laterality  no rows with a side word")
    return 0


if __name__ == "__main__":
    sys.exit(main())
