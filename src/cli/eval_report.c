/* eval_report.c: metrics.json and the stdout table of `afloc eval` (see eval_report.h). JSON is
 * written by hand: strings escaped per RFC 8259, non-finite numbers as null. */
#include "eval_report.h"

#include <math.h>
#include <string.h>

static const double thresholds[5] = {0.1, 0.2, 0.30000000000000004, 0.4, 0.5};

/* ---- JSON ---- */

static void jstr(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void jnum(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.10g", v);
    else fputs("null", f);
}

static void jci(FILE *f, const char *name, double v, double lo, double hi) {
    fprintf(f, "\"%s\": {\"value\": ", name);
    jnum(f, v);
    fputs(", \"ci_lo\": ", f);
    jnum(f, lo);
    fputs(", \"ci_hi\": ", f);
    jnum(f, hi);
    fputs("}", f);
}

static void jsummary(FILE *f, const eval_summary_slot *slot) {
    if (!slot->present) {
        fputs("null", f);
        return;
    }
    const afloc_eval_summary *s = &slot->s;
    fprintf(f, "{\"pairs\": %d, \"categories\": %d, ", (int)s->pairs, (int)s->categories);
    jci(f, "iou", s->iou, s->iou_lo, s->iou_hi);
    fputs(", \"iou_at\": [", f);
    for (int t = 0; t < 5; t++) {
        if (t) fputs(", ", f);
        jnum(f, s->iou_at[t]);
    }
    fputs("], ", f);
    jci(f, "dice", s->dice, s->dice_lo, s->dice_hi);
    fputs(", ", f);
    jci(f, "cnr", s->cnr, s->cnr_lo, s->cnr_hi);
    fputs(", ", f);
    jci(f, "pointing", s->pointing, s->pointing_lo, s->pointing_hi);
    fputs("}", f);
}

/* One category's point values (no CI), or null without pairs. */
static void jcategory(FILE *f, const eval_summary_slot *slot) {
    if (!slot->present) {
        fputs("null", f);
        return;
    }
    const afloc_eval_summary *s = &slot->s;
    fputs("{\"iou\": ", f);
    jnum(f, s->iou);
    fputs(", \"dice\": ", f);
    jnum(f, s->dice);
    fputs(", \"cnr\": ", f);
    jnum(f, s->cnr);
    fputs(", \"pointing\": ", f);
    jnum(f, s->pointing);
    fputc('}', f);
}

static void jarray5(FILE *f, const double *v) {
    fputc('[', f);
    for (int t = 0; t < 5; t++) {
        if (t) fputs(", ", f);
        jnum(f, v[t]);
    }
    fputc(']', f);
}

static const char *side_name(int32_t side) {
    static const char *const names[4] = {"none", "left", "right", "bilateral"};
    return names[side & 3];
}

/* Pointing of the laterality rows of class `k`, with the correct and with the swapped side
 * (each the mean of the rows' hits, hits of -1 left out as in afloc_eval_summarize; NAN when none
 * is left). Returns the number of rows. */
static int32_t lat_category(const eval_results *r, int32_t k, double *correct, double *swapped) {
    int32_t rows = 0, n[2] = {0, 0}, hits[2] = {0, 0};
    for (int32_t i = 0; i < r->d->rows; i++) {
        if (r->lat_swapped_hit[i] == EVAL_NOT_SWAPPED || r->d->row[i].category != k) continue;
        rows++;
        const int32_t hit[2] = {r->pair[EVAL_MAP_MODEL][i].hit, r->lat_swapped_hit[i]};
        for (int t = 0; t < 2; t++)
            if (hit[t] >= 0) n[t]++, hits[t] += hit[t];
    }
    *correct = n[0] ? (double)hits[0] / n[0] : NAN;
    *swapped = n[1] ? (double)hits[1] / n[1] : NAN;
    return rows;
}

static void json_rows(FILE *f, const eval_results *r) {
    fputs("  \"per_row\": [\n", f);
    for (int32_t i = 0; i < r->d->rows; i++) {
        const eval_row *row = &r->d->row[i];
        const afloc_eval_pair_metrics *m = &r->pair[EVAL_MAP_MODEL][i];
        fprintf(f, "    {\"line\": %d, \"image\": ", (int)row->line);
        jstr(f, row->image);
        fputs(", \"prompt\": ", f);
        jstr(f, row->prompt);
        fputs(", \"category\": ", f);
        jstr(f, r->d->class_name[row->category]);
        fprintf(f, ", \"side\": \"%s\", \"group\": %d, \"iou\": ", side_name(row->side), (int)row->group);
        jarray5(f, m->iou);
        fputs(", \"dice\": ", f);
        jarray5(f, m->dice);
        fputs(", \"cnr\": ", f);
        jnum(f, m->cnr);
        fprintf(f, ", \"hit\": %d, \"swapped_hit\": ", (int)m->hit);
        if (r->lat_swapped_hit[i] == EVAL_NOT_SWAPPED) fputs("null", f);
        else fprintf(f, "%d", (int)r->lat_swapped_hit[i]);
        fputs(", \"baseline_hit\": {", f);
        for (int b = 0; b < EVAL_BASELINES; b++)
            fprintf(f, "%s\"%s\": %d", b ? ", " : "", eval_baseline_name[b], (int)r->pair[1 + b][i].hit);
        fprintf(f, "}}%s\n", i + 1 < r->d->rows ? "," : "");
    }
    fputs("  ],\n", f);
}

static void json_classification(FILE *f, const eval_results *r) {
    const eval_dataset *d = r->d;
    fprintf(f, "  \"classification\": {\n    \"images\": %d,\n", (int)r->cls_images);
    fputs("    \"score\": \"softmax over {cos(img_emb_g, positive), cos(img_emb_g, negative)}, "
          "positive probability, temperature 1; a class with several prompts scores the mean of "
          "their unit text embeddings\",\n    \"threshold\": 0.5,\n    \"classes\": [\n", f);
    for (int32_t k = 0; k < d->classes; k++) {
        const eval_class_result *c = &r->cls[k];
        fputs("      {\"name\": ", f);
        jstr(f, d->class_name[k]);
        for (int side = 0; side < 2; side++) {
            fputs(side ? "], \"negative_prompts\": [" : ", \"positive_prompts\": [", f);
            const char *sep = "";
            for (int32_t i = 0; i < d->pairs; i++) {
                if (d->pair_class[i] != k) continue;
                fputs(sep, f);
                jstr(f, side ? d->pair_negative[i] : d->pair_positive[i]);
                sep = ", ";
            }
        }
        fputs("]", f);
        fprintf(f, ", \"positives\": %d, \"auc\": ", (int)c->positives);
        jnum(f, c->auc);
        fputs(", \"f1_at_0.5\": ", f);
        jnum(f, c->f1);
        fputs(", \"accuracy_at_0.5\": ", f);
        jnum(f, c->accuracy);
        fputs(", \"f1max_threshold\": ", f);
        jnum(f, c->best_threshold);
        fputs(", \"f1max\": ", f);
        jnum(f, c->best_f1);
        fprintf(f, "}%s\n", k + 1 < d->classes ? "," : "");
    }
    fputs("    ],\n    \"mean_auc\": ", f);
    jnum(f, r->mean_auc);
    fputs(",\n    \"mean_f1_at_0.5\": ", f);
    jnum(f, r->mean_f1);
    fputs(",\n    \"mean_accuracy_at_0.5\": ", f);
    jnum(f, r->mean_accuracy);
    fputs(",\n    \"mean_f1max\": ", f);
    jnum(f, r->mean_best_f1);
    fputs("\n  },\n", f);
}

void eval_report_json(FILE *f, const eval_results *r) {
    const eval_dataset *d = r->d;
    fputs("{\n  \"tool\": \"afloc eval\",\n  \"library_version\": ", f);
    jstr(f, afloc_version());
    fputs(",\n  \"model\": ", f);
    jstr(f, r->model_path);
    fputs(",\n  \"dataset_dir\": ", f);
    jstr(f, r->dataset_dir);
    fprintf(f, ",\n  \"dataset\": %s,\n", d->info_json ? d->info_json : "null");
    fprintf(f, "  \"rows\": %d,\n  \"images\": %d,\n  \"labelled_images\": %d,\n", (int)d->rows,
            (int)d->images, (int)d->labelled);
    fprintf(f, "  \"limit\": %d,\n  \"frame_size\": %d,\n  \"margin\": 1,\n", (int)r->limit,
            (int)r->S);
    fputs("  \"map_alignment\": ", f);
    jstr(f, r->map_alignment);
    fputs(",\n  \"thresholds\": ", f);
    jarray5(f, thresholds);
    fprintf(f, ",\n  \"bootstrap\": %d,\n  \"seeds\": {\"bootstrap\": %llu, \"random_baseline\": %llu},\n",
            (int)r->bootstrap, (unsigned long long)r->seed, (unsigned long long)r->seed);
    fputs("  \"categories\": [", f);
    for (int32_t k = 0; k < d->classes; k++) {
        if (k) fputs(", ", f);
        jstr(f, d->class_name[k]);
    }
    fputs("],\n  \"localization\": {\n    \"model\": ", f);
    jsummary(f, &r->all[EVAL_MAP_MODEL]);
    fputs(",\n    \"baselines\": {\n", f);
    for (int b = 0; b < EVAL_BASELINES; b++) {
        fprintf(f, "      \"%s\": ", eval_baseline_name[b]);
        jsummary(f, &r->all[1 + b]);
        fputs(b + 1 < EVAL_BASELINES ? ",\n" : "\n", f);
    }
    fputs("    },\n    \"ceiling\": ", f);
    jsummary(f, &r->all[EVAL_MAP_CEILING]);
    fputs(",\n    \"per_category\": [", f);
    for (int32_t k = 0; k < d->classes; k++) {
        fputs(k ? ",\n      {\"category\": " : "\n      {\"category\": ", f);
        jstr(f, d->class_name[k]);
        fprintf(f, ", \"rows\": %d, \"model\": ", (int)r->cat_model[k].s.pairs);
        jcategory(f, &r->cat_model[k]);
        fputs(", \"ceiling\": ", f);
        jcategory(f, &r->cat_ceiling[k]);
        fputc('}', f);
    }
    fputs("\n    ]\n  },\n  \"text_reading\": {\n", f);
    fprintf(f, "    \"two_finding\": {\n      \"rows\": %d,\n      \"own_prompt\": ", (int)r->two_rows);
    jsummary(f, &r->two[EVAL_TWO_OWN]);
    fputs(",\n      \"generic_prompt\": ", f);
    jstr(f, r->generic_prompt);
    fputs(",\n      \"generic\": ", f);
    jsummary(f, &r->two[EVAL_TWO_GENERIC]);
    fputs(",\n      \"empty_prompt\": ", f);
    jsummary(f, &r->two[EVAL_TWO_EMPTY]);
    fputs(",\n      \"empty_prompt_error\": ", f);
    if (r->empty_error[0]) jstr(f, r->empty_error);
    else fputs("null", f);
    fprintf(f, ",\n      \"best_baseline\": \"%s\",\n      \"baselines\": {\n",
            eval_baseline_name[r->best_baseline]);
    for (int b = 0; b < EVAL_BASELINES; b++) {
        fprintf(f, "        \"%s\": ", eval_baseline_name[b]);
        jsummary(f, &r->two[EVAL_TWO_BASELINE + b]);
        fputs(b + 1 < EVAL_BASELINES ? ",\n" : "\n", f);
    }
    fprintf(f, "      }\n    },\n    \"laterality\": {\n      \"rows\": %d,\n"
               "      \"skipped_without_side_word\": %d,\n      \"correct_side\": ",
            (int)r->lat_rows, (int)r->lat_skipped);
    jsummary(f, &r->lat_correct);
    fputs(",\n      \"swapped_side\": ", f);
    jsummary(f, &r->lat_swapped);
    fputs(",\n      \"per_category\": [", f);
    for (int32_t k = 0, first = 1; k < d->classes; k++) {
        double correct, swapped;
        const int32_t rows = lat_category(r, k, &correct, &swapped);
        if (rows == 0) continue;
        fputs(first ? "\n        {\"category\": " : ",\n        {\"category\": ", f);
        first = 0;
        jstr(f, d->class_name[k]);
        fprintf(f, ", \"rows\": %d, \"correct_side_pointing\": ", (int)rows);
        jnum(f, correct);
        fputs(", \"swapped_side_pointing\": ", f);
        jnum(f, swapped);
        fputc('}', f);
    }
    fputs("\n      ]\n    }\n  },\n", f);
    json_classification(f, r);
    fputs("  \"contact_sheet\": ", f);
    if (r->tiles == 0) {
        fputs("null,\n", f);
    } else {
        fputs("{\"file\": \"contact_sheet.png\", \"tiles\": [\n", f);
        for (int32_t t = 0; t < r->tiles; t++) {
            const eval_row *row = &d->row[r->tile_row[t]];
            fprintf(f, "    {\"index\": %d, \"row\": %d, \"line\": %d, \"image\": ", (int)t,
                    (int)r->tile_row[t], (int)row->line);
            jstr(f, row->image);
            fputs(", \"prompt\": ", f);
            jstr(f, row->prompt);
            fprintf(f, "}%s\n", t + 1 < r->tiles ? "," : "");
        }
        fputs("  ]},\n", f);
    }
    fputs("  \"loss_curve\": ", f);
    if (r->loss_points > 0) {
        fputs("{\"file\": \"loss_curve.png\", \"log\": ", f);
        jstr(f, r->log_path);
        fprintf(f, ", \"points\": %d},\n", (int)r->loss_points);
    } else {
        fputs("null,\n", f);
    }
    json_rows(f, r);
    fputs("  \"notes\": \"maps: frame map of afloc_model_localize (normalize 0), then the §8.4 margin "
          "and [-1,1] normalisation; CIs: stratified bootstrap (xoshiro256**), not bit-identical to "
          "the reference's NumPy CIs; F1/accuracy thresholds are libafloc's (§9.7)\"\n}\n", f);
}

/* ---- table ---- */

static void cell(FILE *f, double v, double lo, double hi) {
    if (!isfinite(v)) fprintf(f, "  %-22s", "n/a");
    else if (!isfinite(lo) || !isfinite(hi)) fprintf(f, "  %6.3f %-15s", v, "");
    else fprintf(f, "  %6.3f [%6.3f,%6.3f]", v, lo, hi);
}

static void line4(FILE *f, const char *name, const eval_summary_slot *slot) {
    fprintf(f, "%-26s", name);
    if (!slot->present) {
        fputs("  (no pairs)\n", f);
        return;
    }
    const afloc_eval_summary *s = &slot->s;
    cell(f, s->iou, s->iou_lo, s->iou_hi);
    cell(f, s->dice, s->dice_lo, s->dice_hi);
    cell(f, s->cnr, s->cnr_lo, s->cnr_hi);
    cell(f, s->pointing, s->pointing_lo, s->pointing_hi);
    fputc('\n', f);
}

static void line2(FILE *f, const char *name, const eval_summary_slot *slot) {
    fprintf(f, "%-26s", name);
    if (!slot->present) {
        fputs("  (not available)\n", f);
        return;
    }
    cell(f, slot->s.pointing, slot->s.pointing_lo, slot->s.pointing_hi);
    cell(f, slot->s.cnr, slot->s.cnr_lo, slot->s.cnr_hi);
    fputc('\n', f);
}

void eval_report_table(FILE *f, const eval_results *r) {
    const eval_dataset *d = r->d;
    fprintf(f, "afloc eval: %s on %s: %d rows, %d images, frame %d, %s maps, bootstrap %d, "
            "seed %llu\n\n", r->model_path, r->dataset_dir, (int)d->rows, (int)d->images, (int)r->S,
            r->map_alignment, (int)r->bootstrap, (unsigned long long)r->seed);
    fprintf(f, "localization (95%% CI)       %-22s  %-22s  %-22s  %-22s\n", "IoU (mean 0.1..0.5)", "Dice",
            "CNR", "pointing");
    line4(f, "model", &r->all[EVAL_MAP_MODEL]);
    for (int b = 0; b < EVAL_BASELINES; b++) {
        char name[64];
        snprintf(name, sizeof name, "baseline %s", eval_baseline_name[b]);
        line4(f, name, &r->all[1 + b]);
    }
    if (r->all[EVAL_MAP_CEILING].present) line4(f, "ceiling: box on the grid", &r->all[EVAL_MAP_CEILING]);
    if (r->all[EVAL_MAP_MODEL].present) {
        fputs("model IoU per threshold:", f);
        for (int t = 0; t < 5; t++) fprintf(f, " %.1f: %.3f", thresholds[t], r->all[0].s.iou_at[t]);
        fputc('\n', f);
        fprintf(f, "per category                %5s  %-14s  %-14s\n", "rows", "IoU model", "IoU ceiling");
        for (int32_t k = 0; k < d->classes; k++) {
            if (!r->cat_model[k].present) continue;
            fprintf(f, "  %-26s%5d  %-14.3f", d->class_name[k], (int)r->cat_model[k].s.pairs,
                    r->cat_model[k].s.iou);
            if (r->cat_ceiling[k].present) fprintf(f, "  %.3f", r->cat_ceiling[k].s.iou);
            fputc('\n', f);
        }
    }
    fprintf(f, "\ntext reading: two-finding images (%d rows)\n%-26s  %-22s  %-22s\n", (int)r->two_rows,
            "", "pointing", "CNR");
    line2(f, "own prompt", &r->two[EVAL_TWO_OWN]);
    char name[64];
    snprintf(name, sizeof name, "prompt \"%s\"", r->generic_prompt);
    line2(f, name, &r->two[EVAL_TWO_GENERIC]);
    line2(f, "empty prompt \"\"", &r->two[EVAL_TWO_EMPTY]);
    snprintf(name, sizeof name, "best baseline (%s)", eval_baseline_name[r->best_baseline]);
    line2(f, name, &r->two[EVAL_TWO_BASELINE + r->best_baseline]);
    fprintf(f, "\ntext reading: laterality (%d rows; %d without a left/right word skipped)\n",
            (int)r->lat_rows, (int)r->lat_skipped);
    line2(f, "correct side", &r->lat_correct);
    line2(f, "left<->right swapped", &r->lat_swapped);
    fprintf(f, "  per category (pointing)   %5s  %8s  %8s  %8s\n", "rows", "correct", "swapped", "gap");
    for (int32_t k = 0; k < d->classes; k++) {
        double correct, swapped;
        const int32_t rows = lat_category(r, k, &correct, &swapped);
        if (rows > 0)
            fprintf(f, "  %-24.24s  %5d  %8.3f  %8.3f  %+8.3f\n", d->class_name[k], (int)rows, correct, swapped,
                    correct - swapped);
    }
    fprintf(f, "\nzero-shot classification (%d images; p = softmax(pos, neg), T = 1)\n", (int)r->cls_images);
    fprintf(f, "%-22s  %6s  %6s  %6s  %8s  %6s  %5s\n", "class", "AUC", "F1@.5", "acc@.5", "F1max@t",
            "F1max", "pos");
    for (int32_t k = 0; k < d->classes; k++) {
        const eval_class_result *c = &r->cls[k];
        fprintf(f, "%-22.22s  %6.3f  %6.3f  %6.3f  %8.4f  %6.3f  %5d\n", d->class_name[k], c->auc, c->f1,
                c->accuracy, c->best_threshold, c->best_f1, (int)c->positives);
    }
    fprintf(f, "%-22s  %6.3f  %6.3f  %6.3f  %8s  %6.3f\n", "mean", r->mean_auc, r->mean_f1,
            r->mean_accuracy, "", r->mean_best_f1);
}
