/* inference.h: building a model's inference plan (inference_plan.h) and the pieces the public
 * inference entry points share. The plan is made once, when a model is created or loaded
 * (afloc_inference_prepare), and also sizes the per-call workspace (workspace.h) for the largest
 * single call, so the forward passes never allocate activations.
 *
 * Everything here is internal (the public entry points are in localize.c and classify.c). The CPU
 * encoders that read the plan are declared in image_encoder.h and text_encoder.h, included below
 * so that a caller of the whole inference path needs this one header. Layouts follow the
 * reference: feature maps (C, H, W) row-major for one image; word/sentence features channel-first
 * (D, T). The forward passes take a workspace acquired from the model's pool and return a status
 * only for argument or preprocessing failures; the numeric part cannot fail. */
#ifndef AFLOC_INFERENCE_H
#define AFLOC_INFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "image_encoder.h"
#include "inference_plan.h"
#include "model.h"
#include "text_encoder.h"
#include "workspace.h"

/* Builds model->inference from model->params and model->config (validated by the caller). Called
 * at the end of afloc_model_create/afloc_model_load; on failure nothing is left allocated and the
 * status is AFLOC_ERR_OUT_OF_MEMORY or AFLOC_ERR_SCHEMA (a tensor the plan needs is missing). */
afloc_status afloc_inference_prepare(afloc_model *model);

/* Releases a plan and its workspace pool. NULL is a no-op. */
void afloc_inference_free(struct afloc_inference *inference);

/* Sets the OpenMP team size of the calling thread from the model's context (num_threads, 0 = all
 * cores). Called at the start of every public inference function. */
void afloc_inference_set_threads(const afloc_model *model);

/* Checks that `model` is non-NULL and prepared; messages start with `function`. */
afloc_status afloc_inference_check_model(const afloc_model *model, const char *function);

/* The smoothed S x S map onto the (crop, crop) frame with the CPU ops, by `alignment`
 * (AFLOC_MAP_ALIGN_REFERENCE: §8.3's resize; AFLOC_MAP_ALIGN_CENTRED: the centred read-out;
 * AFLOC_MAP_ALIGN_MODEL: the config's). */
void afloc_inference_map_to_frame(const afloc_model *model, int32_t alignment, float *frame,
                                  const float *smoothed);

/* ---- localization pieces (localize.c) ---- */

/* Floats of workspace the localize and classify entry points use on top of the encoders. */
size_t afloc_localize_workspace_floats(const afloc_model *model);

/* Checks a NUL-terminated text argument and returns its length in *length: NULL gives
 * AFLOC_ERR_INVALID_ARGUMENT, more than AFLOC_MAX_TEXT_BYTES bytes AFLOC_ERR_LIMIT. */
afloc_status afloc_inference_check_text(const char *text, size_t *length, const char *function);

/* Preprocesses `image` into the model frame `frame` (crop, crop) with the model's image_size and
 * crop_size; geometry may be NULL. Statuses of afloc_image_preprocess, messages start with
 * `function`. */
afloc_status afloc_inference_preprocess(const afloc_model *model, const afloc_image_view *image,
                                        float *frame, afloc_letterbox_geometry *geometry,
                                        const char *function);

#endif /* AFLOC_INFERENCE_H */
