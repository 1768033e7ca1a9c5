/* test_eval_api.c: the evaluation API's contract apart from the numbers the oracle checks:
 * misuse gives the documented status and a message and leaves outputs untouched; allocation
 * failures become AFLOC_ERR_OUT_OF_MEMORY; struct_size is honoured (a smaller output struct gets
 * only its fields, a larger pairs stride is read correctly); and the bootstrap is exactly the
 * documented procedure: replayed here with the documented generator (xoshiro256** via
 * splitmix64, stream 0, afloc_rng_below), percentile index int(0.025 R) - 1 / int(0.975 R) - 1,
 * deterministic by seed, and lo <= value <= hi on non-degenerate data. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "captions.h"
#include "test_util.h"

#define N_PAIRS 120
#define SENTINEL 0x5A

static int all_bytes(const void *p, size_t n, unsigned char v) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

static void misuse(void) {
    enum { S = 8 };
    float map[S * S];
    uint8_t mask[S * S];
    for (int i = 0; i < S * S; i++) {
        map[i] = (float)i / 7.0f - 3.0f;
        mask[i] = (uint8_t)(i % 3 == 0);
    }
    /* normalize: NULL, S, Inf (map untouched) */
    CHECK_STATUS(afloc_eval_normalize_map(NULL, S, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_normalize_map(map, 0, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_normalize_map(map, -3, 0), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_normalize_map(map, AFLOC_EVAL_MAX_SIZE + 1, 0), AFLOC_ERR_LIMIT);
    float saved[S * S];
    map[S * S - 1] = INFINITY;
    memcpy(saved, map, sizeof map);
    CHECK_STATUS(afloc_eval_normalize_map(map, S, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(afloc_last_error(), "map[63]") != NULL);
    CHECK(memcmp(saved, map, sizeof map) == 0);
    map[S * S - 1] = 1.0f;
    /* all NaN: OK and still all NaN */
    float nan_map[4] = {NAN, NAN, NAN, NAN};
    CHECK_STATUS(afloc_eval_normalize_map(nan_map, 2, 0), AFLOC_OK);
    CHECK(isnan(nan_map[0]) && isnan(nan_map[3]));
    /* margin at S = 224 keeps rows/cols 14..209 */
    float *big = malloc(224 * 224 * sizeof *big);
    for (int i = 0; i < 224 * 224; i++) big[i] = (float)(i % 97);
    CHECK_STATUS(afloc_eval_normalize_map(big, 224, 1), AFLOC_OK);
    CHECK(isnan(big[13 * 224 + 100]) && !isnan(big[14 * 224 + 100]));
    CHECK(!isnan(big[209 * 224 + 209]) && isnan(big[210 * 224 + 100]));
    CHECK(isnan(big[100 * 224 + 13]));
    free(big);

    /* box_to_mask */
    uint8_t before[S * S];
    memcpy(before, mask, sizeof mask);
    CHECK_STATUS(afloc_eval_box_to_mask(NULL, S, 10, 10, 0, 0, 1, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_box_to_mask(mask, 0, 10, 10, 0, 0, 1, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_box_to_mask(mask, S, 0, 10, 0, 0, 1, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_box_to_mask(mask, S, 10, -1, 0, 0, 1, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_box_to_mask(mask, S, 10, 10, NAN, 0, 1, 1), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_box_to_mask(mask, S, 10, 10, 0, 0, INFINITY, 1),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(memcmp(before, mask, sizeof mask) == 0);
    /* far outside / negative / huge boxes are clipped, never written out of bounds */
    uint8_t clip[S * S];
    memset(clip, 0, sizeof clip);
    CHECK_STATUS(afloc_eval_box_to_mask(clip, S, 10, 10, -3, -5, 1e300, 1e9), AFLOC_OK);
    CHECK(all_bytes(clip, sizeof clip, 1));
    CHECK_STATUS(afloc_eval_box_to_mask(clip, S, 10, 10, 1e9, 1e9, 5, 5), AFLOC_OK);
    CHECK(all_bytes(clip, sizeof clip, 1));
    memset(clip, 254, sizeof clip);
    CHECK_STATUS(afloc_eval_box_to_mask(clip, S, 10, 10, 0, 0, 10, 10), AFLOC_OK);
    CHECK_STATUS(afloc_eval_box_to_mask(clip, S, 10, 10, 0, 0, 10, 10), AFLOC_OK);
    CHECK(all_bytes(clip, sizeof clip, 255)); /* saturates */

    /* pair: NULLs, S, struct_size, Inf; out untouched */
    afloc_eval_pair_metrics m;
    memset(&m, SENTINEL, sizeof m);
    m.struct_size = sizeof m;
    afloc_eval_pair_metrics m0 = m;
    CHECK_STATUS(afloc_eval_pair(NULL, mask, S, &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_pair(map, NULL, S, &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_pair(map, mask, S, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_pair(map, mask, 0, &m), AFLOC_ERR_INVALID_ARGUMENT);
    map[5] = -INFINITY;
    CHECK_STATUS(afloc_eval_pair(map, mask, S, &m), AFLOC_ERR_INVALID_ARGUMENT);
    map[5] = 0.0f;
    m.struct_size = 3;
    m0.struct_size = 3;
    CHECK_STATUS(afloc_eval_pair(map, mask, S, &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(memcmp(&m, &m0, sizeof m) == 0);
    /* a caller compiled with only struct_size + iou[5]: nothing after is written */
    size_t small = offsetof(afloc_eval_pair_metrics, dice);
    m.struct_size = small;
    CHECK_STATUS(afloc_eval_pair(map, mask, S, &m), AFLOC_OK);
    CHECK(m.struct_size == small && !isnan(m.iou[0]));
    CHECK(all_bytes((const char *)&m + small, sizeof m - small, SENTINEL));
    /* NaN map: all metrics undefined */
    float all_nan[S * S];
    for (int i = 0; i < S * S; i++) all_nan[i] = NAN;
    m.struct_size = sizeof m;
    CHECK_STATUS(afloc_eval_pair(all_nan, mask, S, &m), AFLOC_OK);
    CHECK(isnan(m.iou[2]) && isnan(m.dice[4]) && isnan(m.cnr) && m.hit == -1);

    /* summarize */
    afloc_eval_pair_metrics pairs[2];
    memset(pairs, 0, sizeof pairs);
    pairs[0].struct_size = pairs[1].struct_size = sizeof pairs[0];
    int32_t cats[2] = {0, 1};
    afloc_eval_summary s;
    memset(&s, SENTINEL, sizeof s);
    s.struct_size = sizeof s;
    afloc_eval_summary s0 = s;
    CHECK_STATUS(afloc_eval_summarize(NULL, cats, 2, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_summarize(pairs, NULL, 2, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 2, 10, 0, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 0, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, -1, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 2, -1, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 2, AFLOC_EVAL_MAX_RESAMPLES + 1, 0, &s),
                 AFLOC_ERR_LIMIT);
    cats[1] = -2;
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 2, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(afloc_last_error(), "category[1] = -2") != NULL);
    cats[1] = 1;
    pairs[1].hit = 2;
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 2, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    pairs[1].hit = 0;
    pairs[1].struct_size = 8;
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 2, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    pairs[0].struct_size = pairs[1].struct_size = 16; /* too small to hold the fields */
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, 2, 10, 0, &s), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(memcmp(&s, &s0, sizeof s) == 0);

    /* auc / f1 */
    double scores[4] = {0.1, 0.4, 0.35, 0.8};
    int32_t labels[4] = {0, 0, 1, 1};
    double auc = -5.0, f1 = -5.0;
    CHECK_STATUS(afloc_eval_auc(NULL, labels, 4, &auc), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_auc(scores, NULL, 4, &auc), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_auc(scores, labels, 4, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_auc(scores, labels, 0, &auc), AFLOC_ERR_INVALID_ARGUMENT);
    labels[2] = 2;
    CHECK_STATUS(afloc_eval_auc(scores, labels, 4, &auc), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_f1(scores, labels, 4, 0.5, &f1, NULL, NULL, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    labels[2] = 1;
    scores[1] = NAN;
    CHECK_STATUS(afloc_eval_auc(scores, labels, 4, &auc), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_eval_f1(scores, labels, 4, 0.5, &f1, NULL, NULL, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    scores[1] = 0.4;
    CHECK_STATUS(afloc_eval_f1(scores, labels, 4, NAN, &f1, NULL, NULL, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(auc == -5.0 && f1 == -5.0);
    CHECK_STATUS(afloc_eval_auc(scores, labels, 4, &auc), AFLOC_OK);
    CHECK(auc == 0.75); /* the textbook example: 3 of 4 positive-negative pairs ordered */
    CHECK_STATUS(afloc_eval_f1(scores, labels, 4, 0.3, NULL, NULL, NULL, NULL), AFLOC_OK);
}

/* Allocation failures: every k-th allocation failing gives OUT_OF_MEMORY and untouched output. */
static void allocation_failures(void) {
    afloc_eval_pair_metrics pairs[3];
    memset(pairs, 0, sizeof pairs);
    int32_t cats[3] = {4, 4, 9};
    for (int i = 0; i < 3; i++) {
        pairs[i].struct_size = sizeof pairs[i];
        pairs[i].cnr = i;
        pairs[i].hit = i % 2;
    }
    double scores[3] = {1, 2, 3};
    int32_t labels[3] = {0, 1, 1};
    int oom = 0;
    for (long k = 0; k < 10; k++) {
        afloc_eval_summary s;
        memset(&s, SENTINEL, sizeof s);
        s.struct_size = sizeof s;
        afloc_test_inject_alloc_failure(k);
        afloc_status st = afloc_eval_summarize(pairs, cats, 3, 50, 1, &s);
        afloc_test_inject_alloc_failure(k);
        double auc = -1.0, bt = -1.0;
        afloc_status st2 = afloc_eval_auc(scores, labels, 3, &auc);
        afloc_test_inject_alloc_failure(k);
        afloc_status st3 = afloc_eval_f1(scores, labels, 3, 2.0, NULL, NULL, &bt, NULL);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_ERR_OUT_OF_MEMORY) {
            oom++;
            size_t head = sizeof(size_t);
            CHECK(all_bytes((const char *)&s + head, sizeof s - head, SENTINEL));
        } else {
            CHECK(st == AFLOC_OK && s.categories == 2);
        }
        if (k == 0) CHECK(st2 == AFLOC_ERR_OUT_OF_MEMORY && auc == -1.0);
        if (k == 0) CHECK(st3 == AFLOC_ERR_OUT_OF_MEMORY && bt == -1.0);
        if (k > 0) CHECK(st2 == AFLOC_OK && auc == 1.0 && st3 == AFLOC_OK && bt == 2.0);
    }
    CHECK(oom >= 3);
}

/* ---- the bootstrap, replayed ---- */

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Replays the documented bootstrap of the CNR summary (category ids ascending, members in input
 * order, one afloc_rng_below draw per member) and returns the bounds at the documented indices. */
static void replay_cnr(const afloc_eval_pair_metrics *pairs, const int32_t *cats, int n,
                       int32_t R, uint64_t seed, double *lo, double *hi) {
    int32_t ids[16], nid = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nid; j++) seen |= ids[j] == cats[i];
        if (!seen) ids[nid++] = cats[i];
    }
    for (int a = 1; a < nid; a++) /* insertion sort */
        for (int b = a; b > 0 && ids[b - 1] > ids[b]; b--) {
            int32_t tmp = ids[b];
            ids[b] = ids[b - 1];
            ids[b - 1] = tmp;
        }
    double *rep = malloc((size_t)R * sizeof *rep);
    afloc_rng rng;
    afloc_rng_seed(&rng, seed, 0);
    for (int32_t r = 0; r < R; r++) {
        double total = 0.0;
        int present = 0;
        for (int c = 0; c < nid; c++) {
            int members[N_PAIRS], size = 0;
            for (int i = 0; i < n; i++)
                if (cats[i] == ids[c]) members[size++] = i;
            double sum = 0.0;
            int count = 0;
            for (int k = 0; k < size; k++) {
                double v = pairs[members[afloc_rng_below(&rng, (uint64_t)size)]].cnr;
                if (!isnan(v)) {
                    sum += v;
                    count++;
                }
            }
            if (count) {
                total += sum / count;
                present++;
            }
        }
        rep[r] = present ? total / present : NAN;
    }
    qsort(rep, (size_t)R, sizeof *rep, ascending);
    int lower = (int)(0.025 * R) - 1, upper = (int)(0.975 * R) - 1;
    *lo = rep[lower < 0 ? 0 : lower];
    *hi = rep[upper < 0 ? 0 : upper];
    free(rep);
}

static void bootstrap(void) {
    /* N_PAIRS pairs in 4 categories (sparse ids), smooth-ish values, some NaN */
    afloc_eval_pair_metrics pairs[N_PAIRS];
    int32_t cats[N_PAIRS];
    afloc_rng rng;
    afloc_rng_seed(&rng, 99, 7);
    memset(pairs, 0, sizeof pairs);
    for (int i = 0; i < N_PAIRS; i++) {
        cats[i] = (int32_t)(afloc_rng_below(&rng, 4) * 1000 + 3);
        pairs[i].struct_size = sizeof pairs[i];
        for (int t = 0; t < 5; t++) {
            double u = (double)afloc_rng_below(&rng, 1000) / 1000.0;
            pairs[i].iou[t] = u < 0.1 ? NAN : u * (1.0 - 0.1 * t);
            pairs[i].dice[t] = u < 0.1 ? NAN : 2 * pairs[i].iou[t] / (1 + pairs[i].iou[t]);
        }
        pairs[i].cnr = (double)afloc_rng_below(&rng, 4000) / 1000.0 - 1.0 + 0.3 * (cats[i] > 1000);
        if (i % 17 == 0) pairs[i].cnr = NAN;
        pairs[i].hit = (int32_t)afloc_rng_below(&rng, 3) - 1;
    }
    afloc_eval_summary a, b, c;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    b = c = a;
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, N_PAIRS, 1000, 0, &a), AFLOC_OK);
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, N_PAIRS, 1000, 0, &b), AFLOC_OK);
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, N_PAIRS, 1000, 1, &c), AFLOC_OK);
    CHECK(memcmp(&a, &b, sizeof a) == 0);                   /* deterministic by seed */
    CHECK(a.cnr_lo != c.cnr_lo || a.iou_hi != c.iou_hi);    /* the seed matters      */
    CHECK(a.iou == c.iou && a.cnr == c.cnr);                /* point values do not   */
    CHECK(a.categories == 4 && a.pairs == N_PAIRS);
    double v[4][3] = {{a.iou_lo, a.iou, a.iou_hi}, {a.dice_lo, a.dice, a.dice_hi},
                      {a.cnr_lo, a.cnr, a.cnr_hi}, {a.pointing_lo, a.pointing, a.pointing_hi}};
    for (int k = 0; k < 4; k++)
        CHECK(v[k][0] <= v[k][1] && v[k][1] <= v[k][2] && v[k][0] < v[k][2]);
    double lo, hi;
    replay_cnr(pairs, cats, N_PAIRS, 1000, 0, &lo, &hi);
    CHECK(lo == a.cnr_lo && hi == a.cnr_hi);
    /* R < 40: int(0.025 R) - 1 < 0 is taken as 0 (the smallest replicate) */
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, N_PAIRS, 20, 5, &b), AFLOC_OK);
    double lo20, hi20;
    replay_cnr(pairs, cats, N_PAIRS, 20, 5, &lo20, &hi20);
    CHECK(lo20 == b.cnr_lo && hi20 == b.cnr_hi);
    /* a larger stride (a caller built against a later, longer struct) reads the same values */
    typedef struct longer {
        afloc_eval_pair_metrics m;
        double extra[3];
    } longer;
    longer *wide = calloc(N_PAIRS, sizeof *wide);
    for (int i = 0; i < N_PAIRS; i++) {
        wide[i].m = pairs[i];
        wide[i].m.struct_size = sizeof(longer);
        wide[i].extra[0] = 1e300;
    }
    CHECK_STATUS(afloc_eval_summarize(&wide[0].m, cats, N_PAIRS, 1000, 0, &c), AFLOC_OK);
    CHECK(memcmp(&a, &c, sizeof a) == 0);
    free(wide);
    printf("  bootstrap R=1000: iou %.4f [%.4f, %.4f]  cnr %.4f [%.4f, %.4f]  pointing %.4f "
           "[%.4f, %.4f]; replay of the documented procedure: equal\n", a.iou, a.iou_lo, a.iou_hi,
           a.cnr, a.cnr_lo, a.cnr_hi, a.pointing, a.pointing_lo, a.pointing_hi);
}

int main(void) {
    misuse();
    allocation_failures();
    bootstrap();
    return test_finish("eval_api");
}
