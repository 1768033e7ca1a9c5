/* image_encoder.h: the CPU image encoder (image_encoder.c, MODEL.md §3) on one preprocessed frame,
 * reading the model's inference plan (inference_plan.h). Internal: the public entry points are in
 * localize.c and classify.c; tests call it to compare intermediates with the PyTorch oracle.
 * Feature maps are (C, H, W) row-major for one image. */
#ifndef AFLOC_IMAGE_ENCODER_H
#define AFLOC_IMAGE_ENCODER_H

#include <stddef.h>

#include "inference_plan.h"

/* Optional outputs of the image encoder; any pointer may be NULL. */
typedef struct afloc_image_outputs {
    float *x299;   /* (up, up): the upsampled input (one channel)                 */
    float *layer2; /* (chans[1], side[1], side[1])                                */
    float *layer3; /* (chans[2], side[2], side[2])                                */
    float *layer4; /* (chans[3], side[3], side[3])                                */
    float *global; /* (D): img_emb_g                                              */
    float *local;  /* (D, side[2], side[2]): img_emb_l                            */
    float *local2; /* (D, side[1], side[1]): img_emb_l2                           */
} afloc_image_outputs;

/* Runs the image encoder on one preprocessed frame `x` (crop, crop), normalised one channel
 * (afloc_image_preprocess), and writes the non-NULL outputs. It stops after the last stage those
 * outputs need: a localization (local only) never runs layer4. Fails only if a prepared
 * convolution cannot run (AFLOC_ERR_OUT_OF_MEMORY or AFLOC_ERR_INTERNAL from the backend). */
afloc_status afloc_image_encoder_forward(const afloc_model *model, afloc_workspace *ws,
                                         const float *x, const afloc_image_outputs *outputs);

/* Floats of workspace afloc_image_encoder_forward uses. */
size_t afloc_image_encoder_workspace_floats(const afloc_model *model);

#endif /* AFLOC_IMAGE_ENCODER_H */
