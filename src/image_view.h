/* image_view.h: validation and sample access for caller-owned afloc_image_view buffers, shared by
 * every function that takes an image (PNG encode, preprocessing, and later embed/localize). */
#ifndef AFLOC_IMAGE_VIEW_H
#define AFLOC_IMAGE_VIEW_H

#include "afloc/afloc.h"

/* Largest width or height any function accepts from a view (the PNG decoder has its own,
 * configurable limit with the same default). */
#define AFLOC_MAX_IMAGE_SIDE 16384

/* Checks every field of `view` (NULL, struct_size, pixel type, channels 1 or 3, sizes in
 * 1..AFLOC_MAX_IMAGE_SIDE, stride large enough and not overflowing, significant_bits 0 or 1..16).
 * On failure returns AFLOC_ERR_INVALID_ARGUMENT with a message starting with `function`. */
afloc_status afloc_image_view_check(const afloc_image_view *view, const char *function);

/* Bytes per sample of a valid pixel type (1, 2 or 4). */
int afloc_pixel_bytes(int32_t pixel_type);

/* Sample (x, y, channel c) of a checked view as an intensity in [0, 1]: U8 / 255, U16 /
 * (2^significant_bits - 1) (values above that clamp to 1), F32 as stored. */
float afloc_image_view_sample(const afloc_image_view *view, int32_t x, int32_t y, int32_t c);

#endif /* AFLOC_IMAGE_VIEW_H */
