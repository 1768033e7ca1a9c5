/* inference_plan.h: the inference plan of a model, as data: BatchNorm folded into the preceding
 * convolutions (DESIGN.md §5), conv1 summed over its identical input channels (MODEL.md §2.2),
 * BERT's Q, K and V weights packed into one (3C, C) matrix, the layer list of the ResNet and the
 * sizes of every stage. inference.c builds it (afloc_inference_prepare); the CPU encoders
 * (image_encoder.c, text_encoder.c) and the CUDA model (device_model.c) only read it, which is why
 * it stands apart from the functions of inference.h: the readers need the layout, not the builder.
 * The plan is never modified after prepare, which is what lets many threads run one model at once. */
#ifndef AFLOC_INFERENCE_PLAN_H
#define AFLOC_INFERENCE_PLAN_H

#include <stddef.h>
#include <stdint.h>

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

/* The step of the centred heatmap read-outs (config map_alignment 1 and 2, bilinear_sample.c and
 * bicubic_sample.c):
 * frame pixel p reads layer-3 cell p·step, step = (up − 1) / (16·(crop − 1)), because the
 * encoder input is the frame resized with align_corners=True and cell i of the stride-16 layer 3
 * is centred on input pixel 16·i (every stride-2 layer pads so that output o sits on input 2·o).
 * 0 for a 1-pixel frame. */
static inline float afloc_inference_centred_step(const struct afloc_inference *inf) {
    if (inf->crop <= 1) return 0.0f;
    return (float)((double)(inf->up - 1) / (16.0 * (double)(inf->crop - 1)));
}

#endif /* AFLOC_INFERENCE_PLAN_H */
