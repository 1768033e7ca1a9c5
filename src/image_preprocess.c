/* image_preprocess.c: the official AFLoc image preprocessing (MODEL.md §2.2-2.3): gray, letterbox
 * to s with OpenCV INTER_AREA (resize_area.c), torchvision CenterCrop, Normalize; and the inverse
 * geometry that carries a model-frame map back to the original pixel grid (§2.6).
 *
 * Layout: images row-major, one channel out (the model's three input channels are identical).
 * The reference is AFLoc's _resize_img (cv2.resize + np.pad), torchvision 0.9 CenterCrop (Python
 * round(), half to even), ToTensor (u8 / 255 in float32) and Normalize ((v - mean) / std in
 * float32); the float32 operations are done in the same order so U8 results match bit for bit. */
#include <math.h>
#include <string.h>

#include "afloc/afloc.h"
#include "alloc.h"
#include "error.h"
#include "image_view.h"
#include "options.h"
#include "resize_area.h"

#define MAX_LETTERBOX_SIZE 4096

static const afloc_preprocess_options default_options = {
    sizeof(afloc_preprocess_options), 224, 224, 0.5f, 0.5f,
};

afloc_status afloc_preprocess_options_default(afloc_preprocess_options *options) {
    return afloc_options_fill_defaults(options, &default_options, sizeof default_options,
                                       "afloc_preprocess_options_default");
}

/* ---- geometry ---- */

/* Python's round(d / 2) for an integer d >= 0: halves go to the even neighbour. */
static int32_t half_round_even(int32_t d) {
    int32_t q = d / 2;
    if (d % 2 == 1 && q % 2 == 1) q++;
    return q;
}

/* The letterbox plan of _resize_img: the long side becomes s (the taller branch also for square
 * images), the other is int(len * (s / long)) with that float evaluation order; 0 becomes 1. */
static void plan_letterbox(int32_t width, int32_t height, int32_t s, int32_t crop,
                           afloc_letterbox_geometry *g) {
    memset(g, 0, sizeof *g);
    g->struct_size = sizeof *g;
    g->source_width = width;
    g->source_height = height;
    if (height >= width) {
        g->resized_height = s;
        g->resized_width = (int32_t)((double)width * ((double)s / (double)height));
    } else {
        g->resized_width = s;
        g->resized_height = (int32_t)((double)height * ((double)s / (double)width));
    }
    if (g->resized_width < 1) g->resized_width = 1;
    if (g->resized_height < 1) g->resized_height = 1;
    g->pad_left = (s - g->resized_width) / 2;
    g->pad_top = (s - g->resized_height) / 2;
    g->image_size = s;
    g->crop_size = crop;
    g->crop_left = g->crop_top = half_round_even(s - crop);
}

/* Copies the fields of `g` that fit in the caller's struct_size. */
static void write_geometry(afloc_letterbox_geometry *caller, const afloc_letterbox_geometry *g) {
    if (!caller) return;
    size_t size = caller->struct_size;
    afloc_options_write(caller, size, g, sizeof *g);
    caller->struct_size = size;
}

static afloc_status check_geometry_out(const afloc_letterbox_geometry *g, const char *function) {
    if (g && g->struct_size < sizeof(size_t))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: geometry struct_size %zu too small (set it to sizeof)", function,
                          g->struct_size);
    return AFLOC_OK;
}

/* ---- gray conversion ---- */

/* A gray u8 copy of a 3-channel u8 view with OpenCV's fixed-point RGB->gray: 15-bit
 * coefficients 9798, 19235, 3735 (0.299, 0.587 and the rest of 2^15), rounded half up. This is
 * cv2.cvtColor(COLOR_RGB2GRAY) bit for bit, and also libpng's png_set_rgb_to_gray(0.299, 0.587),
 * which cv2.imread(path, 0) uses on RGB PNGs. (The older 14-bit 4899/9617/1868 differs.) */
static void rgb_to_gray_u8(const afloc_image_view *v, uint8_t *gray) {
    for (int32_t y = 0; y < v->height; y++) {
        const uint8_t *row = (const uint8_t *)v->pixels + (size_t)y * v->row_stride;
        uint8_t *g = gray + (size_t)y * (size_t)v->width;
        for (int32_t x = 0; x < v->width; x++) {
            const uint8_t *p = row + 3 * (size_t)x;
            g[x] = (uint8_t)((p[0] * 9798 + p[1] * 19235 + p[2] * 3735 + (1 << 14)) >> 15);
        }
    }
}

/* A gray float copy of a U16/F32 view (intensities via afloc_image_view_sample); fails on a
 * non-finite sample. */
static afloc_status view_to_gray_f32(const afloc_image_view *v, float *gray, const char *function) {
    for (int32_t y = 0; y < v->height; y++) {
        float *g = gray + (size_t)y * (size_t)v->width;
        for (int32_t x = 0; x < v->width; x++) {
            float value;
            if (v->channels == 1) {
                value = afloc_image_view_sample(v, x, y, 0);
            } else {
                float r = 0.299f * afloc_image_view_sample(v, x, y, 0);
                float gr = 0.587f * afloc_image_view_sample(v, x, y, 1);
                float b = 0.114f * afloc_image_view_sample(v, x, y, 2);
                value = r + gr + b;
            }
            if (!isfinite(value))
                return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                                  "%s: sample at (x=%d, y=%d) is not finite", function, (int)x,
                                  (int)y);
            g[x] = value;
        }
    }
    return AFLOC_OK;
}

/* ---- letterbox ---- */

/* Letterboxes a U8 view into `out` (s*s bytes, fully written) following plan `g`. */
static afloc_status letterbox_u8(const afloc_image_view *v, const afloc_letterbox_geometry *g,
                                 uint8_t *out, const char *function) {
    int32_t s = g->image_size;
    const uint8_t *src = (const uint8_t *)v->pixels;
    size_t stride = v->row_stride;
    uint8_t *gray = NULL;
    if (v->channels == 3) {
        gray = afloc_malloc((size_t)v->width * (size_t)v->height);
        if (!gray)
            return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for a %dx%d gray copy",
                              function, (int)v->width, (int)v->height);
        rgb_to_gray_u8(v, gray);
        src = gray;
        stride = (size_t)v->width;
    }
    uint8_t *content = out + (size_t)g->pad_top * (size_t)s + (size_t)g->pad_left;
    afloc_status status = afloc_resize_area_u8(content, (size_t)s, g->resized_width,
                                               g->resized_height, src, stride, v->width,
                                               v->height, 1, function);
    afloc_free(gray);
    if (status != AFLOC_OK) return status;
    /* Zero everything outside the content rectangle. */
    for (int32_t y = 0; y < s; y++) {
        uint8_t *row = out + (size_t)y * (size_t)s;
        if (y < g->pad_top || y >= g->pad_top + g->resized_height) {
            memset(row, 0, (size_t)s);
            continue;
        }
        memset(row, 0, (size_t)g->pad_left);
        memset(row + g->pad_left + g->resized_width, 0,
               (size_t)(s - g->pad_left - g->resized_width));
    }
    return AFLOC_OK;
}

/* Letterboxes a U16/F32 view into `out` (s*s floats, fully written) following plan `g`. */
static afloc_status letterbox_f32(const afloc_image_view *v, const afloc_letterbox_geometry *g,
                                  float *out, const char *function) {
    int32_t s = g->image_size;
    float *gray = afloc_malloc(sizeof(float) * (size_t)v->width * (size_t)v->height);
    if (!gray)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for a %dx%d gray copy",
                          function, (int)v->width, (int)v->height);
    afloc_status status = view_to_gray_f32(v, gray, function);
    if (status == AFLOC_OK) {
        for (size_t i = 0; i < (size_t)s * (size_t)s; i++) out[i] = 0.0f;
        float *content = out + (size_t)g->pad_top * (size_t)s + (size_t)g->pad_left;
        status = afloc_resize_area_f32(content, (size_t)s, g->resized_width, g->resized_height,
                                       gray, (size_t)v->width, v->width, v->height, function);
    }
    afloc_free(gray);
    return status;
}

afloc_status afloc_image_letterbox_u8(const afloc_image_view *image, int32_t size, uint8_t *out,
                                      size_t out_len, afloc_letterbox_geometry *geometry) {
    static const char *fn = "afloc_image_letterbox_u8";
    AFLOC_TRY(afloc_image_view_check(image, fn));
    if (image->pixel_type != AFLOC_PIXEL_U8)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: pixel_type %d is not AFLOC_PIXEL_U8", fn,
                          (int)image->pixel_type);
    if (size < 1 || size > MAX_LETTERBOX_SIZE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: size %d outside 1..%d", fn, (int)size,
                          MAX_LETTERBOX_SIZE);
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    size_t needed = (size_t)size * (size_t)size;
    if (out_len < needed)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: out_len %zu, needs %zu bytes", fn,
                          out_len, needed);
    AFLOC_TRY(check_geometry_out(geometry, fn));
    afloc_letterbox_geometry g;
    plan_letterbox(image->width, image->height, size, size, &g);
    AFLOC_TRY(letterbox_u8(image, &g, out, fn));
    write_geometry(geometry, &g);
    return AFLOC_OK;
}

/* ---- the whole preprocessing ---- */

static afloc_status check_options(const afloc_preprocess_options *o, const char *fn) {
    if (o->image_size < 1 || o->image_size > MAX_LETTERBOX_SIZE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: image_size %d outside 1..%d", fn,
                          (int)o->image_size, MAX_LETTERBOX_SIZE);
    if (o->crop_size < 1 || o->crop_size > o->image_size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: crop_size %d outside 1..image_size (%d)",
                          fn, (int)o->crop_size, (int)o->image_size);
    if (!isfinite(o->mean))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: mean %g is not finite", fn,
                          (double)o->mean);
    if (!isfinite(o->std) || !(o->std > 0.0f))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: std %g is not finite and > 0", fn,
                          (double)o->std);
    return AFLOC_OK;
}

afloc_status afloc_image_preprocess(const afloc_image_view *image,
                                    const afloc_preprocess_options *options, float *out,
                                    size_t out_len, afloc_letterbox_geometry *geometry) {
    static const char *fn = "afloc_image_preprocess";
    afloc_preprocess_options o;
    AFLOC_TRY(afloc_options_read(&o, sizeof o, options, &default_options, fn));
    AFLOC_TRY(afloc_image_view_check(image, fn));
    AFLOC_TRY(check_options(&o, fn));
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    int32_t s = o.image_size, c = o.crop_size;
    size_t needed = (size_t)c * (size_t)c;
    if (out_len < needed)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: out_len %zu, needs %zu floats", fn,
                          out_len, needed);
    AFLOC_TRY(check_geometry_out(geometry, fn));

    afloc_letterbox_geometry g;
    plan_letterbox(image->width, image->height, s, c, &g);
    int is_u8 = image->pixel_type == AFLOC_PIXEL_U8;
    void *frame = afloc_malloc((size_t)s * (size_t)s * (is_u8 ? 1 : sizeof(float)));
    if (!frame)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for a %dx%d letterbox", fn,
                          (int)s, (int)s);
    afloc_status status = is_u8 ? letterbox_u8(image, &g, frame, fn)
                                : letterbox_f32(image, &g, frame, fn);
    if (status != AFLOC_OK) {
        afloc_free(frame);
        return status;
    }
    /* CenterCrop, then ToTensor (u8 / 255) and Normalize, each a float32 operation. */
    for (int32_t y = 0; y < c; y++) {
        size_t row = (size_t)(y + g.crop_top) * (size_t)s + (size_t)g.crop_left;
        float *dst = out + (size_t)y * (size_t)c;
        for (int32_t x = 0; x < c; x++) {
            float v = is_u8 ? (float)((const uint8_t *)frame)[row + x] / 255.0f
                            : ((const float *)frame)[row + x];
            dst[x] = (v - o.mean) / o.std;
        }
    }
    afloc_free(frame);
    write_geometry(geometry, &g);
    return AFLOC_OK;
}

/* ---- model frame -> original pixels ---- */

static afloc_status check_geometry_in(const afloc_letterbox_geometry *g, const char *fn) {
    if (!g) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: geometry is NULL", fn);
    if (g->struct_size < sizeof *g)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: geometry struct_size %zu does not cover all fields (%zu)", fn,
                          g->struct_size, sizeof *g);
    int32_t s = g->image_size, c = g->crop_size;
    if (s < 1 || s > MAX_LETTERBOX_SIZE || c < 1 || c > s)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: geometry image_size %d / crop_size %d "
                          "out of range", fn, (int)s, (int)c);
    if (g->source_width < 1 || g->source_height < 1 || g->source_width > AFLOC_MAX_IMAGE_SIDE ||
        g->source_height > AFLOC_MAX_IMAGE_SIDE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: geometry source size %dx%d outside "
                          "1..%d", fn, (int)g->source_width, (int)g->source_height,
                          AFLOC_MAX_IMAGE_SIDE);
    if (g->resized_width < 1 || g->resized_width > s || g->resized_height < 1 ||
        g->resized_height > s || g->pad_left < 0 || g->pad_left > s - g->resized_width ||
        g->pad_top < 0 || g->pad_top > s - g->resized_height)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: geometry content %dx%d at (%d, %d) does "
                          "not fit the %d letterbox", fn, (int)g->resized_width,
                          (int)g->resized_height, (int)g->pad_left, (int)g->pad_top, (int)s);
    if (g->crop_left < 0 || g->crop_left > s - c || g->crop_top < 0 || g->crop_top > s - c)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: geometry crop %d at (%d, %d) does not "
                          "fit the %d letterbox", fn, (int)c, (int)g->crop_left, (int)g->crop_top,
                          (int)s);
    return AFLOC_OK;
}

/* One axis of the back-mapping: the bilinear taps in crop coordinates for original index i. */
typedef struct axis_map {
    double  factor; /* resized / source     */
    double  offset; /* pad - crop           */
    double  lo, hi; /* clamp range in crop coordinates */
} axis_map;

static axis_map make_axis_map(int32_t source, int32_t resized, int32_t pad, int32_t crop_start,
                              int32_t crop) {
    axis_map m;
    m.factor = (double)resized / (double)source;
    m.offset = (double)(pad - crop_start);
    int32_t lo = pad - crop_start, hi = pad + resized - 1 - crop_start;
    if (lo < 0) lo = 0;
    if (hi > crop - 1) hi = crop - 1;
    if (lo > hi) { /* content misses the crop: use the crop row/column nearest to it */
        int32_t nearest = pad - crop_start < 0 ? 0 : crop - 1;
        lo = hi = nearest;
    }
    m.lo = lo;
    m.hi = hi;
    return m;
}

static void axis_taps(const axis_map *m, int32_t i, int32_t *i0, int32_t *i1, float *frac) {
    double u = ((double)i + 0.5) * m->factor - 0.5 + m->offset;
    if (u < m->lo) u = m->lo;
    if (u > m->hi) u = m->hi;
    double f = floor(u);
    *i0 = (int32_t)f;
    *i1 = *i0 + 1 <= (int32_t)m->hi ? *i0 + 1 : *i0;
    *frac = (float)(u - f);
}

afloc_status afloc_heatmap_to_original(const afloc_letterbox_geometry *geometry, const float *map,
                                       size_t map_len, float *out, size_t out_len) {
    static const char *fn = "afloc_heatmap_to_original";
    AFLOC_TRY(check_geometry_in(geometry, fn));
    const afloc_letterbox_geometry *g = geometry;
    int32_t c = g->crop_size;
    if (!map || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, map ? "out" : "map");
    if (map_len < (size_t)c * (size_t)c)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: map_len %zu, needs %zu floats", fn,
                          map_len, (size_t)c * (size_t)c);
    size_t needed = (size_t)g->source_width * (size_t)g->source_height;
    if (out_len < needed)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: out_len %zu, needs %zu floats", fn,
                          out_len, needed);
    axis_map mx = make_axis_map(g->source_width, g->resized_width, g->pad_left, g->crop_left, c);
    axis_map my = make_axis_map(g->source_height, g->resized_height, g->pad_top, g->crop_top, c);
    for (int32_t y = 0; y < g->source_height; y++) {
        int32_t y0, y1;
        float fy;
        axis_taps(&my, y, &y0, &y1, &fy);
        const float *r0 = map + (size_t)y0 * (size_t)c;
        const float *r1 = map + (size_t)y1 * (size_t)c;
        float *dst = out + (size_t)y * (size_t)g->source_width;
        for (int32_t x = 0; x < g->source_width; x++) {
            int32_t x0, x1;
            float fx;
            axis_taps(&mx, x, &x0, &x1, &fx);
            float top = r0[x0] + fx * (r0[x1] - r0[x0]);
            float bottom = r1[x0] + fx * (r1[x1] - r1[x0]);
            dst[x] = top + fy * (bottom - top);
        }
    }
    return AFLOC_OK;
}
