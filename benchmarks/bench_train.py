#!/usr/bin/python3
"""bench_train.py: runs the C training benchmark (bench_train, built in BUILD_DIR) and its PyTorch
pair (bench_train_torch.py) on the same work, per config: bench_train_torch.py --prepare writes the
config, vocabulary, B synthetic preprocessed frames and B captions (ref_train.make_batch) once,
then both sides take one warm-up step and N timed steps on that batch with the same thread count
(forward in training mode with BERT dropout 0.1, L_GR + L_DS + L_SW, backward, clipping to 0.25,
Adam). Prints both median step times, the ratio torch / libafloc (> 1: libafloc faster), both
peak RSS values and libafloc's word-loss share of the step.

Configs: small (ref_afloc's SMALL_OVERRIDES, the gradient tests' config: 224 px frames, ResNet
[1,1,1,1] 8..64 wide, BERT 3 x 64), batch 8; mid (ResNet [1,1,1,1] 16..128, BERT 2 x 128, 128 px),
batch 16.

Usage: /usr/bin/python3 benchmarks/bench_train.py BUILD_DIR [--configs small,mid] [--steps N]
                                                  [--threads T] [--keep DIR]
The environment passes to both sides. On a small machine run it with OMP_WAIT_POLICY=passive too
(as `afloc train` runs itself): with libgomp's default spinning, the OpenMP team and OpenBLAS's
threads fight for the cores and both sides' times become erratic (benchmarks/README.md).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = {"small": 8, "mid": 16}


def run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    print(out, end="", flush=True)
    return out


def figure(text, label):
    m = re.search(label + r"\s*([0-9.]+)", text)
    if not m:
        sys.exit("bench_train.py: no %r line in the output" % label)
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir")
    ap.add_argument("--configs", default="small,mid")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", help="write the prepared data here (default: a temporary folder)")
    a = ap.parse_args()
    program = os.path.join(a.build_dir, "benchmarks", "bench_train")
    torch_script = os.path.join(HERE, "bench_train_torch.py")
    root = a.keep or tempfile.mkdtemp(prefix="afloc_bench_train_")
    rows = []
    try:
        for name in a.configs.split(","):
            if name not in BATCH:
                sys.exit("bench_train.py: unknown config %r (small, mid)" % name)
            data = os.path.join(root, name)
            run([sys.executable, torch_script, "--prepare", data, "--config", name,
                 "--batch", str(BATCH[name])])
            c = run([program, data, "--steps", str(a.steps), "--threads", str(a.threads)])
            t = run([sys.executable, torch_script, "--data", data, "--steps", str(a.steps),
                     "--threads", str(a.threads)])
            rows.append((name, BATCH[name], figure(c, "train step:"), figure(t, "train step:"),
                         figure(c, "peak RSS:"), figure(t, "peak RSS:"),
                         figure(c, "word loss share:")))
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n%d threads, median of %d steps after one warm-up" % (a.threads, a.steps))
    print("%-6s %5s %14s %14s %22s %12s %12s %10s" % ("config", "batch", "libafloc ms", "torch ms",
                                                      "ratio torch/libafloc", "RSS afloc", "RSS torch",
                                                      "word loss"))
    for name, b, cm, tm, cr, tr, share in rows:
        print("%-6s %5d %14.1f %14.1f %22.2f %9.0f MB %9.0f MB %8.1f %%"
              % (name, b, cm, tm, tm / cm, cr, tr, share))


if __name__ == "__main__":
    main()
