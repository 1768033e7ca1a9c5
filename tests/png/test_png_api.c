/* test_png_api.c (T9 for image I/O): NULL pointers, zero sizes, struct_size 0 and old struct
 * sizes, out-of-range options, bad views, files that are missing/directories/too large. Every
 * failure has the documented code, a non-empty message naming the function, and leaves out-params
 * untouched. */
#include <stdint.h>
#include <unistd.h>

#include "png_test_util.h"
#include "test_util.h"

static void message_names(const char *function) {
    if (strncmp(afloc_last_error(), function, strlen(function)) != 0) {
        fprintf(stderr, "message \"%s\" does not start with %s\n", afloc_last_error(), function);
        test_failures++;
    }
}

static void options_misuse(const bytes *png) {
    CHECK_STATUS(afloc_png_options_default(NULL), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_png_options o;
    memset(&o, 0, sizeof o);
    CHECK_STATUS(afloc_png_options_default(&o), AFLOC_ERR_INVALID_ARGUMENT);
    o.struct_size = sizeof o;
    CHECK_STATUS(afloc_png_options_default(&o), AFLOC_OK);
    CHECK(o.max_width == 16384 && o.max_height == 16384 && o.max_file_bytes == ((size_t)256 << 20) &&
          o.max_decode_bytes == ((size_t)1664 << 20));
    /* An old caller's struct: only the fields that fit are written, struct_size is kept. */
    afloc_png_options old;
    memset(&old, 0x5A, sizeof old);
    old.struct_size = offsetof(afloc_png_options, max_file_bytes);
    CHECK_STATUS(afloc_png_options_default(&old), AFLOC_OK);
    CHECK(old.struct_size == offsetof(afloc_png_options, max_file_bytes) && old.max_height == 16384);
    unsigned char after[sizeof old];
    memset(after, 0x5A, sizeof after);
    CHECK(memcmp(&old.max_file_bytes, after, sizeof old.max_file_bytes) == 0);
    afloc_image *image = NULL;
    CHECK_STATUS(afloc_image_decode_png(png->data, png->size, &old, &image), AFLOC_OK);
    afloc_image_free(image);

    afloc_image *sentinel = (afloc_image *)&o;
    image = sentinel;
    o.struct_size = 0;
    CHECK_STATUS(afloc_image_decode_png(png->data, png->size, &o, &image), AFLOC_ERR_INVALID_ARGUMENT);
    message_names("afloc_image_decode_png");
    afloc_png_options_default(&(afloc_png_options){.struct_size = sizeof o});
    o.struct_size = sizeof o;
    afloc_png_options_default(&o);
    int32_t bad_sides[] = {0, -1, 16385};
    for (size_t i = 0; i < 3; i++) {
        o.max_width = bad_sides[i];
        CHECK_STATUS(afloc_image_decode_png(png->data, png->size, &o, &image), AFLOC_ERR_INVALID_ARGUMENT);
        o.max_width = 64;
        o.max_height = bad_sides[i];
        CHECK_STATUS(afloc_image_decode_png(png->data, png->size, &o, &image), AFLOC_ERR_INVALID_ARGUMENT);
        o.max_height = 64;
    }
    o.max_file_bytes = 0;
    CHECK_STATUS(afloc_image_decode_png(png->data, png->size, &o, &image), AFLOC_ERR_INVALID_ARGUMENT);
    o.max_file_bytes = 1000;
    o.max_decode_bytes = 0;
    CHECK_STATUS(afloc_image_decode_png(png->data, png->size, &o, &image), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(image == sentinel);
}

static void decode_misuse(const bytes *png) {
    afloc_image *sentinel = (afloc_image *)png;
    afloc_image *image = sentinel;
    CHECK_STATUS(afloc_image_decode_png(NULL, png->size, NULL, &image), AFLOC_ERR_INVALID_ARGUMENT);
    message_names("afloc_image_decode_png");
    CHECK_STATUS(afloc_image_decode_png(png->data, png->size, NULL, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_decode_png(png->data, 0, NULL, &image), AFLOC_ERR_IMAGE_FORMAT);
    for (size_t n = 1; n < 34; n++)
        CHECK_STATUS(afloc_image_decode_png(png->data, n, NULL, &image), AFLOC_ERR_IMAGE_FORMAT);
    CHECK_STATUS(afloc_image_decode_png("GIF89a..........................", 32, NULL, &image),
                 AFLOC_ERR_IMAGE_FORMAT);
    CHECK(image == sentinel);

    CHECK_STATUS(afloc_image_load_png(NULL, NULL, &image), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_load_png("/nonexistent/x.png", NULL, &image), AFLOC_ERR_IO);
    message_names("afloc_image_load_png");
    CHECK_STATUS(afloc_image_load_png("/tmp", NULL, &image), AFLOC_ERR_IO);
    char path[] = "/tmp/afloc_png_api_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, png->data, png->size) == (ssize_t)png->size);
    close(fd);
    afloc_png_options o = {sizeof o, 0, 0, 0, 0};
    afloc_png_options_default(&o);
    o.max_file_bytes = png->size - 1;
    CHECK_STATUS(afloc_image_load_png(path, &o, &image), AFLOC_ERR_LIMIT);
    CHECK_STATUS(afloc_image_load_png(path, NULL, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(image == sentinel);
    CHECK_STATUS(afloc_image_load_png(path, NULL, &image), AFLOC_OK);

    afloc_image_view view;
    memset(&view, 0, sizeof view);
    view.struct_size = sizeof view;
    CHECK_STATUS(afloc_image_get_view(NULL, &view), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_get_view(image, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    view.struct_size = 0;
    CHECK_STATUS(afloc_image_get_view(image, &view), AFLOC_ERR_INVALID_ARGUMENT);
    /* A 0.1 view without significant_bits: filled up to pixels, nothing beyond. */
    view.struct_size = offsetof(afloc_image_view, significant_bits);
    view.significant_bits = -7;
    CHECK_STATUS(afloc_image_get_view(image, &view), AFLOC_OK);
    CHECK(view.width == 4 && view.pixels != NULL && view.significant_bits == -7);
    CHECK(view.struct_size == offsetof(afloc_image_view, significant_bits));
    afloc_image_free(image);
    afloc_image_free(NULL);
    unlink(path);
}

static void encode_misuse(void) {
    uint8_t pixels[16] = {0};
    afloc_image_view good = {sizeof good, AFLOC_PIXEL_U8, 1, 4, 4, 4, pixels, 0};
    size_t size = 999;
    unsigned char out[512];
    CHECK_STATUS(afloc_image_encode_png(NULL, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    message_names("afloc_image_encode_png");
    CHECK_STATUS(afloc_image_encode_png(&good, out, sizeof out, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_image_view bad;
    bad = good; bad.struct_size = 0;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.channels = 2;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.channels = 4;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.width = 0;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.height = -1;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.row_stride = 3;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.pixel_type = 9;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.pixels = NULL;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    bad = good; bad.pixel_type = AFLOC_PIXEL_U16; bad.row_stride = 8; bad.significant_bits = 17;
    CHECK_STATUS(afloc_image_encode_png(&bad, out, sizeof out, &size), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(size == 999);
    CHECK_STATUS(afloc_image_save_png(&good, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_save_png(&good, ""), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_save_png(NULL, "/tmp/never_written.png"), AFLOC_ERR_INVALID_ARGUMENT);
    message_names("afloc_image_save_png");
    CHECK(access("/tmp/never_written.png", F_OK) != 0);
}

int main(void) {
    bytes png = make_gray8_png(4, 3, 200, NULL);
    options_misuse(&png);
    decode_misuse(&png);
    encode_misuse();
    CHECK(strlen(afloc_last_error()) <= 255);
    free(png.data);
    printf("png_api: misuse cases checked\n");
    return test_finish("png_api");
}
