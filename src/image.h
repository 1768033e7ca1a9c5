/* image.h: the library-owned decoded image (afloc_image) behind the public opaque handle, and
 * the PNG decoder's test hook. Pixels are packed rows, U8 or U16 in native byte order. */
#ifndef AFLOC_IMAGE_H
#define AFLOC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

struct afloc_image {
    int32_t        width;            /* pixels                                          */
    int32_t        height;           /* pixels                                          */
    int32_t        channels;         /* 1 or 3                                          */
    int32_t        pixel_type;       /* AFLOC_PIXEL_U8 or AFLOC_PIXEL_U16               */
    int32_t        significant_bits; /* U16: 1..15 from sBIT, else 0                    */
    size_t         row_stride;       /* bytes, = width * channels * bytes per sample    */
    unsigned char *pixels;           /* (height, width, channels), owned, afloc_free    */
};

/* What the last PNG decode on this thread allocated (for the bomb and budget tests): the most
 * bytes held at once, the largest single request, and the number of requests. Includes the
 * output pixels and every libpng/zlib allocation; excludes the input bytes. */
typedef struct afloc_png_decode_stats {
    size_t peak_bytes;
    size_t largest_request;
    size_t requests;
} afloc_png_decode_stats;

void afloc_png_test_last_stats(afloc_png_decode_stats *stats);

#endif /* AFLOC_IMAGE_H */
