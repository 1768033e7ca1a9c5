/* test_util.h: tiny helpers shared by the C tests: CHECK macros that report file:line and keep
 * going, a failure count that becomes the exit status, the skip code 77, a monotonic clock, a
 * file reader and a JSON member adder. */
#ifndef AFLOC_TEST_UTIL_H
#define AFLOC_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afloc/afloc.h"

#define TEST_SKIP 77

static int test_failures = 0;

/* Seconds on the monotonic clock, for timings inside tests. */
static inline double test_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The whole file at `path` as a NUL-terminated string (free()), its size in *size if not NULL;
 * NULL if it cannot be read. */
static inline char *test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 ? (char *)calloc((size_t)n + 1, 1) : NULL;
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    fclose(f);
    if (size) *size = text ? (size_t)n : 0;
    return text;
}

/* The file `relative` to the source tree (AFLOC_SOURCE_DIR, which afloc_add_test sets; the
 * current directory without it), as test_read_file; on failure prints which path it could not
 * read. For the tiny model fixtures under tests/model that several tests build models from. */
static inline char *test_read_source_file(const char *relative, size_t *size) {
    const char *source = getenv("AFLOC_SOURCE_DIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", source ? source : ".", relative);
    char *text = test_read_file(path, size);
    if (!text) fprintf(stderr, "cannot read %s\n", path);
    return text;
}

/* The JSON object `object` with `members` (e.g. "\"key\":1") added before its closing brace, as a
 * new string (free()); NULL if `object` has no '}' or memory runs out. */
static inline char *test_json_add(const char *object, const char *members) {
    const char *close = strrchr(object, '}');
    if (!close) return NULL;
    size_t at = (size_t)(close - object), size = at + strlen(members) + 3;
    char *out = (char *)malloc(size);
    if (out) snprintf(out, size, "%.*s,%s}", (int)at, object, members);
    return out;
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            test_failures++;                                                         \
        }                                                                            \
    } while (0)

/* Checks that `expr` returns `want`, and that a failure left a non-empty message. */
#define CHECK_STATUS(expr, want)                                                           \
    do {                                                                                   \
        afloc_status got_ = (expr);                                                        \
        if (got_ != (want)) {                                                              \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",       \
                    __FILE__, __LINE__, #expr, afloc_status_string(got_),                  \
                    afloc_status_string(want), afloc_last_error());                        \
            test_failures++;                                                               \
        } else if (got_ != AFLOC_OK && afloc_last_error()[0] == '\0') {                    \
            fprintf(stderr, "%s:%d: %s failed with an empty message\n", __FILE__, __LINE__, \
                    #expr);                                                                \
            test_failures++;                                                               \
        }                                                                                  \
    } while (0)

static inline int test_finish(const char *name) {
    if (test_failures) fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
    else printf("%s: all checks passed\n", name);
    return test_failures ? 1 : 0;
}

#endif /* AFLOC_TEST_UTIL_H */
