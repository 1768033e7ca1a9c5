/* test_png_malformed.c (T5): the malformed-PNG catalog. From valid seeds (the golden fixtures
 * plus PNGs made by our encoder) it builds: truncations at every chunk boundary (and one byte
 * either side) and at random points; a bad CRC in every chunk; IHDR width/height 0, 2^31-1,
 * 2^31, 100000x100000 and invalid depth/colour/method fields; palette without PLTE; bytes and an
 * extra IDAT after IEND; and thousands of random mutations (bit flips, byte stores, CRC-fixed
 * data corruption, chunk deletion/duplication, length changes). Each file must give AFLOC_OK or
 * one specific error code (exact codes where the catalog knows them), in < 1 s, with the decode's
 * peak allocation inside its budget, and nothing written to stderr.
 * Usage: png_malformed [random_mutations] (default 10000; the nightly run uses 10000). */
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "image.h"
#include "png_test_util.h"
#include "test_util.h"

#define MAX_SEEDS  64
#define MAX_CHUNKS 4096

static bytes seeds[MAX_SEEDS];
static int   seed_count;
static int   decodes;
static double slowest;
static size_t peak_max;
static int   by_status[32];

/* Decodes one candidate; returns its status after the common checks (allowed set, time, peak). */
static afloc_status try_decode(const unsigned char *data, size_t size) {
    afloc_png_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    afloc_png_options_default(&options);
    options.max_decode_bytes = (size_t)64 << 20;
    afloc_image *image = NULL;
    double start = seconds_now();
    afloc_status status = afloc_image_decode_png(data, size, &options, &image);
    double took = seconds_now() - start;
    afloc_png_decode_stats stats;
    afloc_png_test_last_stats(&stats);
    decodes++;
    if (took > slowest) slowest = took;
    if (stats.peak_bytes > peak_max) peak_max = stats.peak_bytes;
    if ((int)status >= 0 && (int)status < 32) by_status[status]++;
    if (status != AFLOC_OK && status != AFLOC_ERR_IMAGE_FORMAT && status != AFLOC_ERR_LIMIT) {
        fprintf(stderr, "unexpected status %s (%s) for a %zu-byte file\n",
                afloc_status_string(status), afloc_last_error(), size);
        test_failures++;
    }
    if (status != AFLOC_OK && afloc_last_error()[0] == '\0') {
        fprintf(stderr, "%s with an empty message\n", afloc_status_string(status));
        test_failures++;
    }
    if (status == AFLOC_OK) {
        afloc_image_view view;
        memset(&view, 0, sizeof view);
        view.struct_size = sizeof view;
        CHECK_STATUS(afloc_image_get_view(image, &view), AFLOC_OK);
        CHECK(view.width >= 1 && view.height >= 1 && view.pixels != NULL);
    } else {
        CHECK(image == NULL);
    }
    CHECK(took < 1.0);
    CHECK(stats.peak_bytes <= options.max_decode_bytes);
    afloc_image_free(image);
    return status;
}

static void expect(const unsigned char *data, size_t size, afloc_status want, const char *what) {
    afloc_status got = try_decode(data, size);
    if (got != want) {
        fprintf(stderr, "%s: got %s (%s), expected %s\n", what, afloc_status_string(got),
                afloc_last_error(), afloc_status_string(want));
        test_failures++;
    }
}

static void add_seed(const unsigned char *data, size_t size) {
    if (seed_count == MAX_SEEDS) return;
    bytes b = {0};
    bytes_append(&b, data, size);
    seeds[seed_count++] = b;
}

static void load_fixture_seeds(void) {
    const char *dir = png_fixtures_dir();
    if (!dir) {
        printf("png_malformed: fixtures missing, using encoder seeds only\n");
        return;
    }
    DIR *d = opendir(dir);
    struct dirent *entry;
    while (d && (entry = readdir(d)) != NULL) {
        size_t n = strlen(entry->d_name);
        if (n < 5 || strcmp(entry->d_name + n - 4, ".png") != 0) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        unsigned char *data;
        size_t size;
        if (read_whole_file(path, &data, &size)) {
            add_seed(data, size);
            free(data);
        }
    }
    if (d) closedir(d);
}

static void add_encoder_seeds(void) {
    static uint16_t wide[7 * 5 * 3];
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) wide[i] = (uint16_t)(i * 977u);
    afloc_image_view view = {sizeof view, AFLOC_PIXEL_U16, 3, 7, 5, 7 * 3 * 2, wide, 0};
    unsigned char out[4096];
    size_t size = 0;
    CHECK_STATUS(afloc_image_encode_png(&view, out, sizeof out, &size), AFLOC_OK);
    add_seed(out, size);
    static unsigned char gray[9 * 4];
    for (size_t i = 0; i < sizeof gray; i++) gray[i] = (unsigned char)(i * 37u);
    afloc_image_view g = {sizeof g, AFLOC_PIXEL_U8, 1, 9, 4, 9, gray, 0};
    CHECK_STATUS(afloc_image_encode_png(&g, out, sizeof out, &size), AFLOC_OK);
    add_seed(out, size);
}

/* Chunk type at `offset` is critical when its first letter is upper case. */
static int chunk_is_critical(const unsigned char *data, size_t offset) {
    return (data[offset + 4] & 0x20) == 0;
}

static void truncations_and_crcs(const bytes *seed, int *cases) {
    size_t offsets[MAX_CHUNKS];
    size_t n = png_chunk_offsets(seed->data, seed->size, offsets, MAX_CHUNKS);
    for (size_t i = 0; i < n; i++) {
        for (int delta = -1; delta <= 1; delta++) {
            size_t cut = offsets[i] + (size_t)delta;
            if (cut < seed->size) expect(seed->data, cut, AFLOC_ERR_IMAGE_FORMAT, "truncation at chunk"), (*cases)++;
        }
        size_t length = get_be32(seed->data + offsets[i]);
        size_t crc_at = offsets[i] + 8 + length;
        bytes bad = {0};
        bytes_append(&bad, seed->data, seed->size);
        bad.data[crc_at] ^= 0x40;
        /* A critical chunk with a bad CRC is an error; an ancillary one is skipped. */
        expect(bad.data, bad.size, chunk_is_critical(seed->data, offsets[i]) ? AFLOC_ERR_IMAGE_FORMAT : AFLOC_OK,
               "bad CRC");
        (*cases)++;
        free(bad.data);
    }
    expect(seed->data, seed->size - 1, AFLOC_ERR_IMAGE_FORMAT, "last byte missing");
    for (int r = 0; r < 20; r++) {
        size_t cut = (size_t)rand() % seed->size;
        expect(seed->data, cut, AFLOC_ERR_IMAGE_FORMAT, "random truncation");
        (*cases)++;
    }
}

/* A copy of the seed with IHDR bytes 8..20 (width, height, depth, colour, methods) patched and
 * the CRC recomputed, so only our rule decides. */
static void expect_ihdr(const bytes *seed, uint32_t width, uint32_t height, int field, int value,
                        afloc_status want, const char *what) {
    bytes b = {0};
    bytes_append(&b, seed->data, seed->size);
    unsigned char *ihdr = b.data + 16;
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    if (field >= 0) ihdr[field] = (unsigned char)value;
    put_be32(ihdr + 13, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b.data + 12, 17));
    expect(b.data, b.size, want, what);
    free(b.data);
}

static void ihdr_catalog(const bytes *seed, int *cases) {
    uint32_t w = get_be32(seed->data + 16), h = get_be32(seed->data + 20);
    expect_ihdr(seed, w, h, -1, 0, AFLOC_OK, "unchanged IHDR");
    expect_ihdr(seed, 0, h, -1, 0, AFLOC_ERR_IMAGE_FORMAT, "width 0");
    expect_ihdr(seed, w, 0, -1, 0, AFLOC_ERR_IMAGE_FORMAT, "height 0");
    expect_ihdr(seed, 0x7fffffffu, h, -1, 0, AFLOC_ERR_LIMIT, "width 2^31-1");
    expect_ihdr(seed, w, 0x7fffffffu, -1, 0, AFLOC_ERR_LIMIT, "height 2^31-1");
    expect_ihdr(seed, 0x80000000u, h, -1, 0, AFLOC_ERR_IMAGE_FORMAT, "width 2^31");
    expect_ihdr(seed, 0xffffffffu, 0xffffffffu, -1, 0, AFLOC_ERR_IMAGE_FORMAT, "size 2^32-1");
    expect_ihdr(seed, 100000, 100000, -1, 0, AFLOC_ERR_LIMIT, "100000x100000");
    expect_ihdr(seed, w, h, 8, 3, AFLOC_ERR_IMAGE_FORMAT, "bit depth 3");
    expect_ihdr(seed, w, h, 8, 32, AFLOC_ERR_IMAGE_FORMAT, "bit depth 32");
    expect_ihdr(seed, w, h, 9, 1, AFLOC_ERR_IMAGE_FORMAT, "colour type 1");
    expect_ihdr(seed, w, h, 9, 7, AFLOC_ERR_IMAGE_FORMAT, "colour type 7");
    expect_ihdr(seed, w, h, 10, 1, AFLOC_ERR_IMAGE_FORMAT, "compression 1");
    expect_ihdr(seed, w, h, 11, 1, AFLOC_ERR_IMAGE_FORMAT, "filter method 1");
    expect_ihdr(seed, w, h, 12, 2, AFLOC_ERR_IMAGE_FORMAT, "interlace 2");
    /* Width/height 1 larger than the data: the image data runs out. */
    expect_ihdr(seed, w, h + 1, -1, 0, AFLOC_ERR_IMAGE_FORMAT, "height one more than the data");
    *cases += 16;
}

static void structure_catalog(const bytes *seed, int *cases) {
    size_t offsets[MAX_CHUNKS];
    size_t n = png_chunk_offsets(seed->data, seed->size, offsets, MAX_CHUNKS);
    /* Bytes after IEND: one byte, and a whole extra IDAT chunk. */
    bytes b = {0};
    bytes_append(&b, seed->data, seed->size);
    bytes_append(&b, "", 1);
    expect(b.data, b.size, AFLOC_ERR_IMAGE_FORMAT, "one byte after IEND");
    b.size = seed->size;
    unsigned char idat[2] = {0x78, 0x9c};
    bytes_chunk(&b, "IDAT", idat, 2);
    expect(b.data, b.size, AFLOC_ERR_IMAGE_FORMAT, "IDAT after IEND");
    free(b.data);
    /* No IEND at all, and IHDR not first. */
    expect(seed->data, offsets[n - 1], AFLOC_ERR_IMAGE_FORMAT, "IEND missing");
    bytes swapped = {0};
    bytes_append(&swapped, seed->data, 8);
    bytes_chunk(&swapped, "tEXt", "a\0b", 3);
    bytes_append(&swapped, seed->data + 8, seed->size - 8);
    expect(swapped.data, swapped.size, AFLOC_ERR_IMAGE_FORMAT, "tEXt before IHDR");
    free(swapped.data);
    /* Palette image without PLTE. */
    if (seed->data[25] == 3) {
        for (size_t i = 0; i < n; i++) {
            if (memcmp(seed->data + offsets[i] + 4, "PLTE", 4) != 0) continue;
            size_t end = offsets[i] + 12 + get_be32(seed->data + offsets[i]);
            bytes cut = {0};
            bytes_append(&cut, seed->data, offsets[i]);
            bytes_append(&cut, seed->data + end, seed->size - end);
            expect(cut.data, cut.size, AFLOC_ERR_IMAGE_FORMAT, "palette without PLTE");
            free(cut.data);
            (*cases)++;
        }
    }
    /* An unknown critical chunk. */
    bytes crit = {0};
    bytes_append(&crit, seed->data, offsets[1]);
    bytes_chunk(&crit, "QUUX", "x", 1);
    bytes_append(&crit, seed->data + offsets[1], seed->size - offsets[1]);
    expect(crit.data, crit.size, AFLOC_ERR_IMAGE_FORMAT, "unknown critical chunk");
    free(crit.data);
    *cases += 5;
}

/* One random mutation of `b` in place (size may change). */
static void mutate(bytes *b) {
    size_t offsets[MAX_CHUNKS];
    size_t n = png_chunk_offsets(b->data, b->size, offsets, MAX_CHUNKS);
    size_t at = (size_t)rand() % b->size;
    int kind = rand() % 7;
    if (n == 0 && kind >= 2 && kind <= 5) kind = 0; /* no chunk left to work on */
    switch (kind) {
    case 0: b->data[at] ^= (unsigned char)(1u << (rand() % 8)); break;
    case 1: b->data[at] = (unsigned char)rand(); break;
    case 2: { /* corrupt chunk data and fix the CRC, so the content reaches libpng and zlib */
        size_t c = offsets[(size_t)rand() % n];
        uint32_t length = get_be32(b->data + c);
        if (c + 12 + length > b->size) break;
        if (length) b->data[c + 8 + (size_t)rand() % length] ^= (unsigned char)(1u << (rand() % 8));
        put_be32(b->data + c + 8 + length, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b->data + c + 4, length + 4));
        break;
    }
    case 3: { /* delete a chunk */
        size_t c = offsets[(size_t)rand() % n];
        size_t end = c + 12 + get_be32(b->data + c);
        if (end > b->size) break;
        memmove(b->data + c, b->data + end, b->size - end);
        b->size -= end - c;
        break;
    }
    case 4: { /* duplicate a chunk */
        size_t c = offsets[(size_t)rand() % n];
        size_t end = c + 12 + get_be32(b->data + c);
        if (end > b->size) break;
        bytes copy = {0};
        bytes_append(&copy, b->data, end);
        bytes_append(&copy, b->data + c, b->size - c);
        free(b->data);
        *b = copy;
        break;
    }
    case 5: { /* change a chunk length */
        size_t c = offsets[(size_t)rand() % n];
        static const uint32_t lengths[] = {0, 1, 13, 0x7fffffffu, 0x80000000u, 0xffffffffu, 65536};
        put_be32(b->data + c, lengths[rand() % 7]);
        break;
    }
    default: /* truncate */
        b->size = at;
        break;
    }
    if (b->size == 0) b->size = 1;
}

int main(int argc, char **argv) {
    int mutations = argc > 1 ? atoi(argv[1]) : 10000;
    srand(12345);
    load_fixture_seeds();
    add_encoder_seeds();
    CHECK(seed_count >= 2);

    /* Everything below runs with stderr redirected to a file that must stay empty, except for
     * this test's own failure lines (which are then replayed). */
    fflush(stderr);
    FILE *capture = tmpfile();
    int saved = dup(2);
    dup2(fileno(capture), 2);

    int catalog = 0;
    double start = seconds_now();
    for (int s = 0; s < seed_count; s++) {
        expect(seeds[s].data, seeds[s].size, AFLOC_OK, "seed");
        truncations_and_crcs(&seeds[s], &catalog);
        ihdr_catalog(&seeds[s], &catalog);
        structure_catalog(&seeds[s], &catalog);
    }
    int failures_before = test_failures;
    for (int m = 0; m < mutations; m++) {
        bytes b = {0};
        const bytes *seed = &seeds[rand() % seed_count];
        bytes_append(&b, seed->data, seed->size);
        int rounds = 1 + rand() % 4;
        for (int r = 0; r < rounds; r++) mutate(&b);
        try_decode(b.data, b.size);
        free(b.data);
    }
    double took = seconds_now() - start;

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long written = ftell(capture);
    if (written > 0) {
        rewind(capture);
        char line[512];
        while (fgets(line, sizeof line, capture)) fputs(line, stderr);
        if (test_failures == 0) {
            fprintf(stderr, "the decoder wrote %ld bytes to stderr\n", written);
            test_failures++;
        }
    }
    fclose(capture);
    (void)failures_before;
    CHECK(catalog >= 1000 || !png_fixtures_dir());
    CHECK(mutations == 0 || decodes >= 1000);
    printf("png_malformed: %d seeds, %d catalog cases, %d random mutations, %d decodes in %.2f s: "
           "%d OK, %d IMAGE_FORMAT, %d LIMIT, other %d; slowest %.1f ms (limit 1000), peak alloc %zu bytes "
           "(budget %d), stderr bytes %ld\n",
           seed_count, catalog, mutations, decodes, took, by_status[AFLOC_OK],
           by_status[AFLOC_ERR_IMAGE_FORMAT], by_status[AFLOC_ERR_LIMIT],
           decodes - by_status[AFLOC_OK] - by_status[AFLOC_ERR_IMAGE_FORMAT] - by_status[AFLOC_ERR_LIMIT],
           slowest * 1e3, peak_max, 64 << 20, written);
    for (int s = 0; s < seed_count; s++) free(seeds[s].data);
    return test_finish("png_malformed");
}
