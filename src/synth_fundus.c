/* synth_fundus.c: the synthetic colour fundus photograph (issue 5): a circular field on black,
 * orange-red background with radial brightness falloff and choroidal texture, the optic disc (a
 * bright yellowish disc with a paler cup, right of centre in a right eye, left in a left eye),
 * vessels branching from the disc along the arcades, the darker macula and fovea, and four
 * findings (haemorrhages, hard exudates, drusen, cotton-wool spots), planned from a case's RNG and
 * rendered as an 8-bit RGB image.
 *
 * Geometry is in normalised image units u = (x + 0.5) / size, v = (y + 0.5) / size. The eye is
 * seen as the examiner sees it: nasal is towards the disc, temporal towards the macula,
 * superior is up. Findings other than drusen sit in one quadrant about the image centre; drusen
 * surround the fovea. Each finding is a set of small elements (blots, dots, patches) blended over
 * the normal fundus; its box is the bounding box of the pixels where some channel changes by at
 * least BOX_THRESHOLD, so a box marks exactly where the image differs from the same image
 * without that finding. Only + - * / and sqrt in double (see synth.h). */
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
#define MAX_SEGMENTS  512  /* vessel segments */
#define MAX_ELEMENTS  40   /* blots, dots or patches of one finding */

/* Anatomy slots in afloc_synth_case.anatomy. */
enum {
    A_EYE = AFLOC_FUNDUS_ANATOMY_EYE, /* 0 right eye, 1 left eye                       */
    A_NASAL,                          /* +1 if nasal is towards +u (right eye), else -1 */
    A_CX, A_CY, A_R,                  /* field centre and radius                        */
    A_DX, A_DY, A_DR, A_CUP,          /* disc centre, radius, cup fraction              */
    A_MX, A_MY, A_MR,                 /* fovea and macular radius                       */
    A_BR, A_BG, A_BB,                 /* background colour at the centre                */
    A_FALL,                           /* radial brightness falloff                      */
    A_TEX,                            /* choroidal texture amplitude                    */
    A_GAIN, A_NOISE,
    A_COUNT
};
_Static_assert(A_COUNT <= AFLOC_SYNTH_ANATOMY, "anatomy slots");

/* Finding parameter slots (afloc_synth_finding.p). */
enum { P_U = 0, P_V, P_SPREAD, P_COUNT, P_SIZE, P_AMP };

static const char *const class_names[AFLOC_FUNDUS_CLASSES] = {"haemorrhage", "hard exudate",
                                                              "drusen", "cotton wool spot"};
/* classes.csv (generator_version 4): prompt ensembles, each finding's three commonest wordings in
 * the training reports (without the location) against the commonest negation, as for
 * histopathology. They replaced the short pairs ("retinal haemorrhages" / "no retinal
 * haemorrhages", ...) once the 9000-step fundus model scored them better on a validation set
 * (`afloc synth fundus --seed 2 --test 300`): mean AUC 0.857 -> 0.908, haemorrhage 0.712 ->
 * 0.999 (scripts/choose_prompts.py, models/README.md). For the earlier 625-step model the short
 * pairs had won. */
#define HAEMORRHAGE_NO "there are no haemorrhages."
#define EXUDATE_NO "no hard exudates are seen."
#define DRUSEN_NO "no drusen."
#define COTTON_WOOL_NO "there are no cotton-wool spots."
static const afloc_synth_prompt class_prompts[] = {
    {0, "there are a few dot-blot haemorrhages.", HAEMORRHAGE_NO},
    {0, "there are scattered intraretinal haemorrhages.", HAEMORRHAGE_NO},
    {0, "there are scattered retinal haemorrhages.", HAEMORRHAGE_NO},
    {1, "a circinate ring of hard exudates is seen.", EXUDATE_NO},
    {1, "there are yellow hard exudates.", EXUDATE_NO},
    {1, "there are hard exudates.", EXUDATE_NO},
    {2, "drusen at the macula.", DRUSEN_NO},
    {2, "some drusen are present at the macula.", DRUSEN_NO},
    {2, "a few small drusen at the posterior pole.", DRUSEN_NO},
    {3, "cotton-wool spots are seen.", COTTON_WOOL_NO},
    {3, "a cotton-wool spot is seen.", COTTON_WOOL_NO},
    {3, "a cotton-wool spot.", COTTON_WOOL_NO}};


/* ---- planning ---- */

static void plan_anatomy(double *a, afloc_rng *rng) {
    a[A_EYE] = afloc_synth_uniform(rng, 0.0, 1.0) < 0.5 ? 0.0 : 1.0;
    a[A_NASAL] = a[A_EYE] == 0.0 ? 1.0 : -1.0;
    a[A_CX] = afloc_synth_uniform(rng, 0.49, 0.51);
    a[A_CY] = afloc_synth_uniform(rng, 0.49, 0.51);
    a[A_R] = afloc_synth_uniform(rng, 0.455, 0.48);
    a[A_DX] = a[A_CX] + a[A_NASAL] * afloc_synth_uniform(rng, 0.15, 0.18);
    a[A_DY] = a[A_CY] + afloc_synth_uniform(rng, -0.03, 0.01);
    a[A_DR] = afloc_synth_uniform(rng, 0.045, 0.055);
    a[A_CUP] = afloc_synth_uniform(rng, 0.25, 0.45);
    a[A_MX] = a[A_CX] - a[A_NASAL] * afloc_synth_uniform(rng, 0.10, 0.13);
    a[A_MY] = a[A_DY] + afloc_synth_uniform(rng, 0.01, 0.03);
    a[A_MR] = afloc_synth_uniform(rng, 0.07, 0.09);
    a[A_BR] = afloc_synth_uniform(rng, 0.78, 0.90);
    a[A_BG] = afloc_synth_uniform(rng, 0.30, 0.40);
    a[A_BB] = afloc_synth_uniform(rng, 0.12, 0.20);
    a[A_FALL] = afloc_synth_uniform(rng, 0.35, 0.55);
    a[A_TEX] = afloc_synth_uniform(rng, 0.06, 0.12);
    a[A_GAIN] = afloc_synth_uniform(rng, 0.92, 1.06);
    a[A_NOISE] = afloc_synth_uniform(rng, 0.008, 0.016);
}

static double dist2(double u0, double v0, double u1, double v1) {
    double du = u0 - u1, dv = v0 - v1;
    return du * du + dv * dv;
}

/* Places finding f (category, zone, severity set); 0 if no free place was found. */
static int plan_geometry(const afloc_synth_case *c, afloc_synth_finding *f, afloc_rng *rng) {
    const double *a = c->anatomy;
    double *p = f->p;
    static const double count_lo[AFLOC_FUNDUS_CLASSES][3] = {
        {3, 6, 10}, {8, 14, 22}, {6, 12, 20}, {1, 2, 3}};
    static const double count_hi[AFLOC_FUNDUS_CLASSES][3] = {
        {5, 9, 14}, {13, 21, 32}, {11, 19, 30}, {1, 3, 4}};
    int32_t k = f->category, s = f->severity;
    p[P_COUNT] = (double)(int32_t)afloc_synth_uniform(rng, count_lo[k][s], count_hi[k][s] + 1.0);
    switch (k) {
    case AFLOC_FUNDUS_HAEMORRHAGE:
        p[P_SIZE] = afloc_synth_uniform(rng, 0.009, 0.015);
        p[P_SPREAD] = afloc_synth_uniform(rng, 0.045, 0.07);
        p[P_AMP] = afloc_synth_uniform(rng, 0.75, 0.9);
        break;
    case AFLOC_FUNDUS_EXUDATE:
        p[P_SIZE] = afloc_synth_uniform(rng, 0.006, 0.009);
        p[P_SPREAD] = afloc_synth_uniform(rng, 0.035, 0.06);
        p[P_AMP] = afloc_synth_uniform(rng, 0.85, 0.97);
        break;
    case AFLOC_FUNDUS_DRUSEN:
        p[P_SIZE] = afloc_synth_uniform(rng, 0.007, 0.011);
        p[P_SPREAD] = afloc_synth_uniform(rng, 0.06, 0.08);
        p[P_AMP] = afloc_synth_uniform(rng, 0.6, 0.75);
        break;
    default:
        p[P_SIZE] = afloc_synth_uniform(rng, 0.02, 0.032);
        p[P_SPREAD] = afloc_synth_uniform(rng, 0.03, 0.05);
        p[P_AMP] = afloc_synth_uniform(rng, 0.7, 0.85);
        break;
    }
    double reach = p[P_SPREAD] + 1.5 * p[P_SIZE];
    if (f->zone == AFLOC_FUNDUS_MACULA) {
        p[P_U] = a[A_MX];
        p[P_V] = a[A_MY];
        return 1;
    }
    double nasal = (f->zone == AFLOC_FUNDUS_SUPERONASAL || f->zone == AFLOC_FUNDUS_INFERONASAL)
                       ? a[A_NASAL] : -a[A_NASAL];
    double down = f->zone >= AFLOC_FUNDUS_INFEROTEMPORAL ? 1.0 : -1.0;
    for (int attempt = 0; attempt < 32; attempt++) {
        double u = a[A_CX] + nasal * afloc_synth_uniform(rng, 0.08, 0.30);
        double v = a[A_CY] + down * afloc_synth_uniform(rng, 0.09, 0.28);
        double rim = a[A_R] - 0.03 - reach;
        if (dist2(u, v, a[A_CX], a[A_CY]) > rim * rim) continue;
        double disc = a[A_DR] + reach + 0.02, mac = a[A_MR] + reach;
        if (dist2(u, v, a[A_DX], a[A_DY]) < disc * disc) continue;
        if (dist2(u, v, a[A_MX], a[A_MY]) < mac * mac) continue;
        p[P_U] = u;
        p[P_V] = v;
        return 1;
    }
    return 0;
}

static const double category_weight[AFLOC_FUNDUS_CLASSES] = {1.0, 1.0, 0.9, 0.9};


static afloc_status fundus_plan(afloc_synth_case *c, afloc_rng *rng, int32_t size,
                                const char *function) {
    (void)size;
    plan_anatomy(c->anatomy, rng);
    double r = afloc_synth_uniform(rng, 0.0, 1.0);
    int32_t want = r < 0.2 ? 0 : (r < 0.6 ? 1 : (r < 0.85 ? 2 : 3));
    int used[AFLOC_FUNDUS_CLASSES] = {0}, zone_used[5] = {0};
    for (int32_t attempt = 0; c->count < want && attempt < 24; attempt++) {
        afloc_synth_finding f;
        memset(&f, 0, sizeof f);
        f.category = afloc_synth_draw_category(rng, category_weight, used, AFLOC_FUNDUS_CLASSES);
        f.side = AFLOC_SYNTH_SIDE_NONE;
        f.severity = (int32_t)afloc_rng_below(rng, 3);
        f.zone = f.category == AFLOC_FUNDUS_DRUSEN ? AFLOC_FUNDUS_MACULA
                                                   : (int32_t)afloc_rng_below(rng, 4);
        if (zone_used[f.zone] || !plan_geometry(c, &f, rng)) continue;
        used[f.category] = 1;
        zone_used[f.zone] = 1;
        c->findings[c->count++] = f;
    }
    return afloc_synth_fundus_write_text(c, rng, function);
}

/* ---- rendering ---- */

typedef struct segment {
    double u0, v0, u1, v1, width, dark;
} segment;

typedef struct vessel_tree {
    segment *s;
    int32_t  count;
} vessel_tree;

static void normalise(double *x, double *y) {
    double n = sqrt(*x * *x + *y * *y);
    if (n < 1e-12) {
        *x = 1.0, *y = 0.0;
        return;
    }
    *x /= n;
    *y /= n;
}

/* Grows one vessel from (u, v) in direction (du, dv), bending towards (bu, bv) by `bend` per step,
 * spawning thinner branches; stops at the field's rim. */
static void grow(vessel_tree *t, const double *a, afloc_rng *rng, double u, double v, double du,
                 double dv, double bu, double bv, double bend, double width, double dark,
                 int32_t steps, int depth) {
    normalise(&du, &dv);
    for (int32_t i = 0; i < steps && t->count < MAX_SEGMENTS; i++) {
        double step = afloc_synth_uniform(rng, 0.022, 0.032);
        double jitter = afloc_synth_uniform(rng, -0.18, 0.18);
        double nu = du + bend * bu - jitter * dv, nv = dv + bend * bv + jitter * du;
        normalise(&nu, &nv);
        du = nu, dv = nv;
        double u1 = u + step * du, v1 = v + step * dv;
        double rim = a[A_R] - 0.004;
        if (dist2(u1, v1, a[A_CX], a[A_CY]) > rim * rim) return;
        segment *s = &t->s[t->count++];
        s->u0 = u, s->v0 = v, s->u1 = u1, s->v1 = v1, s->width = width, s->dark = dark;
        u = u1, v = v1;
        width *= 0.94;
        if (width < 0.0016) return;
        if (depth < 2 && afloc_synth_chance(rng, depth == 0 ? 0.3 : 0.18)) {
            double side = afloc_synth_chance(rng, 0.5) ? 1.0 : -1.0;
            double turn = afloc_synth_uniform(rng, 0.6, 1.1) * side;
            grow(t, a, rng, u, v, du - turn * dv, dv + turn * du, 0.0, 0.0, 0.0, width * 0.62,
                 dark * 0.85, depth == 0 ? 7 : 4, depth + 1);
        }
    }
}

/* The vessel tree of case c: two arcades (artery and vein) up and down around the macula, two
 * nasal pairs, and a few small vessels towards the macula. Depends on c->seed only. */
static void plan_vessels(const afloc_synth_case *c, vessel_tree *t) {
    const double *a = c->anatomy;
    afloc_rng rng;
    afloc_rng_seed(&rng, c->seed, 77);
    double temporal = -a[A_NASAL];
    t->count = 0;
    for (int pair = 0; pair < 2; pair++) {
        double w = pair == 0 ? 0.0070 : 0.0052, dark = pair == 0 ? 0.95 : 0.75;
        double skew = pair == 0 ? 0.0 : 0.25;
        for (int vert = -1; vert <= 1; vert += 2) {
            double dv = (double)vert;
            grow(t, a, &rng, a[A_DX], a[A_DY], temporal * (0.35 + skew), dv, temporal, -0.25 * dv,
                 0.16, w, dark, 18, 0);
            grow(t, a, &rng, a[A_DX], a[A_DY], -temporal * (0.9 + skew), 0.7 * dv, -temporal, 0.0,
                 0.05, w * 0.8, dark, 10, 0);
        }
    }
    for (int k = 0; k < 3; k++) {
        double dv = afloc_synth_uniform(&rng, -0.3, 0.3);
        grow(t, a, &rng, a[A_DX] + temporal * a[A_DR], a[A_DY], temporal, dv, 0.0, 0.0, 0.0,
             0.0028, 0.6, 4, 1);
    }
}

/* Distance from (u, v) to a segment. */
static double segment_distance(const segment *s, double u, double v) {
    double ex = s->u1 - s->u0, ey = s->v1 - s->v0, wx = u - s->u0, wy = v - s->v0;
    double len2 = ex * ex + ey * ey;
    double t = len2 > 0.0 ? afloc_synth_clamp01((wx * ex + wy * ey) / len2) : 0.0;
    double dx = wx - t * ex, dy = wy - t * ey;
    return sqrt(dx * dx + dy * dy);
}

/* Rasterises the vessels into `plane` (max coverage x darkness). */
static void render_vessels(const vessel_tree *t, int32_t size, float *plane) {
    double px = 1.0 / (double)size, s = (double)size;
    for (int32_t k = 0; k < t->count; k++) {
        const segment *g = &t->s[k];
        double reach = g->width + 1.5 * px;
        double lo_u = (g->u0 < g->u1 ? g->u0 : g->u1) - reach, hi_u = (g->u0 > g->u1 ? g->u0 : g->u1) + reach;
        double lo_v = (g->v0 < g->v1 ? g->v0 : g->v1) - reach, hi_v = (g->v0 > g->v1 ? g->v0 : g->v1) + reach;
        int32_t x0 = (int32_t)(lo_u * s), x1 = (int32_t)(hi_u * s) + 1;
        int32_t y0 = (int32_t)(lo_v * s), y1 = (int32_t)(hi_v * s) + 1;
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > size) x1 = size;
        if (y1 > size) y1 = size;
        double half = 0.5 * g->width, edge = half > px ? half : px;
        for (int32_t y = y0; y < y1; y++) {
            double v = ((double)y + 0.5) * px;
            for (int32_t x = x0; x < x1; x++) {
                double u = ((double)x + 0.5) * px;
                double d = segment_distance(g, u, v);
                double cover = 1.0 - afloc_synth_smoothstep(half - 0.5 * edge, half + 0.5 * edge, d);
                float val = (float)(cover * g->dark);
                size_t i = (size_t)y * (size_t)size + (size_t)x;
                if (val > plane[i]) plane[i] = val;
            }
        }
    }
}

/* The soft circular field in [0, 1]. */
static double field_at(const double *a, double u, double v, double px) {
    double d = sqrt(dist2(u, v, a[A_CX], a[A_CY]));
    return afloc_synth_smoothstep(0.0, 2.0 * px, a[A_R] - d);
}

static void render_base(const afloc_synth_case *c, int32_t size, const float *vessels,
                        double *rgb) {
    const double *a = c->anatomy;
    double px = 1.0 / (double)size, cup = a[A_CUP] * a[A_DR];
    for (int32_t y = 0; y < size; y++) {
        double v = ((double)y + 0.5) * px;
        for (int32_t x = 0; x < size; x++) {
            double u = ((double)x + 0.5) * px;
            size_t i = (size_t)y * (size_t)size + (size_t)x;
            double *o = rgb + 3 * i;
            double field = field_at(a, u, v, px);
            if (field == 0.0) {
                o[0] = o[1] = o[2] = 0.0;
                continue;
            }
            double r2 = dist2(u, v, a[A_CX], a[A_CY]) / (a[A_R] * a[A_R]);
            double bright = 1.0 - a[A_FALL] * r2;
            double tex = 1.0 + a[A_TEX] * (afloc_synth_value_noise(c->seed ^ 0x51, u, v, 14.0) - 0.5) +
                         0.5 * a[A_TEX] * (afloc_synth_value_noise(c->seed ^ 0x52, u, v, 45.0) - 0.5);
            double r = a[A_BR] * bright * tex, g = a[A_BG] * bright * tex, b = a[A_BB] * bright * tex;
            /* macula and fovea */
            double q = dist2(u, v, a[A_MX], a[A_MY]) / (a[A_MR] * a[A_MR]);
            if (q < 1.0) {
                double m = (1.0 - q) * (1.0 - q);
                double fov = q < 0.06 ? (1.0 - q / 0.06) : 0.0;
                r *= 1.0 - 0.28 * m - 0.15 * fov;
                g *= 1.0 - 0.42 * m - 0.2 * fov;
                b *= 1.0 - 0.35 * m - 0.2 * fov;
                if (q < 0.004) r += 0.12, g += 0.1, b += 0.08; /* foveal reflex */
            }
            /* optic disc with its cup and a faint peripapillary halo */
            double dd = sqrt(dist2(u, v, a[A_DX], a[A_DY]));
            double disc = afloc_synth_smoothstep(-1.5 * px, 1.5 * px, a[A_DR] - dd);
            double halo = 1.0 - afloc_synth_smoothstep(a[A_DR], 1.6 * a[A_DR], dd);
            r += 0.06 * halo, g += 0.05 * halo;
            if (disc > 0.0) {
                double cupw = afloc_synth_smoothstep(-2.0 * px, 2.0 * px, cup - dd);
                double dr = 0.98, dg = 0.80 + 0.1 * cupw, db = 0.50 + 0.22 * cupw;
                double w = 0.88 * disc;
                r += (dr - r) * w, g += (dg - g) * w, b += (db - b) * w;
            }
            /* vessels: darker red, less over the disc's pallor */
            double vc = (double)vessels[i];
            r *= 1.0 - 0.42 * vc, g *= 1.0 - 0.62 * vc, b *= 1.0 - 0.5 * vc;
            o[0] = r * field, o[1] = g * field, o[2] = b * field;
        }
    }
}

/* The elements of finding fi: centre, radius, elongation direction and ratio. Depends on the
 * finding alone, so a render with and without other findings draws the same elements. */
typedef struct element {
    double u, v, r, cu, cv, ratio, fluff;
} element;

static int32_t plan_elements(const afloc_synth_case *c, int32_t fi, element *e) {
    const afloc_synth_finding *f = &c->findings[fi];
    const double *p = f->p;
    afloc_rng rng;
    afloc_rng_seed(&rng, c->seed, 2000 + (uint64_t)fi);
    int32_t n = (int32_t)p[P_COUNT];
    if (n > MAX_ELEMENTS) n = MAX_ELEMENTS;
    for (int32_t k = 0; k < n; k++) {
        double x, y;
        for (;;) {
            x = afloc_synth_uniform(&rng, -1.0, 1.0), y = afloc_synth_uniform(&rng, -1.0, 1.0);
            double q = x * x + y * y;
            if (q > 1.0) continue;
            /* drusen keep clear of the foveal centre */
            if (f->category == AFLOC_FUNDUS_DRUSEN && q < 0.09) continue;
            break;
        }
        e[k].u = p[P_U] + x * p[P_SPREAD];
        e[k].v = p[P_V] + y * p[P_SPREAD];
        e[k].r = p[P_SIZE] * afloc_synth_uniform(&rng, 0.6, 1.25);
        double dx = afloc_synth_uniform(&rng, -1.0, 1.0), dy = afloc_synth_uniform(&rng, -1.0, 1.0);
        normalise(&dx, &dy);
        e[k].cu = dx, e[k].cv = dy;
        e[k].ratio = f->category == AFLOC_FUNDUS_HAEMORRHAGE ? afloc_synth_uniform(&rng, 1.0, 1.8)
                     : f->category == AFLOC_FUNDUS_COTTON_WOOL ? afloc_synth_uniform(&rng, 1.2, 1.8)
                                                                : afloc_synth_uniform(&rng, 1.0, 1.15);
        e[k].fluff = afloc_synth_uniform(&rng, 0.0, 1.0);
    }
    return n;
}

/* Opacity of element e at (u, v) for `category`. */
static double element_alpha(const afloc_synth_case *c, int32_t category, const element *e,
                            double amp, double u, double v, double px) {
    double du = u - e->u, dv = v - e->v;
    double along = (du * e->cu + dv * e->cv) / (e->r * e->ratio);
    double across = (-du * e->cv + dv * e->cu) / e->r;
    double q2 = along * along + across * across;
    if (q2 >= 1.69) return 0.0;
    double q = sqrt(q2), soft = px / e->r;
    switch (category) {
    case AFLOC_FUNDUS_HAEMORRHAGE:
        return amp * (1.0 - afloc_synth_smoothstep(0.75 - soft, 1.0 + soft, q));
    case AFLOC_FUNDUS_EXUDATE:
        return amp * (1.0 - afloc_synth_smoothstep(0.85 - soft, 1.0 + soft, q));
    case AFLOC_FUNDUS_DRUSEN:
        return amp * (1.0 - afloc_synth_smoothstep(0.2, 1.0 + soft, q));
    default: {
        double n = afloc_synth_value_noise(c->seed ^ 0x77, u, v, 90.0) - 0.5;
        double edge = q + 0.35 * n;
        return amp * (1.0 - afloc_synth_smoothstep(0.35, 1.05, edge));
    }
    }
}

/* Blends finding fi over the image and records where it changes some channel by BOX_THRESHOLD. */
static void render_finding(const afloc_synth_case *c, int32_t fi, int32_t size, double *rgb,
                           afloc_synth_box *box) {
    static const double colour[AFLOC_FUNDUS_CLASSES][3] = {
        {0.40, 0.05, 0.04}, {0.98, 0.90, 0.40}, {0.95, 0.84, 0.50}, {0.95, 0.93, 0.86}};
    const afloc_synth_finding *f = &c->findings[fi];
    const double *a = c->anatomy, *col = colour[f->category];
    element e[MAX_ELEMENTS];
    int32_t n = plan_elements(c, fi, e);
    double px = 1.0 / (double)size, s = (double)size;
    double reach = f->p[P_SPREAD] + 1.3 * 1.8 * 1.25 * f->p[P_SIZE] + 2.0 * px;
    afloc_synth_box r = {(int32_t)((f->p[P_U] - reach) * s), (int32_t)((f->p[P_V] - reach) * s),
                         (int32_t)((f->p[P_U] + reach) * s) + 1, (int32_t)((f->p[P_V] + reach) * s) + 1};
    afloc_synth_box_clamp(&r, size);
    afloc_synth_box b = afloc_synth_box_none(size);
    for (int32_t y = r.y0; y < r.y1; y++) {
        double v = ((double)y + 0.5) * px;
        for (int32_t x = r.x0; x < r.x1; x++) {
            double u = ((double)x + 0.5) * px;
            double alpha = 0.0;
            for (int32_t k = 0; k < n; k++) {
                double al = element_alpha(c, f->category, &e[k], f->p[P_AMP], u, v, px);
                if (al > alpha) alpha = al;
            }
            if (alpha == 0.0) continue;
            alpha *= field_at(a, u, v, px);
            double *o = rgb + 3 * ((size_t)y * (size_t)size + (size_t)x);
            double change = 0.0;
            for (int ch = 0; ch < 3; ch++) {
                double target = col[ch];
                if (f->category == AFLOC_FUNDUS_HAEMORRHAGE) target = col[ch] * (0.8 + 0.2 * o[ch]);
                double d = (target - o[ch]) * alpha;
                o[ch] += d;
                double ad = d < 0.0 ? -d : d;
                if (ad > change) change = ad;
            }
            if (change >= BOX_THRESHOLD) afloc_synth_box_add(&b, x, y);
        }
    }
    *box = afloc_synth_box_close(b, r); /* the support only when too faint anywhere */
}

static afloc_status fundus_render(const afloc_synth_case *c, int32_t size, uint32_t mask,
                                  void *pixels, afloc_synth_box *boxes, const char *function) {
    size_t n = (size_t)size * (size_t)size;
    double *rgb = afloc_malloc(3 * n * sizeof(double));
    float *vessels = afloc_calloc(n, sizeof(float));
    segment *segs = afloc_malloc(MAX_SEGMENTS * sizeof(segment));
    if (!rgb || !vessels || !segs) {
        afloc_free(rgb);
        afloc_free(vessels);
        afloc_free(segs);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for a %d x %d image", function,
                          size, size);
    }
    vessel_tree tree = {segs, 0};
    plan_vessels(c, &tree);
    render_vessels(&tree, size, vessels);
    render_base(c, size, vessels, rgb);
    for (int32_t i = 0; i < c->count; i++) {
        afloc_synth_box scratch;
        afloc_synth_box *b = boxes ? &boxes[i] : &scratch;
        memset(b, 0, sizeof *b);
        if ((mask >> i) & 1u) render_finding(c, i, size, rgb, b);
    }
    afloc_synth_rgb_quantize(c->seed, c->anatomy[A_GAIN], c->anatomy[A_NOISE], rgb, size, 1, pixels);
    afloc_free(rgb);
    afloc_free(vessels);
    afloc_free(segs);
    return AFLOC_OK;
}

const afloc_synth_modality *afloc_synth_modality_fundus(void) {
    static const afloc_synth_modality fundus = {
        "fundus", 3, 0x61666366756e3031ull /* "afcfun01" */, AFLOC_FUNDUS_CLASSES, class_names,
        (int32_t)(sizeof class_prompts / sizeof class_prompts[0]), class_prompts, fundus_plan,
        fundus_render};
    return &fundus;
}
