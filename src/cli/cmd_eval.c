/* cmd_eval.c: `afloc eval MODEL DATASET_DIR`: scores a model on the held-out part of an
 * `afloc synth` dataset (MODEL.md §8.4, §9): localization of every test.csv phrase (IoU, Dice,
 * CNR, pointing game, bootstrap CIs) against three text-agnostic baselines and the read-out's
 * ceiling (each box drawn on the model's grid and read out as a map), two tests of whether
 * the map depends on the text (two-finding images: own prompt vs a generic one; laterality: the
 * prompt with left/right swapped), and zero-shot classification of every labelled image (AUC, F1,
 * accuracy). Writes DIR/metrics.json, DIR/contact_sheet.png, DIR/loss_curve.png (with --log) and
 * prints a table. Public API only; the metrics are the library's afloc_eval_* functions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_model.h"
#include "commands.h"
#include "eval_baselines.h"
#include "eval_dataset.h"
#include "eval_render.h"
#include "eval_report.h"

static const char usage[] =
    "usage: afloc eval MODEL.safetensors DATASET_DIR [options]\n"
    "Scores MODEL on DATASET_DIR/test.csv, labels.csv and classes.csv (as `afloc synth` writes them;\n"
    "a class on several rows of classes.csv is classified with the ensembles of its positive and\n"
    "of its negative prompts).\n"
    "  --out DIR        where metrics.json and the pictures go (default DATASET_DIR/eval)\n"
    "  --bootstrap N    bootstrap resamples for the confidence intervals (default 1000; 0 = none)\n"
    "  --seed S         seed of the bootstrap and of the random baseline (default 0)\n"
    "  --limit N        only the first N rows of test.csv and of labels.csv\n"
    "  --log TRAIN.csv  also draw the loss curve of an `afloc train --log` file\n"
    "  --json-only      write metrics.json only: no table, no pictures\n"
    "The table's \"ceiling\" row is no baseline: it draws each true box on the model's grid and\n"
    "reads it out as the model's maps are (smoothing, resize), so it shows how far the metrics\n"
    "could go with this grid and read-out; metrics.json gives it per category beside the model.\n"
    "  --align A        how maps are drawn: model (default: the model config's map_alignment),\n"
    "                   reference (the paper's resize, MODEL.md 8.3), centred (each cell at\n"
    "                   the centre of its receptive field) or centred-cubic (the same places,\n"
    "                   bicubic between them); metrics.json says which\n";

#define EVAL_TILES 16
#define GENERIC_PROMPT "findings"

typedef struct eval_args {
    const char *model, *dir, *out, *log;
    int32_t bootstrap, limit, json_only;
    int32_t align; /* afloc_localize_options.map_alignment */
    uint64_t seed;
} eval_args;

static int parse_count(const char *opt, const char *v, long lo, long hi, long *out) {
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        fprintf(stderr, "afloc eval: %s needs an integer in %ld..%ld, got '%s'\n%s", opt, lo, hi, v, usage);
        return 2;
    }
    *out = n;
    return 0;
}

static int parse(int argc, char **argv, eval_args *a) {
    memset(a, 0, sizeof *a);
    a->bootstrap = 1000;
    a->align = AFLOC_MAP_ALIGN_MODEL;
    int positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            fputs(usage, stdout);
            return -1;
        } else if (!strcmp(k, "--json-only")) {
            a->json_only = 1;
        } else if (k[0] != '-' || !k[1]) {
            if (positional == 0) a->model = k;
            else if (positional == 1) a->dir = k;
            else {
                fprintf(stderr, "afloc eval: unexpected argument '%s'\n%s", k, usage);
                return 2;
            }
            positional++;
        } else if (!v) {
            fprintf(stderr, "afloc eval: %s needs a value\n%s", k, usage);
            return 2;
        } else {
            i++;
            if (!strcmp(k, "--out")) a->out = v;
            else if (!strcmp(k, "--log")) a->log = v;
            else if (!strcmp(k, "--align")) {
                if (cli_parse_alignment("eval", v, &a->align)) return 2;
            }
            else if (!strcmp(k, "--bootstrap")) {
                if (parse_count(k, v, 0, AFLOC_EVAL_MAX_RESAMPLES, &n)) return 2;
                a->bootstrap = (int32_t)n;
            } else if (!strcmp(k, "--limit")) {
                if (parse_count(k, v, 1, INT32_MAX, &n)) return 2;
                a->limit = (int32_t)n;
            } else if (!strcmp(k, "--seed")) {
                char *end = NULL;
                a->seed = strtoull(v, &end, 10);
                if (!*v || *end || v[0] == '-') {
                    fprintf(stderr, "afloc eval: --seed needs a non-negative integer, got '%s'\n", v);
                    return 2;
                }
            } else {
                fprintf(stderr, "afloc eval: unknown option '%s'\n%s", k, usage);
                return 2;
            }
        }
    }
    if (!a->model || !a->dir) {
        fprintf(stderr, "afloc eval: MODEL and DATASET_DIR are required\n%s", usage);
        return 2;
    }
    return 0;
}

/* ---- per-row work ---- */

typedef struct eval_state {
    cli_model     m;
    eval_args     a;
    eval_dataset  d;
    int32_t       S;
    size_t        SS;
    afloc_localize_options loc, loc_keep;   /* reference cleaning; keep one-word prompts */
    float        *raw, *map, *center, *frame;  /* (S, S) scratch; center: normalised prior */
    int32_t       grid_side;                /* G: side of the model's raw grid              */
    float        *grid;                     /* (G, G) the box drawn on the grid              */
    int32_t      *cell_of, *cell_width;     /* (S) nearest grid cell of each frame
                                               coordinate, (G) coordinates per cell; NULL
                                               when the read-out's geometry is unknown       */
    uint8_t      *mask;                     /* (S, S)                                       */
    afloc_image  *image;                    /* the image of the current row                 */
    afloc_image_view view;
    int32_t       image_index;              /* of `image`, -1 none                          */
    float        *generic, *empty;          /* normalised maps of the current image, or NULL */
    int32_t       generic_for, empty_for;   /* image index they belong to                    */
    /* tiles of the contact sheet */
    int32_t       tiles, tile_row[EVAL_TILES];
    float        *tile_frame, *tile_map;    /* (tiles, S, S)                                */
    uint8_t      *tile_mask;
} eval_state;

static int load_image(eval_state *st, int32_t index) {
    if (st->image_index == index) return 0;
    afloc_image_free(st->image);
    st->image = NULL;
    st->image_index = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", st->a.dir, st->d.image[index].path);
    if (cli_image_load("eval", path, &st->image, &st->view)) return 1;
    st->image_index = index;
    return 0;
}

/* The normalised evaluation map of `text` on the current image into `out`; returns the status. */
static afloc_status localize(eval_state *st, const char *text, const afloc_localize_options *o,
                             float *out) {
    afloc_heatmaps h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    h.frame = out;
    h.frame_len = st->SS;
    afloc_status s = afloc_model_localize(st->m.model, &st->view, text, o, &h);
    if (s == AFLOC_OK) s = afloc_eval_normalize_map(out, st->S, 1);
    return s;
}

static int score(eval_state *st, const float *map, afloc_eval_pair_metrics *out) {
    out->struct_size = sizeof *out;
    afloc_status s = afloc_eval_pair(map, st->mask, st->S, out);
    return s == AFLOC_OK ? 0 : cli_fail("eval", "afloc_eval_pair", s);
}

/* The generic-prompt and empty-prompt maps of the current image (computed once per image). */
static int text_free_maps(eval_state *st, eval_results *r) {
    if (st->generic_for != st->image_index) {
        afloc_status s = localize(st, GENERIC_PROMPT, &st->loc_keep, st->generic);
        if (s != AFLOC_OK) return cli_fail("eval", "afloc_model_localize (generic prompt)", s);
        st->generic_for = st->image_index;
    }
    if (st->empty && st->empty_for != st->image_index) {
        afloc_status s = localize(st, "", &st->loc, st->empty);
        if (s != AFLOC_OK) { /* not fatal: the report says why */
            snprintf(r->empty_error, sizeof r->empty_error, "%s: %s", afloc_status_string(s),
                     afloc_last_error());
            free(st->empty);
            st->empty = NULL;
        } else {
            st->empty_for = st->image_index;
        }
    }
    return 0;
}

typedef struct subset {
    int32_t n;
    int32_t *row;                       /* (rows) row index of each member            */
    afloc_eval_pair_metrics *pair[EVAL_TWO]; /* (rows) each                          */
} subset;

static int eval_row_maps(eval_state *st, eval_results *r, int32_t i, subset *two, subset *lat) {
    const eval_row *row = &st->d.row[i];
    const eval_image *im = &st->d.image[row->image_index];
    if (load_image(st, row->image_index)) return 1;
    memset(st->mask, 0, st->SS);
    afloc_status s = afloc_eval_box_to_mask(st->mask, st->S, im->width, im->height, row->x0, row->y0,
                                            row->x1 - row->x0, row->y1 - row->y0);
    if (s != AFLOC_OK) return cli_fail("eval", "afloc_eval_box_to_mask", s);
    if ((s = localize(st, row->prompt, &st->loc, st->map)) != AFLOC_OK) {
        fprintf(stderr, "afloc eval: test.csv:%d: ", (int)row->line);
        return cli_fail("eval", "afloc_model_localize", s);
    }
    if (score(st, st->map, &r->pair[EVAL_MAP_MODEL][i])) return 1;
    /* baselines */
    eval_baseline_random(st->raw, st->S, st->a.seed, (uint64_t)i);
    if ((s = afloc_eval_normalize_map(st->raw, st->S, 1)) != AFLOC_OK ||
        score(st, st->raw, &r->pair[1 + EVAL_BASELINE_RANDOM][i]))
        return s != AFLOC_OK ? cli_fail("eval", "afloc_eval_normalize_map", s) : 1;
    if (score(st, st->center, &r->pair[1 + EVAL_BASELINE_CENTER][i])) return 1;
    if ((s = eval_baseline_intensity(st->frame, st->S, &st->view)) != AFLOC_OK)
        return cli_fail("eval", "afloc_image_preprocess", s);
    memcpy(st->raw, st->frame, st->SS * sizeof(float));
    if ((s = afloc_eval_normalize_map(st->raw, st->S, 1)) != AFLOC_OK ||
        score(st, st->raw, &r->pair[1 + EVAL_BASELINE_INTENSITY][i]))
        return s != AFLOC_OK ? cli_fail("eval", "afloc_eval_normalize_map", s) : 1;
    /* the read-out's ceiling: the box itself as the raw grid */
    if (st->cell_of) {
        eval_box_on_grid(st->grid, st->grid_side, st->mask, st->S, st->cell_of, st->cell_width);
        s = afloc_model_grid_to_frame(st->m.model, st->grid,
                                      (size_t)st->grid_side * (size_t)st->grid_side, &st->loc,
                                      st->raw, st->SS);
        if (s != AFLOC_OK) return cli_fail("eval", "afloc_model_grid_to_frame", s);
        if ((s = afloc_eval_normalize_map(st->raw, st->S, 1)) != AFLOC_OK)
            return cli_fail("eval", "afloc_eval_normalize_map", s);
        if (score(st, st->raw, &r->pair[EVAL_MAP_CEILING][i])) return 1;
    }
    /* text reading (i): images with two or more findings */
    if (row->group >= 2) {
        int32_t j = two->n++;
        two->row[j] = i;
        if (text_free_maps(st, r) || score(st, st->generic, &two->pair[EVAL_TWO_GENERIC][j]) ||
            (st->empty && score(st, st->empty, &two->pair[EVAL_TWO_EMPTY][j])))
            return 1;
        two->pair[EVAL_TWO_OWN][j] = r->pair[EVAL_MAP_MODEL][i];
        for (int b = 0; b < EVAL_BASELINES; b++) two->pair[EVAL_TWO_BASELINE + b][j] = r->pair[1 + b][i];
    }
    /* text reading (ii): laterality */
    if (row->side == EVAL_SIDE_LEFT || row->side == EVAL_SIDE_RIGHT) {
        int32_t changed = 0;
        char *swapped = eval_swap_sides(row->prompt, &changed);
        if (!swapped) return cli_fail("eval", "eval_swap_sides", AFLOC_ERR_OUT_OF_MEMORY);
        if (changed == 0) {
            r->lat_skipped++;
        } else {
            int32_t j = lat->n++;
            lat->row[j] = i;
            lat->pair[0][j] = r->pair[EVAL_MAP_MODEL][i];
            s = localize(st, swapped, &st->loc, st->raw);
            if (s != AFLOC_OK || score(st, st->raw, &lat->pair[1][j])) {
                free(swapped);
                return s != AFLOC_OK ? cli_fail("eval", "afloc_model_localize (swapped prompt)", s) : 1;
            }
            r->lat_swapped_hit[i] = lat->pair[1][j].hit;
        }
        free(swapped);
    }
    /* contact sheet */
    for (int32_t t = 0; t < st->tiles; t++) {
        if (st->tile_row[t] != i) continue;
        memcpy(st->tile_frame + (size_t)t * st->SS, st->frame, st->SS * sizeof(float));
        memcpy(st->tile_map + (size_t)t * st->SS, st->map, st->SS * sizeof(float));
        memcpy(st->tile_mask + (size_t)t * st->SS, st->mask, st->SS);
    }
    return 0;
}

/* Summarises the rows `rows` (NULL: 0..n-1) of `pairs` into `slot`, with `resamples` bootstrap
 * replicates for the CIs. */
static int summarize_with(eval_state *st, const afloc_eval_pair_metrics *pairs, const int32_t *rows,
                          int32_t n, int32_t resamples, eval_summary_slot *slot) {
    memset(slot, 0, sizeof *slot);
    if (n == 0) return 0;
    int32_t *cat = malloc((size_t)n * sizeof *cat);
    if (!cat) return cli_fail("eval", "summary", AFLOC_ERR_OUT_OF_MEMORY);
    for (int32_t j = 0; j < n; j++) cat[j] = st->d.row[rows ? rows[j] : j].category;
    slot->s.struct_size = sizeof slot->s;
    afloc_status s = afloc_eval_summarize(pairs, cat, n, resamples, st->a.seed, &slot->s);
    free(cat);
    if (s != AFLOC_OK) return cli_fail("eval", "afloc_eval_summarize", s);
    slot->present = 1;
    return 0;
}

/* summarize_with the --bootstrap resamples. */
static int summarize(eval_state *st, const afloc_eval_pair_metrics *pairs, const int32_t *rows,
                     int32_t n, eval_summary_slot *slot) {
    return summarize_with(st, pairs, rows, n, st->a.bootstrap, slot);
}

/* ---- zero-shot classification ---- */

static int classify(eval_state *st, eval_results *r) {
    const eval_dataset *d = &st->d;
    const int32_t K = d->classes, n = d->labelled;
    r->cls_images = n;
    r->mean_auc = r->mean_f1 = r->mean_accuracy = r->mean_best_f1 = NAN;
    for (int32_t k = 0; k < K; k++) {
        eval_class_result *c = &r->cls[k];
        c->auc = c->f1 = c->accuracy = c->best_threshold = c->best_f1 = NAN;
    }
    if (n == 0) return 0;
    const int32_t P = d->pairs;
    const char **prompts = malloc(2 * (size_t)P * sizeof *prompts);
    int32_t *ensemble_of = malloc(2 * (size_t)P * sizeof *ensemble_of);
    float *cosine = malloc(2 * (size_t)K * sizeof *cosine);
    double *score = malloc((size_t)n * (size_t)K * sizeof *score); /* (K, n) */
    int32_t *label = malloc((size_t)n * sizeof *label);
    afloc_prompt_set *set = NULL;
    int rc = 1;
    if (!prompts || !ensemble_of || !cosine || !score || !label) {
        rc = cli_fail("eval", "classification", AFLOC_ERR_OUT_OF_MEMORY);
        goto done;
    }
    /* Entry 2k of the set is the ensemble of class k's positives, 2k + 1 of its negatives (a
     * class on one row scores exactly as its two prompts would in a plain set). */
    for (int32_t i = 0; i < P; i++) {
        prompts[2 * i] = d->pair_positive[i];
        prompts[2 * i + 1] = d->pair_negative[i];
        ensemble_of[2 * i] = 2 * d->pair_class[i];
        ensemble_of[2 * i + 1] = 2 * d->pair_class[i] + 1;
    }
    afloc_status s = afloc_prompt_set_create_ensembles(st->m.model, prompts, 2 * P, ensemble_of,
                                                       2 * K, &set);
    if (s != AFLOC_OK) {
        rc = cli_fail("eval", "afloc_prompt_set_create_ensembles", s);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        if (load_image(st, i)) goto done;
        s = afloc_model_classify_prompt_set(st->m.model, &st->view, set, 1.0f, cosine, NULL);
        if (s != AFLOC_OK) {
            rc = cli_fail("eval", "afloc_model_classify_prompt_set", s);
            goto done;
        }
        /* softmax over the pair at temperature 1: p(pos) = 1 / (1 + exp(cos_neg - cos_pos)) */
        for (int32_t k = 0; k < K; k++)
            score[(size_t)k * n + i] = 1.0 / (1.0 + exp((double)cosine[2 * k + 1] - (double)cosine[2 * k]));
    }
    double sum[4] = {0, 0, 0, 0};
    int32_t count[4] = {0, 0, 0, 0};
    for (int32_t k = 0; k < K; k++) {
        eval_class_result *c = &r->cls[k];
        c->positives = 0;
        for (int32_t i = 0; i < n; i++) c->positives += label[i] = d->label[(size_t)i * K + k];
        const double *sc = score + (size_t)k * n;
        if ((s = afloc_eval_auc(sc, label, n, &c->auc)) != AFLOC_OK) {
            rc = cli_fail("eval", "afloc_eval_auc", s);
            goto done;
        }
        s = afloc_eval_f1(sc, label, n, 0.5, &c->f1, &c->accuracy, &c->best_threshold, &c->best_f1);
        if (s != AFLOC_OK) {
            rc = cli_fail("eval", "afloc_eval_f1", s);
            goto done;
        }
        const double v[4] = {c->auc, c->f1, c->accuracy, c->best_f1};
        for (int j = 0; j < 4; j++)
            if (isfinite(v[j])) {
                sum[j] += v[j];
                count[j]++;
            }
    }
    double *mean[4] = {&r->mean_auc, &r->mean_f1, &r->mean_accuracy, &r->mean_best_f1};
    for (int j = 0; j < 4; j++) *mean[j] = count[j] ? sum[j] / count[j] : NAN;
    rc = 0;
done:
    afloc_prompt_set_free(set);
    free(prompts);
    free(ensemble_of);
    free(cosine);
    free(score);
    free(label);
    return rc;
}

/* ---- outputs ---- */

static int write_json(const char *out_dir, const eval_results *r, char *path, size_t path_size) {
    char tmp[4200];
    snprintf(path, path_size, "%s/metrics.json", out_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "afloc eval: cannot write %s\n", tmp);
        return 1;
    }
    eval_report_json(f, r);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        fprintf(stderr, "afloc eval: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static int pictures(eval_state *st, eval_results *r) {
    char path[4200], err[4096];
    eval_tile tiles[EVAL_TILES];
    for (int32_t t = 0; t < st->tiles; t++) {
        tiles[t].frame = st->tile_frame + (size_t)t * st->SS;
        tiles[t].map = st->tile_map + (size_t)t * st->SS;
        tiles[t].mask = st->tile_mask + (size_t)t * st->SS;
        tiles[t].index = t;
    }
    snprintf(path, sizeof path, "%s/contact_sheet.png", r->out_dir);
    if (eval_render_contact_sheet(path, tiles, st->tiles, st->S, err, sizeof err)) {
        fprintf(stderr, "afloc eval: %s\n", err);
        return 1;
    }
    r->tiles = st->tiles;
    if (st->a.log) {
        snprintf(path, sizeof path, "%s/loss_curve.png", r->out_dir);
        if (eval_render_loss_curve(st->a.log, path, &r->loss_points, err, sizeof err)) {
            fprintf(stderr, "afloc eval: %s\n", err);
            return 1;
        }
    }
    return 0;
}

/* ---- the command ---- */

static int setup(eval_state *st, eval_results *r) {
    const int32_t n = st->d.rows;
    st->S = st->m.dims.frame_size;
    st->SS = (size_t)st->S * (size_t)st->S;
    st->image_index = st->generic_for = st->empty_for = -1;
    st->loc.struct_size = st->loc_keep.struct_size = sizeof st->loc;
    afloc_localize_options_default(&st->loc);
    st->loc.normalize = 0;
    st->loc.map_alignment = st->a.align;
    st->loc_keep = st->loc;
    st->loc_keep.keep_one_word_prompts = 1; /* else "findings" would encode as empty text */
    st->raw = malloc(st->SS * sizeof(float));
    st->map = malloc(st->SS * sizeof(float));
    st->center = malloc(st->SS * sizeof(float));
    st->frame = malloc(st->SS * sizeof(float));
    st->generic = malloc(st->SS * sizeof(float));
    st->empty = malloc(st->SS * sizeof(float));
    st->mask = malloc(st->SS);
    st->grid_side = st->m.dims.grid_side;
    st->grid = malloc((size_t)st->grid_side * (size_t)st->grid_side * sizeof(float));
    double *centre = malloc((size_t)st->grid_side * sizeof(double));
    st->cell_of = malloc((size_t)st->S * sizeof *st->cell_of);
    st->cell_width = malloc((size_t)st->grid_side * sizeof *st->cell_width);
    int cells_ok = centre && st->cell_of && st->cell_width; /* else out of memory, below */
    if (cells_ok && !eval_cell_centres(centre, st->grid_side, st->S,
                                       st->a.align == AFLOC_MAP_ALIGN_MODEL ? st->m.map_alignment
                                                                            : st->a.align,
                                       st->m.upsample_size)) {
        eval_grid_cells(st->cell_of, st->cell_width, st->grid_side, st->S, centre);
    } else if (cells_ok) { /* geometry unknown: the ceiling is left out (null in metrics.json) */
        free(st->cell_of);
        free(st->cell_width);
        st->cell_of = st->cell_width = NULL;
    }
    free(centre);
    r->cat_model = calloc((size_t)st->d.classes, sizeof *r->cat_model);
    r->cat_ceiling = calloc((size_t)st->d.classes, sizeof *r->cat_ceiling);
    st->tiles = n < EVAL_TILES ? n : EVAL_TILES;
    for (int32_t t = 0; t < st->tiles; t++) st->tile_row[t] = (int32_t)((int64_t)t * n / st->tiles);
    st->tile_frame = malloc((size_t)st->tiles * st->SS * sizeof(float));
    st->tile_map = malloc((size_t)st->tiles * st->SS * sizeof(float));
    st->tile_mask = malloc((size_t)st->tiles * st->SS);
    r->cls = calloc((size_t)st->d.classes, sizeof *r->cls);
    r->lat_swapped_hit = malloc((size_t)(n ? n : 1) * sizeof *r->lat_swapped_hit);
    int ok = st->raw && st->map && st->center && st->frame && st->generic && st->empty && st->mask &&
             st->tile_frame && st->tile_map && st->tile_mask && r->cls && r->lat_swapped_hit &&
             st->grid && cells_ok && r->cat_model && r->cat_ceiling;
    for (int32_t i = 0; ok && i < n; i++) r->lat_swapped_hit[i] = EVAL_NOT_SWAPPED;
    for (int m = 0; m < EVAL_MAPS; m++) ok &= (r->pair[m] = calloc((size_t)n, sizeof **r->pair)) != NULL;
    if (!ok) return cli_fail("eval", "setup", AFLOC_ERR_OUT_OF_MEMORY);
    eval_baseline_center(st->center, st->S);
    afloc_status s = afloc_eval_normalize_map(st->center, st->S, 1);
    return s == AFLOC_OK ? 0 : cli_fail("eval", "afloc_eval_normalize_map", s);
}

/* Each category's summary (no bootstrap) of the model's maps and of the ceiling. */
static int per_category(eval_state *st, eval_results *r) {
    const int32_t n = st->d.rows;
    int32_t *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
    afloc_eval_pair_metrics *pick = malloc((size_t)(n ? n : 1) * sizeof *pick);
    int rc = 0;
    if (!rows || !pick) rc = cli_fail("eval", "summary", AFLOC_ERR_OUT_OF_MEMORY);
    for (int32_t k = 0; rc == 0 && k < st->d.classes; k++) {
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++)
            if (st->d.row[i].category == k) rows[m++] = i;
        for (int which = 0; rc == 0 && which < 2; which++) {
            const afloc_eval_pair_metrics *all = r->pair[which ? EVAL_MAP_CEILING : EVAL_MAP_MODEL];
            if (which && !st->cell_of) continue;
            for (int32_t j = 0; j < m; j++) pick[j] = all[rows[j]];
            rc = summarize_with(st, pick, rows, m, 0, which ? &r->cat_ceiling[k] : &r->cat_model[k]);
        }
    }
    free(rows);
    free(pick);
    return rc;
}

static int subset_alloc(subset *sub, int32_t n, int maps) {
    memset(sub, 0, sizeof *sub);
    int ok = (sub->row = malloc((size_t)(n ? n : 1) * sizeof *sub->row)) != NULL;
    for (int m = 0; m < maps; m++) ok &= (sub->pair[m] = calloc((size_t)(n ? n : 1), sizeof **sub->pair)) != NULL;
    return ok ? 0 : cli_fail("eval", "setup", AFLOC_ERR_OUT_OF_MEMORY);
}

static void subset_free(subset *sub) {
    free(sub->row);
    for (int m = 0; m < EVAL_TWO; m++) free(sub->pair[m]);
}

static int run(eval_state *st, eval_results *r) {
    const int32_t n = st->d.rows;
    subset two, lat;
    memset(&two, 0, sizeof two); /* `done` frees both, also when the first allocation fails */
    memset(&lat, 0, sizeof lat);
    int rc = 1;
    if (subset_alloc(&two, n, EVAL_TWO) || subset_alloc(&lat, n, 2)) goto done;
    for (int32_t i = 0; i < n; i++) {
        if (eval_row_maps(st, r, i, &two, &lat)) goto done;
        if (!st->a.json_only && n >= 20 && (i + 1) % (n / 10) == 0)
            fprintf(stderr, "afloc eval: %d/%d rows\n", (int)(i + 1), (int)n);
    }
    for (int m = 0; m < EVAL_MAPS; m++) {
        if (m == EVAL_MAP_CEILING && !st->cell_of) continue;
        if (summarize(st, r->pair[m], NULL, n, &r->all[m])) goto done;
    }
    if (per_category(st, r)) goto done;
    r->two_rows = two.n;
    for (int m = 0; m < EVAL_TWO; m++) {
        if (m == EVAL_TWO_EMPTY && !st->empty) continue;
        if (summarize(st, two.pair[m], two.row, two.n, &r->two[m])) goto done;
    }
    /* the best baseline on the subset (pointing, then CNR); on all rows when the subset is empty */
    const eval_summary_slot *cmp = two.n ? &r->two[EVAL_TWO_BASELINE] : &r->all[1];
    r->best_baseline = 0;
    for (int b = 1; b < EVAL_BASELINES; b++) {
        const afloc_eval_summary *x = &cmp[b].s, *y = &cmp[r->best_baseline].s;
        if (x->pointing > y->pointing || (x->pointing == y->pointing && x->cnr > y->cnr)) r->best_baseline = b;
    }
    r->lat_rows = lat.n;
    if (summarize(st, lat.pair[0], lat.row, lat.n, &r->lat_correct) ||
        summarize(st, lat.pair[1], lat.row, lat.n, &r->lat_swapped) || classify(st, r))
        goto done;
    rc = 0;
done:
    subset_free(&two);
    subset_free(&lat);
    return rc;
}

static void state_free(eval_state *st, eval_results *r) {
    free(st->raw);
    free(st->map);
    free(st->center);
    free(st->frame);
    free(st->generic);
    free(st->empty);
    free(st->mask);
    free(st->tile_frame);
    free(st->tile_map);
    free(st->tile_mask);
    afloc_image_free(st->image);
    free(st->grid);
    free(st->cell_of);
    free(st->cell_width);
    for (int m = 0; m < EVAL_MAPS; m++) free(r->pair[m]);
    free(r->cat_model);
    free(r->cat_ceiling);
    free(r->cls);
    free(r->lat_swapped_hit);
}

/* mkdir -p: creates `path` and any missing parents; 0 when it exists as a folder afterwards. */
static int make_dirs(const char *path) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = '\0';
        mkdir(p, 0755); /* an existing parent is fine; a real problem shows up below */
        *c = '/';
    }
    struct stat sb;
    return mkdir(p, 0755) != 0 && (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode));
}

int afloc_cli_eval(int argc, char **argv) {
    eval_state st;
    memset(&st, 0, sizeof st);
    int rc = parse(argc, argv, &st.a);
    if (rc) return rc < 0 ? 0 : rc;
    char err[8192], out_dir[4096], path[4200];
    if (eval_dataset_load(st.a.dir, st.a.limit, &st.d, err, sizeof err) ||
        eval_dataset_check_images(st.a.dir, &st.d, err, sizeof err)) {
        fprintf(stderr, "afloc eval: %s\n", err);
        eval_dataset_free(&st.d);
        return 1;
    }
    snprintf(out_dir, sizeof out_dir, "%s", st.a.out ? st.a.out : st.a.dir);
    if (!st.a.out) strncat(out_dir, "/eval", sizeof out_dir - strlen(out_dir) - 1);
    if (make_dirs(out_dir)) {
        fprintf(stderr, "afloc eval: cannot create the folder %s\n", out_dir);
        eval_dataset_free(&st.d);
        return 1;
    }
    if (cli_model_load("eval", st.a.model, &st.m)) {
        eval_dataset_free(&st.d);
        return 1;
    }
    eval_results r;
    memset(&r, 0, sizeof r);
    r.model_path = st.a.model;
    r.dataset_dir = st.a.dir;
    r.out_dir = out_dir;
    r.log_path = st.a.log;
    r.d = &st.d;
    r.bootstrap = st.a.bootstrap;
    r.limit = st.a.limit;
    r.map_alignment = cli_alignment_name(&st.m, st.a.align);
    r.seed = st.a.seed;
    r.json_only = st.a.json_only;
    r.generic_prompt = GENERIC_PROMPT;
    rc = setup(&st, &r);
    r.S = st.S;
    if (rc == 0) rc = run(&st, &r);
    r.tile_row = st.tile_row;
    if (rc == 0 && !st.a.json_only) rc = pictures(&st, &r);
    if (rc == 0) rc = write_json(out_dir, &r, path, sizeof path);
    if (rc == 0 && !st.a.json_only) {
        eval_report_table(stdout, &r);
        printf("\nwrote %s", path);
        if (r.tiles) printf(", %s/contact_sheet.png", out_dir);
        if (r.loss_points) printf(", %s/loss_curve.png", out_dir);
        printf("\n");
    } else if (rc == 0) {
        printf("wrote %s\n", path);
    }
    state_free(&st, &r);
    cli_model_free(&st.m);
    eval_dataset_free(&st.d);
    return rc;
}
