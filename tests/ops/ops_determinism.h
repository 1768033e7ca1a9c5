/* ops_determinism.h: the thread-count check of the op tests (cpu_ops.h, DESIGN.md §5): an op run
 * with OpenMP teams of 1, 2, 3 and 4 threads must give bit-identical outputs. */
#ifndef AFLOC_OPS_DETERMINISM_H
#define AFLOC_OPS_DETERMINISM_H

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"

/* Runs the op under test on `ctx`, writing `n` floats to out. */
typedef void (*ops_run_fn)(void *ctx, float *out);

/* Runs fn with 1..4 threads and compares every result with the 1-thread one, byte for byte.
 * Prints one line; a difference counts in test_failures. Returns 0 when identical. */
static inline int ops_check_thread_counts(const char *label, ops_run_fn fn, void *ctx, size_t n) {
    const int saved = omp_get_max_threads();
    float *first = malloc((n ? n : 1) * sizeof(float));
    float *other = malloc((n ? n : 1) * sizeof(float));
    int differs = 0;
    if (!first || !other) {
        fprintf(stderr, "%s: out of memory\n", label);
        test_failures++;
        free(first);
        free(other);
        return 1;
    }
    omp_set_num_threads(1);
    fn(ctx, first);
    for (int threads = 2; threads <= 4; threads++) {
        omp_set_num_threads(threads);
        memset(other, 0xff, n * sizeof(float));
        fn(ctx, other);
        if (memcmp(first, other, n * sizeof(float)) != 0) {
            fprintf(stderr, "  %s: %d threads differ from 1 thread\n", label, threads);
            differs = 1;
        }
    }
    omp_set_num_threads(saved);
    printf("  %-34s %9zu  threads 1/2/3/4  %s\n", label, n, differs ? "DIFFER (FAIL)" : "bit-identical");
    if (differs) test_failures++;
    free(first);
    free(other);
    return differs;
}

static inline double ops_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif /* AFLOC_OPS_DETERMINISM_H */
