#!/usr/bin/python3
"""bench_localize_torch.py: times one localization (one image + one prompt, batch 1) with the
PyTorch oracle tests/model/ref_afloc.py, the reference the C engine's benchmark is paired with.

Usage: /usr/bin/python3 benchmarks/bench_localize_torch.py [--config default|small|FILE]
                                                          [--runs N] [--threads T]

What "localize" includes (the figure to compare with libafloc's localize call):
  image encoder (224 -> 299 upsample, ResNet, the heads), text encoder (cleaning, tokenization,
  BERT, last-n sum, word groups, report embedding) and the map pipeline (dot product, Gaussian,
  bilinear to the crop size, [-1, 1] normalisation).
Preprocessing (PNG decode, letterbox with cv2 INTER_AREA, normalisation) is EXCLUDED from that
figure and timed separately; the "with preprocess" line adds it. Random weights (the oracle's);
speed does not depend on their values beyond avoiding denormals, which the calibrated BN does.
fp32, eval mode, torch.no_grad, torch.set_num_threads(T) (default 2), cv2 with 1 thread.
Prints the median of N runs (after one warm-up) per stage, and the process's peak RSS.
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "model"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import ref_afloc as ra  # noqa: E402

PROMPT = "Small left pleural effusion with adjacent atelectasis."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="default")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    cfg = ra.load_config(args.config)
    t0 = time.perf_counter()
    model = ra.make_model(cfg, 1)
    tok = ra.WordPieceTokenizer(ra.build_vocab(cfg["vocab_size"]))
    build_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "cxr.png")
        cv2.imwrite(path, ra.synth_image(2048, 2500 // 1, np.random.RandomState(0)))

        def preprocess():
            gray = cv2.imread(path, 0)
            return ra.preprocess(gray, cfg)[1]

        def localize(x):
            out = {}
            t = time.perf_counter()
            img = model.img_encoder(x)
            out["image"] = time.perf_counter() - t
            t = time.perf_counter()
            txt, _ = ra.encode_text(model, tok, PROMPT, cfg)
            out["text"] = time.perf_counter() - t
            t = time.perf_counter()
            ra.localize(img["img_emb_l"], txt["text_emb_r"], cfg)
            out["map"] = time.perf_counter() - t
            return out

        samples = {"preprocess": [], "image": [], "text": [], "map": [], "localize": [], "total": []}
        with torch.no_grad():
            for r in range(args.runs + 1):
                t = time.perf_counter()
                x = preprocess()
                pre = time.perf_counter() - t
                t = time.perf_counter()
                parts = localize(x)
                loc = time.perf_counter() - t
                if r == 0:
                    continue  # warm-up
                samples["preprocess"].append(pre)
                for k, v in parts.items():
                    samples[k].append(v)
                samples["localize"].append(loc)
                samples["total"].append(pre + loc)
    med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("bench_localize_torch: config %s, torch %s, %d threads, median of %d runs (model build %.1f s)"
          % (args.config, torch.__version__, args.threads, args.runs, build_s))
    print("  preprocess (PNG 2500x2048 decode + letterbox + normalise): %8.2f ms" % med["preprocess"])
    print("  image encoder (299 upsample, ResNet, heads):             %8.2f ms" % med["image"])
    print("  text encoder (clean, tokenize, BERT, aggregation):       %8.2f ms" % med["text"])
    print("  map (dot, gaussian, bilinear, normalise):                %8.2f ms" % med["map"])
    print("localize (preprocess excluded): %.2f ms/localize" % med["localize"])
    print("localize with preprocess:       %.2f ms/localize" % med["total"])
    print("peak RSS: %.0f MB" % rss_mb)
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) - 0.5:
        print("warning: 1-min load average %.1f on %d CPUs: other work competes, timings unreliable"
              % (load, os.cpu_count() or 1))


if __name__ == "__main__":
    main()
