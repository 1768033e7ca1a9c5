/* ops_io.h: shared helpers for the op parity tests (STYLE.md §7): run a PyTorch reference script
 * (tests/ops/ref_*.py, through ops_ref_common.py) into a fresh temporary directory, read the named
 * tensors it wrote, and compare results against a tolerance, one line per tensor.
 *
 * Tensor file <dir>/<name>.bin, little-endian: "AFT1", uint32 dtype (0 float32, 1 int32),
 * uint32 ndim, int64 dims[ndim], then the elements in row-major order. */
#ifndef AFLOC_OPS_IO_H
#define AFLOC_OPS_IO_H

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

enum { OPS_F32 = 0, OPS_I32 = 1 };

/* Runs `$AFLOC_ORACLE_PYTHON $AFLOC_SOURCE_DIR/tests/ops/<script> <dir>` with a new temporary
 * directory written into dir[capacity]. Returns 0 when the tensors are ready, TEST_SKIP when there
 * is no oracle (not under ctest, or the script exited 77), 1 on failure (message printed). */
static inline int ops_oracle_run(const char *script, char *dir, size_t capacity) {
    const char *python = getenv("AFLOC_ORACLE_PYTHON");
    const char *source = getenv("AFLOC_SOURCE_DIR");
    if (!python || !source) {
        printf("SKIP: AFLOC_ORACLE_PYTHON / AFLOC_SOURCE_DIR not set (run through ctest)\n");
        return TEST_SKIP;
    }
    snprintf(dir, capacity, "/tmp/afloc_ops_XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    char command[4096];
    snprintf(command, sizeof command, "'%s' '%s/tests/ops/%s' '%s'", python, source, script, dir);
    int rc = system(command);
    if (rc != 0) {
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == TEST_SKIP) {
            printf("SKIP: the PyTorch oracle is not available (%s)\n", script);
            return TEST_SKIP;
        }
        fprintf(stderr, "oracle failed (%d): %s\n", rc, command);
        return 1;
    }
    return 0;
}

/* Removes the oracle directory and the tensor files in it. */
static inline void ops_oracle_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Reads tensor `name` of `dtype`; returns malloc'd elements (free()) and the element count, or
 * NULL when the file is missing (quietly: callers probe for optional tensors) or malformed
 * (with a message). */
static inline void *ops_tensor_read(const char *dir, const char *name, int dtype, size_t *count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char head[12];
    uint32_t file_dtype = 0, ndim = 0;
    void *data = NULL;
    size_t n = 1;
    if (fread(head, 1, sizeof head, f) != sizeof head || memcmp(head, "AFT1", 4) != 0) goto bad;
    memcpy(&file_dtype, head + 4, 4);
    memcpy(&ndim, head + 8, 4);
    if ((int)file_dtype != dtype || ndim > 8) goto bad;
    for (uint32_t i = 0; i < ndim; i++) {
        int64_t d;
        if (fread(&d, sizeof d, 1, f) != 1 || d < 0) goto bad;
        n *= (size_t)d;
    }
    data = malloc(n ? n * 4 : 4);
    if (!data || fread(data, 4, n, f) != n) goto bad;
    fclose(f);
    *count = n;
    return data;
bad:
    fprintf(stderr, "malformed tensor file %s\n", path);
    free(data);
    fclose(f);
    return NULL;
}

/* Reads "<prefix>.<name>" as float32, checking its element count when `want` is non-zero. */
static inline float *ops_read_f32(const char *dir, const char *prefix, const char *name,
                                  size_t want) {
    char full[256];
    size_t n = 0;
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    float *t = ops_tensor_read(dir, full, OPS_F32, &n);
    if (t && want && n != want) {
        fprintf(stderr, "tensor %s has %zu elements, expected %zu\n", full, n, want);
        free(t);
        return NULL;
    }
    return t;
}

/* One row of a test's tolerance table: |got − want| <= atol + rtol·|want| per element. */
typedef struct ops_tolerance {
    const char *name;
    float atol, rtol;
} ops_tolerance;

static inline const ops_tolerance *ops_tolerance_find(const ops_tolerance *table, size_t count,
                                                      const char *name) {
    for (size_t i = 0; i < count; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    fprintf(stderr, "no tolerance for %s\n", name);
    return NULL;
}

/* Worst figures over a run, for the test's one-line summary. */
typedef struct ops_summary {
    int tensors, failed;
    double max_abs, max_rel;
} ops_summary;

/* Compares got against want and prints: name, count, max abs, max rel, worst index, OK/FAIL,
 * then the first few mismatches. NaN must meet NaN. Returns 1 on failure, and counts it in
 * test_failures. `scale` multiplies atol (e.g. the magnitude of the inputs). */
static inline int ops_compare(ops_summary *s, const char *label, const ops_tolerance *tol,
                              float scale, const float *got, const float *want, size_t n) {
    double max_abs = 0.0, max_rel = 0.0;
    size_t worst = 0, bad = 0;
    const double atol = (double)tol->atol * (double)scale;
    for (size_t i = 0; i < n; i++) {
        const double g = got[i], w = want[i];
        double diff;
        if (isnan(w) || isnan(g)) diff = (isnan(w) && isnan(g)) ? 0.0 : INFINITY;
        else if (g == w) diff = 0.0;
        else diff = fabs(g - w);
        const double rel = diff / (fabs(w) > 1e-30 ? fabs(w) : 1e-30);
        if (diff > max_abs) {
            max_abs = diff;
            worst = i;
        }
        if (diff > 0 && rel > max_rel) max_rel = rel;
        if (diff != 0.0 && !(diff <= atol + (double)tol->rtol * fabs(w))) {
            if (bad < 5)
                fprintf(stderr, "    %s[%zu]: got %.9g want %.9g (|diff| %.3g)\n", label, i,
                        (double)got[i], (double)want[i], diff);
            bad++;
        }
    }
    printf("  %-34s %9zu  max abs %.3e  max rel %.3e  worst [%zu]  %s\n", label, n, max_abs,
           max_rel, worst, bad ? "FAIL" : "OK");
    if (s) {
        s->tensors++;
        s->failed += bad ? 1 : 0;
        if (max_abs > s->max_abs) s->max_abs = max_abs;
        if (max_rel > s->max_rel) s->max_rel = max_rel;
    }
    if (bad) {
        fprintf(stderr, "  %s: %zu of %zu elements outside atol %.3g + rtol %.3g\n", label, bad,
                n, atol, (double)tol->rtol);
        test_failures++;
    }
    return bad ? 1 : 0;
}

/* The main of a test whose oracle writes numbered cases: runs `script` (ops_oracle_run), calls
 * run_case(dir, i, &summary) for i = 0, 1, ... until it returns 0 (no case i), checks that at
 * least `min_cases` ran, prints the summary line and returns test_finish(name). */
typedef int (*ops_case_fn)(const char *dir, int index, ops_summary *summary);
static inline int ops_run_cases(const char *script, ops_case_fn run_case, int min_cases,
                                const char *name) {
    char dir[64];
    int rc = ops_oracle_run(script, dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0;
    while (run_case(dir, cases, &summary)) cases++;
    ops_oracle_remove(dir);
    CHECK(cases >= min_cases);
    printf("%s: %d cases, %d tensors, max abs %.3e, max rel %.3e, %d failed\n", name, cases,
           summary.tensors, summary.max_abs, summary.max_rel, summary.failed);
    return test_finish(name);
}

/* Largest |x| of an array (0 for none), used to scale atol by the input magnitude. */
static inline float ops_max_abs(const float *x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > m) m = fabsf(x[i]);
    return m;
}

#endif /* AFLOC_OPS_IO_H */
