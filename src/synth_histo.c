/* synth_histo.c: the synthetic H&E histopathology tile (issue 5): pink eosin stroma with fibre
 * streaks and a few clear spaces, purple hematoxylin nuclei (small jittered ellipses on a hashed
 * lattice, so any pixel can be evaluated alone), and three kinds of region: tumour (dense, large,
 * pleomorphic dark nuclei), necrosis (pale pink amorphous debris with few nuclei) and
 * inflammation (dense small round dark lymphocytes); planned from a case's RNG and rendered as an
 * 8-bit RGB image.
 *
 * Geometry is in normalised image units u = (x + 0.5) / size, v = (y + 0.5) / size. A region is
 * an irregular blob at one of nine positions (zone = row * 3 + column: upper left .. centre ..
 * lower right) whose texture replaces the tissue underneath with a soft edge; its box is the
 * bounding box of the pixels where some channel changes by at least BOX_THRESHOLD. Only + - * /
 * and sqrt in double (see synth.h). */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "synth.h"

/* No fused multiply-add: GCC in ISO C mode (-std=c11) already contracts nothing; clang needs
 * the pragma. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define BOX_THRESHOLD 0.03 /* colour units (of 1.0 full scale), largest channel */

/* Anatomy slots in afloc_synth_case.anatomy. */
enum {
    A_SR, A_SG, A_SB,    /* eosin stroma colour                        */
    A_NR, A_NG, A_NB,    /* hematoxylin nucleus colour                 */
    A_CELL,              /* nucleus lattice spacing                    */
    A_DENS,              /* probability of a nucleus per lattice cell  */
    A_NUC,               /* nucleus radius                             */
    A_FIBRE,             /* fibre streak amplitude                     */
    A_FX, A_FY,          /* fibre direction (unit)                     */
    A_HOLE,              /* threshold of the clear spaces (higher: fewer) */
    A_GAIN, A_NOISE,
    A_COUNT
};
_Static_assert(A_COUNT <= AFLOC_SYNTH_ANATOMY, "anatomy slots");

/* Finding parameter slots (afloc_synth_finding.p). */
enum { P_U = 0, P_V, P_R, P_ASPECT, P_CU, P_CV };

static const char *const class_names[AFLOC_HISTO_CLASSES] = {"tumour", "necrosis", "inflammation"};
/* classes.csv: prompt ensembles, each class's three commonest wordings in the training reports
 * (without the location) against the commonest negation. They replaced the short pairs ("invasive
 * tumour cells" / "no tumour cells", ...) after scoring better on a validation set (`afloc synth
 * histo --seed 2 --test 300`): mean AUC 0.929 -> 0.999 (scripts/choose_prompts.py,
 * models/README.md). */
#define TUMOUR_NO "no tumour is identified."
#define NECROSIS_NO "there is no necrosis."
#define INFLAMMATION_NO "there is no inflammatory infiltrate."
static const afloc_synth_prompt class_prompts[] = {
    {0, "sheets of pleomorphic tumour cells with enlarged hyperchromatic nuclei are present.", TUMOUR_NO},
    {0, "an area of infiltrating carcinoma is seen.", TUMOUR_NO},
    {0, "diagnosis: invasive carcinoma.", TUMOUR_NO},
    {1, "necrotic debris with karyorrhexis is seen.", NECROSIS_NO},
    {1, "an area of coagulative necrosis is present.", NECROSIS_NO},
    {1, "diagnosis: necrosis.", NECROSIS_NO},
    {2, "a dense lymphocytic infiltrate is present.", INFLAMMATION_NO},
    {2, "an area of chronic inflammation with aggregates of lymphocytes is seen.", INFLAMMATION_NO},
    {2, "diagnosis: chronic inflammation.", INFLAMMATION_NO}};


static double unit_of(uint64_t h, int shift) {
    return (double)((h >> shift) & 0xFFFFFu) * (1.0 / 1048576.0); /* 20 bits */
}

/* ---- planning ---- */


static void plan_anatomy(double *a, afloc_rng *rng) {
    a[A_SR] = afloc_synth_uniform(rng, 0.90, 0.97);
    a[A_SG] = afloc_synth_uniform(rng, 0.62, 0.74);
    a[A_SB] = afloc_synth_uniform(rng, 0.76, 0.86);
    a[A_NR] = afloc_synth_uniform(rng, 0.36, 0.46);
    a[A_NG] = afloc_synth_uniform(rng, 0.20, 0.28);
    a[A_NB] = afloc_synth_uniform(rng, 0.52, 0.62);
    a[A_CELL] = afloc_synth_uniform(rng, 0.028, 0.036);
    a[A_DENS] = afloc_synth_uniform(rng, 0.40, 0.60);
    a[A_NUC] = afloc_synth_uniform(rng, 0.0055, 0.0075);
    a[A_FIBRE] = afloc_synth_uniform(rng, 0.05, 0.10);
    afloc_synth_random_direction(rng, &a[A_FX], &a[A_FY]);
    a[A_HOLE] = afloc_synth_uniform(rng, 0.78, 0.86);
    a[A_GAIN] = afloc_synth_uniform(rng, 0.95, 1.03);
    a[A_NOISE] = afloc_synth_uniform(rng, 0.012, 0.024);
}

static double region_reach(const afloc_synth_finding *f) {
    return f->p[P_R] * f->p[P_ASPECT] * 1.2;
}

/* Places region f (category, zone, severity set) clear of the regions already planned. */
static int plan_geometry(const afloc_synth_case *c, afloc_synth_finding *f, afloc_rng *rng) {
    static const double r_lo[3] = {0.075, 0.095, 0.12}, r_hi[3] = {0.09, 0.115, 0.14};
    double *p = f->p;
    int32_t row = f->zone / 3, col = f->zone % 3;
    p[P_R] = afloc_synth_uniform(rng, r_lo[f->severity], r_hi[f->severity]);
    p[P_ASPECT] = afloc_synth_uniform(rng, 1.0, 1.3);
    afloc_synth_random_direction(rng, &p[P_CU], &p[P_CV]);
    p[P_U] = 0.2 + 0.3 * (double)col + afloc_synth_uniform(rng, -0.035, 0.035);
    p[P_V] = 0.2 + 0.3 * (double)row + afloc_synth_uniform(rng, -0.035, 0.035);
    for (int32_t i = 0; i < c->count; i++) {
        const afloc_synth_finding *g = &c->findings[i];
        double du = p[P_U] - g->p[P_U], dv = p[P_V] - g->p[P_V];
        double gap = region_reach(f) + region_reach(g) + 0.01;
        if (du * du + dv * dv < gap * gap) return 0;
    }
    return 1;
}

static afloc_status histo_plan(afloc_synth_case *c, afloc_rng *rng, int32_t size,
                               const char *function) {
    (void)size;
    plan_anatomy(c->anatomy, rng);
    double r = afloc_synth_uniform(rng, 0.0, 1.0);
    int32_t want = r < 0.2 ? 0 : (r < 0.6 ? 1 : (r < 0.85 ? 2 : 3));
    int used[AFLOC_HISTO_CLASSES] = {0};
    for (int32_t attempt = 0; c->count < want && attempt < 24; attempt++) {
        afloc_synth_finding f;
        memset(&f, 0, sizeof f);
        f.category = (int32_t)afloc_rng_below(rng, AFLOC_HISTO_CLASSES);
        f.side = AFLOC_SYNTH_SIDE_NONE;
        f.zone = (int32_t)afloc_rng_below(rng, 9);
        f.severity = (int32_t)afloc_rng_below(rng, 3);
        if (used[f.category] || !plan_geometry(c, &f, rng)) continue;
        used[f.category] = 1;
        c->findings[c->count++] = f;
    }
    return afloc_synth_histo_write_text(c, rng, function);
}

/* ---- rendering ---- */

/* A population of nuclei on a hashed lattice of spacing `cell`: each cell holds one nucleus with
 * probability `dens`, jittered inside the cell, radius in [r0, r1], elongation up to 1 + elong,
 * random orientation. */
typedef struct nuclei {
    uint64_t seed;
    double   cell, dens, r0, r1, elong;
} nuclei;

/* Opacity in [0, 1] of the nuclei at (u, v) (the strongest of the 3 x 3 neighbouring cells),
 * with a chromatin texture; px is one pixel. */
static double nuclei_alpha(const nuclei *n, double u, double v, double px) {
    double fx = u / n->cell, fy = v / n->cell;
    int64_t cx = (int64_t)fx, cy = (int64_t)fy; /* u, v > 0 */
    double best = 0.0;
    for (int64_t j = cy - 1; j <= cy + 1; j++) {
        for (int64_t i = cx - 1; i <= cx + 1; i++) {
            uint64_t h = afloc_synth_hash(n->seed, (uint64_t)i, (uint64_t)j);
            if (unit_of(h, 0) >= n->dens) continue;
            uint64_t h2 = afloc_synth_hash(n->seed ^ 0x5bd1e995ull, (uint64_t)i, (uint64_t)j);
            double nu = ((double)i + 0.1 + 0.8 * unit_of(h, 20)) * n->cell;
            double nv = ((double)j + 0.1 + 0.8 * unit_of(h, 40)) * n->cell;
            double du = u - nu, dv = v - nv;
            double reach = n->r1 * (1.0 + n->elong) + px;
            if (du * du + dv * dv > reach * reach) continue;
            double r = n->r0 + (n->r1 - n->r0) * unit_of(h2, 0);
            double e = 1.0 + n->elong * unit_of(h2, 20);
            double ox = unit_of(h2, 40) * 2.0 - 1.0, oy = unit_of(h, 44) * 2.0 - 1.0;
            double on = sqrt(ox * ox + oy * oy);
            if (on < 1e-6) ox = 1.0, oy = 0.0, on = 1.0;
            ox /= on, oy /= on;
            double along = (du * ox + dv * oy) / (r * e), across = (-du * oy + dv * ox) / r;
            double q = sqrt(along * along + across * across);
            double soft = px / r;
            if (soft > 0.9) soft = 0.9;
            double alpha = 1.0 - afloc_synth_smoothstep(1.0 - soft, 1.0 + soft, q);
            if (alpha <= 0.0) continue;
            /* chromatin: darker rim, speckled interior */
            double speck = unit_of(afloc_synth_hash(n->seed ^ 0x9e37ull, (uint64_t)(int64_t)(u * 4096.0),
                                                    (uint64_t)(int64_t)(v * 4096.0)), 0);
            alpha *= 0.78 + 0.12 * q + 0.1 * speck;
            if (alpha > best) best = alpha;
        }
    }
    return best;
}

/* The normal tissue colour at (u, v). */
static void tissue_at(const afloc_synth_case *c, double u, double v, double px, double *o) {
    const double *a = c->anatomy;
    double along = u * a[A_FX] + v * a[A_FY], across = -u * a[A_FY] + v * a[A_FX];
    double streak = afloc_synth_value_noise(c->seed ^ 0x61, along * 0.15, across, 60.0) - 0.5;
    double mottle = afloc_synth_value_noise(c->seed ^ 0x62, u, v, 10.0) - 0.5;
    double shade = 1.0 + a[A_FIBRE] * streak + 0.04 * mottle;
    double r = a[A_SR] * shade, g = a[A_SG] * shade, b = a[A_SB] * shade;
    double hole = afloc_synth_value_noise(c->seed ^ 0x63, u, v, 7.0);
    double clear = afloc_synth_smoothstep(a[A_HOLE], a[A_HOLE] + 0.04, hole);
    r += (0.97 - r) * clear, g += (0.94 - g) * clear, b += (0.96 - b) * clear;
    nuclei nuc = {c->seed ^ 0x64, a[A_CELL], a[A_DENS] * (1.0 - clear), a[A_NUC] * 0.8,
                  a[A_NUC] * 1.2, 0.9};
    double al = nuclei_alpha(&nuc, u, v, px);
    o[0] = r + (a[A_NR] - r) * al;
    o[1] = g + (a[A_NG] - g) * al;
    o[2] = b + (a[A_NB] - b) * al;
}

/* The texture of region f at (u, v). */
static void region_texture(const afloc_synth_case *c, const afloc_synth_finding *f, int32_t fi,
                           double u, double v, double px, double *o) {
    const double *a = c->anatomy;
    uint64_t seed = c->seed ^ (0x100 + (uint64_t)fi);
    double mottle = afloc_synth_value_noise(seed, u, v, 25.0) - 0.5;
    switch (f->category) {
    case AFLOC_HISTO_TUMOUR: {
        double r = 0.84 + 0.05 * mottle, g = 0.56 + 0.05 * mottle, b = 0.76 + 0.04 * mottle;
        nuclei nuc = {seed ^ 0x1, 0.024, 0.92, 0.008, 0.0135, 0.6};
        double al = nuclei_alpha(&nuc, u, v, px);
        double nr = 0.22, ng = 0.09, nb = 0.38;
        o[0] = r + (nr - r) * al, o[1] = g + (ng - g) * al, o[2] = b + (nb - b) * al;
        break;
    }
    case AFLOC_HISTO_NECROSIS: {
        double smudge = afloc_synth_value_noise(seed ^ 0x2, u, v, 60.0) - 0.5;
        double r = 0.97 + 0.02 * smudge, g = 0.80 + 0.07 * smudge + 0.04 * mottle;
        double b = 0.87 + 0.04 * smudge;
        nuclei debris = {seed ^ 0x3, 0.014, 0.4, 0.0018, 0.0032, 0.8};
        nuclei ghosts = {seed ^ 0x4, 0.045, 0.3, a[A_NUC], a[A_NUC] * 1.2, 0.3};
        double ad = nuclei_alpha(&debris, u, v, px), ag = 0.35 * nuclei_alpha(&ghosts, u, v, px);
        double al = ad > ag ? ad : ag;
        o[0] = r + (0.40 - r) * al, o[1] = g + (0.22 - g) * al, o[2] = b + (0.50 - b) * al;
        break;
    }
    default: {
        double r = 0.88 + 0.04 * mottle, g = 0.64 + 0.04 * mottle, b = 0.80 + 0.03 * mottle;
        nuclei lym = {seed ^ 0x5, 0.0125, 0.85, 0.0036, 0.0048, 0.1};
        double al = nuclei_alpha(&lym, u, v, px);
        o[0] = r + (0.18 - r) * al, o[1] = g + (0.08 - g) * al, o[2] = b + (0.34 - b) * al;
        break;
    }
    }
}

/* Weight in [0, 1] of region f at (u, v): an irregular ellipse with a soft edge. */
static double region_weight(const afloc_synth_case *c, const afloc_synth_finding *f, int32_t fi,
                            double u, double v) {
    const double *p = f->p;
    double du = u - p[P_U], dv = v - p[P_V];
    double along = (du * p[P_CU] + dv * p[P_CV]) / (p[P_R] * p[P_ASPECT]);
    double across = (-du * p[P_CV] + dv * p[P_CU]) / p[P_R];
    double q2 = along * along + across * across;
    if (q2 >= 1.44) return 0.0;
    double wobble = afloc_synth_value_noise(c->seed ^ (0x200 + (uint64_t)fi), u, v, 9.0);
    double edge = 0.8 + 0.4 * wobble; /* the boundary at q = edge, 0.8..1.2 */
    return 1.0 - afloc_synth_smoothstep(edge - 0.12, edge, sqrt(q2));
}

static void render_region(const afloc_synth_case *c, int32_t fi, int32_t size, double *rgb,
                          afloc_synth_box *box) {
    const afloc_synth_finding *f = &c->findings[fi];
    double px = 1.0 / (double)size, s = (double)size, reach = region_reach(f) + 2.0 * px;
    afloc_synth_box r = {(int32_t)((f->p[P_U] - reach) * s), (int32_t)((f->p[P_V] - reach) * s),
                         (int32_t)((f->p[P_U] + reach) * s) + 1, (int32_t)((f->p[P_V] + reach) * s) + 1};
    afloc_synth_box_clamp(&r, size);
    afloc_synth_box b = afloc_synth_box_none(size);
    for (int32_t y = r.y0; y < r.y1; y++) {
        double v = ((double)y + 0.5) * px;
        for (int32_t x = r.x0; x < r.x1; x++) {
            double u = ((double)x + 0.5) * px;
            double w = region_weight(c, f, fi, u, v);
            if (w == 0.0) continue;
            double t[3];
            region_texture(c, f, fi, u, v, px, t);
            double *o = rgb + 3 * ((size_t)y * (size_t)size + (size_t)x);
            double change = 0.0;
            for (int ch = 0; ch < 3; ch++) {
                double d = (t[ch] - o[ch]) * w;
                o[ch] += d;
                double ad = d < 0.0 ? -d : d;
                if (ad > change) change = ad;
            }
            if (change >= BOX_THRESHOLD) afloc_synth_box_add(&b, x, y);
        }
    }
    *box = afloc_synth_box_close(b, r); /* the support only when too faint anywhere */
}

static afloc_status histo_render(const afloc_synth_case *c, int32_t size, uint32_t mask,
                                 void *pixels, afloc_synth_box *boxes, const char *function) {
    size_t n = (size_t)size * (size_t)size;
    double *rgb = afloc_malloc(3 * n * sizeof(double));
    if (!rgb)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for a %d x %d image", function,
                          size, size);
    double px = 1.0 / (double)size;
    for (int32_t y = 0; y < size; y++)
        for (int32_t x = 0; x < size; x++)
            tissue_at(c, ((double)x + 0.5) * px, ((double)y + 0.5) * px, px,
                      rgb + 3 * ((size_t)y * (size_t)size + (size_t)x));
    for (int32_t i = 0; i < c->count; i++) {
        afloc_synth_box scratch;
        afloc_synth_box *b = boxes ? &boxes[i] : &scratch;
        memset(b, 0, sizeof *b);
        if ((mask >> i) & 1u) render_region(c, i, size, rgb, b);
    }
    afloc_synth_rgb_quantize(c->seed, c->anatomy[A_GAIN], c->anatomy[A_NOISE], rgb, size, 0, pixels);
    afloc_free(rgb);
    return AFLOC_OK;
}

const afloc_synth_modality *afloc_synth_modality_histo(void) {
    static const afloc_synth_modality histo = {
        "histo", 3, 0x6166636869733031ull /* "afchis01" */, AFLOC_HISTO_CLASSES, class_names,
        (int32_t)(sizeof class_prompts / sizeof class_prompts[0]), class_prompts, histo_plan, histo_render};
    return &histo;
}
