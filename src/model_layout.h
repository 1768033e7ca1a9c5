/* model_layout.h: where the training passes find their parameters. One walk over the BERT
 * layers and one over the ResNet blocks turn the checkpoint names of MODEL.md §10.2 into offsets
 * of the model's param table; train_text.c, train_image.c and their device twins
 * (device_train_text.c, device_train_image.c) all plan through it, so the names are spelled once.
 * Every failure returns through afloc_fail with the caller's function name. */
#ifndef AFLOC_MODEL_LAYOUT_H
#define AFLOC_MODEL_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "model.h"

/* afloc_layout_find's `count` when any size will do. */
#define AFLOC_LAYOUT_ANY_COUNT ((size_t)-1)

/* Sets *offset to the param offset (floats) of tensor `name`; with a `count` other than
 * AFLOC_LAYOUT_ANY_COUNT the tensor must hold exactly that many floats. AFLOC_ERR_INVALID_ARGUMENT
 * ("<fn>: tensor ... not in the param table" / "... has N floats, expected M") otherwise;
 * *offset is untouched on failure. */
afloc_status afloc_layout_find(size_t *offset, const afloc_model *model, const char *name,
                               size_t count, const char *fn);

/* ---- BERT (MODEL.md §5) ---- */

/* Param offsets of BERT's embeddings. */
typedef struct afloc_bert_embedding_params {
    size_t word, position, type, eln_w, eln_b;
} afloc_bert_embedding_params;

/* Param offsets of one BERT layer. */
typedef struct afloc_bert_layer_params {
    size_t q_w, q_b, k_w, k_b, v_w, v_b;
    size_t ao_w, ao_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b;
} afloc_bert_layer_params;

/* Fills `emb` and layers[0 .. config.bert_layers - 1], checking every size against the config. */
afloc_status afloc_layout_bert(afloc_bert_embedding_params *emb, afloc_bert_layer_params *layers,
                               const afloc_model *model, const char *fn);

/* Arena offsets (floats) of one BERT layer's training activations for one caption of T slots:
 * packed QKV, attention probabilities, the context, the attention output and its LayerNorm input /
 * statistics, the FFN pre-GELU and GELU outputs, the output and its LayerNorm statistics, and the
 * three dropout masks (0 without dropout). */
typedef struct afloc_bert_layer_acts {
    size_t qkv, probs, dm_p, ctx, a, m1, r1, dm_a, A, fpre, f, o, m2, r2, dm_o;
} afloc_bert_layer_acts;

/* Lays out `a` from *used on: T slots, hidden C, intermediate I, NH heads, with the dropout masks
 * when `dropout`; every buffer rounded up to `align` floats. The CPU and device text passes
 * share it, so both keep the same activations in the same order. */
void afloc_layout_bert_layer_acts(afloc_bert_layer_acts *a, size_t *used, size_t align, size_t T,
                                  size_t C, size_t I, size_t NH, int dropout);

/* ---- ResNet (MODEL.md §3) ---- */

/* One convolution and the BatchNorm after it: param offsets, geometry, and the arena offsets
 * (floats) of its conv output y (= BN input), its BN output a (0 when not kept) and its saved
 * batch mean / rstd (OC each). */
typedef struct afloc_convbn {
    size_t  weight, gamma, beta, running_mean, running_var; /* param offsets */
    int32_t C, OC, K, stride, pad, in_side, out_side;
    size_t  y, a, mean, rstd;                                /* arena offsets */
} afloc_convbn;

/* One torchvision Bottleneck; `in` is the arena offset of its input (B, conv1.C, side, side). */
typedef struct afloc_resnet_block {
    afloc_convbn conv1, conv2, conv3, down;
    int32_t      has_down;
    size_t       in;
} afloc_resnet_block;

/* What afloc_layout_resnet needs from its caller: the batch, the channel count the stem's
 * convolution is planned with, the arena cursor and its rounding, and a hook that notes the
 * scratch one convolution needs (called with the pair's geometry filled in). */
typedef struct afloc_resnet_planner {
    void   *ctx;
    int32_t B, stem_channels, up; /* up: side of the stem's input */
    size_t *used;                 /* arena cursor (floats), advanced by each reservation */
    size_t  align;                /* each reservation is rounded up to this many floats */
    size_t  act_max;              /* out: largest (B, OC, out, out) activation, floats   */
    void (*need_scratch)(void *ctx, const afloc_convbn *c);
    const char *fn;
} afloc_resnet_planner;

/* Walks the stem, the max pool and layer1..4 in forward order: resolves each (conv, BN) pair's
 * params, sets its geometry and reserves its activations (the downsample pair keeps no BN
 * output), reserves the pool output at *pool, and fills blocks[0 .. Σ resnet_blocks - 1],
 * stage_end[s] (index after stage s's last block), chans[s] and side[s] (stage s's output). */
afloc_status afloc_layout_resnet(afloc_resnet_planner *pl, const afloc_model *model,
                                 afloc_convbn *stem, afloc_resnet_block *blocks, size_t *pool,
                                 int32_t stage_end[4], int32_t chans[4], int32_t side[4]);

/* Param offsets of the three embedding heads (MODEL.md §3.3): global_embedder weight and bias,
 * local_embedder and local2_embedder weights. */
afloc_status afloc_layout_image_heads(size_t *g_w, size_t *g_b, size_t *l_w, size_t *l2_w,
                                      const afloc_model *model, const char *fn);

/* afloc_layout_local_position's offset for a model without the position term. */
#define AFLOC_LAYOUT_NONE ((size_t)-1)
/* The param offset of img_encoder.local_position.weight (D x 2 floats) when the config sets
 * local_position, else AFLOC_LAYOUT_NONE. */
afloc_status afloc_layout_local_position(size_t *offset, const afloc_model *model, const char *fn);

#endif
