/* fuzz_png.c (T4): libFuzzer target for the PNG decoder. Decodes the input with limits small
 * enough for the fuzzer's memory limit (4096x4096, 128 MiB budget), reads the view, touches the
 * first and last sample, frees. Any status other than OK, IMAGE_FORMAT or LIMIT (and OOM, which
 * the budget or an injected failure can produce) is a bug; so is a crash, a sanitizer report or
 * a leak. The nalloc-style variant is built in: for one input in eight (chosen from the byte sum,
 * so a crash reproduces from the file alone) the k-th host allocation fails, k = sum % 48. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    afloc_png_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    afloc_png_options_default(&options);
    options.max_width = 4096;
    options.max_height = 4096;
    options.max_decode_bytes = (size_t)128 << 20;
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++) sum += data[i];
    int inject = sum % 8 == 3;
    if (inject) afloc_test_inject_alloc_failure((long)(sum / 8 % 48));
    afloc_image *image = NULL;
    afloc_status status = afloc_image_decode_png(size ? (const void *)data : (const void *)"", size,
                                                 &options, &image);
    if (inject) afloc_test_inject_alloc_failure(-1);
    if (status == AFLOC_OK) {
        afloc_image_view view;
        memset(&view, 0, sizeof view);
        view.struct_size = sizeof view;
        if (afloc_image_get_view(image, &view) != AFLOC_OK || !view.pixels || view.width < 1 ||
            view.height < 1 || view.width > 4096 || view.height > 4096)
            abort();
        const volatile unsigned char *p = view.pixels;
        size_t last = view.row_stride * (size_t)(view.height - 1) + view.row_stride - 1;
        (void)p[0];
        (void)p[last];
        afloc_image_free(image);
    } else if (image != NULL || (status != AFLOC_ERR_IMAGE_FORMAT && status != AFLOC_ERR_LIMIT &&
                                 status != AFLOC_ERR_OUT_OF_MEMORY)) {
        abort(); /* a status the decoder must never return for input bytes */
    }
    return 0;
}
