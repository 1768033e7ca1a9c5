/* test_png_encode.c: encode -> decode round trips for U8/U16 gray/RGB (bit-exact, strides larger
 * than the row, odd widths, sBIT kept) and F32 (clamped to [0,1], round(x*255), NaN -> 0),
 * size queries and buffer sizing, deterministic output, save_png into a temp dir (atomic
 * replacement, no temp file left) and a save into a missing directory. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "png_test_util.h"
#include "test_util.h"

static int round_trips;
static size_t samples_checked;

/* Encodes `view`, decodes the result and compares it with `want` (packed rows). */
static void round_trip(const afloc_image_view *view, const void *want, int want_type, int want_sbit,
                       const char *what) {
    size_t size = 0;
    CHECK_STATUS(afloc_image_encode_png(view, NULL, 0, &size), AFLOC_OK);
    unsigned char *png = malloc(size);
    size_t written = 0;
    CHECK_STATUS(afloc_image_encode_png(view, png, size, &written), AFLOC_OK);
    CHECK(written == size);
    /* Deterministic: the same view gives the same bytes. */
    unsigned char *again = malloc(size);
    size_t written2 = 0;
    CHECK_STATUS(afloc_image_encode_png(view, again, size, &written2), AFLOC_OK);
    CHECK(written2 == size && memcmp(png, again, size) == 0);
    free(again);
    afloc_image *image = NULL;
    CHECK_STATUS(afloc_image_decode_png(png, size, NULL, &image), AFLOC_OK);
    if (image) {
        afloc_image_view out;
        memset(&out, 0, sizeof out);
        out.struct_size = sizeof out;
        CHECK_STATUS(afloc_image_get_view(image, &out), AFLOC_OK);
        size_t sample_bytes = want_type == AFLOC_PIXEL_U16 ? 2 : 1;
        size_t row = (size_t)view->width * (size_t)view->channels * sample_bytes;
        int same = out.width == view->width && out.height == view->height &&
                   out.channels == view->channels && out.pixel_type == want_type &&
                   out.significant_bits == want_sbit && out.row_stride == row &&
                   memcmp(out.pixels, want, row * (size_t)view->height) == 0;
        if (!same) {
            fprintf(stderr, "%s: round trip differs (type %d sbit %d)\n", what, (int)out.pixel_type,
                    (int)out.significant_bits);
            test_failures++;
        }
        samples_checked += (size_t)view->width * (size_t)view->channels * (size_t)view->height;
        round_trips++;
    }
    afloc_image_free(image);
    free(png);
}

/* A view over `packed` rows copied into a buffer with `pad` extra garbage bytes per row. */
static void *with_stride(const void *packed, size_t row, int height, size_t pad) {
    unsigned char *p = malloc((row + pad) * (size_t)height + 1);
    for (int y = 0; y < height; y++) {
        memcpy(p + 1 + (size_t)y * (row + pad), (const unsigned char *)packed + (size_t)y * row, row);
        memset(p + 1 + (size_t)y * (row + pad) + row, 0xCD, pad);
    }
    return p; /* pixels start at p + 1: deliberately unaligned */
}

static void integer_round_trips(void) {
    enum { W = 13, H = 7 };
    static uint8_t g8[W * H], c8[W * H * 3];
    static uint16_t g16[W * H], c16[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        g8[i] = (uint8_t)(i * 7);
        g16[i] = (uint16_t)(i * 719u + (i == 0 ? 0xFFFFu : 0u));
    }
    for (int i = 0; i < W * H * 3; i++) {
        c8[i] = (uint8_t)(255 - i);
        c16[i] = (uint16_t)(i * 4099u);
    }
    struct { int type, channels; const void *data; const char *name; } cases[] = {
        {AFLOC_PIXEL_U8, 1, g8, "U8 gray"}, {AFLOC_PIXEL_U8, 3, c8, "U8 RGB"},
        {AFLOC_PIXEL_U16, 1, g16, "U16 gray"}, {AFLOC_PIXEL_U16, 3, c16, "U16 RGB"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t row = (size_t)W * (size_t)cases[i].channels * (cases[i].type == AFLOC_PIXEL_U16 ? 2 : 1);
        afloc_image_view view = {sizeof view, cases[i].type, cases[i].channels, W, H, row,
                                 cases[i].data, 0};
        round_trip(&view, cases[i].data, cases[i].type, 0, cases[i].name);
        for (size_t pad = 1; pad <= 9; pad += 4) {
            unsigned char *strided = with_stride(cases[i].data, row, H, pad);
            view.row_stride = row + pad;
            view.pixels = strided + 1;
            round_trip(&view, cases[i].data, cases[i].type, 0, cases[i].name);
            free(strided);
        }
    }
    /* 12-bit data in a U16 view: sBIT is written and read back. */
    static uint16_t g12[W * H];
    for (int i = 0; i < W * H; i++) g12[i] = (uint16_t)((i * 53) & 0x0FFF);
    afloc_image_view v12 = {sizeof v12, AFLOC_PIXEL_U16, 1, W, H, W * 2, g12, 12};
    round_trip(&v12, g12, AFLOC_PIXEL_U16, 12, "U16 12-bit");
    /* significant_bits 12 declared but a sample above 4095: read back as full 16-bit. */
    g12[5] = 0x8000;
    round_trip(&v12, g12, AFLOC_PIXEL_U16, 0, "U16 12-bit declared, 16-bit data");
}

static void float_round_trips(void) {
    enum { W = 5, H = 3 };
    float gray[W * H] = {0.0f, 1.0f, 0.5f, -1.0f, 2.0f, NAN, INFINITY, -INFINITY, 0.25f, 0.999f,
                         0.001f, 1.0f / 255.0f, 0.5f / 255.0f, 0.49f / 255.0f, 0.75f};
    uint8_t want[W * H];
    for (int i = 0; i < W * H; i++) {
        float x = gray[i];
        want[i] = !(x > 0.0f) ? 0 : x >= 1.0f ? 255 : (uint8_t)floorf(x * 255.0f + 0.5f);
    }
    CHECK(want[2] == 128 && want[5] == 0 && want[6] == 255 && want[12] == 1 && want[13] == 0);
    afloc_image_view view = {sizeof view, AFLOC_PIXEL_F32, 1, W, H, W * 4, gray, 0};
    round_trip(&view, want, AFLOC_PIXEL_U8, 0, "F32 gray");
    float *strided = with_stride(gray, W * 4, H, 3);
    view.pixels = (unsigned char *)strided + 1;
    view.row_stride = W * 4 + 3;
    round_trip(&view, want, AFLOC_PIXEL_U8, 0, "F32 gray, unaligned stride");
    free(strided);
    float rgb[2 * 2 * 3];
    uint8_t want_rgb[2 * 2 * 3];
    for (int i = 0; i < 12; i++) {
        rgb[i] = (float)i / 11.0f;
        want_rgb[i] = (uint8_t)floorf(rgb[i] * 255.0f + 0.5f);
    }
    afloc_image_view vrgb = {sizeof vrgb, AFLOC_PIXEL_F32, 3, 2, 2, 2 * 12, rgb, 0};
    round_trip(&vrgb, want_rgb, AFLOC_PIXEL_U8, 0, "F32 RGB");
}

static void buffer_sizing(void) {
    uint8_t pixels[4 * 4] = {1, 2, 3};
    afloc_image_view view = {sizeof view, AFLOC_PIXEL_U8, 1, 4, 4, 4, pixels, 0};
    size_t need = 0;
    CHECK_STATUS(afloc_image_encode_png(&view, NULL, 0, &need), AFLOC_OK);
    CHECK(need > 8);
    unsigned char *buffer = malloc(need);
    memset(buffer, 0xEE, need);
    size_t got = 0;
    CHECK_STATUS(afloc_image_encode_png(&view, buffer, need - 1, &got), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK(got == need);
    CHECK(buffer[0] == 0xEE && buffer[need - 2] == 0xEE); /* untouched */
    CHECK_STATUS(afloc_image_encode_png(&view, buffer, need, &got), AFLOC_OK);
    CHECK(got == need && buffer[1] == 'P');
    CHECK_STATUS(afloc_image_encode_png(&view, buffer, 0, &got), AFLOC_ERR_BUFFER_TOO_SMALL);
    free(buffer);
}

static void save_and_load(void) {
    char dir[] = "/tmp/afloc_png_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/heatmap.png", dir);
    uint16_t pixels[3 * 2 * 3];
    for (int i = 0; i < 18; i++) pixels[i] = (uint16_t)(i * 3001u);
    afloc_image_view view = {sizeof view, AFLOC_PIXEL_U16, 3, 3, 2, 18, pixels, 0};
    CHECK_STATUS(afloc_image_save_png(&view, path), AFLOC_OK);
    pixels[0] = 77; /* overwrite the file: atomic replacement of an existing file */
    CHECK_STATUS(afloc_image_save_png(&view, path), AFLOC_OK);
    afloc_image *image = NULL;
    CHECK_STATUS(afloc_image_load_png(path, NULL, &image), AFLOC_OK);
    if (image) {
        afloc_image_view out;
        memset(&out, 0, sizeof out);
        out.struct_size = sizeof out;
        afloc_image_get_view(image, &out);
        CHECK(out.pixel_type == AFLOC_PIXEL_U16 && memcmp(out.pixels, pixels, sizeof pixels) == 0);
    }
    afloc_image_free(image);
    /* Exactly one file left in the directory: no temp file. */
    int entries = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') entries++;
    if (d) closedir(d);
    CHECK(entries == 1);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.png", dir);
    CHECK_STATUS(afloc_image_save_png(&view, missing), AFLOC_ERR_IO);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    integer_round_trips();
    float_round_trips();
    buffer_sizing();
    save_and_load();
    printf("png_encode: %d encode->decode round trips, %zu samples compared bit-exactly "
           "(F32: round(clamp(x,0,1)*255), NaN->0)\n", round_trips, samples_checked);
    return test_finish("png_encode");
}
