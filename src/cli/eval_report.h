/* eval_report.h: what `afloc eval` measured, and its two renderings: metrics.json and the
 * plain-text table printed on stdout. */
#ifndef AFLOC_CLI_EVAL_REPORT_H
#define AFLOC_CLI_EVAL_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "afloc/afloc.h"
#include "eval_baselines.h"
#include "eval_dataset.h"

/* Maps scored per row: the model's own prompt, each baseline, then the read-out's ceiling (the
 * box drawn on the grid, eval_box_on_grid). */
enum { EVAL_MAP_MODEL = 0, EVAL_MAP_CEILING = 1 + EVAL_BASELINES, EVAL_MAPS = 2 + EVAL_BASELINES };
/* The two-finding subset compares these: own prompt, "findings", "", then each baseline. */
enum { EVAL_TWO_OWN = 0, EVAL_TWO_GENERIC = 1, EVAL_TWO_EMPTY = 2, EVAL_TWO_BASELINE = 3,
       EVAL_TWO = 3 + EVAL_BASELINES };

/* lat_swapped_hit of a row without a left/right side (or without a side word to swap) */
enum { EVAL_NOT_SWAPPED = -2 };

typedef struct eval_summary_slot {
    int32_t            present;     /* 0: no pairs, written as null */
    afloc_eval_summary s;
} eval_summary_slot;

typedef struct eval_class_result {
    double  auc, f1, accuracy, best_threshold, best_f1;
    int32_t positives;
} eval_class_result;

typedef struct eval_results {
    const char   *model_path, *dataset_dir, *out_dir, *log_path;
    const eval_dataset *d;
    int32_t       S, bootstrap, limit;
    uint64_t      seed;
    const char   *generic_prompt;               /* "findings"                              */
    const char   *map_alignment;                /* "reference" or "centred" (read-out used) */
    afloc_eval_pair_metrics *pair[EVAL_MAPS];   /* (rows) each                             */
    eval_summary_slot all[EVAL_MAPS];           /* all[EVAL_MAP_CEILING] absent when the
                                                   read-out's cell centres are unknown       */
    eval_summary_slot *cat_model, *cat_ceiling; /* (classes) per category, no CI           */
    int32_t       two_rows;
    eval_summary_slot two[EVAL_TWO];
    int32_t       best_baseline;                /* EVAL_BASELINE_*, by two-finding pointing */
    char          empty_error[512];             /* why "" could not be localized, or ""    */
    int32_t       lat_rows, lat_skipped;        /* scored / without a side word            */
    eval_summary_slot lat_correct, lat_swapped;
    int32_t      *lat_swapped_hit;              /* (rows) hit of the side-swapped prompt;
                                                   EVAL_NOT_SWAPPED outside the subset    */
    int32_t       cls_images;
    eval_class_result *cls;                     /* (classes)                               */
    double        mean_auc, mean_f1, mean_accuracy, mean_best_f1;
    int32_t       tiles;
    const int32_t *tile_row;                    /* (tiles) row of each contact-sheet tile  */
    int32_t       loss_points;                  /* 0: no loss curve                        */
    int32_t       json_only;
} eval_results;

/* Writes metrics.json to `f`. */
void eval_report_json(FILE *f, const eval_results *r);

/* Prints the human-readable table to `f`. */
void eval_report_table(FILE *f, const eval_results *r);

#endif /* AFLOC_CLI_EVAL_REPORT_H */
