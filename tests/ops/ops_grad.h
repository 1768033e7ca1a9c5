/* ops_grad.h: helpers shared by the backward-pass tests (test_*_backward.c, test_batchnorm_train.c):
 * every backward ACCUMULATES into its gradients (cpu_ops.h), so each gradient is checked twice,
 * once after a call on zeroed buffers against PyTorch's autograd gradient, and once after a second
 * identical call against twice that gradient. */
#ifndef AFLOC_OPS_GRAD_H
#define AFLOC_OPS_GRAD_H

#include "ops_io.h"

/* Reads "<pre>.params" (int32, exactly `want` values) into p. Returns 0 when absent (no more
 * cases) or malformed (counted as a failure). */
static inline int ops_read_params(const char *dir, const char *pre, int32_t *p, size_t want) {
    char name[64];
    size_t n = 0;
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *t = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!t) return 0;
    if (n != want) {
        fprintf(stderr, "%s: %zu params, expected %zu\n", name, n, want);
        free(t);
        test_failures++;
        return 0;
    }
    memcpy(p, t, want * sizeof *p);
    free(t);
    return 1;
}

/* Worst max|got − want| / max|want| per tolerance row, for the tests' per-tensor report. */
enum { OPS_GRAD_ROWS = 16 };
static const char *ops_grad_names[OPS_GRAD_ROWS];
static double ops_grad_worst[OPS_GRAD_ROWS];

static inline void ops_grad_note(const char *name, double normalized) {
    for (int i = 0; i < OPS_GRAD_ROWS; i++) {
        if (!ops_grad_names[i]) ops_grad_names[i] = name;
        if (strcmp(ops_grad_names[i], name) == 0) {
            if (normalized > ops_grad_worst[i]) ops_grad_worst[i] = normalized;
            return;
        }
    }
}

/* Prints one line per tensor name: the worst error relative to the tensor's max |value|. */
static inline void ops_grad_report(const char *test) {
    for (int i = 0; i < OPS_GRAD_ROWS && ops_grad_names[i]; i++)
        printf("%s: %-10s worst max|err|/max|want| %.3e\n", test, ops_grad_names[i],
               ops_grad_worst[i]);
}

/* Compares got against want (pass 1) or 2·want (pass 2), labelled "<label> <tensor>[ x2]". atol
 * is scaled by max|want|, so one table row fits every case's magnitude. The report figure is
 * max|err| over that scale. */
static inline int ops_grad_compare_scaled(ops_summary *s, const char *label,
                                          const ops_tolerance *tol, int pass, const float *got,
                                          const float *want, size_t n, float scale_in);

static inline int ops_grad_compare(ops_summary *s, const char *label, const ops_tolerance *tol,
                                   int pass, const float *got, const float *want, size_t n) {
    return ops_grad_compare_scaled(s, label, tol, pass, got, want, n, 0.0f);
}

/* The same with atol scaled by `scale_in` (times `pass`) instead of max|want| when it is > 0:
 * for results that cancel (BatchNorm's dinput at N = 2) the error follows the terms, not the
 * result. */
static inline int ops_grad_compare_scaled(ops_summary *s, const char *label,
                                          const ops_tolerance *tol, int pass, const float *got,
                                          const float *want, size_t n, float scale_in) {
    char full[200];
    snprintf(full, sizeof full, "%s %s%s", label, tol->name, pass == 2 ? " x2" : "");
    float *w = (float *)want;
    float *doubled = NULL;
    if (pass == 2) {
        doubled = malloc((n ? n : 1) * sizeof(float));
        if (!doubled) {
            test_failures++;
            return 1;
        }
        for (size_t i = 0; i < n; i++) doubled[i] = 2.0f * want[i];
        w = doubled;
    }
    const float scale = scale_in > 0.0f ? scale_in * (float)pass : ops_max_abs(w, n);
    double err = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - (double)w[i]);
        if (e > err || e != e) err = e;
    }
    ops_grad_note(tol->name, scale > 0.0f ? err / scale : err);
    const int rc = ops_compare(s, full, tol, scale > 0.0f ? scale : 1.0f, got, w, n);
    free(doubled);
    return rc;
}

#endif /* AFLOC_OPS_GRAD_H */
