/* test_preprocess_api.c: the preprocessing API without an oracle: normalisation values, the
 * letterbox geometry (truncation, floor/ceil padding, the 0 -> 1 rule), torchvision center-crop
 * offsets (round half to even), heatmap back-mapping (§2.6) on linear maps, U16 == F32 on the
 * same intensities, row strides, old options struct sizes, misuse errors (out untouched) and
 * injected allocation failures.
 * Tolerances: normalisation is exact (same float32 operations as torch); the back-mapping of a
 * linear map is within 1e-4 (float bilinear weights on values of magnitude <= 10). */
#include <math.h>
#include <stdint.h>

#include "alloc.h"
#include "test_util.h"

static afloc_image_view u8_view(const uint8_t *p, int32_t w, int32_t h, int32_t ch) {
    afloc_image_view v = {sizeof v, AFLOC_PIXEL_U8, ch, w, h, (size_t)w * (size_t)ch, p, 0};
    return v;
}

static afloc_letterbox_geometry empty_geometry(void) {
    afloc_letterbox_geometry g;
    memset(&g, 0, sizeof g);
    g.struct_size = sizeof g;
    return g;
}

static uint32_t lcg = 12345u;
static uint8_t rnd8(void) {
    lcg = lcg * 1664525u + 1013904223u;
    return (uint8_t)(lcg >> 24);
}

/* A 224x224 u8 image is letterboxed to itself, so the output is the normalisation alone. */
static void test_normalisation(void) {
    enum { S = 224 };
    static uint8_t img[S * S];
    static float out[S * S];
    for (int i = 0; i < S * S; i++) img[i] = (uint8_t)(i % 256);
    afloc_image_view v = u8_view(img, S, S, 1);
    CHECK_STATUS(afloc_image_preprocess(&v, NULL, out, S * S, NULL), AFLOC_OK);
    int exact = 1;
    for (int i = 0; i < S * S; i++)
        if (out[i] != ((float)img[i] / 255.0f - 0.5f) / 0.5f) exact = 0;
    CHECK(exact);
    CHECK(out[0] == -1.0f);     /* img 0   */
    CHECK(out[255] == 1.0f);    /* img 255 */
    CHECK(fabsf(out[128] - (128.0f / 127.5f - 1.0f)) < 1e-6f);

    afloc_preprocess_options o = {sizeof o, 0, 0, 0, 0};
    CHECK_STATUS(afloc_preprocess_options_default(&o), AFLOC_OK);
    CHECK(o.image_size == 224 && o.crop_size == 224 && o.mean == 0.5f && o.std == 0.5f);
    o.mean = 0.25f;
    o.std = 2.0f;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, S * S, NULL), AFLOC_OK);
    CHECK(out[255] == (1.0f - 0.25f) / 2.0f);
    CHECK(out[0] == -0.125f);
}

static void test_geometry(void) {
    static uint8_t img[1000 * 1000];
    static uint8_t lb[256 * 256];
    struct { int32_t w, h, s, rw, rh, pl, pt; } cases[] = {
        {1000, 500, 224, 224, 112, 0, 56},   /* wider: short side 500 * (224/1000) = 112 */
        {333, 1000, 224, 74, 224, 75, 0},    /* 333 * 0.224 = 74.59 truncates; pad 150 -> 75/75 */
        {1, 1000, 224, 1, 224, 111, 0},      /* 0.224 truncates to 0; libafloc uses 1 */
        {100, 100, 224, 224, 224, 0, 0},     /* square: the taller branch */
        {7, 3, 224, 224, 96, 0, 64},         /* enlarging: 3 * (224/7) = 96 */
        {71, 284, 224, 55, 224, 84, 0},      /* 71*(224/284) = 55.99999 in double: 55, not 56;
                                                pad 169 -> 84 before, 85 after */
        {300, 301, 256, 255, 256, 0, 0},     /* 300*(256/301)=255.1 -> 255; pad 1 -> 0/1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        afloc_image_view v = u8_view(img, cases[i].w, cases[i].h, 1);
        afloc_letterbox_geometry g = empty_geometry();
        size_t n = (size_t)cases[i].s * (size_t)cases[i].s;
        CHECK_STATUS(afloc_image_letterbox_u8(&v, cases[i].s, lb, n, &g), AFLOC_OK);
        CHECK(g.source_width == cases[i].w && g.source_height == cases[i].h);
        CHECK(g.resized_width == cases[i].rw && g.resized_height == cases[i].rh);
        CHECK(g.pad_left == cases[i].pl && g.pad_top == cases[i].pt);
        CHECK(g.image_size == cases[i].s && g.crop_size == cases[i].s);
        CHECK(g.crop_left == 0 && g.crop_top == 0);
        if (g.resized_width != cases[i].rw || g.resized_height != cases[i].rh)
            fprintf(stderr, "  case %zu: got %dx%d\n", i, (int)g.resized_width,
                    (int)g.resized_height);
    }
    /* An old geometry struct (only up to source_height) gets only those fields. */
    afloc_letterbox_geometry g;
    memset(&g, 0x7f, sizeof g);
    g.struct_size = offsetof(afloc_letterbox_geometry, resized_width);
    afloc_image_view v = u8_view(img, 10, 20, 1);
    CHECK_STATUS(afloc_image_letterbox_u8(&v, 224, lb, 224 * 224, &g), AFLOC_OK);
    CHECK(g.source_width == 10 && g.source_height == 20);
    CHECK(g.resized_width == 0x7f7f7f7f);
}

/* torchvision CenterCrop: top = round((s - crop) / 2) with Python's half-to-even round. */
static void test_center_crop(void) {
    static uint8_t img[600 * 400];
    static uint8_t lb[260 * 260];
    static float out[224 * 224];
    for (size_t i = 0; i < sizeof img; i++) img[i] = rnd8();
    struct { int32_t s, offset; } cases[] = {{256, 16}, {224, 0}, {225, 0}, {227, 2}, {229, 2},
                                             {231, 4}, {226, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t s = cases[i].s;
        afloc_image_view v = u8_view(img, 600, 400, 1);
        afloc_preprocess_options o = {sizeof o, s, 224, 0.5f, 0.5f};
        afloc_letterbox_geometry g = empty_geometry();
        CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, &g), AFLOC_OK);
        CHECK(g.crop_left == cases[i].offset && g.crop_top == cases[i].offset);
        CHECK(g.crop_size == 224 && g.image_size == s);
        CHECK_STATUS(afloc_image_letterbox_u8(&v, s, lb, (size_t)s * (size_t)s, NULL), AFLOC_OK);
        int same = 1;
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++) {
                uint8_t u = lb[(size_t)(y + g.crop_top) * (size_t)s + (size_t)(x + g.crop_left)];
                if (out[y * 224 + x] != ((float)u / 255.0f - 0.5f) / 0.5f) same = 0;
            }
        CHECK(same);
    }
}

/* A map linear in model-frame coordinates must come back as the same linear function of the
 * original coordinates (clamped to the content inside the crop); NaN padding must never leak. */
static void check_backmap(int32_t w, int32_t h, int32_t s, int32_t crop) {
    static uint8_t pix[2000 * 2000]; /* only the geometry of the call is used */
    afloc_image_view v = u8_view(pix, w, h, 1);
    static float model_in[512 * 512];
    afloc_preprocess_options o = {sizeof o, s, crop, 0.5f, 0.5f};
    afloc_letterbox_geometry g = empty_geometry();
    CHECK_STATUS(afloc_image_preprocess(&v, &o, model_in, (size_t)crop * (size_t)crop, &g),
                 AFLOC_OK);
    const double a = 0.3, bu = 0.01, bv = -0.02;
    int32_t ulo = g.pad_left - g.crop_left, uhi = ulo + g.resized_width - 1;
    int32_t vlo = g.pad_top - g.crop_top, vhi = vlo + g.resized_height - 1;
    static float map[512 * 512];
    for (int32_t y = 0; y < crop; y++)
        for (int32_t x = 0; x < crop; x++) {
            int inside = x >= ulo && x <= uhi && y >= vlo && y <= vhi;
            map[y * crop + x] = inside ? (float)(a + bu * x + bv * y) : NAN;
        }
    if (ulo < 0) ulo = 0;
    if (uhi > crop - 1) uhi = crop - 1;
    if (vlo < 0) vlo = 0;
    if (vhi > crop - 1) vhi = crop - 1;
    size_t n = (size_t)w * (size_t)h;
    float *out = malloc(n * sizeof *out);
    CHECK_STATUS(afloc_heatmap_to_original(&g, map, (size_t)crop * (size_t)crop, out, n),
                 AFLOC_OK);
    double worst = 0.0;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            double u = (x + 0.5) * g.resized_width / w - 0.5 + g.pad_left - g.crop_left;
            double vv = (y + 0.5) * g.resized_height / h - 0.5 + g.pad_top - g.crop_top;
            u = u < ulo ? ulo : u > uhi ? uhi : u;
            vv = vv < vlo ? vlo : vv > vhi ? vhi : vv;
            double want = a + bu * u + bv * vv;
            double d = fabs(out[(size_t)y * w + x] - want);
            if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
        }
    printf("  backmap %dx%d s=%d crop=%d: max |err| %.2e (limit 1e-4)\n", (int)w, (int)h, (int)s,
           (int)crop, worst);
    CHECK(worst <= 1e-4);
    free(out);
}

static void test_backmap(void) {
    check_backmap(700, 300, 224, 224);   /* wide: vertical padding */
    check_backmap(300, 700, 224, 224);   /* tall: horizontal padding */
    check_backmap(700, 300, 256, 224);   /* crop cuts into the content */
    check_backmap(50, 80, 224, 224);     /* enlarging */
    check_backmap(1, 1000, 224, 224);    /* one column of content */
    check_backmap(1999, 1999, 224, 224); /* no padding */
}

/* U16 with 12 significant bits and F32 holding the same intensities give identical outputs;
 * a padded row stride changes nothing. */
static void test_u16_f32_stride(void) {
    enum { W = 317, H = 451, PAD = 5 };
    static uint16_t u16[H * (W + PAD)];
    static float f32[H * W];
    static float out_a[224 * 224], out_b[224 * 224];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint16_t s = (uint16_t)(((unsigned)rnd8() << 4 | rnd8() >> 4) & 4095);
            u16[y * (W + PAD) + x] = s;
            f32[y * W + x] = (float)s / 4095.0f;
        }
    afloc_image_view a = {sizeof a, AFLOC_PIXEL_U16, 1, W, H, (W + PAD) * 2, u16, 12};
    afloc_image_view b = {sizeof b, AFLOC_PIXEL_F32, 1, W, H, W * 4, f32, 0};
    CHECK_STATUS(afloc_image_preprocess(&a, NULL, out_a, 224 * 224, NULL), AFLOC_OK);
    CHECK_STATUS(afloc_image_preprocess(&b, NULL, out_b, 224 * 224, NULL), AFLOC_OK);
    CHECK(memcmp(out_a, out_b, sizeof out_a) == 0);

    static uint8_t packed[H * W], padded[H * (W + PAD)];
    static uint8_t lb_a[224 * 224], lb_b[224 * 224];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) packed[y * W + x] = padded[y * (W + PAD) + x] = rnd8();
    afloc_image_view p = u8_view(packed, W, H, 1), q = u8_view(padded, W, H, 1);
    q.row_stride = W + PAD;
    CHECK_STATUS(afloc_image_letterbox_u8(&p, 224, lb_a, sizeof lb_a, NULL), AFLOC_OK);
    CHECK_STATUS(afloc_image_letterbox_u8(&q, 224, lb_b, sizeof lb_b, NULL), AFLOC_OK);
    CHECK(memcmp(lb_a, lb_b, sizeof lb_a) == 0);
}

static int all_equal(const float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&p[i], &v, sizeof v) != 0) return 0;
    return 1;
}

static void test_misuse(void) {
    static uint8_t img[64 * 48];
    static float out[224 * 224];
    static uint8_t lb[224 * 224];
    const float sentinel = 42.0f;
    for (size_t i = 0; i < 224 * 224; i++) out[i] = sentinel;
    afloc_image_view v = u8_view(img, 64, 48, 1);
    afloc_preprocess_options o = {sizeof o, 224, 224, 0.5f, 0.5f};

    CHECK_STATUS(afloc_image_preprocess(NULL, NULL, out, 224 * 224, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_preprocess(&v, NULL, NULL, 224 * 224, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_preprocess(&v, NULL, out, 224 * 224 - 1, NULL),
                 AFLOC_ERR_BUFFER_TOO_SMALL);
    o.crop_size = 225;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.crop_size = 0;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.crop_size = 224;
    o.image_size = 4097;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.image_size = 0;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.image_size = 224;
    o.std = 0.0f;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.std = -1.0f;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.std = NAN;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.std = 0.5f;
    o.mean = INFINITY;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    o.mean = 0.5f;
    o.struct_size = 0;
    CHECK_STATUS(afloc_image_preprocess(&v, &o, out, 224 * 224, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_preprocess_options_default(NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_preprocess_options_default(&o), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_letterbox_geometry bad_g = empty_geometry();
    bad_g.struct_size = 0;
    CHECK_STATUS(afloc_image_preprocess(&v, NULL, out, 224 * 224, &bad_g),
                 AFLOC_ERR_INVALID_ARGUMENT);
    afloc_image_view bad = v;
    bad.width = 0;
    CHECK_STATUS(afloc_image_preprocess(&bad, NULL, out, 224 * 224, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    bad = v;
    bad.channels = 2;
    CHECK_STATUS(afloc_image_preprocess(&bad, NULL, out, 224 * 224, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    static float nan_img[4 * 4];
    nan_img[5] = NAN;
    afloc_image_view fv = {sizeof fv, AFLOC_PIXEL_F32, 1, 4, 4, 16, nan_img, 0};
    CHECK_STATUS(afloc_image_preprocess(&fv, NULL, out, 224 * 224, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(all_equal(out, 224 * 224, sentinel));

    /* An old options struct (struct_size up to image_size) gets defaults for the rest. */
    afloc_preprocess_options old;
    memset(&old, 0xff, sizeof old); /* garbage beyond the old size: std would be NaN */
    old.struct_size = offsetof(afloc_preprocess_options, crop_size);
    old.image_size = 224;
    CHECK_STATUS(afloc_image_preprocess(&v, &old, out, 224 * 224, NULL), AFLOC_OK);

    /* letterbox_u8 */
    memset(lb, 0xAB, sizeof lb);
    CHECK_STATUS(afloc_image_letterbox_u8(&v, 0, lb, sizeof lb, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_letterbox_u8(&v, 4097, lb, sizeof lb, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_letterbox_u8(&v, 224, NULL, sizeof lb, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_letterbox_u8(&v, 224, lb, sizeof lb - 1, NULL),
                 AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(afloc_image_letterbox_u8(&fv, 224, lb, sizeof lb, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_image_letterbox_u8(NULL, 224, lb, sizeof lb, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT);
    int untouched = 1;
    for (size_t i = 0; i < sizeof lb; i++)
        if (lb[i] != 0xAB) untouched = 0;
    CHECK(untouched);

    /* heatmap_to_original */
    afloc_letterbox_geometry g = empty_geometry();
    CHECK_STATUS(afloc_image_letterbox_u8(&v, 224, lb, sizeof lb, &g), AFLOC_OK);
    static float map[224 * 224], back[64 * 48];
    for (size_t i = 0; i < 64 * 48; i++) back[i] = sentinel;
    CHECK_STATUS(afloc_heatmap_to_original(NULL, map, 224 * 224, back, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_heatmap_to_original(&g, NULL, 224 * 224, back, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_heatmap_to_original(&g, map, 224 * 224, NULL, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_heatmap_to_original(&g, map, 224 * 224 - 1, back, 64 * 48),
                 AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(afloc_heatmap_to_original(&g, map, 224 * 224, back, 64 * 48 - 1),
                 AFLOC_ERR_BUFFER_TOO_SMALL);
    afloc_letterbox_geometry h = g;
    h.struct_size = offsetof(afloc_letterbox_geometry, crop_size);
    CHECK_STATUS(afloc_heatmap_to_original(&h, map, 224 * 224, back, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    h = g;
    h.pad_left = 224 - g.resized_width + 1; /* content would leave the letterbox */
    CHECK_STATUS(afloc_heatmap_to_original(&h, map, 224 * 224, back, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    h = g;
    h.crop_size = 225;
    CHECK_STATUS(afloc_heatmap_to_original(&h, map, 224 * 224, back, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    h = g;
    h.crop_left = 1; /* a 224 crop at 1 leaves a 224 letterbox */
    CHECK_STATUS(afloc_heatmap_to_original(&h, map, 224 * 224, back, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    h = g;
    h.source_width = 0;
    CHECK_STATUS(afloc_heatmap_to_original(&h, map, 224 * 224, back, 64 * 48),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(all_equal(back, 64 * 48, sentinel));
}

/* Every allocation of a call fails in turn: AFLOC_ERR_OUT_OF_MEMORY, output untouched; then the
 * call succeeds. Covers the u8 RGB, the U16 float and the enlarging paths. */
static void test_alloc_failures(void) {
    static uint8_t rgb[90 * 70 * 3];
    static uint16_t u16[90 * 70];
    static float out[224 * 224];
    static uint8_t lb[224 * 224];
    afloc_image_view views[3] = {
        {sizeof(afloc_image_view), AFLOC_PIXEL_U8, 3, 90, 70, 270, rgb, 0},
        {sizeof(afloc_image_view), AFLOC_PIXEL_U16, 1, 90, 70, 180, u16, 12},
        {sizeof(afloc_image_view), AFLOC_PIXEL_U8, 3, 700, 9, 2100, NULL, 0},
    };
    static uint8_t big[700 * 9 * 3];
    views[2].pixels = big;
    int checked = 0;
    for (int which = 0; which < 3; which++) {
        for (long k = 0; k < 20; k++) {
            for (size_t i = 0; i < 224 * 224; i++) out[i] = 42.0f;
            afloc_test_inject_alloc_failure(k);
            afloc_status s = afloc_image_preprocess(&views[which], NULL, out, 224 * 224, NULL);
            afloc_test_inject_alloc_failure(-1);
            if (s == AFLOC_OK) break;
            CHECK_STATUS(s, AFLOC_ERR_OUT_OF_MEMORY);
            CHECK(all_equal(out, 224 * 224, 42.0f));
            checked++;
        }
        if (views[which].pixel_type == AFLOC_PIXEL_U8) {
            for (long k = 0; k < 20; k++) {
                memset(lb, 0xCD, sizeof lb);
                afloc_test_inject_alloc_failure(k);
                afloc_status s = afloc_image_letterbox_u8(&views[which], 224, lb, sizeof lb, NULL);
                afloc_test_inject_alloc_failure(-1);
                if (s == AFLOC_OK) break;
                CHECK_STATUS(s, AFLOC_ERR_OUT_OF_MEMORY);
                int untouched = 1;
                for (size_t i = 0; i < sizeof lb; i++)
                    if (lb[i] != 0xCD) untouched = 0;
                CHECK(untouched);
                checked++;
            }
        }
    }
    printf("  injected allocation failures checked: %d\n", checked);
    CHECK(checked >= 6);
}

int main(void) {
    test_normalisation();
    test_geometry();
    test_center_crop();
    test_backmap();
    test_u16_f32_stride();
    test_misuse();
    test_alloc_failures();
    return test_finish("preprocess_api");
}
