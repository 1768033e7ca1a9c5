/* st_test_util.h: helpers for the safetensors tests: build a file from a header text and a data
 * length (data bytes follow a fixed pattern), and check one named case against its expected code. */
#ifndef AFLOC_ST_TEST_UTIL_H
#define AFLOC_ST_TEST_UTIL_H

#include <stdint.h>

#include "safetensors.h"
#include "test_util.h"

static inline unsigned char st_pattern(size_t i) { return (unsigned char)(i * 7u + 1u); }

/* 8-byte little-endian `n`, then `header` (hlen bytes), then `data_len` pattern bytes. */
static inline unsigned char *st_build_raw(uint64_t n, const char *header, size_t hlen, size_t data_len,
                                          size_t *size) {
    *size = 8 + hlen + data_len;
    unsigned char *b = malloc(*size ? *size : 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++) b[8 + hlen + i] = st_pattern(i);
    return b;
}

static inline unsigned char *st_build(const char *header, size_t hlen, size_t data_len, size_t *size) {
    return st_build_raw(hlen, header, hlen, data_len, size);
}

static int st_cases = 0;

/* Parses `bytes` and checks the status; on failure *out must stay untouched and a message exist. */
static inline afloc_status st_expect_bytes(const char *id, const unsigned char *bytes, size_t size,
                                           const afloc_st_limits *limits, afloc_status want) {
    afloc_st_file *sentinel = (afloc_st_file *)&st_cases, *file = sentinel;
    afloc_status got = afloc_st_parse_from_memory(bytes, size, limits, &file);
    st_cases++;
    if (got != want) {
        fprintf(stderr, "FAIL %s: got %s, expected %s (%s)\n", id, afloc_status_string(got),
                afloc_status_string(want), afloc_last_error());
        test_failures++;
    } else if (got != AFLOC_OK && (file != sentinel || afloc_last_error()[0] == '\0')) {
        fprintf(stderr, "FAIL %s: output touched or empty message on failure\n", id);
        test_failures++;
    } else {
        printf("ok   %-44s %-24s %s\n", id, afloc_status_string(got), got ? afloc_last_error() : "");
    }
    if (got == AFLOC_OK) afloc_st_free(file);
    return got;
}

static inline afloc_status st_expect(const char *id, const char *header, size_t data_len, afloc_status want) {
    size_t size;
    unsigned char *b = st_build(header, strlen(header), data_len, &size);
    afloc_status got = st_expect_bytes(id, b, size, NULL, want);
    free(b);
    return got;
}

#endif /* AFLOC_ST_TEST_UTIL_H */
