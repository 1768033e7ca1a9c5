"""test_eval_run.py: runs `afloc eval` on the make_fixture dataset with a tiny random model and
checks metrics.json (every field, ranges, counts that follow from the fixture), the pictures, the
table, determinism by seed, --limit and --json-only.

usage: test_eval_cli.py AFLOC MODEL FIXTURE_DIR WORK_DIR"""
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np

afloc, model, fixture, work = sys.argv[1:5]
data = os.path.join(fixture, "good")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([afloc, "eval", model, data, *args], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
    return p


def load(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


out = {k: os.path.join(work, k) for k in "ABCD"}
pa = run("--out", out["A"], "--bootstrap", "200", "--seed", "7", "--log", os.path.join(fixture, "train_log.csv"))
pb = run("--out", out["B"], "--bootstrap", "200", "--seed", "7", "--json-only")
pc = run("--out", out["C"], "--bootstrap", "200", "--seed", "8", "--json-only")
pd = run("--out", out["D"], "--bootstrap", "0", "--limit", "3", "--json-only")
for name, p in zip("ABCD", (pa, pb, pc, pd)):
    check(p.returncode == 0, f"run {name} exit code {p.returncode}")
if failures:
    sys.exit(1)

for word in ("localization", "baseline random", "baseline center", "baseline intensity",
             "two-finding", "laterality", "zero-shot classification", "metrics.json", "contact_sheet.png",
             "loss_curve.png"):
    check(word in pa.stdout, f"table lacks '{word}'")
check(pb.stdout.strip().startswith("wrote") and "localization" not in pb.stdout, "--json-only printed a table")
check(not os.path.exists(os.path.join(out["B"], "contact_sheet.png")), "--json-only wrote a picture")

A, B, C, D = (load(out[k]) for k in "ABCD")
for key in ("tool", "library_version", "model", "dataset_dir", "dataset", "rows", "images", "labelled_images",
            "limit", "frame_size", "margin", "thresholds", "bootstrap", "seeds", "categories", "localization",
            "text_reading", "classification", "contact_sheet", "loss_curve", "per_row", "notes"):
    check(key in A, f"metrics.json lacks '{key}'")
check(A["rows"] == 8 and A["images"] == 6 and A["labelled_images"] == 6, "row/image counts")
check(A["frame_size"] == 64 and A["bootstrap"] == 200 and A["seeds"]["bootstrap"] == 7, "frame/bootstrap/seed")
check(A["dataset"]["generator_version"] == 1 and A["dataset"]["test"] == 6, "dataset.json embedded")
check(len(A["thresholds"]) == 5 and abs(A["thresholds"][2] - 0.3) < 1e-12, "thresholds")
check(A["categories"] == ["effusion", "opacity", "pneumothorax", "edema"], "categories")


def check_summary(s, where, pairs):
    if s is None:
        check(False, f"{where} is null")
        return
    check(s["pairs"] == pairs, f"{where}: pairs {s['pairs']} != {pairs}")
    for m in ("iou", "dice", "pointing"):
        v = s[m]
        for k in ("value", "ci_lo", "ci_hi"):
            x = v[k]
            check(x is None or 0.0 <= x <= 1.0, f"{where}.{m}.{k} = {x} outside [0, 1]")
        if None not in (v["ci_lo"], v["ci_hi"]):
            check(v["ci_lo"] <= v["ci_hi"], f"{where}.{m} CI reversed")
    c = s["cnr"]["value"]
    check(c is None or (math.isfinite(c) and abs(c) < 100), f"{where}.cnr = {c}")
    check(len(s["iou_at"]) == 5, f"{where}.iou_at length")


loc = A["localization"]
check_summary(loc["model"], "model", 8)
for b in ("random", "center", "intensity"):
    check_summary(loc["baselines"][b], b, 8)
# the read-out's ceiling (each box drawn on the grid): a summary like the others, far above a
# random model, pointing at its own box on the one-finding images; per category beside the model
check_summary(loc["ceiling"], "ceiling", 8)
check(loc["ceiling"]["iou"]["value"] > max(loc["model"]["iou"]["value"],
                                           *(loc["baselines"][b]["iou"]["value"] for b in ("random", "center", "intensity"))),
      "ceiling IoU not above the model and every baseline")
# it depends on the boxes and the read-out, not on the weights: another random model (another
# init seed, same config) gives the same ceiling and another model row
here = os.path.dirname(os.path.abspath(__file__))
other = os.path.join(work, "other.safetensors")
pi = subprocess.run([afloc, "init", other, "--vocab", os.path.join(here, "..", "model", "cli_vocab.txt"),
                     "--config", os.path.join(here, "..", "model", "cli_config.json"), "--seed", "6"],
                    capture_output=True, text=True, timeout=60)
check(pi.returncode == 0, "afloc init of a second model: " + pi.stderr)
po = subprocess.run([afloc, "eval", other, data, "--out", os.path.join(work, "O"), "--bootstrap", "200",
                     "--seed", "7", "--json-only"], capture_output=True, text=True, timeout=120)
check(po.returncode == 0, "eval of the second model: " + po.stderr)
if po.returncode == 0:
    O = load(os.path.join(work, "O"))
    check(O["localization"]["ceiling"] == loc["ceiling"], "the ceiling depends on the weights")
    check(O["localization"]["model"] != loc["model"], "two random models gave the same model row")
check([c["category"] for c in loc["per_category"]] == A["categories"], "per_category order")
check(sum(c["rows"] for c in loc["per_category"]) == 8, "per_category rows")
for c in loc["per_category"]:
    if c["rows"]:
        check(c["model"] is not None and c["ceiling"] is not None and c["ceiling"]["iou"] >= c["model"]["iou"] - 1e-12,
              f"per_category {c['category']}: {c}")
    else:
        check(c["model"] is None and c["ceiling"] is None, f"per_category {c['category']} without rows: {c}")
check("ceiling: box on the grid" in pa.stdout and "IoU ceiling" in pa.stdout, "table lacks the ceiling")
tr = A["text_reading"]
two = tr["two_finding"]
check(two["rows"] == 5, f"two-finding rows {two['rows']} != 5")
for k in ("own_prompt", "generic", "empty_prompt"):
    if k == "empty_prompt" and two[k] is None:
        check(two["empty_prompt_error"] is not None, "empty prompt null without a reason")
        continue
    check_summary(two[k], "two_finding." + k, 5)
check(two["generic_prompt"] == "findings", "generic prompt")
check(two["best_baseline"] in ("random", "center", "intensity"), "best baseline")
lat = tr["laterality"]
# left/right rows: lines 2, 3, 4, 6, 8, 9, all with a side word (line 9: "Right ...")
check(lat["rows"] == 6 and lat["skipped_without_side_word"] == 0, f"laterality rows {lat['rows']}")
check_summary(lat["correct_side"], "laterality.correct", 6)
check_summary(lat["swapped_side"], "laterality.swapped", 6)
cl = A["classification"]
check(cl["images"] == 6 and len(cl["classes"]) == 4, "classification counts")
want_pos = {"effusion": 3, "opacity": 2, "pneumothorax": 2, "edema": 1}
for c in cl["classes"]:
    check(c["positives"] == want_pos[c["name"]], f"{c['name']} positives {c['positives']}")
    for k in ("auc", "f1_at_0.5", "accuracy_at_0.5", "f1max"):
        check(c[k] is None or 0.0 <= c[k] <= 1.0, f"{c['name']}.{k} = {c[k]}")
    check(c["auc"] is not None, f"{c['name']} AUC is null with both classes present")
check(cl["mean_auc"] is not None and 0 <= cl["mean_auc"] <= 1, "mean AUC")
check(len(A["per_row"]) == 8, "per_row length")
for r in A["per_row"]:
    check(r["hit"] in (-1, 0, 1), "hit value")
    for i, d in zip(r["iou"], r["dice"]):
        check((i is None) == (d is None) and (i is None or d >= i - 1e-12), f"line {r['line']}: dice < iou")
check(any(r["prompt"] == "large left pleural effusion, small" for r in A["per_row"]), "quoted prompt with a comma")

# bright ellipses mark the findings: on one-finding images the intensity baseline's maximum lies in
# the box; this checks box -> mask and preprocessing -> frame agree end to end (on images with
# several findings the maximum can only be in one of the boxes)
single = [r for r in A["per_row"] if r["group"] == 1]
check(len(single) == 3 and all(r["baseline_hit"]["intensity"] == 1 for r in single),
      "intensity baseline misses a one-finding box: " + str([r["baseline_hit"] for r in single]))
ip = loc["baselines"]["intensity"]["pointing"]["value"]

# pictures
sheet = cv2.imread(os.path.join(out["A"], "contact_sheet.png"), cv2.IMREAD_UNCHANGED)
check(sheet is not None and sheet.ndim == 3 and sheet.shape[2] == 3, "contact sheet does not decode as RGB")
if sheet is not None:
    # 8 tiles, 4 columns x 2 rows of 192 px (64 x 3) with 4 px gaps
    check(sheet.shape[:2] == (2 * 192 + 3 * 4, 4 * 192 + 5 * 4), f"contact sheet shape {sheet.shape}")
    green = ((sheet[:, :, 1] == 255) & (sheet[:, :, 0] == 0) & (sheet[:, :, 2] == 0)).sum()
    check(green > 500, f"contact sheet has {green} box-outline pixels")
curve = cv2.imread(os.path.join(out["A"], "loss_curve.png"), cv2.IMREAD_UNCHANGED)
check(curve is not None and curve.shape == (480, 800, 3), "loss curve does not decode as 800x480 RGB")
check(A["loss_curve"]["points"] == 40 and len(A["contact_sheet"]["tiles"]) == 8, "loss points / tiles")

# determinism: same seed -> identical numbers; another seed changes the random baseline only
def strip(m):
    return {k: v for k, v in m.items() if k not in ("contact_sheet", "loss_curve", "dataset_dir")}


check(json.dumps(strip(A["localization"])) == json.dumps(strip(B["localization"])), "same seed, other localization")
check(A["text_reading"] == B["text_reading"] and A["classification"] == B["classification"], "same seed, other results")
check(A["localization"]["baselines"]["random"] != C["localization"]["baselines"]["random"],
      "random baseline did not change with the seed")
for k in ("center", "intensity"):
    check(A["localization"]["baselines"][k]["pointing"]["value"] == C["localization"]["baselines"][k]["pointing"]["value"],
          f"{k} baseline changed with the seed")
check(A["localization"]["model"]["iou"]["value"] == C["localization"]["model"]["iou"]["value"],
      "model IoU changed with the seed")
check(D["rows"] == 3 and D["limit"] == 3 and D["localization"]["model"]["iou"]["ci_lo"] is None, "--limit 3 --bootstrap 0")

# prompt ensembles: a class on several rows of classes.csv is scored with the mean of its unit
# prompt embeddings (afloc_prompt_set_create_ensembles); the AUCs must equal those recomputed here
# from `afloc embed` outputs (float64; metrics.json prints 10 digits, hence 1e-9; AUC is
# rank-based, so a score error that matters flips an order and shows), and a class left on one
# row keeps run A's AUC
ens = os.path.join(work, "ensembles")
shutil.rmtree(ens, ignore_errors=True)
shutil.copytree(data, ens)
extra = {"effusion": [("small left pleural effusion", "no effusion"), ("left effusion", "no pleural effusion")],
         "opacity": [("right lower lobe opacity", "lung clear")]}
with open(os.path.join(ens, "classes.csv"), "a") as f:
    for name, pairs in extra.items():
        for pos, neg in pairs:
            f.write(f"{name},{pos},{neg}\n")
pe = subprocess.run([afloc, "eval", model, ens, "--out", os.path.join(work, "E"), "--bootstrap", "0", "--json-only"],
                    capture_output=True, text=True, timeout=120)
check(pe.returncode == 0, f"ensemble run exit code {pe.returncode}: {pe.stderr}")


def embed(*args):
    p = subprocess.run([afloc, "embed", model, *args], capture_output=True, text=True, timeout=60)
    v = np.array(json.loads(p.stdout), dtype=np.float64)
    return v / max(np.linalg.norm(v), 1e-8)


def rank_auc(s, y):
    pos, neg = s[y == 1], s[y == 0]
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg]))


if pe.returncode == 0:
    E = load(os.path.join(work, "E"))
    rows = list(csv.DictReader(open(os.path.join(ens, "labels.csv"))))
    G = np.stack([embed(os.path.join(ens, r["image"])) for r in rows])
    classes = list(csv.DictReader(open(os.path.join(ens, "classes.csv"))))
    base = {c["name"]: c["auc"] for c in A["classification"]["classes"]}
    for c in E["classification"]["classes"]:
        mine = [r for r in classes if r["class"] == c["name"]]
        check(c["positive_prompts"] == [r["positive"] for r in mine] and
              c["negative_prompts"] == [r["negative"] for r in mine], f"{c['name']} prompt lists {c}")
        means = [np.mean([embed("--text", r[side]) for r in mine], axis=0) for side in ("positive", "negative")]
        cos = [G @ v / max(np.linalg.norm(v), 1e-8) for v in means]
        y = np.array([int(r[c["name"]]) for r in rows])
        want = rank_auc(1 / (1 + np.exp(cos[1] - cos[0])), y)
        check(abs(c["auc"] - want) < 1e-9, f"{c['name']} ensemble AUC {c['auc']} != {want}")
        if len(mine) == 1:
            check(c["auc"] == base[c["name"]], f"{c['name']} (one row) AUC changed {c['auc']} vs {base[c['name']]}")

# laterality per row and per category: each row's swapped_hit must be the hit of a separate run on
# a copy of the dataset whose prompts have "left" and "right" swapped here (whole words, case kept);
# rows outside the subset carry null; per_category must be these rows' means
swp = os.path.join(work, "swapped")
shutil.rmtree(swp, ignore_errors=True)
shutil.copytree(data, swp)
flip = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}
with open(os.path.join(data, "test.csv"), newline="") as f:
    test_rows = list(csv.reader(f))
head = test_rows[0]
for r in test_rows[1:]:
    if r[head.index("side")] in ("left", "right"):
        r[head.index("prompt")] = re.sub(r"\b(left|right|Left|Right|LEFT|RIGHT)\b", lambda w: flip[w.group(0)],
                                         r[head.index("prompt")])
with open(os.path.join(swp, "test.csv"), "w", newline="") as f:
    csv.writer(f).writerows(test_rows)
ps = subprocess.run([afloc, "eval", model, swp, "--out", os.path.join(work, "S"), "--bootstrap", "0", "--json-only"],
                    capture_output=True, text=True, timeout=120)
check(ps.returncode == 0, f"swapped run exit code {ps.returncode}: {ps.stderr}")
if ps.returncode == 0:
    S = load(os.path.join(work, "S"))
    scored = 0
    for ra, rs in zip(A["per_row"], S["per_row"]):
        if ra["side"] in ("left", "right"):
            scored += 1
            check(ra["swapped_hit"] == rs["hit"], f"line {ra['line']}: swapped_hit {ra['swapped_hit']} != {rs['hit']}")
        else:
            check(ra["swapped_hit"] is None, f"line {ra['line']}: swapped_hit outside the laterality rows")
    check(scored == lat["rows"], f"{scored} rows with a side, laterality rows {lat['rows']}")
    per = {c["category"]: c for c in lat["per_category"]}
    for name in A["categories"]:
        mine = [r for r in A["per_row"] if r["category"] == name and r["swapped_hit"] is not None]
        if not mine:
            check(name not in per, f"{name}: per_category entry without laterality rows")
            continue
        for key, field in (("hit", "correct_side_pointing"), ("swapped_hit", "swapped_side_pointing")):
            hits = [r[key] for r in mine if r[key] >= 0]
            want = sum(hits) / len(hits) if hits else None
            got = per[name][field]
            check(per[name]["rows"] == len(mine) and (got == want or None not in (got, want) and abs(got - want) < 1e-9),
                  f"{name}.{field} {got} != {want}")
    check("per category" in pa.stdout, "table lacks the laterality per-category lines")

m = loc["model"]
print(f"evalcli_eval_run: model IoU {m['iou']['value']} pointing {m['pointing']['value']} CNR {m['cnr']['value']}; "
      f"intensity pointing {ip}; mean AUC {cl['mean_auc']:.3f}; {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
