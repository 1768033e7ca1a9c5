/* inference.h: the inference plan of a model and the forward passes built on it. The plan is made
 * once, when a model is created or loaded (afloc_inference_prepare): BatchNorm folded into the
 * preceding convolutions (DESIGN.md §5), conv1 summed over its identical input channels (MODEL.md
 * §2.2), BERT's Q, K and V weights packed into one (3C, C) matrix, and the layer list of the ResNet.
 * It also sizes the per-call workspace (workspace.h) for the largest single call, so the forward
 * passes never allocate activations. The plan is never modified after prepare, which is what lets
 * many threads run one model at once.
 *
 * The forward functions below are internal (the public entry points are in localize.c and
 * classify.c); tests call them to compare intermediates with the PyTorch oracle. Layouts follow the
 * reference: feature maps (C, H, W) row-major for one image; word/sentence features channel-first
 * (D, T). All take a workspace acquired from the model's pool and return a status only for
 * argument or preprocessing failures; the numeric part cannot fail. */
#ifndef AFLOC_INFERENCE_H
#define AFLOC_INFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "model.h"
#include "workspace.h"

/* One convolution with BatchNorm folded in: out = conv(in, weight) + bias. */
typedef struct afloc_conv_plan {
    const float *weight; /* (out_c, in_c, k, k), in the plan's folded buffer */
    const float *bias;   /* (out_c)                                          */
    int32_t in_c, out_c, k, stride, pad;
    /* The same conv prepared by the backend (oneDNN on the CPU: weights reordered once, bias,
     * residual and ReLU fused), made by inference.c for the fixed input side of this layer;
     * NULL for convs run through the plain conv2d_forward. */
    struct afloc_cpu_conv *prepared;
} afloc_conv_plan;

/* One torchvision Bottleneck (v1.5: the stride sits on the 3x3 conv). */
typedef struct afloc_bottleneck_plan {
    afloc_conv_plan conv1, conv2, conv3; /* 1x1 reduce, 3x3, 1x1 expand      */
    afloc_conv_plan down;                /* 1x1 shortcut projection          */
    int32_t         has_down;            /* 0: the shortcut is the identity  */
} afloc_bottleneck_plan;

/* One HF BertLayer (post-LayerNorm, MODEL.md §5.1). */
typedef struct afloc_bert_layer_plan {
    const float *qkv_weight, *qkv_bias;   /* (3C, C), (3C): query | key | value rows, packed */
    const float *attn_out_weight, *attn_out_bias;   /* (C, C), (C)                         */
    const float *attn_ln_weight, *attn_ln_bias;     /* (C)                                 */
    const float *inter_weight, *inter_bias;         /* (I, C), (I)                         */
    const float *out_weight, *out_bias;             /* (C, I), (C)                         */
    const float *out_ln_weight, *out_ln_bias;       /* (C)                                 */
} afloc_bert_layer_plan;

struct afloc_inference {
    float *folded;          /* owned: folded conv weights and biases, packed QKV (one block) */
    size_t folded_floats;

    /* image encoder */
    const afloc_ops       *ops;                /* the backend that prepared the convs         */
    afloc_conv_plan        stem;               /* conv1+bn1 on one channel (channels summed)  */
    afloc_bottleneck_plan *blocks;             /* owned; all stages in order                  */
    int32_t                block_count;
    int32_t                stage_end[4];       /* index one past the last block of each stage  */
    const float           *global_weight;      /* (D, 4·planes[3]) */
    const float           *global_bias;        /* (D)              */
    const float           *local_weight;       /* (D, 4·planes[2]) */
    const float           *local2_weight;      /* (D, 4·planes[1]) */
    const float           *local_position;     /* (D, 2), NULL unless config local_position */
    int32_t crop;       /* model frame side (config crop_size, 224)          */
    int32_t up;         /* encoder input side after upsampling (299)         */
    int32_t side[4];    /* output side of each stage (75, 38, 19, 10)        */
    int32_t chans[4];   /* output channels of each stage (256 ... 2048)      */

    /* text encoder */
    const float           *word_embeddings;     /* (V, C) */
    const float           *position_embeddings; /* (P, C) */
    const float           *type_embeddings;     /* (2, C) */
    const float           *emb_ln_weight, *emb_ln_bias;
    afloc_bert_layer_plan *layers;              /* owned; bert_layers entries */
    int32_t C, NH, I, T, D;                     /* hidden, heads, intermediate, token slots, embedding */

    /* per-call workspaces */
    size_t                  workspace_floats;
    afloc_workspace_pool   *pool;
};

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

/* ---- image encoder (image_encoder.c) ---- */

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

/* The step of the centred heatmap read-outs (config map_alignment 1 and 2, bilinear_sample.c and
 * bicubic_sample.c):
 * frame pixel p reads layer-3 cell p·step, step = (up − 1) / (16·(crop − 1)), because the
 * encoder input is the frame resized with align_corners=True and cell i of the stride-16 layer 3
 * is centred on input pixel 16·i (every stride-2 layer pads so that output o sits on input 2·o).
 * 0 for a 1-pixel frame. */
float afloc_inference_centred_step(const struct afloc_inference *inf);

/* The smoothed S x S map onto the (crop, crop) frame with the CPU ops, by `alignment`
 * (AFLOC_MAP_ALIGN_REFERENCE: §8.3's resize; AFLOC_MAP_ALIGN_CENTRED: the centred read-out;
 * AFLOC_MAP_ALIGN_MODEL: the config's). */
void afloc_inference_map_to_frame(const afloc_model *model, int32_t alignment, float *frame,
                                  const float *smoothed);

/* Runs the image encoder on one preprocessed frame `x` (crop, crop), normalised one channel
 * (afloc_image_preprocess), and writes the non-NULL outputs. It stops after the last stage those
 * outputs need: a localization (local only) never runs layer4. Fails only if a prepared
 * convolution cannot run (AFLOC_ERR_OUT_OF_MEMORY or AFLOC_ERR_INTERNAL from the backend). */
afloc_status afloc_image_encoder_forward(const afloc_model *model, afloc_workspace *ws,
                                         const float *x, const afloc_image_outputs *outputs);

/* Floats of workspace afloc_image_encoder_forward uses. */
size_t afloc_image_encoder_workspace_floats(const afloc_model *model);

/* ---- text encoder (text_encoder.c) ---- */

/* Outputs of the text encoder; any pointer may be NULL. */
typedef struct afloc_text_outputs {
    int32_t *ids;          /* (T): token ids, [PAD] after the first [SEP]                */
    int32_t *mask;         /* (T): 1 on real tokens                                       */
    int32_t *length;       /* L: real tokens incl. [CLS] and [SEP]                         */
    float   *hidden_last;  /* (last_n_layers, L, C): hidden states of the used layers     */
    float   *words;        /* (D, T): text_emb_w, unused slots zero                        */
    float   *sentences;    /* (D, T): text_emb_s, unused slots zero, empty sentence zero   */
    float   *report;       /* (D): text_emb_r                                              */
    int32_t *word_count;   /* cap_len of the word list (MODEL.md §5.8)                     */
    int32_t *sentence_count; /* cap_len of the sentence list                               */
} afloc_text_outputs;

/* How the text encoder reads its text. */
enum {
    AFLOC_TEXT_PROMPT          = 0, /* §4.2 inference cleaning (the reference)               */
    AFLOC_TEXT_PROMPT_KEEP_ONE = 1, /* the same, but a text that cleans to nothing is
                                       tokenized as written (one-word prompts survive)       */
    AFLOC_TEXT_AS_WRITTEN      = 2  /* no cleaning: a training caption (sentences joined by
                                       ". ", §4.3), so sentence units are meaningful         */
};

/* Encodes `text` (text_len bytes of UTF-8) read as `text_mode` (AFLOC_TEXT_*): tokenization, BERT on the real tokens only, the last-n layer sum, word
 * groups, sentence units and the report embedding with its 1/T factor. Returns
 * AFLOC_ERR_OUT_OF_MEMORY (text cleaning scratch), AFLOC_ERR_LIMIT or AFLOC_ERR_INVALID_ARGUMENT
 * with messages starting with `function`; the outputs are written only on success. */
afloc_status afloc_text_encoder_forward(const afloc_model *model, afloc_workspace *ws,
                                        const char *text, size_t text_len, int32_t text_mode,
                                        const afloc_text_outputs *outputs, const char *function);

/* Floats of workspace afloc_text_encoder_forward uses. */
size_t afloc_text_encoder_workspace_floats(const afloc_model *model);

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
