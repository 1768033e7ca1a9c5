"""test_train_log.py: `afloc train --log` writes the CSV `afloc eval --log` draws: header
step,epoch,global,sentence,word,total, one line per step, total = global + sentence + word (with
--sentence-contrast W a 7th column, L_WS, and W·L_WS in the total). Then `afloc eval --log` turns
it into loss_curve.png.

usage: test_train_log.py AFLOC MODEL FIXTURE_DIR WORK_DIR"""
import json
import os
import subprocess
import sys

afloc, model, fixture, work = sys.argv[1:5]
os.makedirs(work, exist_ok=True)
log = os.path.join(work, "train_log.csv")
if os.path.exists(log):
    os.remove(log)
data = os.path.join(fixture, "good")
trained = os.path.join(work, "trained.safetensors")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


p = subprocess.run([afloc, "train", os.path.join(data, "train.csv"), "--model", model, "--out", trained,
                    "--epochs", "2", "--batch", "3", "--threads", "2", "--quiet", "--log", log],
                   capture_output=True, text=True, timeout=120)
check(p.returncode == 0, f"afloc train exit {p.returncode}: {p.stderr.strip()}")
lines = open(log).read().splitlines() if os.path.exists(log) else []
check(lines[:1] == ["step,epoch,global,sentence,word,total"], f"log header {lines[:1]}")
rows = [[float(x) for x in l.split(",")] for l in lines[1:]]
check(len(rows) == 4, f"{len(rows)} log rows, want 4 (2 epochs x 2 batches)")
check([r[0] for r in rows] == [1, 2, 3, 4] and [r[1] for r in rows] == [0, 0, 1, 1], "steps/epochs")
for r in rows:
    check(abs(r[2] + r[3] + r[4] - r[5]) <= 1e-6 * max(1.0, abs(r[5])), f"total != sum of terms in {r}")
# --sentence-contrast W: a 7th column, L_WS, with total = global + sentence + word + W·L_WS;
# a value that is not a number is a usage error, a negative one the library's refusal
log_c = os.path.join(work, "train_log_contrast.csv")
if os.path.exists(log_c):
    os.remove(log_c)
p = subprocess.run([afloc, "train", os.path.join(data, "train.csv"), "--model", model, "--out",
                    os.path.join(work, "trained_c.safetensors"), "--epochs", "1", "--batch", "3",
                    "--threads", "2", "--quiet", "--sentence-contrast", "0.5", "--log", log_c],
                   capture_output=True, text=True, timeout=120)
check(p.returncode == 0, f"afloc train --sentence-contrast exit {p.returncode}: {p.stderr.strip()}")
lines_c = open(log_c).read().splitlines() if os.path.exists(log_c) else []
check(lines_c[:1] == ["step,epoch,global,sentence,word,total,sentence_contrast"], f"header {lines_c[:1]}")
rows_c = [[float(x) for x in l.split(",")] for l in lines_c[1:]]
check(len(rows_c) == 2 and all(len(r) == 7 and r[6] >= 0 for r in rows_c) and
      any(r[6] > 0 for r in rows_c), f"contrast rows {rows_c}")  # 0: no report of 2+ sentences
for r in rows_c:
    check(abs(r[2] + r[3] + r[4] + 0.5 * r[6] - r[5]) <= 1e-6 * max(1.0, abs(r[5])), f"total in {r}")
for bad, code in (("x", 2), ("0.5x", 2), ("-1", 1)):
    p = subprocess.run([afloc, "train", os.path.join(data, "train.csv"), "--model", model, "--out",
                        os.path.join(work, "unused.safetensors"), "--sentence-contrast", bad, "--quiet"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == code, f"--sentence-contrast {bad}: exit {p.returncode}, want {code}")
    if code == 1:
        check("sentence_contrast" in p.stderr, f"--sentence-contrast {bad}: {p.stderr.strip()}")
out = os.path.join(work, "eval")
p = subprocess.run([afloc, "eval", trained, data, "--out", out, "--bootstrap", "50", "--log", log],
                   capture_output=True, text=True, timeout=120)
check(p.returncode == 0, f"afloc eval exit {p.returncode}: {p.stderr.strip()}")
if p.returncode == 0:
    m = json.load(open(os.path.join(out, "metrics.json")))
    check(m["loss_curve"]["points"] == 4 and os.path.getsize(os.path.join(out, "loss_curve.png")) > 1000,
          "loss curve")
print(f"evalcli_train_log: {len(rows)} steps logged, first total {rows[0][5] if rows else 'n/a'}; "
      f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
