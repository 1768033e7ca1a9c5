/* eval_baselines.h: text-agnostic maps for `afloc eval`, on the same S x S model frame as a
 * localization map (row-major floats, not normalised): a seeded uniform random map, a centre
 * prior and the image intensity. A model that reads the text should beat all three. */
#ifndef AFLOC_CLI_EVAL_BASELINES_H
#define AFLOC_CLI_EVAL_BASELINES_H

#include <stdint.h>

#include "afloc/afloc.h"

enum { EVAL_BASELINE_RANDOM = 0, EVAL_BASELINE_CENTER = 1, EVAL_BASELINE_INTENSITY = 2,
       EVAL_BASELINES = 3 };

extern const char *const eval_baseline_name[EVAL_BASELINES];

/* Uniform [0, 1) values from a counter-based generator (SplitMix64 of seed, item, pixel), so
 * item `item` gets the same map whatever else is evaluated. */
void eval_baseline_random(float *map, int32_t S, uint64_t seed, uint64_t item);

/* Isotropic Gaussian exp(-r²/(2σ²)) centred on the frame ((S-1)/2, (S-1)/2), σ = S/4. */
void eval_baseline_center(float *map, int32_t S);

/* The preprocessed frame itself (letterbox to S, no crop, x in [-1, 1]; 16-bit radiographs keep
 * their precision): brighter = more likely a lesion. Returns the afloc_image_preprocess status. */
afloc_status eval_baseline_intensity(float *map, int32_t S, const afloc_image_view *image);

/* The read-out's ceiling, not a baseline (it knows the answer): the raw grid a perfect model
 * would give for the ground-truth `mask` (F x F frame pixels). Cell (u, v) of the S x S grid
 * holds the share of mask pixels among the frame pixels drawn nearest to it: `cell_of` (F) and
 * `cell_width` (S) come from eval_grid_cells. Passed through the model's read-out
 * (afloc_model_grid_to_frame), it shows how much of IoU, Dice, CNR and pointing the smoothing
 * and the grid's size allow. */
void eval_box_on_grid(float *grid, int32_t S, const uint8_t *mask, int32_t F,
                      const int32_t *cell_of, const int32_t *cell_width);

/* For each frame coordinate o < F the grid cell whose centre (`centre`, S values, from
 * eval_cell_centres) is nearest (the first one on a tie), and for each cell how many frame
 * coordinates fall to it; the same along both axes. Computed once per evaluation. */
void eval_grid_cells(int32_t *cell_of, int32_t *cell_width, int32_t S, int32_t F,
                     const double *centre);

/* The frame coordinates (F pixels) at which a read-out draws the S cells of a grid axis:
 * reference alignment (the paper's bilinear resize, align_corners=False) (u + 0.5)·F/S − 0.5;
 * the centred ones u·16·(F − 1)/(upsample − 1), the centre of cell u's receptive field in the
 * encoder input of side `upsample` (the geometry afloc.h documents for map_alignment; the
 * library's own copy is afloc_inference_centred_step in src/inference_plan.h, which the public API does
 * not expose; evalcli_helpers checks the two agree by passing one-hot grids through
 * afloc_model_grid_to_frame). Returns 0, or 1 when `alignment` is not REFERENCE, CENTRED
 * or CENTRED_CUBIC or a centred one lacks upsample > 1. */
int eval_cell_centres(double *centre, int32_t S, int32_t F, int32_t alignment, int32_t upsample);

#endif /* AFLOC_CLI_EVAL_BASELINES_H */
