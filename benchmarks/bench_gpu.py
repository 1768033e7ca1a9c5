#!/usr/bin/env python3
"""bench_gpu.py: localization throughput on a GPU, libafloc's CUDA backend against PyTorch on the
same machine and the same work (issue 6). Runs the C benchmark (bench_gpu_localize, path given)
and then the PyTorch reference in this process: the oracle model of tests/model/ref_afloc.py at
the paper config on the GPU, random weights, frames already preprocessed.

One "localize" = frames uploaded, image encoder up to img_emb_l on the GPU, then the map
pipeline: the PyTorch reference pipeline downloads img_emb_l and runs the reference's map code per
image on the host (einsum, scipy's gaussian_filter as the official code does, bilinear to 224);
libafloc runs the whole map pipeline on the GPU (afloc_device_localize) and downloads the 224x224
maps. Modes: fp32 (TF32 off on both sides)
and bf16 (PyTorch autocast bf16; libafloc bf16 GEMMs, TF32 convolutions). cudnn.benchmark on for
PyTorch. Medians of N runs after warm-ups. Prints images/s and the ratio libafloc / PyTorch.

Usage: python3 benchmarks/bench_gpu.py PATH/TO/bench_gpu_localize [--runs N]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "model"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ref_afloc as ra  # noqa: E402


def torch_bench(runs):
    cfg = ra.load_config("default")
    model = ra.make_model(cfg, 1)
    enc = model.img_encoder.cuda().eval()
    torch.backends.cudnn.benchmark = True
    text = torch.randn(1, cfg["embedding_dim"])
    crop, up = cfg["crop_size"], cfg["upsample_size"]
    in_ch = enc.model.conv1.in_channels

    def encoder(x):
        x = F.interpolate(x.expand(-1, in_ch, -1, -1), size=(up, up), mode="bilinear",
                          align_corners=True)
        m = enc.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer3(m.layer2(m.layer1(x)))
        return enc.local_embedder(x)

    results = {}
    for mode in ("fp32", "bf16"):
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        for B in (1, 64):
            x = torch.rand(B, 1, crop, crop).pin_memory() * 2 - 1
            enc_t, map_t = [], []
            with torch.no_grad():
                for r in range(runs + 3):
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    xg = x.cuda(non_blocking=True)
                    if mode == "bf16":
                        with torch.autocast("cuda", dtype=torch.bfloat16):
                            local = encoder(xg)
                    else:
                        local = encoder(xg)
                    local = local.float().cpu()
                    t1 = time.perf_counter()
                    for b in range(B):
                        ra.localize(local[b:b + 1], text, cfg)
                    t2 = time.perf_counter()
                    if r >= 3:
                        enc_t.append(t1 - t0)
                        map_t.append(t2 - t1)
            e, m = statistics.median(enc_t), statistics.median(map_t)
            results[(mode, B)] = B / (e + m)
            print("torch %s B%d: encoder %.3f ms/batch, host map %.3f ms, localize %.1f images/s"
                  % (mode, B, e * 1e3, m * 1e3, B / (e + m)), flush=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    out = subprocess.run([a.bench, str(a.runs)], stdout=subprocess.PIPE, text=True).stdout
    print(out, end="", flush=True)
    ours = {(m, int(b)): float(v) for m, b, v in
            re.findall(r"gpu (\w+) B(\d+): .* localize ([0-9.]+) images/s", out)}
    print("torch %s, %s" % (torch.__version__, torch.cuda.get_device_name()), flush=True)
    theirs = torch_bench(a.runs)
    for key in sorted(theirs):
        if key in ours:
            print("ratio %s B%d: libafloc %.1f / torch %.1f images/s = %.2fx"
                  % (key[0], key[1], ours[key], theirs[key], ours[key] / theirs[key]))


if __name__ == "__main__":
    main()
