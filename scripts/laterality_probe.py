#!/usr/bin/env python3
"""laterality_probe.py MODEL DATASET_DIR [--rows N]: does a model's text side and map tell "left"
from "right"? For the first N held-out rows of DATASET_DIR/test.csv whose prompt names a side, it
compares the prompt with its side-swapped twin ("left" <-> "right"): the cosine between their
report embeddings, and the correlation between their raw similarity grids on the row's image.
Prints the means and minima. (`afloc eval`'s laterality test measures the pointing game with both
prompts; this says which side, text or image, fails when it does.) Needs numpy and the Python
bindings (PYTHONPATH=bindings/python; AFLOC_LIBRARY to pick a build)."""
import argparse
import csv
import os

import numpy as np

import afloc


def swap_sides(prompt):
    return " ".join({"left": "right", "right": "left"}.get(w, w) for w in prompt.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("dataset")
    ap.add_argument("--rows", type=int, default=40)
    a = ap.parse_args()
    with open(os.path.join(a.dataset, "test.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["side"] in ("left", "right")][:a.rows]
    corr, cos = [], []
    with afloc.Context(backend="cpu") as ctx:
        model = afloc.Model.load(ctx, a.model)
        for r in rows:
            image = afloc.load_png(os.path.join(a.dataset, r["image"]))
            twin = swap_sides(r["prompt"])
            g = [np.asarray(model.localize(image, p, normalize=False, maps="grid")).ravel()
                 for p in (r["prompt"], twin)]
            corr.append(float(np.corrcoef(g[0], g[1])[0, 1]))
            t = [np.asarray(model.embed_text(p)) for p in (r["prompt"], twin)]
            cos.append(float(t[0] @ t[1] / np.linalg.norm(t[0]) / np.linalg.norm(t[1])))
    print("%s: %d prompts with a side word vs their side-swapped twins: text embedding cosine "
          "mean %.3f (min %.3f); raw map correlation mean %.3f (min %.3f)"
          % (a.model, len(rows), np.mean(cos), np.min(cos), np.mean(corr), np.min(corr)))


if __name__ == "__main__":
    main()
