/* test_png_bomb.c (T6, T24): small PNGs that declare huge images or carry huge compressed chunks.
 *  - 100000x100000, 16385 wide/high, and a 16384x16384 image over a small max_decode_bytes must
 *    give AFLOC_ERR_LIMIT with zero allocations (the allocation counter of src/alloc.c and the
 *    decoder's own statistics both show none);
 *  - limits boundary with max 64x64: 64x64 OK, 65x64 and 64x65 LIMIT; max_decode_bytes exactly at
 *    the pixel need minus one gives LIMIT;
 *  - zTXt and iCCP chunks inflating to 1 GiB and 100000 tEXt chunks decode as the plain image
 *    would, in < 1 s, with a small peak allocation; an IDAT stream with 1 GiB of extra data after
 *    the image is refused (AFLOC_ERR_IMAGE_FORMAT) in < 1 s. */
#include <stdint.h>

#include "image.h"
#include "alloc.h"
#include "png_test_util.h"
#include "test_util.h"

#define GIB ((size_t)1 << 30)

static afloc_png_options options_with(int32_t max_side, size_t max_decode_bytes) {
    afloc_png_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_png_options_default(&o);
    if (max_side) o.max_width = o.max_height = max_side;
    if (max_decode_bytes) o.max_decode_bytes = max_decode_bytes;
    return o;
}

/* A header-only bomb: IHDR declaring width x height, one IDAT of 1 MiB of zeros deflated. */
static bytes make_header_bomb(uint32_t width, uint32_t height, int depth, int color) {
    bytes png = {0};
    bytes_signature_ihdr(&png, width, height, depth, color, 0);
    bytes zeros = deflate_zeros((size_t)1 << 20, 9);
    bytes_chunk(&png, "IDAT", zeros.data, (uint32_t)zeros.size);
    bytes_chunk(&png, "IEND", NULL, 0);
    free(zeros.data);
    return png;
}

/* Decodes and checks status, that nothing at all was allocated, and reports the figures. */
static void expect_refused_without_allocation(const bytes *png, const afloc_png_options *o,
                                              const char *what) {
    afloc_test_inject_alloc_failure(-1); /* resets the counter */
    afloc_image *image = NULL;
    afloc_status status = afloc_image_decode_png(png->data, png->size, o, &image);
    long allocations = afloc_test_inject_alloc_failure(-1);
    afloc_png_decode_stats stats;
    afloc_png_test_last_stats(&stats);
    printf("  %-44s %6zu-byte file: %s, %ld allocations, largest request %zu bytes, peak %zu bytes\n",
           what, png->size, afloc_status_string(status), allocations, stats.largest_request,
           stats.peak_bytes);
    if (status != AFLOC_ERR_LIMIT) {
        fprintf(stderr, "%s: %s (%s), expected AFLOC_ERR_LIMIT\n", what, afloc_status_string(status),
                afloc_last_error());
        test_failures++;
    }
    CHECK(image == NULL);
    CHECK(allocations == 0);
    CHECK(stats.peak_bytes == 0 && stats.requests == 0);
    afloc_image_free(image);
}

static void header_bombs(void) {
    afloc_png_options defaults = options_with(0, 0);
    bytes b = make_header_bomb(100000, 100000, 8, 0);
    expect_refused_without_allocation(&b, NULL, "100000x100000 gray8, default options");
    free(b.data);
    b = make_header_bomb(100000, 100000, 16, 6);
    expect_refused_without_allocation(&b, &defaults, "100000x100000 RGBA16");
    free(b.data);
    b = make_header_bomb(16385, 1, 8, 0);
    expect_refused_without_allocation(&b, NULL, "16385x1 (one over the default width)");
    free(b.data);
    b = make_header_bomb(1, 16385, 8, 0);
    expect_refused_without_allocation(&b, NULL, "1x16385 (one over the default height)");
    free(b.data);
    /* Inside the default dimensions, but 16384*16384*6 bytes is over a 64 MiB budget. */
    afloc_png_options small_budget = options_with(0, (size_t)64 << 20);
    b = make_header_bomb(16384, 16384, 16, 2);
    expect_refused_without_allocation(&b, &small_budget, "16384x16384 RGB16, 64 MiB budget");
    free(b.data);
}

static afloc_status decode_status(const bytes *png, const afloc_png_options *o) {
    afloc_image *image = NULL;
    afloc_status status = afloc_image_decode_png(png->data, png->size, o, &image);
    afloc_image_free(image);
    return status;
}

static void limits_boundary(void) {
    afloc_png_options o = options_with(64, 0);
    bytes at = make_gray8_png(64, 64, 7, NULL);
    bytes wide = make_gray8_png(65, 64, 7, NULL);
    bytes high = make_gray8_png(64, 65, 7, NULL);
    CHECK_STATUS(decode_status(&at, &o), AFLOC_OK);
    CHECK_STATUS(decode_status(&wide, &o), AFLOC_ERR_LIMIT);
    CHECK_STATUS(decode_status(&high, &o), AFLOC_ERR_LIMIT);
    o.max_width = 65;
    CHECK_STATUS(decode_status(&wide, &o), AFLOC_OK);
    CHECK_STATUS(decode_status(&high, &o), AFLOC_ERR_LIMIT);

    /* max_decode_bytes: the pixels (64*64) plus row pointers must fit before anything else. */
    size_t need = 64 * 64 + 64 * sizeof(void *);
    o = options_with(64, need - 1);
    CHECK_STATUS(decode_status(&at, &o), AFLOC_ERR_LIMIT);
    o.max_decode_bytes = need; /* fits the pixels, not libpng's own working memory */
    CHECK_STATUS(decode_status(&at, &o), AFLOC_ERR_OUT_OF_MEMORY);
    o.max_decode_bytes = need + ((size_t)1 << 20);
    CHECK_STATUS(decode_status(&at, &o), AFLOC_OK);
    afloc_png_decode_stats stats;
    afloc_png_test_last_stats(&stats);
    printf("  64x64 gray8 with max 64: OK; 65 wide/high: LIMIT; budget %zu-1: LIMIT; "
           "peak of a real decode %zu bytes (pixels %d)\n", need, stats.peak_bytes, 64 * 64);

    /* max_file_bytes: one byte under the file size is refused before anything else. */
    o = options_with(64, 0);
    o.max_file_bytes = at.size - 1;
    CHECK_STATUS(decode_status(&at, &o), AFLOC_ERR_LIMIT);
    o.max_file_bytes = at.size;
    CHECK_STATUS(decode_status(&at, &o), AFLOC_OK);
    free(at.data);
    free(wide.data);
    free(high.data);
}

/* Decodes `png`, expects `want` (and for OK 8x8 gray samples of value 9), and reports time and
 * memory. */
static void expect_small_decode(const bytes *png, afloc_status want, const char *what) {
    afloc_image *image = NULL;
    double start = seconds_now();
    afloc_status status = afloc_image_decode_png(png->data, png->size, NULL, &image);
    double took = seconds_now() - start;
    afloc_png_decode_stats stats;
    afloc_png_test_last_stats(&stats);
    printf("  %-44s %8zu-byte file: %s in %.1f ms, peak %zu bytes, largest request %zu, %zu requests\n",
           what, png->size, afloc_status_string(status), took * 1e3, stats.peak_bytes,
           stats.largest_request, stats.requests);
    /* Limits: 1 s per file (T5), and libpng's working memory far below the 1 GiB bombs (T6). */
    CHECK(took < 1.0);
    CHECK(stats.peak_bytes < ((size_t)2 << 20));
    CHECK(stats.largest_request < ((size_t)1 << 20));
    if (status != want) {
        fprintf(stderr, "%s: %s (%s)\n", what, afloc_status_string(status), afloc_last_error());
        test_failures++;
    }
    if (status != AFLOC_OK) {
        afloc_image_free(image);
        return;
    }
    afloc_image_view view;
    memset(&view, 0, sizeof view);
    view.struct_size = sizeof view;
    afloc_image_get_view(image, &view);
    CHECK(view.width == 8 && view.height == 8 && ((const unsigned char *)view.pixels)[63] == 9);
    afloc_image_free(image);
}

static void chunk_bombs(void) {
    bytes zeros = deflate_zeros(GIB, 9); /* about 1 MiB that inflates to 1 GiB */
    bytes extra = {0};
    bytes body = {0};
    bytes_append(&body, "Comment\0\0", 9); /* keyword, NUL, compression method 0 */
    bytes_append(&body, zeros.data, zeros.size);
    bytes_chunk(&extra, "zTXt", body.data, (uint32_t)body.size);
    body.size = 0;
    bytes_append(&body, "bomb\0\0", 6);
    bytes_append(&body, zeros.data, zeros.size);
    bytes_chunk(&extra, "iCCP", body.data, (uint32_t)body.size);
    bytes png = make_gray8_png(8, 8, 9, &extra);
    expect_small_decode(&png, AFLOC_OK, "zTXt + iCCP each inflating to 1 GiB");
    free(png.data);
    free(body.data);
    free(extra.data);

    /* 100000 tEXt chunks. */
    extra = (bytes){0};
    for (int i = 0; i < 100000; i++) bytes_chunk(&extra, "tEXt", "k\0v", 3);
    png = make_gray8_png(8, 8, 9, &extra);
    expect_small_decode(&png, AFLOC_OK, "100000 tEXt chunks");
    free(png.data);
    free(extra.data);

    /* IDAT whose zlib stream holds the 8x8 image followed by 1 GiB more: libpng would inflate all
     * of it (2.1 s); the decoder stops after 16 KiB of compressed data past the last row. */
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit(&z, 9);
    bytes stream = {0};
    static unsigned char image_rows[8 * 9];
    for (int y = 0; y < 8; y++) {
        image_rows[y * 9] = 0;
        memset(image_rows + y * 9 + 1, 9, 8);
    }
    static unsigned char in[1 << 16], out[1 << 16];
    size_t left = GIB;
    int first = 1, flush;
    do {
        if (first) {
            z.next_in = image_rows;
            z.avail_in = sizeof image_rows;
            first = 0;
        } else {
            size_t piece = left < sizeof in ? left : sizeof in;
            left -= piece;
            z.next_in = in;
            z.avail_in = (uInt)piece;
        }
        flush = left ? Z_NO_FLUSH : Z_FINISH;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            deflate(&z, flush);
            bytes_append(&stream, out, sizeof out - z.avail_out);
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    png = (bytes){0};
    bytes_signature_ihdr(&png, 8, 8, 8, 0, 0);
    bytes_chunk(&png, "IDAT", stream.data, (uint32_t)stream.size);
    bytes_chunk(&png, "IEND", NULL, 0);
    expect_small_decode(&png, AFLOC_ERR_IMAGE_FORMAT, "IDAT stream with 1 GiB of extra data");
    free(png.data);
    free(stream.data);
    free(zeros.data);
}

int main(void) {
    printf("png_bomb_limits:\n");
    header_bombs();
    limits_boundary();
    chunk_bombs();
    return test_finish("png_bomb_limits");
}
