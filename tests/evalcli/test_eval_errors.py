"""test_eval_errors.py: `afloc eval` on malformed datasets must exit 1 with a message naming the
file and line (make_fixture writes one copy of the dataset per fault), and 2 on usage errors.

usage: test_eval_errors.py AFLOC MODEL FIXTURE_DIR WORK_DIR"""
import os
import re
import subprocess
import sys

afloc, model, fixture, work = sys.argv[1:5]
cases = [
    ("bad_missing_column", r"bad_missing_column/test\.csv:1: missing column 'group'"),
    ("bad_number", r"test\.csv:3: column 'x0': '1O' is not an integer"),
    ("bad_box", r"test\.csv:4: box \(6, 8, 81, 44\) outside the 80x96 image images/test_000001\.png"),
    ("bad_unknown_class", r"test\.csv:5: category 'fracture' is not a class of classes\.csv"),
    ("bad_label", r"labels\.csv:3: column 'pneumothorax': '2' is not 0 or 1"),
    ("bad_side", r"test\.csv:6: side 'up' is not left, right, bilateral or none"),
    ("bad_field_count", r"test\.csv:7: 2 fields, the header has 9"),
    ("does_not_exist", r"does_not_exist/classes\.csv: cannot read"),
]
failures = 0
for name, pattern in cases:
    p = subprocess.run([afloc, "eval", model, os.path.join(fixture, name), "--out", os.path.join(work, name)],
                       capture_output=True, text=True, timeout=60)
    ok = p.returncode == 1 and re.search(pattern, p.stderr) is not None
    print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {p.returncode}: {p.stderr.strip()}")
    failures += not ok
p = subprocess.run([afloc, "eval", model, os.path.join(fixture, "good"), "--out", os.path.join(work, "log"),
                    "--log", os.path.join(fixture, "train_log_bad.csv"), "--bootstrap", "0"],
                   capture_output=True, text=True, timeout=60)
ok = p.returncode == 1 and re.search(r"train_log_bad\.csv:4: column 'total' is not a finite number", p.stderr)
print(f"{'ok  ' if ok else 'FAIL'} bad log: exit {p.returncode}: {p.stderr.strip()}")
failures += not ok
for args in (["--bootstrap", "-1"], ["--limit", "x"], ["--frobnicate", "1"], []):
    p = subprocess.run([afloc, "eval", model, *([os.path.join(fixture, "good")] if args else []), *args],
                       capture_output=True, text=True, timeout=60)
    ok = p.returncode == 2
    print(f"{'ok  ' if ok else 'FAIL'} usage {args}: exit {p.returncode}")
    failures += not ok
print(f"evalcli_eval_errors: {len(cases) + 5 - failures}/{len(cases) + 5} cases gave the expected exit code and message")
sys.exit(1 if failures else 0)
