/* test_png_oom.c (T13 for image I/O): for k = 0..N, the k-th host allocation fails during a decode
 * (of every golden fixture, or encoder-made PNGs when the fixtures are missing), an encode and a
 * load: each run must return AFLOC_OK or AFLOC_ERR_OUT_OF_MEMORY, leave *out untouched on failure
 * and leak nothing (the sanitizer build's LeakSanitizer checks that at exit). Once k passes the
 * number of allocations a clean run makes, the call must succeed. */
#include <dirent.h>
#include <stdint.h>

#include "alloc.h"
#include "png_test_util.h"
#include "test_util.h"

static long runs, ooms, oks;

static void check_injected(afloc_status status, long k, long clean_allocations, const char *what) {
    runs++;
    if (status == AFLOC_OK) oks++;
    else if (status == AFLOC_ERR_OUT_OF_MEMORY) ooms++;
    else {
        fprintf(stderr, "%s, failing allocation %ld: %s (%s)\n", what, k, afloc_status_string(status),
                afloc_last_error());
        test_failures++;
    }
    if (k >= clean_allocations && status != AFLOC_OK) {
        fprintf(stderr, "%s: failed with k=%ld >= %ld allocations of a clean run\n", what, k,
                clean_allocations);
        test_failures++;
    }
}

static void decode_under_injection(const unsigned char *png, size_t size, const char *what) {
    afloc_test_inject_alloc_failure(-1);
    afloc_image *image = NULL;
    CHECK_STATUS(afloc_image_decode_png(png, size, NULL, &image), AFLOC_OK);
    afloc_image_free(image);
    long clean = afloc_test_inject_alloc_failure(-1);
    for (long k = 0; k <= clean + 1; k++) {
        afloc_image *sentinel = (afloc_image *)&image;
        image = sentinel;
        afloc_test_inject_alloc_failure(k);
        afloc_status status = afloc_image_decode_png(png, size, NULL, &image);
        afloc_test_inject_alloc_failure(-1);
        check_injected(status, k, clean, what);
        if (status != AFLOC_OK) CHECK(image == sentinel);
        else afloc_image_free(image);
    }
}

static void encode_under_injection(const afloc_image_view *view, const char *what) {
    size_t size = 0;
    afloc_test_inject_alloc_failure(-1);
    CHECK_STATUS(afloc_image_encode_png(view, NULL, 0, &size), AFLOC_OK);
    long clean = afloc_test_inject_alloc_failure(-1);
    unsigned char *buffer = malloc(size);
    for (long k = 0; k <= clean + 1; k++) {
        size_t got = 12345;
        afloc_test_inject_alloc_failure(k);
        afloc_status status = afloc_image_encode_png(view, buffer, size, &got);
        afloc_test_inject_alloc_failure(-1);
        check_injected(status, k, clean, what);
        if (status != AFLOC_OK) CHECK(got == 12345);
        /* And decoding what was encoded, under injection too. */
        if (status == AFLOC_OK && k == clean) decode_under_injection(buffer, got, what);
    }
    free(buffer);
}

int main(void) {
    int files = 0;
    const char *dir = png_fixtures_dir();
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *entry;
    while (d && (entry = readdir(d)) != NULL) {
        size_t n = strlen(entry->d_name);
        if (n < 5 || strcmp(entry->d_name + n - 4, ".png") != 0) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        unsigned char *png;
        size_t size;
        if (!read_whole_file(path, &png, &size)) continue;
        decode_under_injection(png, size, entry->d_name);
        free(png);
        files++;
        /* load_png as well (its file buffer is one more allocation) on a few files. */
        if (files <= 3) {
            afloc_test_inject_alloc_failure(-1);
            afloc_image *image = NULL;
            CHECK_STATUS(afloc_image_load_png(path, NULL, &image), AFLOC_OK);
            afloc_image_free(image);
            long clean = afloc_test_inject_alloc_failure(-1);
            for (long k = 0; k <= clean; k++) {
                image = NULL;
                afloc_test_inject_alloc_failure(k);
                afloc_status status = afloc_image_load_png(path, NULL, &image);
                afloc_test_inject_alloc_failure(-1);
                check_injected(status, k, clean, "load_png");
                afloc_image_free(image);
            }
        }
    }
    if (d) closedir(d);

    static uint16_t u16[6 * 5 * 3];
    static float f32[6 * 5];
    for (size_t i = 0; i < sizeof u16 / sizeof u16[0]; i++) u16[i] = (uint16_t)(i * 2039u);
    for (size_t i = 0; i < sizeof f32 / sizeof f32[0]; i++) f32[i] = (float)i / 29.0f;
    afloc_image_view rgb16 = {sizeof rgb16, AFLOC_PIXEL_U16, 3, 6, 5, 6 * 6, u16, 12};
    afloc_image_view gray_f32 = {sizeof gray_f32, AFLOC_PIXEL_F32, 1, 6, 5, 6 * 4, f32, 0};
    encode_under_injection(&rgb16, "encode RGB16");
    encode_under_injection(&gray_f32, "encode F32");
    printf("png_oom: %d fixture files + 2 encoder views, %ld runs with an injected failure: %ld "
           "OUT_OF_MEMORY, %ld OK, %d other\n", files, runs, ooms, oks, test_failures);
    CHECK(ooms > 0);
    return test_finish("png_oom");
}
