/* eval_metrics.c: the per-pair localization metrics of the official MS-CXR evaluation (MODEL.md
 * §8.4 margin and normalisation, §9.1 box mapping, §9.2-9.5 IoU, Dice, CNR, pointing game) and
 * the classification metrics of §9.7 (ROC AUC, F1, accuracy). The aggregation and its bootstrap
 * are in eval_bootstrap.c.
 *
 * Reference: AFLoc eval/common.py (set_margin, Pipeline.test), eval/utils.py (norm_heatmap),
 * eval/metric.py (compute_iou, compute_cnr), eval/box_transfer.py. Maps are S x S float32,
 * row-major (index y * S + x); masks S x S uint8. The reference's float32 map arithmetic (the
 * normalisation, the comparison h' > θ, which numpy 1.x does in float32) is done in float32 in the
 * same order so the pixel sets match bit for bit; the CNR statistics are accumulated in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "alloc.h"
#include "error.h"

/* Output structs: struct_size below the size field or above any plausible version is refused. */
#define MAX_STRUCT_SIZE (1u << 20)

/* ---- shared checks ---- */

static afloc_status check_side(int32_t S, const char *function) {
    if (S < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: S = %d, must be >= 1", function, S);
    if (S > AFLOC_EVAL_MAX_SIZE)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: S = %d exceeds AFLOC_EVAL_MAX_SIZE (%d)", function,
                          S, AFLOC_EVAL_MAX_SIZE);
    return AFLOC_OK;
}

/* Index of the first ±Inf pixel, or -1. */
static long first_infinite(const float *map, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (isinf(map[i])) return (long)i;
    return -1;
}

/* The reference's min-max step in float32 and its order: ((h - min) / (max - min)) * 2 - 1. */
static float renormalize(float h, float lo, float range) {
    float shifted = h - lo;
    float unit = shifted / range;
    return unit * 2.0f - 1.0f;
}

/* Min and max over the non-NaN pixels; returns how many there are. */
static size_t valid_range(const float *map, size_t count, float *lo, float *hi) {
    size_t valid = 0;
    float mn = 0.0f, mx = 0.0f;
    for (size_t i = 0; i < count; i++) {
        float v = map[i];
        if (isnan(v)) continue;
        if (valid == 0 || v < mn) mn = v;
        if (valid == 0 || v > mx) mx = v;
        valid++;
    }
    *lo = mn;
    *hi = mx;
    return valid;
}

/* The thresholds of np.arange(0.1, 0.6, 0.1): start + i * step in double (the third is
 * 0.30000000000000004), then rounded to float32 for the comparison numpy 1.x makes. */
static float threshold_f32(int t) {
    double start = 0.1, step = 0.1;
    return (float)(start + (double)t * step);
}

/* ---- §8.4 margin and normalisation ---- */

afloc_status afloc_eval_normalize_map(float *map, int32_t S, int32_t margin) {
    if (!map)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_eval_normalize_map: map is NULL");
    AFLOC_TRY(check_side(S, "afloc_eval_normalize_map"));
    size_t count = (size_t)S * (size_t)S;
    long bad = first_infinite(map, count);
    if (bad >= 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_normalize_map: map[%ld] is infinite (%g)", bad,
                          (double)map[bad]);
    if (margin) {
        /* set_margin: the kept square has side int(448 * S / 512); F.pad puts floor(m / 2)
         * before it and ceil(m / 2) after it on each axis. 448/512 = 7/8, so integer division
         * equals Python's truncation of the float quotient. */
        int32_t side = (int32_t)((448 * (int64_t)S) / 512);
        int32_t first = (S - side) / 2;
        for (int32_t y = 0; y < S; y++)
            for (int32_t x = 0; x < S; x++)
                if (y < first || y >= first + side || x < first || x >= first + side)
                    map[(size_t)y * (size_t)S + (size_t)x] = NAN;
    }
    float lo, hi;
    size_t valid = valid_range(map, count, &lo, &hi);
    if (valid == 0) return AFLOC_OK;
    float range = hi - lo;
    for (size_t i = 0; i < count; i++) {
        if (isnan(map[i])) continue;
        map[i] = range == 0.0f ? 0.0f : renormalize(map[i], lo, range);
    }
    return AFLOC_OK;
}

/* ---- §9.1 ground-truth boxes ---- */

/* Clamps a floored coordinate into [0, S] before it becomes an integer. */
static int32_t clamp_coordinate(double v, int32_t S) {
    if (!(v > 0.0)) return 0;
    if (v >= (double)S) return S;
    return (int32_t)v;
}

afloc_status afloc_eval_box_to_mask(uint8_t *mask, int32_t S, int32_t width, int32_t height,
                                    double x, double y, double w, double h) {
    if (!mask)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_eval_box_to_mask: mask is NULL");
    AFLOC_TRY(check_side(S, "afloc_eval_box_to_mask"));
    if (width < 1 || height < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_box_to_mask: image size %d x %d, both must be >= 1", width,
                          height);
    if (!isfinite(x) || !isfinite(y) || !isfinite(w) || !isfinite(h))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_box_to_mask: box (%g, %g, %g, %g) has a non-finite value", x,
                          y, w, h);
    /* box_transfer: the taller branch also for square images; the resized side is truncated,
     * the pad before it is floor(p / 2). */
    double k;
    int32_t pad_left = 0, pad_top = 0;
    if (height >= width) {
        k = (double)S / (double)height;
        int32_t resized = (int32_t)((double)width * k);
        pad_left = (S - resized) / 2;
    } else {
        k = (double)S / (double)width;
        int32_t resized = (int32_t)((double)height * k);
        pad_top = (S - resized) / 2;
    }
    double x0 = floor(x * k + (double)pad_left), y0 = floor(y * k + (double)pad_top);
    double bw = floor(w * k), bh = floor(h * k);
    int32_t c0 = clamp_coordinate(x0, S), c1 = clamp_coordinate(x0 + bw, S);
    int32_t r0 = clamp_coordinate(y0, S), r1 = clamp_coordinate(y0 + bh, S);
    for (int32_t r = r0; r < r1; r++)
        for (int32_t c = c0; c < c1; c++) {
            uint8_t *p = &mask[(size_t)r * (size_t)S + (size_t)c];
            if (*p < 255) (*p)++;
        }
    return AFLOC_OK;
}

/* ---- §9.2-9.5 one image-phrase pair ---- */

/* Mean and population variance of one CNR set, accumulated in double. */
typedef struct moments {
    size_t count;
    double sum, squares, mean, variance;
    float lo, hi; /* range of the set: equal values give variance exactly 0 */
} moments;

static void moments_add(moments *m, float v) {
    if (m->count == 0 || v < m->lo) m->lo = v;
    if (m->count == 0 || v > m->hi) m->hi = v;
    m->count++;
    m->sum += (double)v;
}

/* §9.4 on the map normalised once more (compute_cnr calls norm_heatmap again); two passes,
 * as numpy's var: mean first, then the mean squared deviation. */
static double pair_cnr(const float *map, const uint8_t *mask, size_t count) {
    float lo, hi;
    size_t valid = valid_range(map, count, &lo, &hi);
    float range = hi - lo;
    int renorm = valid > 0 && range != 0.0f;
    moments in = {0}, out = {0};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < count; i++) {
            if (isnan(map[i]) || mask[i] > 1) continue;
            float v = renorm ? renormalize(map[i], lo, range) : map[i];
            moments *m = mask[i] == 1 ? &in : &out;
            if (pass == 0) {
                moments_add(m, v);
            } else {
                double d = (double)v - m->mean;
                m->squares += d * d;
            }
        }
        if (pass == 0) {
            if (in.count == 0 || out.count == 0) return NAN;
            in.mean = in.lo == in.hi ? (double)in.lo : in.sum / (double)in.count;
            out.mean = out.lo == out.hi ? (double)out.lo : out.sum / (double)out.count;
        }
    }
    in.variance = in.lo == in.hi ? 0.0 : in.squares / (double)in.count;
    out.variance = out.lo == out.hi ? 0.0 : out.squares / (double)out.count;
    double spread = in.variance + out.variance;
    if (spread == 0.0) return 0.0;
    return (in.mean - out.mean) / sqrt(spread);
}

afloc_status afloc_eval_pair(const float *map, const uint8_t *mask, int32_t S,
                             afloc_eval_pair_metrics *out) {
    if (!map || !mask || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_eval_pair: %s is NULL",
                          !map ? "map" : !mask ? "mask" : "out");
    AFLOC_TRY(check_side(S, "afloc_eval_pair"));
    size_t out_size;
    memcpy(&out_size, out, sizeof out_size);
    if (out_size < sizeof(size_t) || out_size > MAX_STRUCT_SIZE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_pair: out->struct_size %zu is not a plausible size "
                          "(expected %zu)", out_size, sizeof(afloc_eval_pair_metrics));
    size_t count = (size_t)S * (size_t)S;
    long bad = first_infinite(map, count);
    if (bad >= 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_eval_pair: map[%ld] is infinite (%g)",
                          bad, (double)map[bad]);

    float theta[5];
    for (int t = 0; t < 5; t++) theta[t] = threshold_f32(t);
    size_t predicted[5] = {0}, overlap[5] = {0}, truth = 0, valid = 0;
    size_t best = 0;
    for (size_t i = 0; i < count; i++) {
        float v = map[i];
        if (isnan(v)) continue;
        int g = mask[i] != 0;
        truth += (size_t)g;
        if (valid == 0 || v > map[best]) best = i; /* first maximum in row-major order */
        valid++;
        for (int t = 0; t < 5; t++) {
            int p = v > theta[t];
            predicted[t] += (size_t)p;
            overlap[t] += (size_t)(p & g);
        }
    }

    afloc_eval_pair_metrics result;
    memset(&result, 0, sizeof result);
    result.struct_size = out_size;
    for (int t = 0; t < 5; t++) {
        if (predicted[t] == 0 || truth == 0) {
            result.iou[t] = NAN; /* compute_iou(only_pos=True) */
            result.dice[t] = NAN;
            continue;
        }
        size_t both = overlap[t], either = predicted[t] + truth - overlap[t];
        result.iou[t] = (double)both / (double)either;
        result.dice[t] = 2.0 * (double)both / (double)(predicted[t] + truth);
    }
    result.cnr = pair_cnr(map, mask, count);
    result.hit = (valid == 0 || truth == 0) ? -1 : mask[best] != 0;
    memcpy(out, &result, out_size < sizeof result ? out_size : sizeof result);
    return AFLOC_OK;
}

/* ---- §9.7 classification: ROC AUC, F1, accuracy ---- */

typedef struct scored {
    double score;
    int32_t label;
} scored;

static int by_score_descending(const void *a, const void *b) {
    double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x < y) - (x > y);
}

/* Validates and copies (score, label) pairs, sorted by descending score, into *sorted (caller
 * frees with afloc_free). */
static afloc_status sort_scores(const double *scores, const int32_t *labels, int32_t n,
                                const char *function, scored **sorted) {
    if (!scores || !labels)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", function,
                          !scores ? "scores" : "labels");
    if (n < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: n = %d, must be >= 1", function, n);
    for (int32_t i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: labels[%d] = %d, must be 0 or 1",
                              function, i, labels[i]);
        if (isnan(scores[i]))
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: scores[%d] is NaN", function, i);
    }
    if (!sorted) return AFLOC_OK;
    scored *items = afloc_malloc((size_t)n * sizeof *items);
    if (!items)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d scores", function, n);
    for (int32_t i = 0; i < n; i++) {
        items[i].score = scores[i];
        items[i].label = labels[i];
    }
    qsort(items, (size_t)n, sizeof *items, by_score_descending);
    *sorted = items;
    return AFLOC_OK;
}

afloc_status afloc_eval_auc(const double *scores, const int32_t *labels, int32_t n, double *auc) {
    if (!auc) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_eval_auc: auc is NULL");
    scored *items = NULL;
    AFLOC_TRY(sort_scores(scores, labels, n, "afloc_eval_auc", &items));
    /* Mann-Whitney U from the top: every positive beats the negatives of lower score and ties
     * with those of equal score (one half). 2U is an integer below n^2 / 2 < 2^62. */
    uint64_t twice_u = 0, positives = 0, negatives = 0;
    for (int32_t i = 0; i < n;) {
        int32_t j = i;
        uint64_t p = 0, q = 0;
        while (j < n && items[j].score == items[i].score) {
            if (items[j].label) p++;
            else q++;
            j++;
        }
        /* each negative of this group loses to every positive above it and ties with the
         * group's positives */
        twice_u += 2 * q * positives + p * q;
        positives += p;
        negatives += q;
        i = j;
    }
    afloc_free(items);
    if (positives == 0 || negatives == 0) {
        *auc = NAN;
        return AFLOC_OK;
    }
    *auc = (double)twice_u / (2.0 * (double)positives * (double)negatives);
    return AFLOC_OK;
}

static double f1_of(uint64_t tp, uint64_t fp, uint64_t fn) {
    uint64_t denominator = 2 * tp + fp + fn;
    return denominator == 0 ? NAN : (double)(2 * tp) / (double)denominator;
}

afloc_status afloc_eval_f1(const double *scores, const int32_t *labels, int32_t n,
                           double threshold, double *f1, double *accuracy, double *best_threshold,
                           double *best_f1) {
    if (isnan(threshold))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_eval_f1: threshold is NaN");
    int want_best = best_threshold || best_f1;
    scored *items = NULL;
    AFLOC_TRY(sort_scores(scores, labels, n, "afloc_eval_f1", want_best ? &items : NULL));
    uint64_t tp = 0, fp = 0, fn = 0, tn = 0, positives = 0;
    for (int32_t i = 0; i < n; i++) {
        int predicted = scores[i] >= threshold;
        positives += (uint64_t)labels[i];
        if (predicted && labels[i]) tp++;
        else if (predicted) fp++;
        else if (labels[i]) fn++;
        else tn++;
    }
    double top_threshold = 0.0, top_f1 = -1.0;
    if (want_best) {
        /* Lowering the threshold from the highest score adds one group of equal scores at a
         * time; a strictly larger F1 is needed to move, so ties keep the highest threshold. */
        uint64_t run_tp = 0, run_fp = 0;
        for (int32_t i = 0; i < n;) {
            int32_t j = i;
            while (j < n && items[j].score == items[i].score) {
                if (items[j].label) run_tp++;
                else run_fp++;
                j++;
            }
            double f = f1_of(run_tp, run_fp, positives - run_tp);
            if (f > top_f1) {
                top_f1 = f;
                top_threshold = items[i].score;
            }
            i = j;
        }
        afloc_free(items);
    }
    if (f1) *f1 = f1_of(tp, fp, fn);
    if (accuracy) *accuracy = (double)(tp + tn) / (double)n;
    if (best_threshold) *best_threshold = top_threshold;
    if (best_f1) *best_f1 = top_f1;
    return AFLOC_OK;
}
