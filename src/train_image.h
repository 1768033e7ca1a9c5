/* train_image.h: the image encoder's training forward and backward (MODEL.md §3, issue 4), used
 * by the trainer: the ResNet trunk with BatchNorm in TRAIN mode (batch statistics, running
 * statistics updated with momentum 0.1) and the three heads, on a batch of B images.
 *
 * A plan is built once per (model, B): it holds an activation arena sized for every tensor the
 * backward pass needs (input, x299, each conv output, BN saved mean / rstd, ReLU outputs, the
 * maxpool input, the stage outputs, the pooled vector, the heads), plus the backward's gradient
 * temporaries and conv scratch. forward and backward then allocate nothing.
 *
 * Layouts: images NCHW row-major, x (B, 1, crop, crop) normalised (MODEL.md §2.2);
 * img_emb_g (B, D); img_emb_l (B, D, S3) with S3 = side3²; img_emb_l2 (B, D, S2), S2 = side2².
 * Parameters and gradients are buffers with the layout of model->params (the param table's
 * offsets): the gradient of tensor t lives at grads + table.params[t].offset. */
#ifndef AFLOC_TRAIN_IMAGE_H
#define AFLOC_TRAIN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "model.h"

typedef struct afloc_train_image_plan afloc_train_image_plan;

/* Builds the plan for `model` (its config and param table are read now and must outlive the
 * plan) and batch size B >= 1. Every BatchNorm must see more than one value per channel
 * (B·side² > 1, as PyTorch requires). Returns AFLOC_ERR_INVALID_ARGUMENT (NULL argument, B out of
 * range, a tensor missing from the table), AFLOC_ERR_OUT_OF_MEMORY (the arena); *out untouched on
 * failure. */
afloc_status afloc_train_image_plan_create(afloc_train_image_plan **out, const afloc_model *model,
                                           int32_t B);
/* Frees a plan; NULL is a no-op. */
void afloc_train_image_plan_free(afloc_train_image_plan *plan);

/* Sizes of the plan's outputs: batch, D, and the layer2 / layer3 / layer4 sides. Any pointer
 * may be NULL. */
void afloc_train_image_sizes(const afloc_train_image_plan *plan, int32_t *B, int32_t *D,
                             int32_t *side2, int32_t *side3, int32_t *side4);

/* Training forward of x (B, 1, crop, crop). `params` has the model's layout (usually
 * model->params): weights are read, and every BatchNorm's running_mean / running_var in it is
 * updated in place (PyTorch train mode, momentum 0.1, unbiased variance). The results stay in the
 * plan until the next forward: see afloc_train_image_outputs. Returns AFLOC_ERR_INVALID_ARGUMENT
 * on a NULL argument (nothing is changed). Not thread-safe on one plan. */
afloc_status afloc_train_image_forward(afloc_train_image_plan *plan, float *params,
                                       const float *x);

/* The last forward's outputs, owned by the plan (any pointer may be NULL):
 * img_emb_g (B, D), img_emb_l (B, D, S3), img_emb_l2 (B, D, S2). */
void afloc_train_image_outputs(const afloc_train_image_plan *plan, const float **img_emb_g,
                               const float **img_emb_l, const float **img_emb_l2);

/* Backward of the last forward (same `params`, whose weights must not have changed in
 * between). d_emb_g (B, D), d_emb_l (B, D, S3), d_emb_l2 (B, D, S2) are the upstream gradients;
 * a NULL one counts as zero. Gradients ACCUMULATE (+=) into `grads` (the model's layout) for
 * every conv weight, BatchNorm weight / bias and head weight / bias of the image encoder;
 * running statistics get none, and no other entry is touched.
 * conv1: the forward runs on one input channel with conv1's weight summed over its input
 * channels (the model's channels are identical copies of the gray image), so every input-channel
 * slice of conv1.weight receives the same gradient, that of the summed weight — exactly what
 * autograd gives for the replicated input. Returns AFLOC_ERR_INVALID_ARGUMENT on a NULL grads
 * or params, or when no forward ran. Not thread-safe on one plan. */
afloc_status afloc_train_image_backward(afloc_train_image_plan *plan, float *grads,
                                        const float *params, const float *d_emb_g,
                                        const float *d_emb_l, const float *d_emb_l2);

#endif /* AFLOC_TRAIN_IMAGE_H */
