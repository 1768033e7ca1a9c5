/* eval_bootstrap.c: the §9.6 aggregation of per-pair localization metrics (MODEL.md): per
 * category nanmean, then nanmean over categories (a macro average), with stratified bootstrap
 * confidence intervals at the reference's percentile indices.
 *
 * Reference: AFLoc eval/common.py (dict_mean, bootstrap_metric, compute_cis). The point values
 * follow it exactly; the bootstrap does not reproduce its procedure or NumPy's stream (see the
 * header). Layout: the metrics of pair i are a row of METRICS doubles, rows grouped by category. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "alloc.h"
#include "captions.h"
#include "error.h"

#define MAX_STRUCT_SIZE (1u << 20)

/* One row per pair: iou[0..4], dice[0..4], cnr, hit (NaN when -1). */
enum { COL_IOU = 0, COL_DICE = 5, COL_CNR = 10, COL_HIT = 11, METRICS = 12 };

/* The summary values a replicate produces. */
enum { SUM_IOU = 0, SUM_DICE, SUM_CNR, SUM_POINTING, SUMMARIES };

typedef struct member {
    int32_t category;
    int32_t index;
} member;

static int by_category(const void *a, const void *b) {
    const member *x = a, *y = b;
    if (x->category != y->category)
        return (x->category > y->category) - (x->category < y->category);
    return (x->index > y->index) - (x->index < y->index);
}

/* Macro averages of every column. Category c owns rows start[c] .. start[c+1]-1; with rng NULL
 * each row is taken once, otherwise as many rows are drawn with replacement. */
static void macro_average(const double *rows, const int32_t *start, int32_t categories,
                          afloc_rng *rng, double macro[METRICS]) {
    double total[METRICS] = {0};
    int32_t present[METRICS] = {0};
    for (int32_t c = 0; c < categories; c++) {
        int32_t size = start[c + 1] - start[c];
        double sum[METRICS] = {0};
        int32_t count[METRICS] = {0};
        for (int32_t k = 0; k < size; k++) {
            int32_t r = start[c] + (rng ? (int32_t)afloc_rng_below(rng, (uint64_t)size) : k);
            const double *row = rows + (size_t)r * METRICS;
            for (int m = 0; m < METRICS; m++) {
                if (isnan(row[m])) continue;
                sum[m] += row[m];
                count[m]++;
            }
        }
        for (int m = 0; m < METRICS; m++) { /* nanmean over the category; all-NaN is skipped */
            if (count[m] == 0) continue;
            total[m] += sum[m] / (double)count[m];
            present[m]++;
        }
    }
    for (int m = 0; m < METRICS; m++)
        macro[m] = present[m] ? total[m] / (double)present[m] : NAN;
}

/* The reported values: IoU and Dice are the plain mean of their five per-threshold values
 * (np.mean, so one NaN threshold makes them NaN); CNR and pointing are their macro averages. */
static void summary_values(const double macro[METRICS], double value[SUMMARIES]) {
    double iou = 0.0, dice = 0.0;
    for (int t = 0; t < 5; t++) {
        iou += macro[COL_IOU + t];
        dice += macro[COL_DICE + t];
    }
    value[SUM_IOU] = iou / 5.0;
    value[SUM_DICE] = dice / 5.0;
    value[SUM_CNR] = macro[COL_CNR];
    value[SUM_POINTING] = macro[COL_HIT];
}

static int ascending_nan_last(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

/* compute_cis: sort (NaN last, as pandas' sort_values) and take int(0.025 R) - 1 and
 * int(0.975 R) - 1; a negative index (R < 40; pandas would wrap to the end) becomes 0. */
static void percentile_bounds(double *replicates, int32_t R, double *lo, double *hi) {
    qsort(replicates, (size_t)R, sizeof *replicates, ascending_nan_last);
    int32_t lower = (int32_t)(0.025 * (double)R) - 1, upper = (int32_t)(0.975 * (double)R) - 1;
    *lo = replicates[lower < 0 ? 0 : lower];
    *hi = replicates[upper < 0 ? 0 : upper];
}

/* Checks the pairs array and copies it, grouped by category, into rows (n x METRICS). */
static afloc_status gather_rows(const afloc_eval_pair_metrics *pairs, const int32_t *category,
                                int32_t n, member *order, double *rows, int32_t *categories) {
    const unsigned char *bytes = (const unsigned char *)pairs;
    size_t stride = pairs[0].struct_size;
    size_t needed = offsetof(afloc_eval_pair_metrics, hit) + sizeof(int32_t);
    if (stride < needed || stride > MAX_STRUCT_SIZE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_summarize: pairs[0].struct_size %zu, must be %zu..%u "
                          "(sizeof(afloc_eval_pair_metrics) is %zu)", stride, needed,
                          MAX_STRUCT_SIZE, sizeof(afloc_eval_pair_metrics));
    for (int32_t i = 0; i < n; i++) {
        afloc_eval_pair_metrics p;
        memset(&p, 0, sizeof p);
        memcpy(&p, bytes + (size_t)i * stride, stride < sizeof p ? stride : sizeof p);
        if (p.struct_size != stride)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                              "afloc_eval_summarize: pairs[%d].struct_size %zu differs from "
                              "pairs[0].struct_size %zu", i, p.struct_size, stride);
        if (p.hit < -1 || p.hit > 1)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                              "afloc_eval_summarize: pairs[%d].hit = %d, must be -1, 0 or 1", i,
                              p.hit);
        if (category[i] < 0)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                              "afloc_eval_summarize: category[%d] = %d, must be >= 0", i,
                              category[i]);
        order[i].category = category[i];
        order[i].index = i;
    }
    qsort(order, (size_t)n, sizeof *order, by_category);
    int32_t groups = 0;
    for (int32_t i = 0; i < n; i++) {
        if (i == 0 || order[i].category != order[i - 1].category) groups++;
        afloc_eval_pair_metrics p;
        memset(&p, 0, sizeof p);
        memcpy(&p, bytes + (size_t)order[i].index * stride, stride < sizeof p ? stride : sizeof p);
        double *row = rows + (size_t)i * METRICS;
        for (int t = 0; t < 5; t++) {
            row[COL_IOU + t] = p.iou[t];
            row[COL_DICE + t] = p.dice[t];
        }
        row[COL_CNR] = p.cnr;
        row[COL_HIT] = p.hit < 0 ? NAN : (double)p.hit;
    }
    *categories = groups;
    return AFLOC_OK;
}

/* Fills start[0..categories] from the sorted order. */
static void group_starts(const member *order, int32_t n, int32_t *start) {
    int32_t c = 0;
    for (int32_t i = 0; i < n; i++)
        if (i == 0 || order[i].category != order[i - 1].category) start[c++] = i;
    start[c] = n;
}

afloc_status afloc_eval_summarize(const afloc_eval_pair_metrics *pairs, const int32_t *category,
                                  int32_t n, int32_t resamples, uint64_t seed,
                                  afloc_eval_summary *out) {
    if (!pairs || !category || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_eval_summarize: %s is NULL",
                          !pairs ? "pairs" : !category ? "category" : "out");
    if (n < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_summarize: n = %d, must be >= 1", n);
    if (resamples < 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_summarize: resamples = %d, must be >= 0", resamples);
    if (resamples > AFLOC_EVAL_MAX_RESAMPLES)
        return afloc_fail(AFLOC_ERR_LIMIT,
                          "afloc_eval_summarize: resamples = %d exceeds "
                          "AFLOC_EVAL_MAX_RESAMPLES (%d)",
                          resamples, AFLOC_EVAL_MAX_RESAMPLES);
    size_t out_size;
    memcpy(&out_size, out, sizeof out_size);
    if (out_size < sizeof(size_t) || out_size > MAX_STRUCT_SIZE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_eval_summarize: out->struct_size %zu is not a plausible size "
                          "(expected %zu)", out_size, sizeof(afloc_eval_summary));

    member *order = afloc_malloc((size_t)n * sizeof *order);
    double *rows = afloc_malloc((size_t)n * METRICS * sizeof *rows);
    int32_t *start = afloc_malloc(((size_t)n + 1) * sizeof *start);
    double *replicates = NULL;
    if (resamples) replicates = afloc_malloc((size_t)resamples * SUMMARIES * sizeof *replicates);
    afloc_status status = AFLOC_OK;
    if (!order || !rows || !start || (resamples && !replicates)) {
        status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY,
                            "afloc_eval_summarize: cannot allocate work space for %d pairs and %d "
                            "resamples", n, resamples);
        goto done;
    }
    int32_t categories = 0;
    status = gather_rows(pairs, category, n, order, rows, &categories);
    if (status != AFLOC_OK) goto done;
    group_starts(order, n, start);

    afloc_eval_summary result;
    memset(&result, 0, sizeof result);
    result.struct_size = out_size;
    double macro[METRICS], value[SUMMARIES];
    macro_average(rows, start, categories, NULL, macro);
    summary_values(macro, value);
    for (int t = 0; t < 5; t++) result.iou_at[t] = macro[COL_IOU + t];
    result.iou = value[SUM_IOU];
    result.dice = value[SUM_DICE];
    result.cnr = value[SUM_CNR];
    result.pointing = value[SUM_POINTING];
    result.pairs = n;
    result.categories = categories;

    double lo[SUMMARIES], hi[SUMMARIES];
    for (int s = 0; s < SUMMARIES; s++) lo[s] = hi[s] = NAN;
    if (resamples) {
        /* replicate r, then categories in ascending id order, then one draw per member */
        afloc_rng rng;
        afloc_rng_seed(&rng, seed, 0);
        for (int32_t r = 0; r < resamples; r++) {
            macro_average(rows, start, categories, &rng, macro);
            summary_values(macro, value);
            for (int s = 0; s < SUMMARIES; s++) replicates[(size_t)s * resamples + r] = value[s];
        }
        for (int s = 0; s < SUMMARIES; s++)
            percentile_bounds(replicates + (size_t)s * resamples, resamples, &lo[s], &hi[s]);
    }
    result.iou_lo = lo[SUM_IOU];
    result.iou_hi = hi[SUM_IOU];
    result.dice_lo = lo[SUM_DICE];
    result.dice_hi = hi[SUM_DICE];
    result.cnr_lo = lo[SUM_CNR];
    result.cnr_hi = hi[SUM_CNR];
    result.pointing_lo = lo[SUM_POINTING];
    result.pointing_hi = hi[SUM_POINTING];
    memcpy(out, &result, out_size < sizeof result ? out_size : sizeof result);

done:
    afloc_free(replicates);
    afloc_free(start);
    afloc_free(rows);
    afloc_free(order);
    return status;
}
