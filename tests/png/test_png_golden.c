/* test_png_golden.c (T7): every colour type and bit depth, interlaced or not, with sBIT, tRNS and
 * ancillary chunks, decoded and compared bit-exactly with the samples gen_png_fixtures.py wrote
 * (an independent encoder: Python zlib + struct). Checks width, height, channels, pixel type,
 * row stride and significant_bits too, and that decode_png (bytes) and load_png (path) agree. */
#include <stdint.h>

#include "png_test_util.h"
#include "test_util.h"

static int host_little_endian(void) {
    const uint16_t probe = 1;
    return *(const unsigned char *)&probe == 1;
}

/* Compares the view with the expected raw samples (u8, or little-endian u16); returns the number
 * of samples compared, and counts mismatches into *bad. */
static size_t compare_samples(const afloc_image_view *view, const unsigned char *want, size_t want_size,
                              const char *name, size_t *bad) {
    size_t per_row = (size_t)view->width * (size_t)view->channels;
    int bytes_per = view->pixel_type == AFLOC_PIXEL_U16 ? 2 : 1;
    if (want_size != per_row * (size_t)view->height * (size_t)bytes_per) {
        fprintf(stderr, "%s: expected %zu raw bytes, the view holds %zu\n", name, want_size,
                per_row * (size_t)view->height * (size_t)bytes_per);
        (*bad)++;
        return 0;
    }
    size_t shown = 0;
    for (int32_t y = 0; y < view->height; y++) {
        const unsigned char *row = (const unsigned char *)view->pixels + (size_t)y * view->row_stride;
        for (size_t i = 0; i < per_row; i++) {
            size_t k = (size_t)y * per_row + i;
            unsigned got, expect;
            if (bytes_per == 2) {
                uint16_t v;
                memcpy(&v, row + 2 * i, 2);
                got = v;
                expect = (unsigned)want[2 * k] | (unsigned)want[2 * k + 1] << 8;
            } else {
                got = row[i];
                expect = want[k];
            }
            if (got != expect) {
                if (shown++ < 3)
                    fprintf(stderr, "%s: sample %zu (row %d) is %u, expected %u\n", name, i, (int)y,
                            got, expect);
                (*bad)++;
            }
        }
    }
    return per_row * (size_t)view->height;
}

int main(void) {
    const char *dir = png_fixtures_dir();
    if (!dir) {
        printf("png_golden: SKIP: fixtures missing (png_fixtures needs /usr/bin/python3 with numpy)\n");
        return TEST_SKIP;
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *manifest = fopen(path, "r");
    CHECK(manifest != NULL);
    if (!manifest) return test_finish("png_golden");
    char name[128];
    int width, height, channels, pixel_type, sigbits;
    int files = 0, with_sbit = 0;
    size_t samples = 0, mismatches = 0;
    while (fscanf(manifest, "%127s %d %d %d %d %d", name, &width, &height, &channels, &pixel_type,
                  &sigbits) == 6) {
        files++;
        snprintf(path, sizeof path, "%s/%s.png", dir, name);
        afloc_image *image = NULL;
        afloc_status status = afloc_image_load_png(path, NULL, &image);
        if (status != AFLOC_OK) {
            fprintf(stderr, "%s: load failed: %s: %s\n", name, afloc_status_string(status),
                    afloc_last_error());
            test_failures++;
            continue;
        }
        afloc_image_view view;
        memset(&view, 0, sizeof view);
        view.struct_size = sizeof view;
        CHECK_STATUS(afloc_image_get_view(image, &view), AFLOC_OK);
        int bytes_per = pixel_type == 2 ? 2 : 1;
        if (view.width != width || view.height != height || view.channels != channels ||
            view.pixel_type != pixel_type || view.significant_bits != sigbits ||
            view.row_stride != (size_t)width * (size_t)channels * (size_t)bytes_per) {
            fprintf(stderr, "%s: view %dx%d c%d type %d sbit %d stride %zu, expected %dx%d c%d type %d sbit %d\n",
                    name, (int)view.width, (int)view.height, (int)view.channels, (int)view.pixel_type,
                    (int)view.significant_bits, view.row_stride, width, height, channels, pixel_type,
                    sigbits);
            test_failures++;
        } else {
            unsigned char *want = NULL;
            size_t want_size = 0;
            snprintf(path, sizeof path, "%s/%s.raw", dir, name);
            CHECK(read_whole_file(path, &want, &want_size));
            size_t bad = 0;
            samples += compare_samples(&view, want, want_size, name, &bad);
            mismatches += bad;
            if (bad) test_failures++;
            free(want);
        }
        if (sigbits) with_sbit++;

        /* The same file from memory gives the same bytes. */
        unsigned char *png = NULL;
        size_t png_size = 0;
        snprintf(path, sizeof path, "%s/%s.png", dir, name);
        CHECK(read_whole_file(path, &png, &png_size));
        afloc_image *again = NULL;
        CHECK_STATUS(afloc_image_decode_png(png, png_size, NULL, &again), AFLOC_OK);
        if (again) {
            afloc_image_view view2;
            memset(&view2, 0, sizeof view2);
            view2.struct_size = sizeof view2;
            afloc_image_get_view(again, &view2);
            CHECK(view2.row_stride == view.row_stride && view2.height == view.height &&
                  memcmp(view2.pixels, view.pixels, view.row_stride * (size_t)view.height) == 0);
        }
        afloc_image_free(again);
        free(png);
        afloc_image_free(image);
    }
    fclose(manifest);
    CHECK(files >= 40);
    CHECK(with_sbit >= 2);
    printf("png_golden: %d files (%d with sBIT kept), %zu samples compared bit-exactly, %zu mismatches, "
           "host %s-endian\n", files, with_sbit, samples, mismatches,
           host_little_endian() ? "little" : "big");
    return test_finish("png_golden");
}
