/* resize_area.h: image resizing that reproduces OpenCV 4.6 cv::resize(..., INTER_AREA) (MODEL.md
 * §2.5): area averaging when both axes shrink, OpenCV's "area-style" linear interpolation when
 * either axis grows. An 8-bit version that rounds like OpenCV (bit-exact against Debian's
 * OpenCV 4.6 on every test image, shrinking and enlarging) and a float version that does not round
 * (for 12-16-bit and float inputs, so they keep their precision). */
#ifndef AFLOC_RESIZE_AREA_H
#define AFLOC_RESIZE_AREA_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

/* Resizes `src` (src_width x src_height pixels of `channels` interleaved u8 samples, rows
 * `src_stride` bytes apart) into `dst` (dst_width x dst_height, rows `dst_stride` bytes apart),
 * writing only the dst_width * channels bytes of each destination row. channels is 1 or 3, every
 * size >= 1 (callers validate). All scratch memory is allocated before anything is written, so on
 * AFLOC_ERR_OUT_OF_MEMORY `dst` is untouched; the message starts with `function`. */
afloc_status afloc_resize_area_u8(uint8_t *dst, size_t dst_stride, int32_t dst_width,
                                  int32_t dst_height, const uint8_t *src, size_t src_stride,
                                  int32_t src_width, int32_t src_height, int32_t channels,
                                  const char *function);

/* The same resampling for one channel of floats, without rounding or saturation. Strides are in
 * floats. Same failure contract as afloc_resize_area_u8. */
afloc_status afloc_resize_area_f32(float *dst, size_t dst_stride, int32_t dst_width,
                                   int32_t dst_height, const float *src, size_t src_stride,
                                   int32_t src_width, int32_t src_height, const char *function);

#endif /* AFLOC_RESIZE_AREA_H */
