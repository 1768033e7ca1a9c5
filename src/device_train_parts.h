/* device_train_parts.h: the two halves of the device training step (device_train.h), internal to
 * device_train*.c: the image encoder's training pass (device_train_image.c, the twin of
 * train_image.c) and BERT's (device_train_text.c, the twin of train_text.c), each with its
 * activation arena in device memory, planned once per (model, B). Both enqueue work on the
 * step's device handle; the scratch buffer is the step's, at least the bytes each create adds to
 * *scratch_bytes. Parameter and gradient pointers are device buffers in the model's layout. */
#ifndef AFLOC_DEVICE_TRAIN_PARTS_H
#define AFLOC_DEVICE_TRAIN_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "device_ops.h"
#include "model.h"

typedef struct afloc_dtrain_image afloc_dtrain_image;
typedef struct afloc_dtrain_text  afloc_dtrain_text;

/* ---- image (device_train_image.c) ---- */

/* Plans the ResNet training pass for batch B and allocates its device arena; raises
 * *scratch_bytes to the largest conv scratch (forward and backward) it will ask for. */
afloc_status afloc_dtrain_image_create(afloc_dtrain_image **out, const afloc_model *model,
                                       const afloc_device_ops *ops, afloc_device *dev, int32_t B,
                                       size_t *scratch_bytes, const char *function);
void afloc_dtrain_image_free(afloc_dtrain_image *p);
/* D and the layer2 / layer3 sides. */
void afloc_dtrain_image_sizes(const afloc_dtrain_image *p, int32_t *D, int32_t *side2,
                              int32_t *side3);
/* Uploads x (B, crop, crop; host) and enqueues the forward; running statistics in params are
 * updated on the device. Returns the upload's status. */
afloc_status afloc_dtrain_image_forward(afloc_dtrain_image *p, float *params, const float *x,
                                        void *scratch);
/* Device outputs of the last forward: img_emb_g (B, D), img_emb_l (B, D, S3), img_emb_l2 (B, D, S2). */
void afloc_dtrain_image_outputs(const afloc_dtrain_image *p, const float **emb_g,
                                const float **emb_l, const float **emb_l2);
/* Enqueues the backward; gradients accumulate (+=) into grads. */
void afloc_dtrain_image_backward(afloc_dtrain_image *p, float *grads, const float *params,
                                 const float *d_emb_g, const float *d_emb_l,
                                 const float *d_emb_l2, void *scratch);

/* ---- text (device_train_text.c) ---- */

afloc_status afloc_dtrain_text_create(afloc_dtrain_text **out, const afloc_model *model,
                                      const afloc_device_ops *ops, afloc_device *dev, int32_t B,
                                      float dropout, size_t *scratch_bytes, const char *function);
void afloc_dtrain_text_free(afloc_dtrain_text *p);
/* D (= bert_hidden) and T (token_length). */
void afloc_dtrain_text_sizes(const afloc_dtrain_text *p, int32_t *D, int32_t *T);
/* Checks the captions (host ids (B, T), lengths (B), as train_text.c does), then runs BERT on
 * the device and the word / sentence / report aggregation (the text_aggregate op; see the file). */
afloc_status afloc_dtrain_text_forward(afloc_dtrain_text *p, const float *params,
                                       const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                       void *scratch, const char *function);
/* Device outputs: text_emb_w, text_emb_s (B, D, T), text_emb_r (B, D), cap_len words /
 * sentences (B, int32). */
void afloc_dtrain_text_outputs(const afloc_dtrain_text *p, const float **emb_w,
                               const float **emb_s, const float **emb_r, const int32_t **cap_w,
                               const int32_t **cap_s);
/* Backward from device d_w, d_s (B, D, T) and d_r (B, D); gradients accumulate into grads. */
afloc_status afloc_dtrain_text_backward(afloc_dtrain_text *p, float *grads, const float *params,
                                        const float *d_w, const float *d_s, const float *d_r,
                                        void *scratch, const char *function);

#endif /* AFLOC_DEVICE_TRAIN_PARTS_H */
