/* fuzz_preprocess.c: libFuzzer harness for the preprocessing entry points. The first bytes choose
 * the view (pixel type, channels, size, stride) and the letterbox/crop sizes; the rest are pixels
 * (zero-filled when short). Every call must return a documented status, and on success the
 * geometry must satisfy the invariants afloc_heatmap_to_original relies on. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"

static const afloc_status allowed[] = {AFLOC_OK, AFLOC_ERR_INVALID_ARGUMENT,
                                       AFLOC_ERR_BUFFER_TOO_SMALL, AFLOC_ERR_OUT_OF_MEMORY};

static void check_status(afloc_status status) {
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (status == allowed[i]) return;
    abort(); /* an undocumented status is a finding */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 8) return 0;
    int32_t pixel_type = 1 + data[0] % 3;
    int32_t channels = (data[1] & 1) ? 3 : 1;
    int32_t width = 1 + data[2] % 160;
    int32_t height = 1 + data[3] % 160;
    size_t pad = data[4] % 8;
    int32_t image_size = 1 + data[5] % 96;
    int32_t crop_size = 1 + data[6] % image_size;
    int bytes = pixel_type == AFLOC_PIXEL_U8 ? 1 : pixel_type == AFLOC_PIXEL_U16 ? 2 : 4;
    size_t stride = (size_t)width * (size_t)channels * (size_t)bytes + pad;
    size_t total = stride * (size_t)height;
    unsigned char *pixels = calloc(total, 1);
    if (!pixels) return 0;
    size_t payload = size - 8 < total ? size - 8 : total;
    memcpy(pixels, data + 8, payload);

    afloc_image_view view = {sizeof view, pixel_type, channels, width, height, stride, pixels,
                             data[7] % 17};
    afloc_preprocess_options options = {0};
    options.struct_size = sizeof options;
    afloc_preprocess_options_default(&options);
    options.image_size = image_size;
    options.crop_size = crop_size;

    float *frame = malloc((size_t)crop_size * (size_t)crop_size * sizeof *frame);
    float *back = malloc((size_t)width * (size_t)height * sizeof *back);
    uint8_t *letterbox = malloc((size_t)image_size * (size_t)image_size);
    if (frame && back && letterbox) {
        afloc_letterbox_geometry geometry = {0};
        geometry.struct_size = sizeof geometry;
        afloc_status status = afloc_image_preprocess(&view, &options, frame,
                                                     (size_t)crop_size * (size_t)crop_size, &geometry);
        check_status(status);
        if (status == AFLOC_OK) {
            if (geometry.resized_width < 1 || geometry.resized_width > image_size ||
                geometry.resized_height < 1 || geometry.resized_height > image_size ||
                geometry.pad_left < 0 || geometry.pad_top < 0)
                abort();
            /* U8/U16 inputs are bounded, so the model input must be finite; F32 samples are only
             * required to be finite, and values near FLT_MAX may legitimately overflow. */
            if (pixel_type != AFLOC_PIXEL_F32)
                for (int32_t i = 0; i < crop_size * crop_size; i++)
                    if (!isfinite(frame[i])) abort();
            status = afloc_heatmap_to_original(&geometry, frame, (size_t)crop_size * (size_t)crop_size,
                                               back, (size_t)width * (size_t)height);
            check_status(status);
            if (status != AFLOC_OK) abort(); /* a geometry we produced must be accepted */
            if (pixel_type != AFLOC_PIXEL_F32)
                for (int32_t i = 0; i < width * height; i++)
                    if (!isfinite(back[i])) abort();
        }
        if (pixel_type == AFLOC_PIXEL_U8)
            check_status(afloc_image_letterbox_u8(&view, image_size, letterbox,
                                                  (size_t)image_size * (size_t)image_size, NULL));
    }
    free(letterbox);
    free(back);
    free(frame);
    free(pixels);
    return 0;
}
