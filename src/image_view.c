/* image_view.c: validation of caller-owned image views and normalised sample access. */
#include "image_view.h"

#include <stdint.h>
#include <string.h>

#include "error.h"

int afloc_pixel_bytes(int32_t pixel_type) {
    switch (pixel_type) {
    case AFLOC_PIXEL_U8:  return 1;
    case AFLOC_PIXEL_U16: return 2;
    case AFLOC_PIXEL_F32: return 4;
    default:              return 0;
    }
}

afloc_status afloc_image_view_check(const afloc_image_view *view, const char *function) {
    if (!view) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: image view is NULL", function);
    /* Every field up to significant_bits existed in 0.1; struct_size must cover `pixels`. */
    if (view->struct_size < offsetof(afloc_image_view, significant_bits))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: image view struct_size %zu too small (set it to sizeof)", function,
                          view->struct_size);
    int bytes = afloc_pixel_bytes(view->pixel_type);
    if (!bytes)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: pixel_type %d is not an afloc_pixel_type",
                          function, (int)view->pixel_type);
    if (view->channels != 1 && view->channels != 3)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: channels %d (must be 1 or 3)", function,
                          (int)view->channels);
    if (view->width < 1 || view->height < 1 || view->width > AFLOC_MAX_IMAGE_SIDE ||
        view->height > AFLOC_MAX_IMAGE_SIDE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: image size %dx%d outside 1..%d", function,
                          (int)view->width, (int)view->height, AFLOC_MAX_IMAGE_SIDE);
    size_t row_bytes = (size_t)view->width * (size_t)view->channels * (size_t)bytes;
    if (view->row_stride < row_bytes)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: row_stride %zu smaller than one row (%zu bytes)", function,
                          view->row_stride, row_bytes);
    if (view->row_stride > SIZE_MAX / (size_t)view->height)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: row_stride %zu x height %d overflows",
                          function, view->row_stride, (int)view->height);
    if (!view->pixels)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: pixels is NULL", function);
    if (view->struct_size >= offsetof(afloc_image_view, significant_bits) + sizeof(int32_t) &&
        view->pixel_type == AFLOC_PIXEL_U16 &&
        (view->significant_bits < 0 || view->significant_bits > 16))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: significant_bits %d outside 0..16",
                          function, (int)view->significant_bits);
    return AFLOC_OK;
}

float afloc_image_view_sample(const afloc_image_view *view, int32_t x, int32_t y, int32_t c) {
    const unsigned char *row = (const unsigned char *)view->pixels + (size_t)y * view->row_stride;
    size_t index = (size_t)x * (size_t)view->channels + (size_t)c;
    switch (view->pixel_type) {
    case AFLOC_PIXEL_U8:
        return row[index] / 255.0f;
    case AFLOC_PIXEL_U16: {
        uint16_t v;
        memcpy(&v, row + 2 * index, sizeof v); /* rows need not be 2-byte aligned */
        int bits = view->struct_size >= offsetof(afloc_image_view, significant_bits) + sizeof(int32_t)
                       ? view->significant_bits : 0;
        float max = bits > 0 ? (float)((1u << bits) - 1u) : 65535.0f;
        float value = v / max;
        return value > 1.0f ? 1.0f : value;
    }
    default: {
        float v;
        memcpy(&v, row + 4 * index, sizeof v);
        return v;
    }
    }
}
