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

#endif /* AFLOC_CLI_EVAL_BASELINES_H */
