/* image.c: the decoded-image handle: a borrowed view of its pixels, and release. Decoders
 * (image_png.c) build it; nothing else changes it after that. */
#include "image.h"

#include <stddef.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

afloc_status afloc_image_get_view(const afloc_image *image, afloc_image_view *view) {
    if (!image || !view)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_image_get_view: %s is NULL",
                          !image ? "image" : "view");
    size_t size = view->struct_size;
    if (size < offsetof(afloc_image_view, significant_bits))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_image_get_view: view struct_size %zu too small (set it to sizeof)",
                          size);
    afloc_image_view full = {0};
    full.struct_size = size;
    full.pixel_type = image->pixel_type;
    full.channels = image->channels;
    full.width = image->width;
    full.height = image->height;
    full.row_stride = image->row_stride;
    full.pixels = image->pixels;
    full.significant_bits = image->significant_bits;
    /* Only the bytes the caller's struct has; struct_size itself is left as the caller set it. */
    memcpy(view, &full, size < sizeof full ? size : sizeof full);
    return AFLOC_OK;
}

void afloc_image_free(afloc_image *image) {
    if (!image) return;
    afloc_free(image->pixels);
    afloc_free(image);
}
