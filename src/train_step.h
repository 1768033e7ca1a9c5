/* train_step.h: one training step on a batch (MODEL.md §6.4, §7.1; issue 4), tying together the
 * image and text training passes (train_image.h, train_text.h), the three AFLoc losses
 * (contrastive.c), the global gradient norm and clip factor, and Adam (adam.c). Internal: the
 * public trainer drives it.
 *
 * A step: zero the gradient buffer → image forward (BatchNorm in train mode, running statistics
 * of model->params updated) → text forward → L_GR(img_emb_g, text_emb_r) + L_DS(img_emb_l,
 * text_emb_s, cap_len_sentences) + L_SW(img_emb_l2, text_emb_w, cap_len_words) with the config's
 * temperatures, each with gradients → text backward, image backward → total L2 norm over the
 * whole gradient buffer → clip factor (max norm 0.25) → Adam (betas 0.5 / 0.999, eps 1e-8,
 * L2 weight decay 1e-6) on the trained tensors only → step count + 1.
 *
 * "Trained" tensors are those PyTorch gives a gradient: every image encoder conv / BatchNorm /
 * head weight and bias except img_encoder.local_f_embedder (img_emb_lf takes no part in the
 * loss), and every BERT tensor except the pooler. BatchNorm running statistics, the pooler and
 * local_f_embedder are skipped by Adam entirely (no weight decay either), as torch.optim.Adam
 * skips parameters whose grad is None. Gradient, m and v buffers have the layout of
 * model->params (table offsets). */
#ifndef AFLOC_TRAIN_STEP_H
#define AFLOC_TRAIN_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "model.h"

typedef struct afloc_train_step afloc_train_step;

/* Loss terms of the step's forward (at the weights before the update), and the gradient norm
 * before clipping. */
typedef struct afloc_train_losses {
    double global;    /* L_GR                                  */
    double sentence;  /* L_DS                                  */
    double word;      /* L_SW                                  */
    double contrast;  /* L_WS, the within-image sentence loss (0 when its weight is 0) */
    double total;     /* the weighted sum of the four          */
    double grad_norm; /* L2 norm of the whole gradient buffer */
    double word_seconds; /* wall time of the L_SW loss call (its forward and its own backward) */
} afloc_train_losses;

/* Adam and clipping hyperparameters of MODEL.md §7.1. */
#define AFLOC_TRAIN_CLIP_NORM 0.25f
#define AFLOC_TRAIN_ADAM_BETA1 0.5
#define AFLOC_TRAIN_ADAM_BETA2 0.999
#define AFLOC_TRAIN_ADAM_EPS 1e-8
#define AFLOC_TRAIN_WEIGHT_DECAY 1e-6

/* Builds a step for `model` (which must outlive it; its params are updated by run), batch size
 * B >= 1 (the plans' own limits apply, see afloc_train_image_plan_create) and BERT
 * dropout 0 <= dropout < 1. Allocates both plans, the gradient and Adam m / v buffers (zeroed,
 * step count 0) and the loss scratch.
 * Returns AFLOC_ERR_INVALID_ARGUMENT or AFLOC_ERR_OUT_OF_MEMORY; *out untouched on failure. */
afloc_status afloc_train_step_create(afloc_train_step **out, afloc_model *model, int32_t B,
                                     float dropout);
/* Frees a step; NULL is a no-op. */
void afloc_train_step_free(afloc_train_step *s);

/* Forward and backward on a batch, no update: images (B, crop, crop) preprocessed (MODEL.md
 * §2.2, one channel), ids (B, T) and lengths (B) as afloc_tokenizer_encode writes them, seed for
 * the dropout masks. Leaves the gradient in the step (afloc_train_step_grads); BatchNorm running
 * statistics of model->params are updated. `losses` (may be NULL) gets the loss terms and the
 * gradient norm. Returns AFLOC_ERR_INVALID_ARGUMENT on a NULL argument or a bad caption. */
afloc_status afloc_train_step_compute(afloc_train_step *s, const float *images,
                                      const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                      afloc_train_losses *losses);

/* compute, then clipping and one Adam step at rate lr (>= 0, finite) on model->params, and the
 * step count + 1. A non-finite gradient norm skips the update (parameters, m, v and the count
 * unchanged) and returns AFLOC_ERR_INVALID_ARGUMENT with losses filled. */
afloc_status afloc_train_step_run(afloc_train_step *s, const float *images, const int32_t *ids,
                                  const int32_t *lengths, uint64_t seed, double lr,
                                  afloc_train_losses *losses);

/* Loss weights of the total (MODEL.md §6.4 uses 1, 1, 1, the default): each loss's gradients are
 * scaled by its weight, and a weight of 0 skips that loss entirely (reported as 0). Weights are
 * finite and >= 0; the caller checks. For ablations and for cheaper runs without the word level. */
void afloc_train_step_set_weights(afloc_train_step *s, double global, double sentence, double word);

/* Sets l->total from the terms already in l (float32 values) and the loss weights: with the
 * default weights (1, 1, 1, no L_WS) the float sum torch computes, else the weighted sum. The CPU
 * and the device step both use it. */
void afloc_train_losses_set_total(afloc_train_losses *l, const double weight[3],
                                  double weight_contrast);

/* Weight of the within-image sentence loss L_WS (afloc_cpu_sentence_contrast_loss; finite,
 * >= 0; 0, the default, skips it: the paper's step). */
void afloc_train_step_set_sentence_contrast(afloc_train_step *s, double weight);

/* The gradient buffer of the last compute (model layout, table.total_floats floats). */
const float *afloc_train_step_grads(const afloc_train_step *s);
/* Number of Adam steps taken. */
int64_t afloc_train_step_count(const afloc_train_step *s);
/* The Adam moment buffers m and v (model layout, table.total_floats floats each) and the step
 * count, writable, for checkpoints: a trainer saves them and restores them on resume. */
void afloc_train_step_adam_state(afloc_train_step *s, float **m, float **v);
void afloc_train_step_set_count(afloc_train_step *s, int64_t count);
/* 1 when Adam updates parameter `p` (see "Trained" above), else 0; the rule of both steps
 * (this one and device_train.c). */
int afloc_train_param_trained(const afloc_param *p);
/* 1 when Adam updates table tensor `index`, else 0 (also for an index out of range). */
int afloc_train_step_is_trained(const afloc_train_step *s, int32_t index);

#endif /* AFLOC_TRAIN_STEP_H */
