/* png_test_util.h: helpers for the PNG tests: a growable byte buffer, PNG chunk writing with CRC,
 * small PNGs built with zlib directly (so bombs need no encoder), the chunk walker used by the
 * malformed catalog, and access to the fixtures gen_png_fixtures.py writes. */
#ifndef AFLOC_PNG_TEST_UTIL_H
#define AFLOC_PNG_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

typedef struct bytes {
    unsigned char *data;
    size_t         size;
    size_t         capacity;
} bytes;

static inline void bytes_append(bytes *b, const void *data, size_t size) {
    if (b->size + size > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 256;
        while (capacity < b->size + size) capacity *= 2;
        b->data = realloc(b->data, capacity);
        if (!b->data) { fprintf(stderr, "test: out of memory\n"); exit(2); }
        b->capacity = capacity;
    }
    if (size) memcpy(b->data + b->size, data, size);
    b->size += size;
}

static inline void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);  p[3] = (unsigned char)v;
}

static inline uint32_t get_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Appends one chunk with a correct CRC. */
static inline void bytes_chunk(bytes *b, const char *type, const void *data, uint32_t length) {
    unsigned char head[8];
    put_be32(head, length);
    memcpy(head + 4, type, 4);
    bytes_append(b, head, 8);
    bytes_append(b, data, length);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)type, 4);
    if (length) crc = crc32(crc, data, length);
    unsigned char tail[4];
    put_be32(tail, (uint32_t)crc);
    bytes_append(b, tail, 4);
}

static inline void bytes_signature_ihdr(bytes *b, uint32_t width, uint32_t height, int depth, int color,
                                 int interlace) {
    static const unsigned char signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    bytes_append(b, signature, 8);
    unsigned char ihdr[13];
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = (unsigned char)depth; ihdr[9] = (unsigned char)color;
    ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = (unsigned char)interlace;
    bytes_chunk(b, "IHDR", ihdr, 13);
}

/* zlib stream of `zeros` zero bytes, deflated in pieces (for bombs: ratio about 1000:1). */
static inline bytes deflate_zeros(size_t zeros, int level) {
    bytes out = {0};
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit(&z, level) != Z_OK) { fprintf(stderr, "deflateInit failed\n"); exit(2); }
    static unsigned char in[1 << 16];
    unsigned char buffer[1 << 16];
    size_t left = zeros;
    int flush;
    do {
        size_t piece = left < sizeof in ? left : sizeof in;
        left -= piece;
        flush = left ? Z_NO_FLUSH : Z_FINISH;
        z.next_in = in;
        z.avail_in = (uInt)piece;
        do {
            z.next_out = buffer;
            z.avail_out = sizeof buffer;
            deflate(&z, flush);
            bytes_append(&out, buffer, sizeof buffer - z.avail_out);
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    return out;
}

/* A valid gray 8-bit PNG of width x height (all samples `value`), with `extra` chunks (already
 * encoded) inserted before IDAT. */
static inline bytes make_gray8_png(uint32_t width, uint32_t height, unsigned char value,
                            const bytes *extra) {
    bytes raw = {0};
    for (uint32_t y = 0; y < height; y++) {
        unsigned char filter = 0;
        bytes_append(&raw, &filter, 1);
        for (uint32_t x = 0; x < width; x++) bytes_append(&raw, &value, 1);
    }
    uLongf packed_size = compressBound(raw.size);
    unsigned char *packed = malloc(packed_size);
    compress2(packed, &packed_size, raw.data, raw.size, 9);
    bytes png = {0};
    bytes_signature_ihdr(&png, width, height, 8, 0, 0);
    if (extra) bytes_append(&png, extra->data, extra->size);
    bytes_chunk(&png, "IDAT", packed, (uint32_t)packed_size);
    bytes_chunk(&png, "IEND", NULL, 0);
    free(packed);
    free(raw.data);
    return png;
}

/* Offsets of the chunks of a PNG (start of each length field), up to `max`; returns the count. */
static inline size_t png_chunk_offsets(const unsigned char *data, size_t size, size_t *offsets, size_t max) {
    size_t n = 0, at = 8;
    while (at + 12 <= size && n < max) {
        offsets[n++] = at;
        uint32_t length = get_be32(data + at);
        if (length > size - at - 12) break;
        at += 12 + (size_t)length;
    }
    return n;
}

static inline int read_whole_file(const char *path, unsigned char **data, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    bytes b = {0};
    unsigned char buffer[1 << 14];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, f)) > 0) bytes_append(&b, buffer, got);
    fclose(f);
    if (!b.data) b.data = malloc(1);
    *data = b.data;
    *size = b.size;
    return 1;
}

/* The fixtures directory written by the png_fixtures test, or NULL when it is missing. */
static inline const char *png_fixtures_dir(void) {
    static char dir[4096];
    const char *binary = getenv("AFLOC_BINARY_DIR");
    if (!binary) return NULL;
    snprintf(dir, sizeof dir, "%s/tests/png/fixtures", binary);
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/manifest.txt", dir);
    FILE *f = fopen(manifest, "r");
    if (!f) return NULL;
    fclose(f);
    return dir;
}

static inline double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif /* AFLOC_PNG_TEST_UTIL_H */
