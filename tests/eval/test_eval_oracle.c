/* test_eval_oracle.c: the evaluation metrics (MODEL.md §8.4, §9) against the independent numpy /
 * scipy oracle tests/eval/ref_eval.py (run with $AFLOC_ORACLE_PYTHON), which writes random cases
 * with their expected results: normalisation (margin, constant and NaN maps, S = 1..224), box
 * masks (all aspects, overlapping boxes), per-pair metrics (ties, values exactly at the float32
 * thresholds, empty/full masks, masks with 2, all-NaN maps), summaries (NaN-heavy rows, sparse
 * category ids) and AUC/F1 (ties, one class, infinities).
 *
 * Tolerances, per value: |got - want| <= limit * max(1, |want|), NaN only against NaN.
 *  - normalised maps, masks, IoU, Dice, hit, accuracy, F1: 0 (same float32/integer arithmetic,
 *    one rounding of the same integer ratio);
 *  - CNR: 1e-12 (both in double; numpy sums pairwise, the library sequentially: 1.8e-14 seen);
 *  - summaries: 1e-12 (nanmeans of <= 160 doubles in another order);
 *  - AUC: 1e-12 (2U / (2 n1 n0) against (R1 - n1 (n1+1)/2) / (n1 n0): both exact for these n). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

enum { KIND_NORMALIZE = 1, KIND_BOX, KIND_PAIR, KIND_SUMMARY, KIND_CLASSIFY };

typedef struct reader {
    const unsigned char *at, *end;
} reader;

static const void *take(reader *r, size_t bytes) {
    if ((size_t)(r->end - r->at) < bytes) return NULL;
    const void *p = r->at;
    r->at += bytes;
    return p;
}

static int32_t take_i32(reader *r) {
    int32_t v = 0;
    const void *p = take(r, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}

static double take_f64(reader *r) {
    double v = NAN;
    const void *p = take(r, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}

/* Per-quantity worst error and count, reported on one line each. */
typedef struct tally {
    const char *name;
    double limit, worst;
    long count, failed;
} tally;

static void compare(tally *t, double got, double want, const char *where, int index) {
    t->count++;
    double err;
    if (isnan(want) || isnan(got)) err = (isnan(want) && isnan(got)) ? 0.0 : INFINITY;
    else if (got == want) err = 0.0; /* also equal infinities */
    else err = fabs(got - want) / fmax(1.0, fabs(want));
    if (err > t->worst) t->worst = err;
    if (!(err <= t->limit)) {
        if (t->failed < 5)
            fprintf(stderr, "%s %s[%d]: got %.17g, want %.17g\n", where, t->name, index, got, want);
        t->failed++;
    }
}

static tally t_norm = {"normalized_map", 0.0, 0, 0, 0}, t_mask = {"box_mask", 0.0, 0, 0, 0},
             t_iou = {"iou", 0.0, 0, 0, 0}, t_dice = {"dice", 0.0, 0, 0, 0},
             t_cnr = {"cnr", 1e-12, 0, 0, 0}, t_hit = {"hit", 0.0, 0, 0, 0},
             t_sum = {"summary", 1e-12, 0, 0, 0}, t_auc = {"auc", 1e-12, 0, 0, 0},
             t_f1 = {"f1_accuracy", 0.0, 0, 0, 0}, t_best = {"best_f1", 0.0, 0, 0, 0};

static void check_normalize(reader *r) {
    int32_t S = take_i32(r), margin = take_i32(r);
    size_t count = (size_t)S * (size_t)S;
    const float *raw = take(r, count * 4), *want = take(r, count * 4);
    if (!raw || !want) return;
    float *got = malloc(count * 4);
    memcpy(got, raw, count * 4);
    CHECK_STATUS(afloc_eval_normalize_map(got, S, margin), AFLOC_OK);
    for (size_t i = 0; i < count; i++) {
        float w;
        memcpy(&w, (const char *)want + i * 4, 4);
        int same = (isnan(got[i]) && isnan(w)) || memcmp(&got[i], &w, 4) == 0;
        compare(&t_norm, same ? 0.0 : 1.0, 0.0, "normalize", (int)i);
    }
    free(got);
}

static void check_box(reader *r) {
    int32_t S = take_i32(r), W = take_i32(r), H = take_i32(r), boxes = take_i32(r);
    double b[4 * 4];
    for (int32_t i = 0; i < 4 * boxes && i < 16; i++) b[i] = take_f64(r);
    const uint8_t *want = take(r, (size_t)S * (size_t)S);
    if (!want) return;
    uint8_t *got = calloc((size_t)S * (size_t)S, 1);
    for (int32_t k = 0; k < boxes; k++)
        CHECK_STATUS(afloc_eval_box_to_mask(got, S, W, H, b[4 * k], b[4 * k + 1], b[4 * k + 2],
                                            b[4 * k + 3]), AFLOC_OK);
    for (size_t i = 0; i < (size_t)S * (size_t)S; i++)
        compare(&t_mask, got[i], want[i], "box", (int)i);
    free(got);
}

static void check_pair(reader *r) {
    int32_t S = take_i32(r);
    size_t count = (size_t)S * (size_t)S;
    const float *map = take(r, count * 4);
    const uint8_t *mask = take(r, count);
    double want[11];
    for (int i = 0; i < 11; i++) want[i] = take_f64(r);
    int32_t hit = take_i32(r);
    if (!map || !mask) return;
    float *aligned = malloc(count * 4);
    memcpy(aligned, map, count * 4);
    afloc_eval_pair_metrics m;
    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;
    CHECK_STATUS(afloc_eval_pair(aligned, mask, S, &m), AFLOC_OK);
    for (int t = 0; t < 5; t++) {
        compare(&t_iou, m.iou[t], want[t], "pair", t);
        compare(&t_dice, m.dice[t], want[5 + t], "pair", t);
    }
    compare(&t_cnr, m.cnr, want[10], "pair", 0);
    compare(&t_hit, m.hit, hit, "pair", 0);
    free(aligned);
}

static void check_summary(reader *r) {
    int32_t n = take_i32(r);
    if (n < 1 || n > 100000) return;
    int32_t *cats = malloc((size_t)n * sizeof *cats);
    afloc_eval_pair_metrics *pairs = calloc((size_t)n, sizeof *pairs);
    for (int32_t i = 0; i < n; i++) cats[i] = take_i32(r);
    for (int32_t i = 0; i < n; i++) {
        pairs[i].struct_size = sizeof pairs[i];
        for (int t = 0; t < 5; t++) pairs[i].iou[t] = take_f64(r);
        for (int t = 0; t < 5; t++) pairs[i].dice[t] = take_f64(r);
        pairs[i].cnr = take_f64(r);
    }
    for (int32_t i = 0; i < n; i++) pairs[i].hit = take_i32(r);
    double want[9];
    for (int i = 0; i < 9; i++) want[i] = take_f64(r);
    int32_t categories = take_i32(r);
    afloc_eval_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_STATUS(afloc_eval_summarize(pairs, cats, n, 0, 0, &s), AFLOC_OK);
    compare(&t_sum, s.iou, want[0], "summary iou", n);
    compare(&t_sum, s.dice, want[1], "summary dice", n);
    compare(&t_sum, s.cnr, want[2], "summary cnr", n);
    compare(&t_sum, s.pointing, want[3], "summary pointing", n);
    for (int t = 0; t < 5; t++) compare(&t_sum, s.iou_at[t], want[4 + t], "summary iou_at", t);
    CHECK(s.pairs == n && s.categories == categories);
    CHECK(isnan(s.iou_lo) && isnan(s.iou_hi) && isnan(s.cnr_lo) && isnan(s.pointing_hi));
    free(cats);
    free(pairs);
}

static void check_classify(reader *r) {
    int32_t n = take_i32(r);
    if (n < 1 || n > 100000) return;
    double *scores = malloc((size_t)n * sizeof *scores);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    for (int32_t i = 0; i < n; i++) scores[i] = take_f64(r);
    for (int32_t i = 0; i < n; i++) labels[i] = take_i32(r);
    double threshold = take_f64(r), auc_want = take_f64(r), f1_want = take_f64(r);
    double acc_want = take_f64(r), bt_want = take_f64(r), bf_want = take_f64(r);
    double auc = -7, f1 = -7, acc = -7, bt = -7, bf = -7;
    CHECK_STATUS(afloc_eval_auc(scores, labels, n, &auc), AFLOC_OK);
    CHECK_STATUS(afloc_eval_f1(scores, labels, n, threshold, &f1, &acc, &bt, &bf), AFLOC_OK);
    compare(&t_auc, auc, auc_want, "auc", n);
    compare(&t_f1, f1, f1_want, "f1", n);
    compare(&t_f1, acc, acc_want, "accuracy", n);
    compare(&t_best, bt, bt_want, "best_threshold", n);
    compare(&t_best, bf, bf_want, "best_f1", n);
    free(scores);
    free(labels);
}

int main(void) {
    const char *python = getenv("AFLOC_ORACLE_PYTHON");
    const char *source = getenv("AFLOC_SOURCE_DIR");
    if (!python || !source) {
        printf("SKIP: AFLOC_ORACLE_PYTHON / AFLOC_SOURCE_DIR not set (run through ctest)\n");
        return TEST_SKIP;
    }
    char dir[] = "/tmp/afloc_eval_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    char path[512], command[2048];
    snprintf(path, sizeof path, "%s/cases.bin", dir);
    snprintf(command, sizeof command, "'%s' '%s/tests/eval/ref_eval.py' '%s'", python, source,
             path);
    int rc = system(command);
    if (rc != 0) {
        remove(path);
        rmdir(dir);
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == TEST_SKIP) {
            printf("SKIP: numpy/scipy not available to the oracle\n");
            return TEST_SKIP;
        }
        fprintf(stderr, "oracle failed (%d): %s\n", rc, command);
        return 1;
    }
    size_t size = 0;
    unsigned char *data = (unsigned char *)test_read_file(path, &size);
    remove(path);
    rmdir(dir);
    if (!data || size < 8 || memcmp(data, "AFEV", 4) != 0) {
        fprintf(stderr, "cannot read the oracle output\n");
        free(data);
        return 1;
    }
    reader r = {data + 8, data + size};
    int32_t count;
    memcpy(&count, data + 4, 4);
    int32_t seen = 0;
    for (; seen < count && r.at < r.end; seen++) {
        int32_t kind = take_i32(&r);
        if (kind == KIND_NORMALIZE) check_normalize(&r);
        else if (kind == KIND_BOX) check_box(&r);
        else if (kind == KIND_PAIR) check_pair(&r);
        else if (kind == KIND_SUMMARY) check_summary(&r);
        else if (kind == KIND_CLASSIFY) check_classify(&r);
        else break;
    }
    CHECK(seen == count && r.at == r.end);
    free(data);

    tally *all[] = {&t_norm, &t_mask, &t_iou, &t_dice, &t_cnr, &t_hit, &t_sum, &t_auc, &t_f1,
                    &t_best};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        tally *t = all[i];
        printf("  %-15s %8ld values  worst rel err %.3g  limit %.0e  %s\n", t->name, t->count,
               t->worst, t->limit, t->failed ? "FAIL" : "OK");
        CHECK(t->count > 0);
        test_failures += t->failed ? 1 : 0;
    }
    printf("eval_oracle: %d records; worst CNR %.3g, summary %.3g, AUC %.3g (limits 1e-12); "
           "maps, masks, IoU, Dice, F1 exact\n", count, t_cnr.worst, t_sum.worst, t_auc.worst);
    return test_finish("eval_oracle");
}
