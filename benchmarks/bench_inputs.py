#!/usr/bin/env python3
"""bench_inputs.py: runs bench_inputs (libafloc) and times OpenCV on the same work in one run,
then prints both and the ratio libafloc / OpenCV (below 1 means libafloc is faster).

Usage: /usr/bin/python3 benchmarks/bench_inputs.py BUILD_DIR [REPEATS]
OpenCV's letterbox is written the way MODEL.md §2.2 describes (cv2.resize INTER_AREA, then zero
padding); PNG decoding is cv2.imdecode with IMREAD_UNCHANGED. OpenCV is told to use 1 thread, like
libafloc's input functions, so the ratio compares single-core work."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np


def timed(fn, repeats):
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def letterbox(img, s=224):
    h, w = img.shape[:2]
    if h >= w:
        nh, nw = s, int(w * (s / h))
    else:
        nh, nw = int(h * (s / w)), s
    r = cv2.resize(img, (max(nw, 1), max(nh, 1)), interpolation=cv2.INTER_AREA)
    out = np.zeros((s, s), dtype=img.dtype)
    top, left = (s - r.shape[0]) // 2, (s - r.shape[1]) // 2
    out[top:top + r.shape[0], left:left + r.shape[1]] = r
    return out


def main():
    build = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as work:
        ours = subprocess.run([os.path.join(build, "benchmarks", "bench_inputs"), work, str(repeats)],
                              check=True, capture_output=True, text=True).stdout
        print(ours, end="")
        afloc = {line.split()[0]: float(line.split()[1]) for line in ours.splitlines()[1:]}
        png8 = open(os.path.join(work, "image8.png"), "rb").read()
        png16 = open(os.path.join(work, "image16.png"), "rb").read()
        img8 = cv2.imdecode(np.frombuffer(png8, np.uint8), cv2.IMREAD_UNCHANGED)
        img16 = cv2.imdecode(np.frombuffer(png16, np.uint8), cv2.IMREAD_UNCHANGED).astype(np.float32) / 4095
        theirs = {
            "letterbox_u8_224": timed(lambda: letterbox(img8), repeats),
            "preprocess_u16_224": timed(lambda: (letterbox(img16) - 0.5) / 0.5, repeats),
            "png_decode_8bit": timed(lambda: cv2.imdecode(np.frombuffer(png8, np.uint8), cv2.IMREAD_UNCHANGED), repeats),
            "png_decode_16bit": timed(lambda: cv2.imdecode(np.frombuffer(png16, np.uint8), cv2.IMREAD_UNCHANGED), repeats),
        }
    print(f"\nOpenCV {cv2.__version__} (1 thread), same inputs:")
    print(f"{'operation':28s} {'libafloc ms':>12s} {'OpenCV ms':>10s} {'ratio':>7s}")
    for name, ms in theirs.items():
        print(f"{name:28s} {afloc[name]:12.3f} {ms:10.3f} {afloc[name] / ms:7.2f}")


if __name__ == "__main__":
    main()
