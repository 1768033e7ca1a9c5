/* device_train.h: one training step on the CUDA backend (issue 6), the twin of train_step.h: the
 * same step (zero the gradient → image forward with BatchNorm in train mode, running statistics
 * updated → BERT forward with dropout → L_GR + L_DS + L_SW with the loss weights → backward →
 * gradient norm (sum_squares, double) → clip factor 0.25 → Adam on the trained tensors only →
 * step count + 1), run through the plugin's op table (device_ops.h) on device buffers. The halves
 * are device_train_image.c and device_train_text.c (device_train_parts.h).
 *
 * State on the device: the parameters (uploaded from model->params at create), the gradient and
 * Adam m / v (zeroed), all in the model's layout (table offsets); the activation arenas planned
 * once for batch B from the config, as train_image.c / train_text.c plan theirs; one scratch
 * buffer, the largest *_scratch_bytes of any op the step calls; the losses' upstream gradients.
 * model->params is NOT kept in step: afloc_device_train_download brings the trained values (and
 * the running statistics) back; afloc_device_train_upload_state sends a checkpoint's.
 *
 * Same semantics as the CPU step, so that with the CPU ops behind the table
 * (tests/common/host_device_ops.h) it gives the CPU step's bits (tests/model/test_device_train.c):
 * same dropout masks (the device's dropout_mask draws the CPU's (seed, offset) stream, sites as
 * train_text.h), same trained / skipped tensors (train_step.h: the pooler, local_f_embedder and
 * the running statistics get no Adam update), a weight of 0 skips its loss, a non-finite
 * gradient norm skips the update. Not bit-identical to the CPU backend on a GPU: every op is
 * within its stated tolerance of its CPU twin (tests/cuda/test_cuda_train.c measures a step).
 *
 * Host round trips per step (known costs): the images, the token ids and the captions' packed text
 * units (device_train_text.c, (3 + 4T) ints a caption) go up; the loss values (3 floats) and the
 * gradient norm (one double) come down,
 * the latter because the clip factor and the skip decision are made on the host. Everything
 * heavy (convolutions, BatchNorm, GEMMs, attention, losses, Adam) runs on the device.
 *
 * One handle (one stream) per step, created here on device `ordinal` in numeric mode `math`
 * (AFLOC_DEVICE_MATH_*). Not thread-safe: one thread at a time. */
#ifndef AFLOC_DEVICE_TRAIN_H
#define AFLOC_DEVICE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "device_ops.h"
#include "model.h"
#include "train_step.h" /* afloc_train_losses, the Adam and clipping constants */

typedef struct afloc_device_train afloc_device_train;

/* Builds a device step for `model` (which must outlive it; model->params is read once, here),
 * batch size B >= 1 and BERT dropout 0 <= dropout < 1, on a new handle of `ops`. Messages name
 * `function`. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL argument, sizes out of range, a tensor
 * missing), AFLOC_ERR_OUT_OF_MEMORY (host or device), the handle's BACKEND_UNAVAILABLE / INTERNAL;
 * *out untouched and nothing left allocated on failure. */
afloc_status afloc_device_train_create(afloc_model *model, const afloc_device_ops *ops,
                                       int32_t ordinal, int32_t math, int32_t B, float dropout,
                                       const char *function, afloc_device_train **out);
/* Frees the device buffers, the handle and the step; NULL is a no-op. */
void afloc_device_train_free(afloc_device_train *t);

/* Weight of the within-image sentence loss, as afloc_train_step_set_sentence_contrast. */
void afloc_device_train_set_sentence_contrast(afloc_device_train *t, double weight);

/* Loss weights, as afloc_train_step_set_weights (finite, >= 0; 0 skips that loss). */
void afloc_device_train_set_weights(afloc_device_train *t, double global, double sentence,
                                    double word);

/* Switches the step to batches of `count` (1..B, the create's B again for full batches): a
 * smaller count plans its own activation arenas on the same handle (kept until another count is
 * asked for), sharing the parameters, gradient and Adam state. For the last, smaller batch of an
 * epoch. Returns INVALID_ARGUMENT, OUT_OF_MEMORY; the step keeps its previous batch on failure. */
afloc_status afloc_device_train_set_batch(afloc_device_train *t, int32_t count);

/* Forward and backward on a batch, no update, as afloc_train_step_compute: images
 * (count, crop, crop), ids (count, T), lengths (count), host memory; count is the current batch
 * (set_batch). The gradient stays on the device (afloc_device_train_download); running
 * statistics are updated on the device. `losses` (may be NULL) gets the downloaded loss terms,
 * the gradient norm and word_seconds (device time of the word-level loss). Returns
 * INVALID_ARGUMENT (NULL argument, a bad caption), or the device's status. */
afloc_status afloc_device_train_compute(afloc_device_train *t, const float *images,
                                        const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                        afloc_train_losses *losses);
/* compute, then the clip factor and one Adam step at rate lr on the device parameters, step
 * count + 1, as afloc_train_step_run (a non-finite norm skips the update: INVALID_ARGUMENT with
 * losses filled). */
afloc_status afloc_device_train_run(afloc_device_train *t, const float *images,
                                    const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                    double lr, afloc_train_losses *losses);

/* Downloads the state into host buffers of table.total_floats floats in the model's layout
 * (each may be NULL): parameters (running statistics included), the last compute's gradient,
 * Adam m and v. Returns the device's status. */
afloc_status afloc_device_train_download(afloc_device_train *t, float *params, float *grads,
                                         float *m, float *v);
/* Uploads parameters, m and v (host, model layout, each may be NULL: kept) and sets the step
 * count (>= 0), for a resumed checkpoint. Returns INVALID_ARGUMENT or the device's status. */
afloc_status afloc_device_train_upload_state(afloc_device_train *t, const float *params,
                                             const float *m, const float *v, int64_t count);
/* BatchNorm running statistics: save copies them (on the device) before a step, restore puts
 * them back after a failed one, as the trainer does on the host for the CPU step. */
void afloc_device_train_save_stats(afloc_device_train *t);
void afloc_device_train_restore_stats(afloc_device_train *t);

/* Number of Adam steps taken. */
int64_t afloc_device_train_count(const afloc_device_train *t);
/* Device time (CUDA events) of the last run or compute, in seconds; 0 before the first. */
double afloc_device_train_last_seconds(const afloc_device_train *t);
/* 1 when Adam updates table tensor `index`, else 0. */
int afloc_device_train_is_trained(const afloc_device_train *t, int32_t index);

#endif /* AFLOC_DEVICE_TRAIN_H */
