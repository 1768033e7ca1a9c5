"""test_linear_probe.py: scripts/linear_probe.py's parts against worked answers and independent
computations: the AUC (ties averaged) against hand-counted pairs and against a brute-force count
over all positive-negative pairs; the ridge fit against numpy's least squares on the augmented
system; the probe on data where one feature carries the class (AUC 1) and on labels
independent of the features (near 0.5); the refusal to fit and score on one folder.

usage: test_linear_probe.py SCRIPT"""
import importlib.util
import subprocess
import sys

import numpy as np

spec = importlib.util.spec_from_file_location("linear_probe", sys.argv[1])
lp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lp)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def brute_auc(scores, labels):
    pos = [s for s, l in zip(scores, labels) if l]
    neg = [s for s, l in zip(scores, labels) if not l]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


# worked: positives 0.9, 0.5; negatives 0.5, 0.1 -> pairs (0.9>0.5) (0.9>0.1) (0.5=0.5: 1/2) (0.5>0.1)
check(lp.auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == 3.5 / 4, "worked AUC with a tie")
check(lp.auc([0.1, 0.2], [1, 0]) == 0.0 and lp.auc([0.3, 0.2], [1, 0]) == 1.0, "two-point AUCs")
check(lp.auc([1, 2, 3], [1, 1, 1]) != lp.auc([1, 2, 3], [1, 1, 1]), "one class only gives NaN")
rng = np.random.default_rng(0)
for trial in range(20):
    n = int(rng.integers(2, 40))
    scores = rng.integers(0, 5, n).astype(float)  # many ties
    labels = rng.integers(0, 2, n)
    if labels.min() == labels.max():
        labels[0] = 1 - labels[0]
    check(abs(lp.auc(scores, labels) - brute_auc(scores, labels)) < 1e-12, f"AUC vs brute force, trial {trial}")

# ridge: the closed form equals least squares on [z; sqrt(L) I] w = [y - mean(y); 0]
x = rng.normal(size=(50, 6))
y = rng.normal(size=(50, 2))
mean, std, w, b = lp.ridge_fit(x, y, 2.5)
z = (x - x.mean(0)) / x.std(0)
aug_x = np.vstack([z, np.sqrt(2.5) * np.eye(6)])
aug_y = np.vstack([y - y.mean(0), np.zeros((6, 2))])
w_ref = np.linalg.lstsq(aug_x, aug_y, rcond=None)[0]
check(np.allclose(w, w_ref, atol=1e-10) and np.allclose(b, y.mean(0)), "ridge weights vs lstsq")
check(np.allclose(lp.ridge_predict((mean, std, w, b), x), z @ w_ref + y.mean(0)), "ridge prediction")

# a feature that carries the class: perfect AUC; labels independent of the features: chance
fit_x = rng.normal(size=(200, 8))
fit_y = np.stack([(fit_x[:, 3] > 0).astype(int), rng.integers(0, 2, 200)], axis=1)
score_x = rng.normal(size=(400, 8))
score_y = np.stack([(score_x[:, 3] > 0).astype(int), rng.integers(0, 2, 400)], axis=1)
aucs = lp.probe(fit_x, fit_y, score_x, score_y, 1.0)
check(aucs[0] > 0.99, f"separable class AUC {aucs[0]}")
check(0.35 < aucs[1] < 0.65, f"random labels AUC {aucs[1]}")

# fitting and scoring on one folder is refused before any model is loaded
p = subprocess.run([sys.executable, sys.argv[1], "no-model.safetensors", "/tmp", "/tmp/"],
                   capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "the same folder" in p.stderr, "same folder not refused: " + p.stderr)

if failures:
    sys.exit(1)
print("test_linear_probe: all checks passed")
