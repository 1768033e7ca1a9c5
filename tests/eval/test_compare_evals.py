#!/usr/bin/env python3
"""scripts/compare_evals.py on hand-made metrics files whose answers are worked out by hand below:
the macro pointing and laterality gap of each model, their paired difference (which must lie
inside its bootstrap CI), the gained / lost counts, the self-comparison (a difference and CI of
exactly zero), and exit status 2 with a message for mismatched rows and for malformed files.
Usage: test_compare_evals.py SCRIPT TMPDIR."""
import json
import os
import re
import subprocess
import sys

SCRIPT, TMP = sys.argv[1], sys.argv[2]
os.makedirs(TMP, exist_ok=True)


def row(line, image, category, hit, swapped):
    return {"line": line, "image": image, "category": category, "hit": hit,
            "swapped_hit": swapped}


# Two categories of unequal size (so the macro average differs from the mean over rows), six
# images, one row each. Category "nodule" rows name a side, "heart" rows do not (swapped_hit
# null), so the laterality gap is the nodule rows' alone.
#   A: nodule hits 1,0,0,0 (0.25), heart 1,0 (0.50): pointing 0.375 (over rows: 0.333)
#   B: nodule hits 1,1,0,0 (0.50), heart 1,1 (1.00): pointing 0.750, B - A +0.375,
#      gained 2 (rows 2 and 6), lost 0
#   swapped hits, nodule rows: A 1,0,0,0 (gap 0.25 - 0.25 = 0), B 0,0,0,0 (gap 0.50)
A = [row(1, "i1", "nodule", 1, 1), row(2, "i2", "nodule", 0, 0), row(3, "i3", "nodule", 0, 0),
     row(4, "i4", "nodule", 0, 0), row(5, "i5", "heart", 1, None), row(6, "i6", "heart", 0, None)]
B = [dict(r) for r in A]
B[0]["swapped_hit"] = 0
B[1]["hit"] = 1
B[5]["hit"] = 1


def write(name, rows):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"per_row": rows} if rows is not None else {"rows": 3}, f)
    return path


def run(*args):
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def numbers(line):
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)]


failures = []


def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


pa, pb = write("a.json", A), write("b.json", B)
rc, out, err = run(pa, pb, "--draws", "400")
lines = out.splitlines()
check("A against B exits 0", rc == 0 and len(lines) == 2)
point, lat = numbers(lines[0]), numbers(lines[1])
check("pointing A 0.375, B 0.750, B-A +0.375", point[:3] == [0.375, 0.75, 0.375])
check("pointing CI holds the difference", point[3] <= point[2] <= point[4])
check("gained 2, lost 0, of 6", "gained 2, lost 0 (of 6)" in lines[0])
check("laterality gap A 0, B +0.5, B-A +0.5", lat[:3] == [0.0, 0.5, 0.5])
check("laterality CI holds the difference", lat[3] <= lat[2] <= lat[4])
check("laterality counts the 4 rows with a side word", "(4 rows with a side word)" in lines[1])

rc, out, _ = run(pa, pa)
same = [numbers(x) for x in out.splitlines()]
check("A against itself: differences and CIs exactly 0",
      rc == 0 and same[0][2:] == [0.0, 0.0, 0.0] and same[1][2:] == [0.0, 0.0, 0.0])

rc, _, err = run(pa, write("short.json", A[:-1]))
check("different rows: status 2 with a message", rc == 2 and "same rows" in err)
rc, _, err = run(pa, write("bad.json", None))
check("no per_row: status 2 with a message", rc == 2 and "per_row" in err)
rc, _, err = run(pa, write("lacking.json", [{"line": 1}]))
check("a row without its keys: status 2 with a message", rc == 2 and "lacks" in err)
rc, _, err = run(pa, os.path.join(TMP, "missing.json"))
check("missing file: status 2", rc == 2 and "missing.json" in err)

sys.exit(1 if failures else 0)
