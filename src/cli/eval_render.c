/* eval_render.c: contact sheet and loss-curve pictures for `afloc eval` (see eval_render.h), drawn
 * into an RGB8 canvas with a built-in 5x7 bitmap font (digits, a few capitals, . - +), so no
 * plotting library is needed. */
#include "eval_render.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"

typedef struct canvas {
    uint8_t *px; /* (h, w, 3) */
    int32_t w, h;
} canvas;

static int canvas_init(canvas *c, int32_t w, int32_t h, uint8_t fill) {
    c->w = w;
    c->h = h;
    c->px = malloc((size_t)w * (size_t)h * 3);
    if (c->px) memset(c->px, fill, (size_t)w * (size_t)h * 3);
    return c->px == NULL;
}

static void put(canvas *c, int32_t x, int32_t y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    memcpy(c->px + 3 * ((size_t)y * (size_t)c->w + (size_t)x), rgb, 3);
}

static int canvas_save(const canvas *c, const char *path, char *err, size_t err_size) {
    afloc_image_view v = {.struct_size = sizeof v, .pixel_type = AFLOC_PIXEL_U8, .channels = 3,
                          .width = c->w, .height = c->h, .row_stride = (size_t)c->w * 3,
                          .pixels = c->px};
    afloc_status s = afloc_image_save_png(&v, path);
    if (s != AFLOC_OK) {
        snprintf(err, err_size, "%s: %s", path, afloc_last_error());
        return 1;
    }
    return 0;
}

/* ---- 5x7 font: each glyph is 7 rows of 5 bits, most significant bit on the left ---- */

static const struct glyph { char ch; uint8_t rows[7]; } font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}}, {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}}, {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}}, {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'N', {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}}, {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}}, {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
};

/* Draws `text` (unknown characters: a blank) with its top-left at (x, y), each font pixel a
 * scale x scale block; returns the width drawn. Lower-case letters use the capital glyph. */
static int32_t draw_text(canvas *c, int32_t x, int32_t y, const char *text, int32_t scale,
                         const uint8_t rgb[3]) {
    int32_t x0 = x;
    for (; *text; text++, x += 6 * scale) {
        char ch = (char)toupper((unsigned char)*text);
        for (size_t g = 0; g < sizeof font / sizeof font[0]; g++) {
            if (font[g].ch != ch) continue;
            for (int32_t r = 0; r < 7; r++)
                for (int32_t b = 0; b < 5; b++)
                    if (font[g].rows[r] & (0x10 >> b))
                        for (int32_t dy = 0; dy < scale; dy++)
                            for (int32_t dx = 0; dx < scale; dx++)
                                put(c, x + b * scale + dx, y + r * scale + dy, rgb);
        }
    }
    return x - x0;
}

static void draw_line(canvas *c, int32_t x0, int32_t y0, int32_t x1, int32_t y1, const uint8_t rgb[3]) {
    int32_t dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int32_t e = dx + dy;
    for (;;) { /* Bresenham */
        put(c, x0, y0, rgb);
        if (x0 == x1 && y0 == y1) break;
        int32_t e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

/* ---- contact sheet ---- */

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

/* Jet-like colormap (as `afloc localize` draws it): blue -> cyan -> yellow -> red. */
static void jet(float t, float rgb[3]) {
    for (int k = 0; k < 3; k++) rgb[k] = clamp01(1.5f - fabsf(4.0f * t - (float)(3 - k)));
}

static int edge(const uint8_t *mask, int32_t S, int32_t x, int32_t y) {
    if (!mask[(size_t)y * S + x]) return 0;
    if (x == 0 || y == 0 || x == S - 1 || y == S - 1) return 1;
    return !mask[(size_t)y * S + x - 1] || !mask[(size_t)y * S + x + 1] || !mask[(size_t)(y - 1) * S + x] ||
           !mask[(size_t)(y + 1) * S + x];
}

static void draw_tile(canvas *c, const eval_tile *t, int32_t S, int32_t f, int32_t ox, int32_t oy) {
    static const uint8_t green[3] = {0, 255, 0}, white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    for (int32_t y = 0; y < S * f; y++)
        for (int32_t x = 0; x < S * f; x++) {
            size_t i = (size_t)(y / f) * S + (size_t)(x / f);
            float g = clamp01(0.5f * (t->frame[i] + 1.0f)), rgb[3] = {g, g, g};
            if (!isnan(t->map[i])) {
                float j[3];
                jet(clamp01(0.5f * (t->map[i] + 1.0f)), j);
                for (int k = 0; k < 3; k++) rgb[k] = 0.5f * g + 0.5f * j[k];
            }
            uint8_t px[3];
            for (int k = 0; k < 3; k++) px[k] = (uint8_t)(255.0f * rgb[k] + 0.5f);
            put(c, ox + x, oy + y, edge(t->mask, S, x / f, y / f) ? green : px);
        }
    char label[16];
    snprintf(label, sizeof label, "%d", (int)t->index);
    int32_t w = (int32_t)strlen(label) * 12;
    for (int32_t y = 0; y < 18; y++)
        for (int32_t x = 0; x < w + 4; x++) put(c, ox + x, oy + y, black);
    draw_text(c, ox + 2, oy + 2, label, 2, white);
}

int eval_render_contact_sheet(const char *path, const eval_tile *tiles, int32_t count, int32_t S,
                              char *err, size_t err_size) {
    const int32_t f = S >= 160 ? 1 : (160 + S - 1) / S, side = S * f, gap = 4;
    const int32_t cols = count < 4 ? count : 4, rows = (count + cols - 1) / cols;
    canvas c;
    if (canvas_init(&c, cols * side + (cols + 1) * gap, rows * side + (rows + 1) * gap, 32)) {
        snprintf(err, err_size, "%s: out of memory", path);
        return 1;
    }
    for (int32_t i = 0; i < count; i++)
        draw_tile(&c, &tiles[i], S, f, gap + (i % cols) * (side + gap), gap + (i / cols) * (side + gap));
    int rc = canvas_save(&c, path, err, err_size);
    free(c.px);
    return rc;
}

/* ---- loss curve ---- */

/* The columns of `afloc train --log`; the last, the within-image sentence loss of
 * --sentence-contrast, is optional (drawn when the header has it). */
enum { LOG_STEP, LOG_GLOBAL, LOG_SENTENCE, LOG_WORD, LOG_TOTAL, LOG_CONTRAST, LOG_COLUMNS };
static const char *const log_column[LOG_COLUMNS] = {"step", "global", "sentence", "word", "total",
                                                    "sentence_contrast"};
static const char *const log_legend[LOG_COLUMNS] = {"step", "global", "sentence", "word", "total",
                                                    "contrast"};

/* Reads the log into `v` (n x LOG_COLUMNS doubles; the contrast column 0 when absent, and
 * *contrast says whether it was there). */
static int read_log(const char *path, double **v, int32_t *n, int *contrast, char *err,
                    size_t err_size) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, err_size, "%s: cannot open", path);
        return 1;
    }
    char line[4096];
    int col[LOG_COLUMNS], line_no = 1, rc = 1;
    size_t cap = 0;
    *v = NULL;
    *n = 0;
    if (!fgets(line, sizeof line, fp)) {
        snprintf(err, err_size, "%s: empty file (no header)", path);
        goto done;
    }
    for (int k = 0; k < LOG_COLUMNS; k++) {
        col[k] = -1;
        int index = 0;
        for (char *tok = line, *end; tok; tok = end ? end + 1 : NULL, index++) {
            end = strchr(tok, ',');
            size_t len = end ? (size_t)(end - tok) : strcspn(tok, "\r\n");
            if (len == strlen(log_column[k]) && !strncmp(tok, log_column[k], len)) col[k] = index;
        }
        if (col[k] < 0 && k != LOG_CONTRAST) {
            snprintf(err, err_size, "%s:1: missing column '%s' in the header", path, log_column[k]);
            goto done;
        }
    }
    *contrast = col[LOG_CONTRAST] >= 0;
    const int wanted = *contrast ? LOG_COLUMNS : LOG_COLUMNS - 1;
    while (fgets(line, sizeof line, fp)) {
        line_no++;
        if (strspn(line, " \r\n") == strlen(line)) continue;
        if ((size_t)*n == cap) {
            cap = cap ? 2 * cap : 256;
            double *bigger = realloc(*v, cap * LOG_COLUMNS * sizeof *bigger);
            if (!bigger) {
                snprintf(err, err_size, "%s: out of memory", path);
                goto done;
            }
            *v = bigger;
        }
        double *row = *v + (size_t)*n * LOG_COLUMNS;
        row[LOG_CONTRAST] = 0.0;
        int found = 0, index = 0;
        for (char *tok = line, *end; tok; tok = end ? end + 1 : NULL, index++) {
            end = strchr(tok, ',');
            for (int k = 0; k < LOG_COLUMNS; k++) {
                if (col[k] != index) continue;
                char *stop = NULL;
                row[k] = strtod(tok, &stop);
                if (stop == tok || (*stop != ',' && *stop != '\r' && *stop != '\n' && *stop) ||
                    !isfinite(row[k])) {
                    snprintf(err, err_size, "%s:%d: column '%s' is not a finite number", path, line_no,
                             log_column[k]);
                    goto done;
                }
                found++;
            }
        }
        if (found != wanted) {
            snprintf(err, err_size, "%s:%d: too few fields", path, line_no);
            goto done;
        }
        (*n)++;
    }
    if (*n == 0) {
        snprintf(err, err_size, "%s: no rows (header only)", path);
        goto done;
    }
    rc = 0;
done:
    fclose(fp);
    if (rc) {
        free(*v);
        *v = NULL;
    }
    return rc;
}

int eval_render_loss_curve(const char *log_path, const char *png_path, int32_t *points, char *err,
                           size_t err_size) {
    double *v = NULL;
    int32_t n = 0;
    int contrast = 0;
    if (read_log(log_path, &v, &n, &contrast, err, err_size)) return 1;
    const int series_end = contrast ? LOG_COLUMNS : LOG_CONTRAST; /* one past the last drawn */
    double x_lo = v[LOG_STEP], x_hi = v[LOG_STEP], y_lo = 0.0, y_hi = 0.0;
    for (int32_t i = 0; i < n; i++) {
        const double *r = v + (size_t)i * LOG_COLUMNS;
        x_lo = fmin(x_lo, r[LOG_STEP]);
        x_hi = fmax(x_hi, r[LOG_STEP]);
        for (int k = LOG_GLOBAL; k < series_end; k++) {
            y_lo = fmin(y_lo, r[k]);
            y_hi = fmax(y_hi, r[k]);
        }
    }
    if (x_hi <= x_lo) x_hi = x_lo + 1.0;
    if (y_hi <= y_lo) y_hi = y_lo + 1.0;
    y_hi += 0.05 * (y_hi - y_lo);
    const int32_t W = 800, H = 480, left = 80, right = 20, top = 40, bottom = 40;
    const int32_t pw = W - left - right, ph = H - top - bottom;
    canvas c;
    if (canvas_init(&c, W, H, 255)) {
        free(v);
        snprintf(err, err_size, "%s: out of memory", png_path);
        return 1;
    }
    static const uint8_t black[3] = {0, 0, 0}, color[LOG_COLUMNS][3] = {
        {0, 0, 0}, {220, 40, 40}, {40, 160, 40}, {40, 80, 220}, {0, 0, 0}, {230, 140, 0}};
    draw_line(&c, left, top, left, top + ph, black);
    draw_line(&c, left, top + ph, left + pw, top + ph, black);
    char label[64];
    snprintf(label, sizeof label, "%.3g", y_hi);
    draw_text(&c, 4, top - 3, label, 1, black);
    snprintf(label, sizeof label, "%.3g", y_lo);
    draw_text(&c, 4, top + ph - 3, label, 1, black);
    snprintf(label, sizeof label, "%.0f", x_lo);
    draw_text(&c, left, top + ph + 8, label, 1, black);
    snprintf(label, sizeof label, "STEP %.0f", x_hi);
    draw_text(&c, left + pw - 6 * (int32_t)strlen(label), top + ph + 8, label, 1, black);
    draw_text(&c, left, 10, "LOSS", 2, black);
    int32_t lx = left + 90;
    static const int legend[5] = {LOG_TOTAL, LOG_GLOBAL, LOG_SENTENCE, LOG_WORD, LOG_CONTRAST};
    for (int j = 0; j < (contrast ? 5 : 4); j++) {
        const int k = legend[j];
        for (int32_t t = 0; t < 3; t++) draw_line(&c, lx, 16 + t, lx + 20, 16 + t, color[k]);
        lx += 26 + draw_text(&c, lx + 26, 14, log_legend[k], 1, color[k]) + 20;
    }
    for (int k = LOG_GLOBAL; k < series_end; k++) {
        int32_t px = 0, py = 0;
        for (int32_t i = 0; i < n; i++) {
            const double *r = v + (size_t)i * LOG_COLUMNS;
            int32_t x = left + (int32_t)lround((r[LOG_STEP] - x_lo) / (x_hi - x_lo) * pw);
            int32_t y = top + ph - (int32_t)lround((r[k] - y_lo) / (y_hi - y_lo) * ph);
            if (i > 0) draw_line(&c, px, py, x, y, color[k]);
            else put(&c, x, y, color[k]);
            if (k == LOG_TOTAL && i > 0) draw_line(&c, px, py + 1, x, y + 1, color[k]); /* thicker */
            px = x;
            py = y;
        }
    }
    int rc = canvas_save(&c, png_path, err, err_size);
    free(c.px);
    free(v);
    if (rc == 0) *points = n;
    return rc;
}
