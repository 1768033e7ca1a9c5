#!/usr/bin/env python3
"""linear_probe.py: how much of each class a model's global image embedding holds, as a
supervised linear probe: the zero-shot classifier's counterpart of `afloc eval`'s "ceiling" row.

Zero-shot classification (afloc eval) scores an image by the cosine of its global embedding with
class prompts. Whatever wording the prompts take, the score is a linear function of that
embedding's direction, so a linear model fitted with the labels bounds what prompts can reach
(up to the fit's own noise). This fits one ridge regression per class on the unit global
embeddings of a probe-training dataset (e.g. the validation set) and scores it on another
(e.g. the test set) by ROC AUC, rank-based with ties averaged (MODEL.md 9.7).

usage: PYTHONPATH=bindings/python linear_probe.py MODEL FIT_DIR SCORE_DIR [--ridge L] [--json OUT]
  FIT_DIR, SCORE_DIR: `afloc synth` datasets (labels.csv and images/); the probe is fitted on
  FIT_DIR's labelled images and scored on SCORE_DIR's, so the two must differ for an honest
  figure. --ridge: the penalty on the standardised features (default 1.0; fixed, not tuned on
  SCORE_DIR). Prints per-class and mean AUC; --json also writes them."""
import argparse
import csv
import json
import os
import sys

import numpy as np


def auc(scores, labels):
    """ROC AUC of scores against 0/1 labels: the Mann-Whitney statistic with average ranks for
    tied scores. NaN when one class is absent."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    pos, neg = int(labels.sum()), int(len(labels) - labels.sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0  # average of ranks i+1 .. j+1
        i = j + 1
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def ridge_fit(x, y, penalty):
    """Ridge regression of y (n, k) on x (n, d) with an unpenalised intercept: x is standardised
    with its own mean and standard deviation; returns (mean, std, weights (d, k), bias (k))."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    y_mean = y.mean(axis=0)
    weights = np.linalg.solve(z.T @ z + penalty * np.eye(z.shape[1]), z.T @ (y - y_mean))
    return mean, std, weights, y_mean


def ridge_predict(model, x):
    mean, std, weights, bias = model
    return ((np.asarray(x, dtype=np.float64) - mean) / std) @ weights + bias


def probe(fit_x, fit_y, score_x, score_y, penalty=1.0):
    """Per-class AUCs on (score_x, score_y) of ridge probes fitted on (fit_x, fit_y)."""
    predicted = ridge_predict(ridge_fit(fit_x, fit_y, penalty), score_x)
    return [auc(predicted[:, k], np.asarray(score_y)[:, k]) for k in range(predicted.shape[1])]


def read_labels(folder):
    with open(os.path.join(folder, "labels.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r]
    if header[0] != "image" or len(header) < 2:
        raise ValueError("%s/labels.csv: the header must be image,CLASS,..." % folder)
    return header[1:], [r[0] for r in body], np.array([[int(v) for v in r[1:]] for r in body])


def embed_all(model, folder, paths):
    import afloc
    out = []
    for p in paths:
        image = afloc.load_png(os.path.join(folder, p))
        g = model.embed_image(image)  # a 16-bit PNG keeps its significant bits
        out.append(g / max(float(np.linalg.norm(g)), 1e-8))
    return np.array(out)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("fit_dir")
    parser.add_argument("score_dir")
    parser.add_argument("--ridge", type=float, default=1.0)
    parser.add_argument("--json")
    a = parser.parse_args(argv)
    if not a.ridge > 0:
        parser.error("--ridge must be > 0")
    if os.path.realpath(a.fit_dir) == os.path.realpath(a.score_dir):
        parser.error("FIT_DIR and SCORE_DIR are the same folder: the probe would score its own fit")
    import afloc
    classes, fit_paths, fit_y = read_labels(a.fit_dir)
    score_classes, score_paths, score_y = read_labels(a.score_dir)
    if classes != score_classes:
        parser.error("the two labels.csv name different classes")
    with afloc.Context() as ctx, afloc.Model.load(ctx, a.model) as model:
        fit_x = embed_all(model, a.fit_dir, fit_paths)
        score_x = embed_all(model, a.score_dir, score_paths)
    aucs = probe(fit_x, fit_y, score_x, score_y, a.ridge)
    valid = [v for v in aucs if v == v]
    mean = float(np.mean(valid)) if valid else float("nan")
    print("linear probe on the global embedding: fitted on %d images of %s, scored on %d of %s, "
          "ridge %g" % (len(fit_paths), a.fit_dir, len(score_paths), a.score_dir, a.ridge))
    for name, v in zip(classes, aucs):
        print("  %-20s AUC %.3f" % (name, v))
    print("  %-20s AUC %.3f" % ("mean", mean))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "fit_dir": a.fit_dir, "score_dir": a.score_dir,
                       "ridge": a.ridge, "fit_images": len(fit_paths), "score_images": len(score_paths),
                       "classes": [{"name": n, "auc": (v if v == v else None)} for n, v in zip(classes, aucs)],
                       "mean_auc": mean if mean == mean else None}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
