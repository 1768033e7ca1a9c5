#!/usr/bin/python3
"""ref_eval.py: the independent oracle of tests/eval/test_eval_oracle.c (MODEL.md §8.4, §9).

Writes random cases with the expected results, computed with numpy (and scipy.stats.rankdata for
the AUC) the way AFLoc's eval/common.py, eval/utils.py, eval/metric.py and eval/box_transfer.py
do: float32 min-max normalisation in the reference's order, np.arange thresholds compared in
float32 (what numpy 1.x does for a float32 array against a float64 scalar), compute_iou's
"only positive" NaN rule, compute_cnr without abs with population variances over mask == 1 /
mask == 0, dict_mean's nanmean of nanmeans, np.mean over the thresholds.

Where the reference has no defined answer libafloc's documented convention is written here
explicitly (marked CONVENTION): a constant map normalises to 0, CNR statistics in float64 with an
all-equal set having variance 0, the pointing game (-1 when undefined), Dice, F1/accuracy.

    ref_eval.py OUT.bin

Format (little endian): "AFEV", int32 record count, then records, each an int32 kind and its
fields (see write_* below). Exits 77 when numpy/scipy are missing.
"""
import struct
import sys

try:
    import numpy as np
    from scipy.stats import rankdata
except ImportError:
    sys.exit(77)

KIND_NORMALIZE, KIND_BOX, KIND_PAIR, KIND_SUMMARY, KIND_CLASSIFY = 1, 2, 3, 4, 5
THRESHOLDS = list(np.arange(0.1, 0.6, 0.1))


# ---- the reference's computations ----

def set_margin(hmap):
    """set_margin with width = height = S: NaN outside the central int(448 S / 512) square."""
    S = hmap.shape[0]
    side = int(448 * S / 512)
    m = S - side
    nan = np.ones((S, S), dtype=bool)
    nan[m // 2:m // 2 + side, m // 2:m // 2 + side] = False
    out = hmap.copy()
    out[nan] = np.float32("nan")
    return out


def norm_heatmap(hmap, nan):
    heatmap = hmap.copy()
    valid = heatmap[~nan]
    if valid.size == 0:
        return heatmap
    if valid.max() - valid.min() == 0:
        heatmap[~nan] = np.float32(0)  # CONVENTION: the reference returns a malformed array
        return heatmap
    valid = (valid - valid.min()) / (valid.max() - valid.min())
    valid = valid * 2 - 1
    heatmap[~nan] = valid
    return heatmap


def normalize(raw, margin):
    hmap = set_margin(raw) if margin else raw.copy()
    return norm_heatmap(hmap, np.isnan(hmap))


def box_transfer(box, w, h, scale):
    size = (h, w)
    max_ind = size.index(max(size))
    box = np.array(box, dtype=np.float64)
    if max_ind == 0:
        percent = scale / float(size[0])
        resized = int(float(size[1]) * float(percent))
        left, top = int(np.floor((scale - resized) / 2)), 0
    else:
        percent = scale / float(size[1])
        resized = int(float(size[0]) * float(percent))
        left, top = 0, int(np.floor((scale - resized) / 2))
    box = box * percent
    box[0] = int(np.floor(box[0] + left))
    box[1] = int(np.floor(box[1] + top))
    box[2] = int(np.floor(box[2]))
    box[3] = int(np.floor(box[3]))
    return box.astype(np.int32)


def box2mask(box, S):
    mask = np.zeros((S, S), dtype=np.uint8)
    mask[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] = 1
    return mask


def compute_iou(gtmask_, premask_, nan):
    gtmask, premask = gtmask_[~nan], premask_[~nan]
    if np.sum(premask) == 0 or np.sum(gtmask) == 0:
        return np.nan, np.nan
    inter = np.sum(np.logical_and(gtmask, premask))
    union = np.sum(np.logical_or(gtmask, premask))
    dice = 2 * inter / (np.sum(premask != 0) + np.sum(gtmask != 0))  # CONVENTION: §9.3
    return inter / union, dice


def moments(values):
    """CONVENTION: mean and population variance in float64; an all-equal set has variance 0."""
    v = values.astype(np.float64)
    if v.min() == v.max():
        return float(v[0]), 0.0
    return v.mean(), v.var()


def compute_cnr(gtmask_, heatmap_, nan, float32_like_reference=False):
    heatmap = norm_heatmap(heatmap_, nan)  # compute_cnr normalises again
    hv, gv = heatmap[~nan], gtmask_[~nan]
    A, A_ = hv[gv == 1], hv[gv == 0]
    if A.size == 0 or A_.size == 0:
        return np.nan
    if float32_like_reference:
        meanA, varA, meanA_, varA_ = A.mean(), A.var(), A_.mean(), A_.var()
    else:
        meanA, varA = moments(A)
        meanA_, varA_ = moments(A_)
    if varA + varA_ == 0:
        return 0.0
    return float((meanA - meanA_) / pow((varA + varA_), 0.5))


def pointing(heatmap, gtmask, nan):
    """CONVENTION (§9.5): first maximum of the non-NaN map; -1 without a box or a valid pixel."""
    if nan.all() or not (gtmask[~nan] != 0).any():
        return -1
    idx = np.nanargmax(heatmap)
    return int(gtmask.flat[idx] != 0)


def pair_metrics(heatmap, gtmask):
    nan = np.isnan(heatmap)
    ious, dices = [], []
    for threshold in THRESHOLDS:
        premask = np.where(heatmap > np.float32(threshold), 1, 0)
        iou, dice = compute_iou(gtmask, premask, nan)
        ious.append(iou)
        dices.append(dice)
    cnr = compute_cnr(gtmask, heatmap, nan)
    return ious, dices, cnr, pointing(heatmap, gtmask, nan)


def dict_mean(d):
    res = []
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for k in sorted(d):
                res.append(np.nanmean(d[k]))
            return np.nanmean(res)


def summarize(rows, cats):
    """rows: n x 12 (iou[5], dice[5], cnr, hit with -1 as NaN)."""
    def by_cat(col):
        d = {}
        for r, c in zip(rows, cats):
            d.setdefault(c, []).append(r[col])
        return d
    iou_at = [dict_mean(by_cat(t)) for t in range(5)]
    dice_at = [dict_mean(by_cat(5 + t)) for t in range(5)]
    summary = [np.mean(iou_at), np.mean(dice_at), dict_mean(by_cat(10)), dict_mean(by_cat(11))]
    return summary + iou_at


def auc_rank(scores, labels):
    n1 = int(labels.sum())
    n0 = len(labels) - n1
    if n1 == 0 or n0 == 0:
        return np.nan
    # scipy 1.10's rankdata returns all NaN when a score is infinite: rank an order- and
    # tie-preserving finite stand-in instead
    finite = scores[np.isfinite(scores)]
    lo, hi = (finite.min() - 1, finite.max() + 1) if finite.size else (-1.0, 1.0)
    ranks = rankdata(np.clip(scores, lo, hi), method="average")
    return (ranks[labels == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def f1_counts(scores, labels, threshold):
    pred = scores >= threshold
    tp = int(np.sum(pred & (labels == 1)))
    fp = int(np.sum(pred & (labels == 0)))
    fn = int(np.sum(~pred & (labels == 1)))
    tn = int(np.sum(~pred & (labels == 0)))
    f1 = np.nan if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return f1, (tp + tn) / len(labels)


def best_f1(scores, labels):
    best_t, best = 0.0, -1.0
    for t in np.unique(scores)[::-1]:  # highest first; strict improvement keeps the highest
        f, _ = f1_counts(scores, labels, t)
        if f > best:
            best_t, best = float(t), f
    return best_t, best


# ---- case generation ----

def random_raw_map(rng, S, style):
    if style == "smooth":
        g = rng.standard_normal((max(2, S // 12), max(2, S // 12)))
        ys = np.linspace(0, g.shape[0] - 1, S)
        xs = np.linspace(0, g.shape[1] - 1, S)
        right = lambda y, x: g[int(y), min(int(x) + 1, g.shape[1] - 1)]
        m = np.array([[g[int(y), int(x)] * (1 - (x % 1)) + right(y, x) * (x % 1) for x in xs]
                      for y in ys])
        return (m * rng.uniform(0.01, 100) + rng.uniform(-50, 50)).astype(np.float32)
    if style == "ties":
        return rng.integers(0, 4, (S, S)).astype(np.float32) * np.float32(0.25)
    if style == "constant":
        return np.full((S, S), rng.uniform(-3, 3), dtype=np.float32)
    if style == "nan":
        m = rng.standard_normal((S, S)).astype(np.float32)
        m[rng.random((S, S)) < 0.3] = np.nan
        return m
    return rng.standard_normal((S, S)).astype(np.float32)


def threshold_edge_map(rng, S):
    """Normalised values exactly at the float32 thresholds and their neighbours."""
    pool = [np.float32(-1), np.float32(1)]
    for t in THRESHOLDS:
        f = np.float32(t)
        pool += [f, np.nextafter(f, np.float32(2)), np.nextafter(f, np.float32(-2)),
                 np.float32(np.float64(t))]
    m = rng.choice(np.array(pool, dtype=np.float32), (S, S))
    m.flat[0] = np.float32(-1)
    m.flat[-1] = np.float32(1)
    return m.astype(np.float32)


def random_mask(rng, S, style):
    mask = np.zeros((S, S), dtype=np.uint8)
    if style == "empty":
        return mask
    if style == "full":
        return np.ones((S, S), dtype=np.uint8)
    boxes = rng.integers(1, 4)
    W, H = int(rng.integers(S, 4 * S)), int(rng.integers(S, 4 * S))
    for _ in range(boxes):
        x, y = rng.uniform(0, W * 0.8), rng.uniform(0, H * 0.8)
        w, h = 1 + rng.random() * (W - x), 1 + rng.random() * (H - y)
        mask += box2mask(box_transfer([x, y, w, h], W, H, S), S)
    return mask


class Writer:
    def __init__(self):
        self.parts, self.count = [], 0

    def record(self, kind, *blobs):
        self.parts.append(struct.pack("<i", kind))
        self.parts.extend(blobs)
        self.count += 1

    def bytes(self):
        return b"AFEV" + struct.pack("<i", self.count) + b"".join(self.parts)


def i32(*v):
    return struct.pack("<%di" % len(v), *v)


def f64(*v):
    return struct.pack("<%dd" % len(v), *v)


def main():
    rng = np.random.default_rng(20240517)
    out = Writer()
    cnr_float32_gap = 0.0

    # normalisation: raw -> normalised, bit for bit
    for S in (224, 224, 224, 1, 2, 7, 16, 33):
        for style in ("smooth", "ties", "constant", "nan", "normal"):
            for margin in (0, 1):
                raw = random_raw_map(rng, S, style)
                out.record(KIND_NORMALIZE, i32(S, margin), raw.tobytes(),
                           normalize(raw, margin).astype(np.float32).tobytes())

    # boxes: several boxes summed into one mask, images of every aspect
    for case in range(60):
        S = int(rng.choice([224, 224, 19, 7, 1]))
        W, H = int(rng.integers(1, 3000)), int(rng.integers(1, 3000))
        if case % 7 == 0:
            H = W  # square: the taller branch
        boxes = []
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, W), rng.uniform(0, H)
            if case % 3 == 0:
                x, y = float(int(x)), float(int(y))  # integer boxes as in the COCO file
            boxes.append([x, y, rng.uniform(0, W - x + 1), rng.uniform(0, H - y + 1)])
        mask = np.zeros((S, S), dtype=np.uint8)
        for b in boxes:
            mask += box2mask(box_transfer(b, W, H, S), S)
        out.record(KIND_BOX, i32(S, W, H, len(boxes)), f64(*[v for b in boxes for v in b]),
                   mask.tobytes())

    # pairs
    pair_rows, pair_cats = [], []
    for case in range(160):
        S = int(rng.choice([224, 224, 224, 16, 9, 3, 1]))
        style = ["smooth", "ties", "constant", "nan", "normal", "edges", "binary"][case % 7]
        if style == "edges":
            heatmap = threshold_edge_map(rng, S)
        elif style == "binary":
            heatmap = np.where(rng.random((S, S)) < 0.5, np.float32(-1), np.float32(1))
            heatmap = heatmap.astype(np.float32)
        else:
            heatmap = normalize(random_raw_map(rng, S, style), case % 2)
        mask = random_mask(rng, S, ["boxes", "boxes", "boxes", "empty", "full"][case % 5])
        if case % 11 == 0:
            heatmap[:] = np.nan
        ious, dices, cnr, hit = pair_metrics(heatmap, mask)
        nan = np.isnan(heatmap)
        if not np.isnan(cnr):
            ref32 = compute_cnr(mask, heatmap, nan, float32_like_reference=True)
            cnr_float32_gap = max(cnr_float32_gap, abs(ref32 - cnr) / max(1.0, abs(cnr)))
        out.record(KIND_PAIR, i32(S), heatmap.astype(np.float32).tobytes(), mask.tobytes(),
                   f64(*ious, *dices, cnr), i32(hit))
        pair_rows.append(list(ious) + list(dices) + [cnr, np.nan if hit < 0 else float(hit)])
        pair_cats.append(int(rng.integers(0, 8)) * 3)

    # summaries: the pairs above in several groupings, plus synthetic rows with many NaN
    for case in range(30):
        if case < 5:
            n = len(pair_rows) if case == 0 else int(rng.integers(1, len(pair_rows)))
            rows = np.array(pair_rows[:n], dtype=np.float64)
            cats = pair_cats[:n] if case % 2 == 0 else [int(rng.integers(0, 3)) for _ in range(n)]
        else:
            n = int(rng.integers(1, 300))
            rows = rng.random((n, 12))
            rows[:, 10] = rng.standard_normal(n) * 2
            rows[:, 11] = rng.integers(0, 2, n)
            rows[rng.random((n, 12)) < [0.3] * 10 + [0.1, 0.2]] = np.nan
            if case % 5 == 0:
                rows[:, 4] = np.nan  # one threshold NaN everywhere: iou NaN
            cats = [int(rng.integers(0, 1 + case % 9)) * 7 + 1 for _ in range(n)]
        hits = np.where(np.isnan(rows[:, 11]), -1, rows[:, 11]).astype(np.int32)
        want = summarize(rows, cats)
        out.record(KIND_SUMMARY, i32(n), i32(*cats), rows[:, :11].astype(np.float64).tobytes(),
                   hits.tobytes(), f64(*want), i32(len(set(cats))))

    # classification: ties, one-class labels, infinities
    for case in range(80):
        n = int(rng.integers(1, 400))
        if case % 4 == 0:
            scores = rng.integers(0, 5, n).astype(np.float64) / 4  # many ties
        else:
            scores = rng.standard_normal(n)
        if case % 10 == 3:
            scores[0] = np.inf
            scores[-1] = -np.inf
        labels = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.int32)
        if case % 9 == 0:
            labels[:] = case % 2  # one class only
        threshold = float(rng.choice(scores)) if case % 2 else float(rng.standard_normal())
        f1, acc = f1_counts(scores, labels, threshold)
        bt, bf = best_f1(scores, labels)
        out.record(KIND_CLASSIFY, i32(n), scores.tobytes(), labels.tobytes(),
                   f64(threshold, auc_rank(scores, labels), f1, acc, bt, bf))

    with open(sys.argv[1], "wb") as f:
        f.write(out.bytes())
    print("ref_eval: %d records; CNR float32-numpy (reference) vs float64: max rel gap %.3g"
          % (out.count, cnr_float32_gap))


if __name__ == "__main__":
    main()
