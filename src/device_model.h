/* device_model.h: a model's inference on the CUDA backend (issue 6). When a model is created or
 * loaded on a CUDA context, its parameters and folded inference plan (inference_plan.h) are copied to
 * the device once, with a device workspace planned for `max_batch` images; the image encoder and
 * BERT then run there through the plugin's op table (device_ops.h), and the encoders in
 * image_encoder.c / text_encoder.c hand their work to the functions below. Tokenization, word
 * groups, the small 19x19 map pipeline and the mapping to the original image stay on the host
 * (microseconds of work each).
 *
 * One device handle (one stream) per model: calls are serialised by a mutex, so many host threads
 * may share the model as on the CPU, taking turns on the GPU. Device failures come back as the
 * handle's status (OUT_OF_MEMORY, DEVICE_LOST, INTERNAL) with its message. */
#ifndef AFLOC_DEVICE_MODEL_H
#define AFLOC_DEVICE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "device_ops.h"
#include "model.h"

typedef struct afloc_device_model afloc_device_model;

/* Uploads `model` (prepared: model->inference set) to a new handle of `ops` on device `ordinal` in
 * numeric mode `math` (AFLOC_DEVICE_MATH_*), with workspace for batches of up to max_batch >= 1
 * images. Returns BACKEND_UNAVAILABLE / OUT_OF_MEMORY / INTERNAL with a message naming
 * `function`; *out untouched on failure. */
afloc_status afloc_device_model_create(const afloc_model *model, const afloc_device_ops *ops,
                                       int32_t ordinal, int32_t math, int32_t max_batch,
                                       const char *function, afloc_device_model **out);
void afloc_device_model_free(afloc_device_model *dm);

/* Image encoder on B (1..max_batch) preprocessed frames x (B, crop, crop), host memory. Each
 * non-NULL output is written for all B images, image-major: local (B, D, side2, side2), local2
 * (B, D, side1, side1), global (B, D). Returns the device status. */
afloc_status afloc_device_image_forward(afloc_device_model *dm, const float *x, int32_t B,
                                        float *local, float *local2, float *global,
                                        const char *function);

/* Localization maps of B frames x (B, crop, crop) for one text embedding `report` (D), all on
 * the device (MODEL.md §8.1-8.3: img_emb_l · report, Gaussian, bilinear to crop): frames
 * (B, crop, crop) gets the smoothed maps on the model frame (not normalised), grids (B, S, S, may
 * be NULL) the raw dot maps. Host memory in and out. */
afloc_status afloc_device_localize(afloc_device_model *dm, const float *x, int32_t B,
                                   const float *report, float *frames, float *grids,
                                   const char *function);

/* BERT on ids[0..L) (host), like text_encoder.c's bert_forward: hsum (L, C) gets the sum of the
 * last n hidden states; hidden_last (n, L, C) each used state when not NULL. Host outputs. */
afloc_status afloc_device_bert_forward(afloc_device_model *dm, const int32_t *ids, int32_t L,
                                       float *hsum, float *hidden_last, const char *function);

/* CUDA graphs (on by default): the second image_forward or localize call of one kind at one
 * batch size captures its device work into a graph, and later calls replay it (one launch instead
 * of hundreds). Same results as eager calls, bit for bit; a capture that fails leaves that call
 * eager. set_graphs(dm, 0) turns them off and frees the captured graphs; graph_count says how
 * many are captured now. */
void afloc_device_model_set_graphs(afloc_device_model *dm, int32_t on);
int32_t afloc_device_model_graph_count(afloc_device_model *dm);

/* Seconds of device time of the last image_forward or localize call (CUDA events), for
 * benchmarks. */
double afloc_device_model_last_seconds(const afloc_device_model *dm);

#endif /* AFLOC_DEVICE_MODEL_H */
