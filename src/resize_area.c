/* resize_area.c: OpenCV 4.6 INTER_AREA resampling (cv::resize with interpolation=INTER_AREA),
 * re-derived from MODEL.md §2.5, for u8 (1 or 3 interleaved channels) and f32 (1 channel).
 *
 * Per axis, inv = dst/src and scale = 1/inv, both in double and computed in exactly that order,
 * because OpenCV's choices (integer factor or not, floor() of d*scale) depend on the last bit.
 *
 *  - Both scales >= 1 and both within DBL_EPSILON of integers kx, ky ("fast area"): block means.
 *    u8 rounds (sum + 2) >> 2 when kx = ky = 2, otherwise cvRound((float)sum * (1.f/(kx*ky))),
 *    i.e. half to even.
 *  - Both scales >= 1 otherwise ("general area"): destination d covers source [d*scale,
 *    d*scale + scale); each source sample gets the float weight of its overlap divided by the cell
 *    width. Rows are filtered horizontally into a float buffer, then combined vertically into a
 *    float sum, in OpenCV's order (this matters for the last bit before rounding).
 *  - Any scale < 1 ("area-style linear"), on both axes: sx = floor(d*scale),
 *    fx = (d+1) - (sx+1)*inv, fx = 0 if fx <= 0 else frac(fx); weights (1-fx, fx) on (sx, sx+1),
 *    clamped at the last sample. u8 uses OpenCV's 11-bit coefficients per axis; the horizontal
 *    pass is exact (value x 2048), the vertical pass reproduces OpenCV's vector arithmetic, which
 *    drops low bits: ((r0 >> 4) * b0 >> 16) + ((r1 >> 4) * b1 >> 16), then (+2) >> 2. (The exact
 *    (r0*b0 + r1*b1 + 2^21) >> 22 differs from OpenCV by one grey level on ~0.8% of pixels; with
 *    the vector formula on every pixel, OpenCV 4.6 (Debian, SSE2 baseline) was matched exactly on
 *    all test images, including row tails, which its build evidently also runs through vectors.)
 *
 * The float path uses the same weights (the general-area tables also for integer factors, which
 * gives the same block mean) and never rounds. Accumulations are written one product per statement
 * so a compiler cannot fuse them into FMAs, which would change the last bit on some targets. */
#include "resize_area.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

/* OpenCV's INTER_RESIZE_COEF_BITS: linear weights are 11-bit fixed point. */
#define COEF_BITS 11
#define COEF_ONE (1 << COEF_BITS)

typedef struct area_tap {
    int32_t src;   /* source index on this axis          */
    int32_t dst;   /* destination index on this axis     */
    float   alpha; /* weight: overlap / cell width       */
} area_tap;

typedef struct linear_tap {
    int32_t src0, src1; /* the two source indices (src1 clamped to the last sample) */
    float   w0, w1;     /* float weights 1 - f and f                                 */
    int32_t q0, q1;     /* the same weights in 11-bit fixed point, rounded separately */
} linear_tap;

typedef struct axis_plan {
    double  inv;   /* dst / src */
    double  scale; /* 1 / inv   */
    int32_t whole; /* scale rounded to the nearest integer */
    int     is_integer;
} axis_plan;

static axis_plan plan_axis(int32_t src_n, int32_t dst_n) {
    axis_plan p;
    p.inv = (double)dst_n / (double)src_n;
    p.scale = 1.0 / p.inv;
    p.whole = (int32_t)lrint(p.scale);
    p.is_integer = fabs(p.scale - (double)p.whole) < DBL_EPSILON;
    return p;
}

/* ---- per-axis tables ---- */

/* The general-area taps of one axis, ordered by destination then source. Returns their count,
 * at most src_n + 2 * dst_n. */
static int32_t area_taps(int32_t src_n, int32_t dst_n, double scale, area_tap *tab) {
    int32_t k = 0;
    for (int32_t d = 0; d < dst_n; d++) {
        double f1 = d * scale;
        double f2 = f1 + scale;
        double cell = scale < src_n - f1 ? scale : src_n - f1;
        int32_t s1 = (int32_t)ceil(f1);
        int32_t s2 = (int32_t)floor(f2);
        if (s2 > src_n - 1) s2 = src_n - 1;
        if (s1 > s2) s1 = s2;
        if (s1 - f1 > 1e-3) {
            tab[k].src = s1 - 1;
            tab[k].dst = d;
            tab[k++].alpha = (float)((s1 - f1) / cell);
        }
        for (int32_t s = s1; s < s2; s++) {
            tab[k].src = s;
            tab[k].dst = d;
            tab[k++].alpha = (float)(1.0 / cell);
        }
        if (f2 - s2 > 1e-3) {
            double part = f2 - s2 < 1.0 ? f2 - s2 : 1.0;
            if (part > cell) part = cell;
            tab[k].src = s2;
            tab[k].dst = d;
            tab[k++].alpha = (float)(part / cell);
        }
    }
    return k;
}

static void linear_taps(int32_t src_n, int32_t dst_n, const axis_plan *p, linear_tap *tab) {
    for (int32_t d = 0; d < dst_n; d++) {
        int32_t s = (int32_t)floor(d * p->scale);
        float f = (float)((d + 1) - (s + 1) * p->inv);
        f = f <= 0.0f ? 0.0f : f - floorf(f);
        if (s < 0) {
            s = 0;
            f = 0.0f;
        }
        if (s >= src_n - 1) {
            s = src_n - 1;
            f = 0.0f;
        }
        tab[d].src0 = s;
        tab[d].src1 = s + 1 < src_n ? s + 1 : src_n - 1;
        tab[d].w0 = 1.0f - f;
        tab[d].w1 = f;
        tab[d].q0 = (int32_t)lrintf(tab[d].w0 * (float)COEF_ONE);
        tab[d].q1 = (int32_t)lrintf(f * (float)COEF_ONE);
    }
}

static uint8_t saturate_u8(long v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* ---- fast area: integer factors (u8 only) ---- */

static void fast_area_u8(uint8_t *dst, size_t dst_stride, int32_t dw, int32_t dh,
                         const uint8_t *src, size_t src_stride, int32_t kx, int32_t ky, int32_t cn) {
    int half_up = kx == 2 && ky == 2; /* OpenCV's dedicated factor-2 code: (sum + 2) >> 2 */
    float inv_area = 1.0f / (float)(kx * ky);
    for (int32_t dy = 0; dy < dh; dy++) {
        uint8_t *drow = dst + (size_t)dy * dst_stride;
        for (int32_t dx = 0; dx < dw; dx++) {
            for (int32_t c = 0; c < cn; c++) {
                int32_t sum = 0;
                for (int32_t j = 0; j < ky; j++) {
                    const uint8_t *srow = src + (size_t)(dy * ky + j) * src_stride;
                    for (int32_t i = 0; i < kx; i++) sum += srow[(size_t)(dx * kx + i) * cn + c];
                }
                drow[(size_t)dx * cn + c] =
                    half_up ? (uint8_t)((sum + 2) >> 2) : saturate_u8(lrintf((float)sum * inv_area));
            }
        }
    }
}

/* ---- general area (u8 and f32) ---- */

typedef struct area_work {
    area_tap *xtab, *ytab;
    int32_t   nx, ny;
    float    *row; /* one source row as floats, src_w * cn */
    float    *buf; /* horizontally filtered row, dst_w * cn */
    float    *sum; /* vertical accumulator, dst_w * cn      */
} area_work;

static void area_work_free(area_work *w) {
    afloc_free(w->xtab);
    afloc_free(w->ytab);
    afloc_free(w->row);
    afloc_free(w->buf);
    afloc_free(w->sum);
}

static afloc_status area_work_alloc(area_work *w, int32_t sw, int32_t sh, int32_t dw, int32_t dh,
                                    int32_t cn, const char *function) {
    memset(w, 0, sizeof *w);
    w->xtab = afloc_malloc(sizeof(area_tap) * ((size_t)sw + 2 * (size_t)dw + 2));
    w->ytab = afloc_malloc(sizeof(area_tap) * ((size_t)sh + 2 * (size_t)dh + 2));
    w->row = afloc_malloc(sizeof(float) * (size_t)sw * (size_t)cn);
    w->buf = afloc_malloc(sizeof(float) * (size_t)dw * (size_t)cn);
    w->sum = afloc_malloc(sizeof(float) * (size_t)dw * (size_t)cn);
    if (!w->xtab || !w->ytab || !w->row || !w->buf || !w->sum) {
        area_work_free(w);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for a %dx%d -> %dx%d resize",
                          function, (int)sw, (int)sh, (int)dw, (int)dh);
    }
    return AFLOC_OK;
}

/* Filters the float row w->row horizontally into w->buf. */
static void area_filter_row(area_work *w, int32_t dw, int32_t cn) {
    size_t n = (size_t)dw * (size_t)cn;
    for (size_t i = 0; i < n; i++) w->buf[i] = 0.0f;
    for (int32_t k = 0; k < w->nx; k++) {
        const float *s = w->row + (size_t)w->xtab[k].src * cn;
        float *b = w->buf + (size_t)w->xtab[k].dst * cn;
        float alpha = w->xtab[k].alpha;
        for (int32_t c = 0; c < cn; c++) {
            float product = s[c] * alpha;
            b[c] += product;
        }
    }
}

/* Runs the general area filter; exactly one of src8/srcf is non-NULL, and the same for dst8/dstf.
 * Strides are in elements. */
static void area_run(area_work *w, int32_t sw, int32_t dw, int32_t cn, const uint8_t *src8,
                     const float *srcf, size_t src_stride, uint8_t *dst8, float *dstf,
                     size_t dst_stride) {
    size_t n = (size_t)dw * (size_t)cn;
    size_t sn = (size_t)sw * (size_t)cn;
    int32_t k = 0;
    while (k < w->ny) {
        int32_t dy = w->ytab[k].dst;
        for (size_t i = 0; i < n; i++) w->sum[i] = 0.0f;
        for (; k < w->ny && w->ytab[k].dst == dy; k++) {
            size_t sy = (size_t)w->ytab[k].src;
            if (src8) {
                const uint8_t *s = src8 + sy * src_stride;
                for (size_t i = 0; i < sn; i++) w->row[i] = (float)s[i];
            } else {
                memcpy(w->row, srcf + sy * src_stride, sn * sizeof(float));
            }
            area_filter_row(w, dw, cn);
            float beta = w->ytab[k].alpha;
            for (size_t i = 0; i < n; i++) {
                float product = beta * w->buf[i];
                w->sum[i] += product;
            }
        }
        if (dst8) {
            uint8_t *d = dst8 + (size_t)dy * dst_stride;
            for (size_t i = 0; i < n; i++) d[i] = saturate_u8(lrintf(w->sum[i]));
        } else {
            memcpy(dstf + (size_t)dy * dst_stride, w->sum, n * sizeof(float));
        }
    }
}

/* ---- area-style linear (enlarging on at least one axis) ---- */

typedef struct linear_work {
    linear_tap *xtab, *ytab;
    int32_t    *irow0, *irow1; /* u8: horizontally filtered rows, 11-bit scaled, dst_w * cn */
    float      *frow0, *frow1; /* f32: horizontally filtered rows                        */
} linear_work;

static void linear_work_free(linear_work *w) {
    afloc_free(w->xtab);
    afloc_free(w->ytab);
    afloc_free(w->irow0);
    afloc_free(w->irow1);
    afloc_free(w->frow0);
    afloc_free(w->frow1);
}

static afloc_status linear_work_alloc(linear_work *w, int32_t sw, int32_t sh, int32_t dw,
                                      int32_t dh, int32_t cn, int is_u8, const char *function) {
    memset(w, 0, sizeof *w);
    size_t n = (size_t)dw * (size_t)cn;
    w->xtab = afloc_malloc(sizeof(linear_tap) * (size_t)dw);
    w->ytab = afloc_malloc(sizeof(linear_tap) * (size_t)dh);
    int ok = w->xtab && w->ytab;
    if (ok && is_u8) {
        w->irow0 = afloc_malloc(sizeof(int32_t) * n);
        w->irow1 = afloc_malloc(sizeof(int32_t) * n);
        ok = w->irow0 && w->irow1;
    } else if (ok) {
        w->frow0 = afloc_malloc(sizeof(float) * n);
        w->frow1 = afloc_malloc(sizeof(float) * n);
        ok = w->frow0 && w->frow1;
    }
    if (!ok) {
        linear_work_free(w);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for a %dx%d -> %dx%d resize",
                          function, (int)sw, (int)sh, (int)dw, (int)dh);
    }
    return AFLOC_OK;
}

static void linear_row_u8(const linear_tap *xtab, int32_t dw, int32_t cn, const uint8_t *s,
                          int32_t *out) {
    for (int32_t dx = 0; dx < dw; dx++) {
        const linear_tap *t = &xtab[dx];
        for (int32_t c = 0; c < cn; c++)
            out[(size_t)dx * cn + c] = s[(size_t)t->src0 * cn + c] * t->q0 +
                                       s[(size_t)t->src1 * cn + c] * t->q1;
    }
}

static void linear_row_f32(const linear_tap *xtab, int32_t dw, const float *s, float *out) {
    for (int32_t dx = 0; dx < dw; dx++) {
        float a = s[xtab[dx].src0] * xtab[dx].w0;
        float b = s[xtab[dx].src1] * xtab[dx].w1;
        out[dx] = a + b;
    }
}

static void linear_run_u8(linear_work *w, int32_t dw, int32_t dh, int32_t cn, const uint8_t *src,
                          size_t src_stride, uint8_t *dst, size_t dst_stride) {
    size_t n = (size_t)dw * (size_t)cn;
    for (int32_t dy = 0; dy < dh; dy++) {
        const linear_tap *t = &w->ytab[dy];
        linear_row_u8(w->xtab, dw, cn, src + (size_t)t->src0 * src_stride, w->irow0);
        linear_row_u8(w->xtab, dw, cn, src + (size_t)t->src1 * src_stride, w->irow1);
        uint8_t *d = dst + (size_t)dy * dst_stride;
        for (size_t i = 0; i < n; i++) {
            /* OpenCV's vector code: drop 4 bits, keep the high 16 bits of each 16x16 product,
             * add, then round off the last 2 bits. */
            int32_t a = ((w->irow0[i] >> 4) * t->q0) >> 16;
            int32_t b = ((w->irow1[i] >> 4) * t->q1) >> 16;
            d[i] = saturate_u8((a + b + 2) >> 2);
        }
    }
}

static void linear_run_f32(linear_work *w, int32_t dw, int32_t dh, const float *src,
                           size_t src_stride, float *dst, size_t dst_stride) {
    for (int32_t dy = 0; dy < dh; dy++) {
        const linear_tap *t = &w->ytab[dy];
        linear_row_f32(w->xtab, dw, src + (size_t)t->src0 * src_stride, w->frow0);
        linear_row_f32(w->xtab, dw, src + (size_t)t->src1 * src_stride, w->frow1);
        float *d = dst + (size_t)dy * dst_stride;
        for (int32_t x = 0; x < dw; x++) {
            float a = w->frow0[x] * t->w0;
            float b = w->frow1[x] * t->w1;
            d[x] = a + b;
        }
    }
}

/* ---- entry points ---- */

static afloc_status resize_any(uint8_t *dst8, float *dstf, size_t dst_stride, int32_t dw,
                               int32_t dh, const uint8_t *src8, const float *srcf,
                               size_t src_stride, int32_t sw, int32_t sh, int32_t cn,
                               const char *function) {
    axis_plan px = plan_axis(sw, dw), py = plan_axis(sh, dh);
    if (px.scale >= 1.0 && py.scale >= 1.0) {
        if (dst8 && px.is_integer && py.is_integer) {
            fast_area_u8(dst8, dst_stride, dw, dh, src8, src_stride, px.whole, py.whole, cn);
            return AFLOC_OK;
        }
        area_work w;
        AFLOC_TRY(area_work_alloc(&w, sw, sh, dw, dh, cn, function));
        w.nx = area_taps(sw, dw, px.scale, w.xtab);
        w.ny = area_taps(sh, dh, py.scale, w.ytab);
        area_run(&w, sw, dw, cn, src8, srcf, src_stride, dst8, dstf, dst_stride);
        area_work_free(&w);
        return AFLOC_OK;
    }
    linear_work w;
    AFLOC_TRY(linear_work_alloc(&w, sw, sh, dw, dh, cn, dst8 != NULL, function));
    linear_taps(sw, dw, &px, w.xtab);
    linear_taps(sh, dh, &py, w.ytab);
    if (dst8)
        linear_run_u8(&w, dw, dh, cn, src8, src_stride, dst8, dst_stride);
    else
        linear_run_f32(&w, dw, dh, srcf, src_stride, dstf, dst_stride);
    linear_work_free(&w);
    return AFLOC_OK;
}

afloc_status afloc_resize_area_u8(uint8_t *dst, size_t dst_stride, int32_t dst_width,
                                  int32_t dst_height, const uint8_t *src, size_t src_stride,
                                  int32_t src_width, int32_t src_height, int32_t channels,
                                  const char *function) {
    return resize_any(dst, NULL, dst_stride, dst_width, dst_height, src, NULL, src_stride,
                      src_width, src_height, channels, function);
}

afloc_status afloc_resize_area_f32(float *dst, size_t dst_stride, int32_t dst_width,
                                   int32_t dst_height, const float *src, size_t src_stride,
                                   int32_t src_width, int32_t src_height, const char *function) {
    return resize_any(NULL, dst, dst_stride, dst_width, dst_height, NULL, src, src_stride,
                      src_width, src_height, 1, function);
}
