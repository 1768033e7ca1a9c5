#!/usr/bin/python3
"""bench_localize.py: runs the C localization benchmark (bench_localize, built in BUILD_DIR) and
its PyTorch pair (bench_localize_torch.py) on the same work (default config, random weights, one
2500x2048 image + one prompt, batch 1, same thread count) and prints both figures, the ratio
torch / libafloc (> 1: libafloc faster) and both peak RSS values.

Usage: /usr/bin/python3 benchmarks/bench_localize.py BUILD_DIR [--runs N] [--threads T]
                                                      [--config default|small]
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    print(out, end="")
    return out


def figure(text, label):
    m = re.search(label + r"\s*([0-9.]+)", text)
    if not m:
        sys.exit("bench_localize.py: no %r line in the output" % label)
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", default="default")
    a = ap.parse_args()
    c = run([os.path.join(a.build_dir, "benchmarks", "bench_localize"), "--runs", str(a.runs),
             "--threads", str(a.threads), "--callers", str(a.threads), "--config", a.config])
    t = run([sys.executable, os.path.join(HERE, "bench_localize_torch.py"), "--runs", str(a.runs),
             "--threads", str(a.threads), "--config", a.config])
    for label in ("localize \\(preprocess excluded\\):", "localize with preprocess:"):
        cm, tm = figure(c, label), figure(t, label)
        print("%-32s libafloc %8.2f ms  torch %8.2f ms  ratio torch/libafloc %.2f"
              % (label.replace("\\", ""), cm, tm, tm / cm))
    print("peak RSS: libafloc %.0f MB, torch %.0f MB"
          % (figure(c, "peak RSS:"), figure(t, "peak RSS:")))


if __name__ == "__main__":
    main()
