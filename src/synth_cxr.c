/* synth_cxr.c: the synthetic chest radiograph (issue 5): normal anatomy (body, lung fields,
 * mediastinum and spine, heart, hemidiaphragms, ribs, clavicles, lung markings, gastric bubble,
 * noise) and seven findings (nodule, consolidation, pleural effusion, pneumothorax, cardiomegaly,
 * atelectasis, mass), planned from a case's RNG and rendered as a 16-bit gray PNG image.
 *
 * Geometry is in normalised image units: u = (x + 0.5) / size to the right, v = (y + 0.5) / size
 * downwards. Lung 0 is on the IMAGE's left = the PATIENT's right; lung 1 is on the image's right
 * = the patient's left, where the heart also sits. Intensities are in [0, 1] (bright = dense).
 * Each finding adds a delta to the normal image; its box is the bounding box of the pixels where
 * |delta| >= BOX_THRESHOLD (cardiomegaly: the enlarged heart's ellipse), so a box marks exactly
 * where the image differs from the same image without that finding. */
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

#define BOX_THRESHOLD 0.03 /* intensity units (of 1.0 full scale) */

/* Anatomy slots in afloc_synth_case.anatomy. Per-lung values are at [base + lung]. */
enum {
    A_CX = 0,        /* body centre u                                  */
    A_BW,            /* body half-width                                */
    A_TISSUE,        /* soft-tissue level                              */
    A_DARK,          /* lung lucency (subtracted inside the lungs)     */
    A_MED,           /* +lung: medial lung edge u                      */
    A_LAT = A_MED + 2, /* +lung: lateral lung edge u (full width)      */
    A_APEX = A_LAT + 2, /* +lung: apex v                               */
    A_CP = A_APEX + 2,  /* +lung: costophrenic angle v (lowest point)   */
    A_DOME = A_CP + 2,  /* +lung: dome height above the angle           */
    A_HX = A_DOME + 2,  /* heart centre, semi-axes                      */
    A_HY, A_HRX, A_HRY,
    A_RIB0, A_RIBSTEP, A_RIBCURVE,
    A_GAIN, A_OFFSET, A_NOISE,
    A_SPINE,
    A_GAS, A_GASX, A_GASY,
    A_COUNT
};
_Static_assert(A_COUNT <= AFLOC_SYNTH_ANATOMY, "anatomy slots");

/* Finding parameter slots (afloc_synth_finding.p). */
enum { P_U = 0, P_V, P_AMP, P_R, P_LOB2, P_LOB3, P_CPHI, P_SPHI, P_U2, P_V2, P_DU, P_DV, P_LEN,
       P_THICK, P_LEVEL, P_FRAC };

static const char *const class_names[AFLOC_CXR_CLASSES] = {
    "nodule", "consolidation", "pleural effusion", "pneumothorax", "cardiomegaly", "atelectasis",
    "mass"};
/* classes.csv: zero-shot prompt ensembles written as report sentences, each class's report-style
 * positives against the reports' commonest negation of the finding (`afloc eval` scores the mean
 * of each side's unit embeddings). Ensembles won over the best single pair per class on a
 * validation set (`afloc synth cxr --seed 2 --test 300`, never the seed-1 test set), where the
 * pairs were chosen (scripts/choose_prompts.py; models/README.md, "Zero-shot prompts"). */
#define NODULE_NO "no pulmonary nodule is seen."
#define CONSOLIDATION_NO "there is no focal consolidation."
#define EFFUSION_NO "there is no pleural effusion."
#define PNEUMOTHORAX_NO "there is no pneumothorax."
#define HEART_NO "the heart size is normal."
#define ATELECTASIS_NO "there is no atelectasis."
#define MASS_NO "no lung mass is identified."
static const afloc_synth_prompt class_prompts[] = {
    {0, "a pulmonary nodule is seen.", NODULE_NO},
    {0, "there is a rounded nodule in the lung.", NODULE_NO},
    {0, "impression: lung nodule.", NODULE_NO},
    {0, "a rounded nodule is noted, and ct is recommended for further evaluation.", NODULE_NO},
    {0, "a well-circumscribed nodular opacity is seen.", NODULE_NO},
    {0, "a pulmonary nodule projects over the lung.", NODULE_NO},
    {1, "airspace consolidation is seen.", CONSOLIDATION_NO},
    {1, "an area of consolidation is noted.", CONSOLIDATION_NO},
    {1, "impression: consolidation.", CONSOLIDATION_NO},
    {1, "patchy airspace opacity may reflect pneumonia.", CONSOLIDATION_NO},
    {1, "airspace consolidation is seen, concerning for infection.", CONSOLIDATION_NO},
    {1, "there is focal consolidation in the lung.", CONSOLIDATION_NO},
    {2, "a pleural effusion is present.", EFFUSION_NO},
    {2, "a small effusion is present.", EFFUSION_NO},
    {2, "impression: pleural effusion.", EFFUSION_NO},
    {3, "a pneumothorax is present.", PNEUMOTHORAX_NO},
    {3, "a visible pleural line at the apex indicates a pneumothorax.", PNEUMOTHORAX_NO},
    {3, "impression: pneumothorax.", PNEUMOTHORAX_NO},
    {4, "the heart is enlarged.", HEART_NO},
    {4, "moderate cardiomegaly is present.", HEART_NO},
    {4, "impression: cardiomegaly.", HEART_NO},
    {5, "there is atelectasis.", ATELECTASIS_NO},
    {5, "plate-like atelectasis is noted.", ATELECTASIS_NO},
    {5, "impression: atelectasis.", ATELECTASIS_NO},
    {6, "a lung mass is seen.", MASS_NO},
    {6, "there is a large mass in the lung.", MASS_NO},
    {6, "impression: lung mass.", MASS_NO},
    {6, "a large mass is present, concerning for malignancy.", MASS_NO},
    {6, "a large lobulated mass-like opacity occupies the lung.", MASS_NO},
    {6, "there is a large irregular mass.", MASS_NO}};

static double absd(double x) { return x < 0.0 ? -x : x; }

/* ---- anatomy ---- */

/* The lung of patient side `side`: 0 for the patient's right (image left), 1 for the left. */
static int lung_of_side(int32_t side) { return side == AFLOC_SYNTH_SIDE_LEFT ? 1 : 0; }

/* Lateral fraction t of u in lung k: 0 at the medial edge, 1 at the full lateral edge. */
static double lung_t(const double *a, int k, double u) {
    return (u - a[A_MED + k]) / (a[A_LAT + k] - a[A_MED + k]);
}

/* The lateral limit of t at height v (the lung narrows towards the apex). */
static double lung_width(const double *a, int k, double v) {
    double r = afloc_synth_clamp01((v - a[A_APEX + k]) / 0.30);
    return 0.62 + 0.38 * r * (2.0 - r);
}
static double lung_top(const double *a, int k, double t) {
    double d = t - 0.42;
    return a[A_APEX + k] + 0.16 * d * d;
}
static double lung_dome(const double *a, int k, double t) {
    double d = (t - 0.42) / 0.58;
    return a[A_CP + k] - a[A_DOME + k] * (1.0 - d * d);
}

/* Soft lung mask in [0, 1] of lung k at (u, v); edge width `edge` (normalised units). */
static double lung_mask(const double *a, int k, double u, double v, double edge) {
    double span = absd(a[A_LAT + k] - a[A_MED + k]);
    double t = lung_t(a, k, u);
    double m = afloc_synth_smoothstep(0.0, edge, t * span);
    if (m == 0.0) return 0.0;
    m *= afloc_synth_smoothstep(0.0, edge, (lung_width(a, k, v) - t) * span);
    if (m == 0.0) return 0.0;
    m *= afloc_synth_smoothstep(0.0, edge, v - lung_top(a, k, t));
    if (m == 0.0) return 0.0;
    return m * afloc_synth_smoothstep(0.0, edge, lung_dome(a, k, t) - v);
}

/* Heart mask with the heart's semi-axes scaled by (sx, sy) and its centre moved by du. */
static double heart_mask(const double *a, double u, double v, double sx, double sy, double du,
                         double edge) {
    double rx = a[A_HRX] * sx, ry = a[A_HRY] * sy;
    double dx = (u - a[A_HX] - du) / rx, dy = (v - a[A_HY]) / ry;
    double q2 = dx * dx + dy * dy;
    if (q2 > 4.0) return 0.0;
    double dist = (1.0 - sqrt(q2)) * rx; /* approximate distance to the border */
    return afloc_synth_smoothstep(-edge, edge, dist);
}

/* The zone centre band of lung k: v limits of zone z (0 upper, 1 middle, 2 lower) at t. */
static void zone_band(const double *a, int k, double t, int32_t z, double *v0, double *v1) {
    double top = lung_top(a, k, t) + 0.03, bottom = lung_dome(a, k, t) - 0.03;
    double h = (bottom - top) / 3.0;
    *v0 = top + h * (double)z;
    *v1 = *v0 + h;
}

static void plan_anatomy(double *a, afloc_rng *rng) {
    a[A_CX] = afloc_synth_uniform(rng, 0.485, 0.515);
    a[A_BW] = afloc_synth_uniform(rng, 0.41, 0.46);
    a[A_TISSUE] = afloc_synth_uniform(rng, 0.46, 0.54);
    a[A_DARK] = afloc_synth_uniform(rng, 0.24, 0.32);
    for (int k = 0; k < 2; k++) {
        double dir = k == 0 ? -1.0 : 1.0;
        a[A_MED + k] = a[A_CX] + dir * afloc_synth_uniform(rng, 0.06, 0.08);
        a[A_LAT + k] = a[A_CX] + dir * afloc_synth_uniform(rng, 0.34, 0.38);
        a[A_APEX + k] = afloc_synth_uniform(rng, 0.10, 0.14);
        a[A_DOME + k] = afloc_synth_uniform(rng, 0.05, 0.08);
    }
    a[A_CP + 0] = afloc_synth_uniform(rng, 0.74, 0.80);
    a[A_CP + 1] = a[A_CP + 0] + afloc_synth_uniform(rng, 0.0, 0.03); /* left dome lower */
    a[A_HX] = a[A_CX] + afloc_synth_uniform(rng, 0.06, 0.085);
    a[A_HY] = afloc_synth_uniform(rng, 0.62, 0.67);
    a[A_HRX] = afloc_synth_uniform(rng, 0.14, 0.165);
    a[A_HRY] = afloc_synth_uniform(rng, 0.11, 0.13);
    a[A_RIB0] = afloc_synth_uniform(rng, 0.10, 0.13);
    a[A_RIBSTEP] = afloc_synth_uniform(rng, 0.058, 0.068);
    a[A_RIBCURVE] = afloc_synth_uniform(rng, 0.10, 0.16);
    a[A_GAIN] = afloc_synth_uniform(rng, 0.9, 1.1);
    a[A_OFFSET] = afloc_synth_uniform(rng, -0.03, 0.03);
    a[A_NOISE] = afloc_synth_uniform(rng, 0.006, 0.014);
    a[A_SPINE] = afloc_synth_uniform(rng, 0.04, 0.05);
    a[A_GAS] = afloc_synth_uniform(rng, 0.0, 1.0) < 0.6 ? 1.0 : 0.0;
    a[A_GASX] = a[A_MED + 1] + 0.5 * (a[A_LAT + 1] - a[A_MED + 1]);
    a[A_GASY] = a[A_CP + 1] + afloc_synth_uniform(rng, 0.01, 0.04);
}

/* ---- planning findings ---- */

static const double category_weight[AFLOC_CXR_CLASSES] = {1.0, 1.0, 1.2, 0.8, 0.9, 1.0, 0.7};

static int is_local(int32_t category) {
    return category == AFLOC_CXR_NODULE || category == AFLOC_CXR_CONSOLIDATION ||
           category == AFLOC_CXR_ATELECTASIS || category == AFLOC_CXR_MASS;
}

/* Picks a centre in lung `k`, zone `z`, away from the heart; 0 if none found. */
static int pick_centre(const double *a, int k, int32_t z, afloc_rng *rng, double *u, double *v) {
    for (int attempt = 0; attempt < 32; attempt++) {
        double t = afloc_synth_uniform(rng, 0.25, 0.75);
        if (k == 1 && z > 0) t = afloc_synth_uniform(rng, 0.45, 0.8);
        double v0, v1;
        zone_band(a, k, t, z, &v0, &v1);
        double vv = afloc_synth_uniform(rng, v0 + 0.2 * (v1 - v0), v1 - 0.2 * (v1 - v0));
        double uu = a[A_MED + k] + t * (a[A_LAT + k] - a[A_MED + k]);
        if (lung_mask(a, k, uu, vv, 0.01) < 0.99) continue;
        if (heart_mask(a, uu, vv, 1.0, 1.0, 0.0, 0.01) > 0.0) continue;
        *u = uu;
        *v = vv;
        return 1;
    }
    return 0;
}


static int32_t draw_side(afloc_rng *rng, double bilateral) {
    double r = afloc_synth_uniform(rng, 0.0, 1.0);
    if (r < bilateral) return AFLOC_SYNTH_SIDE_BILATERAL;
    return r < bilateral + (1.0 - bilateral) * 0.5 ? AFLOC_SYNTH_SIDE_LEFT : AFLOC_SYNTH_SIDE_RIGHT;
}

/* Fills geometry of finding f (category/side/zone/severity set); 0 if no place was found. */
static int plan_geometry(const double *a, afloc_synth_finding *f, afloc_rng *rng) {
    double *p = f->p;
    int k = lung_of_side(f->side);
    switch (f->category) {
    case AFLOC_CXR_NODULE:
    case AFLOC_CXR_MASS: {
        if (!pick_centre(a, k, f->zone, rng, &p[P_U], &p[P_V])) return 0;
        if (f->category == AFLOC_CXR_NODULE) {
            p[P_R] = f->severity == 0 ? afloc_synth_uniform(rng, 0.011, 0.016)
                                      : afloc_synth_uniform(rng, 0.016, 0.024);
            p[P_AMP] = afloc_synth_uniform(rng, 0.10, 0.22);
            p[P_LOB2] = p[P_LOB3] = 0.0;
        } else {
            p[P_R] = afloc_synth_uniform(rng, 0.035, 0.045) + 0.012 * (double)f->severity;
            p[P_AMP] = afloc_synth_uniform(rng, 0.12, 0.24);
            p[P_LOB2] = afloc_synth_uniform(rng, 0.0, 0.12);
            p[P_LOB3] = afloc_synth_uniform(rng, 0.0, 0.10);
        }
        afloc_synth_random_direction(rng, &p[P_CPHI], &p[P_SPHI]);
        return 1;
    }
    case AFLOC_CXR_CONSOLIDATION:
        if (!pick_centre(a, k, f->zone, rng, &p[P_U], &p[P_V])) return 0;
        p[P_AMP] = afloc_synth_uniform(rng, 0.12, 0.24);
        p[P_R] = afloc_synth_uniform(rng, 0.035, 0.06); /* spread of the blobs */
        return 1;
    case AFLOC_CXR_ATELECTASIS:
        for (int lung = 0; lung < 2; lung++) {
            if (f->side != AFLOC_SYNTH_SIDE_BILATERAL && lung != k) continue;
            double *uv = lung == 0 ? &p[P_U] : &p[P_U2];
            if (!pick_centre(a, lung, f->zone, rng, &uv[0], &uv[1])) return 0;
        }
        p[P_AMP] = afloc_synth_uniform(rng, 0.12, 0.22);
        p[P_LEN] = afloc_synth_uniform(rng, 0.05, 0.085);
        p[P_THICK] = afloc_synth_uniform(rng, 0.008, 0.014);
        {
            double tilt = afloc_synth_uniform(rng, -0.35, 0.35), n = sqrt(1.0 + tilt * tilt);
            p[P_DU] = 1.0 / n;
            p[P_DV] = tilt / n;
        }
        return 1;
    case AFLOC_CXR_EFFUSION: {
        static const double depth_lo[3] = {0.05, 0.11, 0.19}, depth_hi[3] = {0.08, 0.15, 0.25};
        p[P_LEVEL] = afloc_synth_uniform(rng, depth_lo[f->severity], depth_hi[f->severity]);
        p[P_AMP] = afloc_synth_uniform(rng, 0.85, 0.98); /* fraction of lucency filled */
        return 1;
    }
    case AFLOC_CXR_PNEUMOTHORAX: {
        static const double lo[3] = {0.10, 0.19, 0.30}, hi[3] = {0.15, 0.26, 0.40};
        p[P_FRAC] = afloc_synth_uniform(rng, lo[f->severity], hi[f->severity]);
        p[P_U] = a[A_MED + k] + 0.2 * (a[A_LAT + k] - a[A_MED + k]); /* hilum */
        p[P_V] = a[A_APEX + k] + 0.5 * (a[A_CP + k] - a[A_APEX + k]);
        p[P_AMP] = afloc_synth_uniform(rng, 0.05, 0.08);
        return 1;
    }
    case AFLOC_CXR_CARDIOMEGALY: {
        static const double lo[3] = {1.18, 1.30, 1.42}, hi[3] = {1.28, 1.40, 1.55};
        p[P_R] = afloc_synth_uniform(rng, lo[f->severity], hi[f->severity]); /* x scale */
        p[P_LEN] = 1.0 + 0.4 * (p[P_R] - 1.0);                                /* y scale */
        p[P_DU] = 0.35 * (p[P_R] - 1.0) * a[A_HRX]; /* grows towards the patient's left */
        return 1;
    }
    default:
        return 0;
    }
}


/* 1 if finding f conflicts with one already planned: two local findings in one lung zone, fluid
 * and air on one side, or a basal effusion that would hide a lower-zone finding. */
static int conflicts(const afloc_synth_case *c, const afloc_synth_finding *f) {
    for (int32_t i = 0; i < c->count; i++) {
        const afloc_synth_finding *g = &c->findings[i];
        int same_side = g->side == f->side || g->side == AFLOC_SYNTH_SIDE_BILATERAL ||
                        f->side == AFLOC_SYNTH_SIDE_BILATERAL;
        if (!same_side) continue;
        if (is_local(f->category) && is_local(g->category) && g->zone == f->zone) return 1;
        int pleural_f = f->category == AFLOC_CXR_EFFUSION || f->category == AFLOC_CXR_PNEUMOTHORAX;
        int pleural_g = g->category == AFLOC_CXR_EFFUSION || g->category == AFLOC_CXR_PNEUMOTHORAX;
        if (pleural_f && pleural_g) return 1;
        if (f->category == AFLOC_CXR_EFFUSION && is_local(g->category) && g->zone == 2) return 1;
        if (g->category == AFLOC_CXR_EFFUSION && is_local(f->category) && f->zone == 2) return 1;
    }
    return 0;
}

static void draw_finding(afloc_synth_finding *f, int32_t category, afloc_rng *rng) {
    memset(f, 0, sizeof *f);
    f->category = category;
    f->zone = (int32_t)afloc_rng_below(rng, 3);
    f->severity = (int32_t)afloc_rng_below(rng, 3);
    switch (category) {
    case AFLOC_CXR_EFFUSION:
        f->side = draw_side(rng, 0.25);
        f->zone = 2;
        break;
    case AFLOC_CXR_PNEUMOTHORAX:
        f->side = draw_side(rng, 0.0);
        f->zone = 0;
        break;
    case AFLOC_CXR_CARDIOMEGALY:
        f->side = AFLOC_SYNTH_SIDE_NONE;
        f->zone = -1;
        break;
    case AFLOC_CXR_ATELECTASIS:
        f->side = draw_side(rng, 0.15);
        f->zone = f->side == AFLOC_SYNTH_SIDE_BILATERAL ? 2 : (afloc_synth_uniform(rng, 0, 1) < 0.6 ? 2 : 1);
        break;
    case AFLOC_CXR_NODULE:
        f->side = draw_side(rng, 0.0);
        f->severity = f->severity == 2 ? 1 : f->severity; /* small or unqualified */
        break;
    default:
        f->side = draw_side(rng, 0.0);
        break;
    }
}

static afloc_status cxr_plan(afloc_synth_case *c, afloc_rng *rng, int32_t size,
                             const char *function) {
    (void)size;
    plan_anatomy(c->anatomy, rng);
    double r = afloc_synth_uniform(rng, 0.0, 1.0);
    int32_t want = r < 0.2 ? 0 : (r < 0.6 ? 1 : (r < 0.85 ? 2 : 3));
    int used[AFLOC_CXR_CLASSES] = {0};
    for (int32_t attempt = 0; c->count < want && attempt < 24; attempt++) {
        int32_t category = afloc_synth_draw_category(rng, category_weight, used, AFLOC_CXR_CLASSES);
        afloc_synth_finding f;
        draw_finding(&f, category, rng);
        if (conflicts(c, &f) || !plan_geometry(c->anatomy, &f, rng)) continue;
        used[category] = 1;
        c->findings[c->count++] = f;
    }
    return afloc_synth_cxr_write_text(c, rng, function);
}

/* ---- rendering ---- */

/* Scratch planes for one render (size*size each). */
typedef struct cxr_planes {
    double *image; /* the normal image before gain and noise, then + deltas */
    float  *lung[2];
    float  *dark;     /* lucency subtracted (lung mask x depth x (1 - heart)) */
    float  *markings; /* vessel pattern added inside the lungs                */
} cxr_planes;

static double markings_at(const afloc_synth_case *c, int k, double u, double v) {
    const double *a = c->anatomy;
    double n = afloc_synth_value_noise(c->seed ^ 0x11, u, v, 22.0);
    double ridge = 1.0 - absd(2.0 * n - 1.0);
    ridge = ridge * ridge;
    ridge = ridge * ridge;
    double fine = afloc_synth_value_noise(c->seed ^ 0x22, u, v, 64.0) - 0.5;
    double t = afloc_synth_clamp01(lung_t(a, k, u));
    return (0.045 * ridge + 0.025 * fine) * (1.0 - 0.55 * t);
}

static void render_base(const afloc_synth_case *c, int32_t size, double heart_sx, double heart_sy,
                        double heart_du, cxr_planes *pl) {
    const double *a = c->anatomy;
    double px = 1.0 / (double)size, edge = 1.5 * px;
    for (int32_t y = 0; y < size; y++) {
        double v = ((double)y + 0.5) * px;
        for (int32_t x = 0; x < size; x++) {
            double u = ((double)x + 0.5) * px;
            size_t i = (size_t)y * (size_t)size + (size_t)x;
            double body = afloc_synth_smoothstep(0.0, 4.0 * px, a[A_BW] - absd(u - a[A_CX]));
            double val = 0.03 + (a[A_TISSUE] - 0.03 + 0.05 * v) * body;
            /* spine with vertebral bodies */
            double sd = absd(u - a[A_CX]);
            if (sd < a[A_SPINE] + edge) {
                double vert = v * 24.0 - (double)(int64_t)(v * 24.0);
                double bump = 1.0 - absd(2.0 * vert - 1.0);
                val += (0.08 + 0.04 * bump) * afloc_synth_smoothstep(-edge, edge, a[A_SPINE] - sd);
            }
            double heart = heart_mask(a, u, v, heart_sx, heart_sy, heart_du, edge);
            val += 0.06 * heart;
            float dark = 0.0f, marks = 0.0f;
            for (int k = 0; k < 2; k++) {
                double m = lung_mask(a, k, u, v, edge);
                pl->lung[k][i] = (float)m;
                if (m == 0.0) continue;
                double t = afloc_synth_clamp01(lung_t(a, k, u));
                double d = a[A_DARK] * m * (1.0 - heart) * (0.85 + 0.6 * t * (1.0 - t));
                double mk = markings_at(c, k, u, v) * m * (1.0 - heart);
                dark = (float)d;
                marks = (float)mk;
            }
            if (a[A_GAS] > 0.0) {
                double gx = (u - a[A_GASX]) / 0.035, gy = (v - a[A_GASY]) / 0.022;
                double q2 = gx * gx + gy * gy;
                if (q2 < 1.0) val -= 0.12 * (1.0 - q2) * (1.0 - q2);
            }
            pl->dark[i] = dark;
            pl->markings[i] = marks;
            pl->image[i] = val - (double)dark + (double)marks;
        }
    }
}

/* Adds a bright band of half-thickness th around the curve y(u) for columns u in [u0, u1]. */
static void draw_band(double *image, int32_t size, double u0, double u1, double th, double amp,
                      double y0, double slope, double curve, double ux) {
    double px = 1.0 / (double)size;
    int32_t x0 = (int32_t)(u0 * (double)size), x1 = (int32_t)(u1 * (double)size);
    if (x0 < 0) x0 = 0;
    if (x1 > size - 1) x1 = size - 1;
    for (int32_t x = x0; x <= x1; x++) {
        double u = ((double)x + 0.5) * px, du = u - ux;
        double yc = y0 + slope * du + curve * du * du;
        int32_t ya = (int32_t)((yc - th) * (double)size) - 1, yb = (int32_t)((yc + th) * (double)size) + 1;
        if (ya < 0) ya = 0;
        if (yb > size - 1) yb = size - 1;
        for (int32_t y = ya; y <= yb; y++) {
            double q = (((double)y + 0.5) * px - yc) / th;
            if (q <= -1.0 || q >= 1.0) continue;
            double q2 = q * q;
            image[(size_t)y * (size_t)size + (size_t)x] += amp * (1.0 - q2) * (0.55 + 0.45 * q2);
        }
    }
}

static void render_bones(const afloc_synth_case *c, int32_t size, double *image) {
    const double *a = c->anatomy;
    for (int k = 0; k < 2; k++) {
        double med = a[A_CX], lat = a[A_LAT + k] + (a[A_LAT + k] - a[A_CX]) * 0.06;
        double lo = med < lat ? med : lat, hi = med < lat ? lat : med;
        double dir = k == 0 ? -1.0 : 1.0;
        for (int r = 0; r < 10; r++) {
            double y0 = a[A_RIB0 + 0] + a[A_RIBSTEP] * (double)r;
            /* curve in du^2 about the spine: posterior ribs sweep down laterally */
            draw_band(image, size, lo, hi, 0.0095, 0.065, y0, 0.0, a[A_RIBCURVE] * 2.2, med);
        }
        /* clavicle: from the medial end upwards and outwards */
        double cu0 = med + dir * 0.03, cu1 = med + dir * 0.28;
        draw_band(image, size, cu0 < cu1 ? cu0 : cu1, cu0 < cu1 ? cu1 : cu0, 0.011, 0.07,
                  a[A_APEX + k] + 0.035, -0.20 * dir, 0.0, cu0);
    }
}

/* Delta of a finding at pixel i / (u, v); `k` is the finding's lung. */
static double finding_delta(const afloc_synth_case *c, const afloc_synth_finding *f, int32_t fi,
                            const cxr_planes *pl, size_t i, double u, double v, double edge) {
    const double *a = c->anatomy, *p = f->p;
    int k = lung_of_side(f->side);
    switch (f->category) {
    case AFLOC_CXR_NODULE:
    case AFLOC_CXR_MASS: {
        double dx = u - p[P_U], dy = v - p[P_V];
        double d2 = dx * dx + dy * dy, rmax = p[P_R] * (1.0 + p[P_LOB2] + p[P_LOB3]);
        if (d2 >= rmax * rmax) return 0.0;
        double radius = p[P_R];
        if (d2 > 0.0 && (p[P_LOB2] > 0.0 || p[P_LOB3] > 0.0)) {
            double d = sqrt(d2);
            /* rotate by phi, then cos 2th, cos 3th by Chebyshev polynomials of cos th */
            double cs = (dx * p[P_CPHI] + dy * p[P_SPHI]) / d;
            double c2 = 2.0 * cs * cs - 1.0, c3 = cs * (4.0 * cs * cs - 3.0);
            radius *= 1.0 + p[P_LOB2] * c2 + p[P_LOB3] * c3;
        }
        double q2 = d2 / (radius * radius);
        return q2 < 1.0 ? p[P_AMP] * sqrt(1.0 - q2) : 0.0;
    }
    case AFLOC_CXR_CONSOLIDATION: {
        double dens = 0.0;
        afloc_rng rng;
        afloc_rng_seed(&rng, c->seed, 1000 + (uint64_t)fi);
        for (int b = 0; b < 6; b++) {
            double bu = p[P_U] + afloc_synth_uniform(&rng, -1.0, 1.0) * p[P_R] * 0.8;
            double bv = p[P_V] + afloc_synth_uniform(&rng, -1.0, 1.0) * p[P_R] * 0.6;
            double br = p[P_R] * afloc_synth_uniform(&rng, 0.45, 0.8);
            double dx = (u - bu) / br, dy = (v - bv) / br, q2 = dx * dx + dy * dy;
            if (q2 < 1.0) dens += (1.0 - q2) * (1.0 - q2) * 1.4;
        }
        if (dens == 0.0) return 0.0;
        if (dens > 1.0) dens = 1.0;
        double patch = 0.55 + 0.45 * afloc_synth_value_noise(c->seed ^ (0x33 + (uint64_t)fi), u, v, 40.0);
        return p[P_AMP] * dens * patch * (double)pl->lung[k][i] - 0.5 * dens * (double)pl->markings[i];
    }
    case AFLOC_CXR_ATELECTASIS: {
        double total = 0.0;
        for (int lung = 0; lung < 2; lung++) {
            if (f->side != AFLOC_SYNTH_SIDE_BILATERAL && lung != k) continue;
            const double *cu = lung == 0 ? &p[P_U] : &p[P_U2];
            double dx = u - cu[0], dy = v - cu[1];
            double along = (dx * p[P_DU] + dy * p[P_DV]) / p[P_LEN];
            double across = (-dx * p[P_DV] + dy * p[P_DU]) / p[P_THICK];
            double q = along * along + across * across * across * across;
            if (q >= 1.0) continue;
            double w = 1.6 * (1.0 - q);
            total += p[P_AMP] * (w > 1.0 ? 1.0 : w) * (double)pl->lung[lung][i];
        }
        return total;
    }
    case AFLOC_CXR_EFFUSION: {
        double total = 0.0;
        for (int lung = 0; lung < 2; lung++) {
            if (f->side != AFLOC_SYNTH_SIDE_BILATERAL && lung != k) continue;
            if (pl->lung[lung][i] == 0.0f) continue;
            double t = afloc_synth_clamp01(lung_t(a, lung, u));
            double meniscus = a[A_CP + lung] - p[P_LEVEL] - 0.06 * t * t;
            double fill = afloc_synth_smoothstep(meniscus - 0.008, meniscus + 0.008, v);
            if (fill == 0.0) continue;
            fill *= 0.8 + 0.2 * afloc_synth_clamp01((v - meniscus) / 0.08);
            total += fill * (p[P_AMP] * (double)pl->dark[i] + 0.03 * (double)pl->lung[lung][i] -
                             (double)pl->markings[i]);
        }
        return total;
    }
    case AFLOC_CXR_PNEUMOTHORAX: {
        double m = (double)pl->lung[k][i];
        if (m == 0.0) return 0.0;
        /* the collapsed lung: this lung shrunk towards the hilum, upwards and laterally only */
        double g = 1.0 / (1.0 - p[P_FRAC]);
        double du = u - p[P_U], dv = v - p[P_V];
        int lateral = (a[A_LAT + k] - a[A_MED + k]) * du > 0.0;
        /* lateral retraction fades out below the hilum: an apical and lateral pneumothorax */
        double gl = 1.0 + (g - 1.0) * afloc_synth_clamp01((p[P_V] + 0.12 - v) / 0.24);
        double mu = p[P_U] + (lateral ? du * gl : du), mv = p[P_V] + (dv < 0.0 ? dv * g : dv);
        /* only where the collapse moved the lung: elsewhere both masks share their soft edge */
        double moved = afloc_synth_clamp01((absd(mu - u) + absd(mv - v)) / (2.0 * edge));
        if (moved == 0.0) return 0.0;
        double cm = lung_mask(a, k, mu, mv, edge * 1.5);
        double region = m * (1.0 - cm) * moved;
        double line = 4.0 * cm * (1.0 - cm) * m * moved;
        return -region * (p[P_AMP] + (double)pl->markings[i]) + 0.12 * line;
    }
    default:
        return 0.0;
    }
}

/* The pixel rectangle [x0, x1) x [y0, y1) outside which finding f's delta is zero. */
static void support_rect(const afloc_synth_case *c, const afloc_synth_finding *f, int32_t size,
                         afloc_synth_box *r) {
    const double *a = c->anatomy, *p = f->p;
    double u0 = 0.0, u1 = 1.0, v0 = 0.0, v1 = 1.0, reach = 0.0;
    switch (f->category) {
    case AFLOC_CXR_NODULE:
    case AFLOC_CXR_MASS:
        reach = p[P_R] * (1.0 + p[P_LOB2] + p[P_LOB3]);
        u0 = p[P_U] - reach, u1 = p[P_U] + reach, v0 = p[P_V] - reach, v1 = p[P_V] + reach;
        break;
    case AFLOC_CXR_CONSOLIDATION:
        reach = p[P_R] * 1.6;
        u0 = p[P_U] - reach, u1 = p[P_U] + reach, v0 = p[P_V] - reach, v1 = p[P_V] + reach;
        break;
    case AFLOC_CXR_ATELECTASIS:
        reach = p[P_LEN] + p[P_THICK];
        if (f->side == AFLOC_SYNTH_SIDE_BILATERAL) {
            u0 = (p[P_U] < p[P_U2] ? p[P_U] : p[P_U2]) - reach;
            u1 = (p[P_U] > p[P_U2] ? p[P_U] : p[P_U2]) + reach;
            v0 = (p[P_V] < p[P_V2] ? p[P_V] : p[P_V2]) - reach;
            v1 = (p[P_V] > p[P_V2] ? p[P_V] : p[P_V2]) + reach;
        } else {
            const double *cu = f->side == AFLOC_SYNTH_SIDE_LEFT ? &p[P_U2] : &p[P_U];
            u0 = cu[0] - reach, u1 = cu[0] + reach, v0 = cu[1] - reach, v1 = cu[1] + reach;
        }
        break;
    default: /* pleural findings: the lungs concerned */
        if (f->side == AFLOC_SYNTH_SIDE_LEFT) u0 = a[A_CX];
        if (f->side == AFLOC_SYNTH_SIDE_RIGHT) u1 = a[A_CX];
        break;
    }
    r->x0 = (int32_t)(u0 * (double)size) - 2;
    r->x1 = (int32_t)(u1 * (double)size) + 3;
    r->y0 = (int32_t)(v0 * (double)size) - 2;
    r->y1 = (int32_t)(v1 * (double)size) + 3;
    afloc_synth_box_clamp(r, size);
}

/* Adds finding fi's delta to the image and records where it reaches BOX_THRESHOLD. */
static void render_finding(const afloc_synth_case *c, int32_t fi, int32_t size, cxr_planes *pl,
                           afloc_synth_box *box) {
    const afloc_synth_finding *f = &c->findings[fi];
    afloc_synth_box r, b = afloc_synth_box_none(size);
    support_rect(c, f, size, &r);
    double px = 1.0 / (double)size, edge = 1.5 * px;
    for (int32_t y = r.y0; y < r.y1; y++) {
        double v = ((double)y + 0.5) * px;
        for (int32_t x = r.x0; x < r.x1; x++) {
            double u = ((double)x + 0.5) * px;
            size_t i = (size_t)y * (size_t)size + (size_t)x;
            double d = finding_delta(c, f, fi, pl, i, u, v, edge);
            if (d == 0.0) continue;
            pl->image[i] += d;
            if (absd(d) >= BOX_THRESHOLD) afloc_synth_box_add(&b, x, y);
        }
    }
    *box = afloc_synth_box_close(b, r);
}

static void heart_box(const afloc_synth_case *c, const afloc_synth_finding *f, int32_t size,
                      afloc_synth_box *box) {
    const double *a = c->anatomy;
    double rx = a[A_HRX] * f->p[P_R], ry = a[A_HRY] * f->p[P_LEN], cx = a[A_HX] + f->p[P_DU];
    double s = (double)size;
    box->x0 = (int32_t)((cx - rx) * s), box->x1 = (int32_t)((cx + rx) * s) + 1;
    box->y0 = (int32_t)((a[A_HY] - ry) * s), box->y1 = (int32_t)((a[A_HY] + ry) * s) + 1;
    afloc_synth_box_clamp(box, size);
}

static afloc_status cxr_render(const afloc_synth_case *c, int32_t size, uint32_t mask,
                               void *pixels, afloc_synth_box *boxes, const char *function) {
    size_t n = (size_t)size * (size_t)size;
    cxr_planes pl;
    pl.image = afloc_malloc(n * sizeof(double));
    float *planes = afloc_malloc(4 * n * sizeof(float));
    if (!pl.image || !planes) {
        afloc_free(pl.image);
        afloc_free(planes);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for a %d x %d image", function,
                          size, size);
    }
    pl.lung[0] = planes, pl.lung[1] = planes + n, pl.dark = planes + 2 * n;
    pl.markings = planes + 3 * n;
    double sx = 1.0, sy = 1.0, du = 0.0;
    for (int32_t i = 0; i < c->count; i++) {
        const afloc_synth_finding *f = &c->findings[i];
        if (boxes) memset(&boxes[i], 0, sizeof boxes[i]);
        if (f->category == AFLOC_CXR_CARDIOMEGALY && (mask >> i) & 1u) {
            sx = f->p[P_R], sy = f->p[P_LEN], du = f->p[P_DU];
            if (boxes) heart_box(c, f, size, &boxes[i]);
        }
    }
    render_base(c, size, sx, sy, du, &pl);
    render_bones(c, size, pl.image);
    for (int32_t i = 0; i < c->count; i++) {
        if (!((mask >> i) & 1u) || c->findings[i].category == AFLOC_CXR_CARDIOMEGALY) continue;
        afloc_synth_box scratch;
        render_finding(c, i, size, &pl, boxes ? &boxes[i] : &scratch);
    }
    const double *a = c->anatomy;
    uint16_t *out = pixels;
    for (int32_t y = 0; y < size; y++) {
        for (int32_t x = 0; x < size; x++) {
            size_t i = (size_t)y * (size_t)size + (size_t)x;
            uint64_t h = afloc_synth_hash(c->seed, (uint64_t)x, (uint64_t)y);
            double n1 = (double)(h >> 40) * (1.0 / 16777216.0);
            double n2 = (double)(h & 0xFFFFFFu) * (1.0 / 16777216.0);
            double val = a[A_GAIN] * pl.image[i] + a[A_OFFSET] + a[A_NOISE] * (n1 + n2 - 1.0);
            out[i] = (uint16_t)(afloc_synth_clamp01(val) * 65535.0 + 0.5);
        }
    }
    afloc_free(pl.image);
    afloc_free(planes);
    return AFLOC_OK;
}

const afloc_synth_modality *afloc_synth_modality_cxr(void) {
    static const afloc_synth_modality cxr = {
        "cxr", 1, 0x6166636378723031ull /* "afccxr01" */, AFLOC_CXR_CLASSES, class_names,
        (int32_t)(sizeof class_prompts / sizeof class_prompts[0]), class_prompts, cxr_plan, cxr_render};
    return &cxr;
}
