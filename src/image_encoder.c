/* image_encoder.c: the AFLoc image encoder in eval mode (MODEL.md §3), one image at a time:
 *
 *   x (crop, crop) ── bilinear, align_corners=True ──> x299 (up, up)           §3.1
 *   stem: conv 7x7/2 (+ folded bn1) + ReLU, maxpool 3x3/2 pad 1                §3.2
 *   layer1..4: Bottleneck = conv1x1+ReLU, conv3x3/stride+ReLU, conv1x1 + shortcut, ReLU
 *   heads: local2 = 1x1 conv on layer2, local = 1x1 conv on layer3,            §3.3
 *          global = Linear(avgpool(layer4))
 *
 * Convolutions carry their folded BatchNorm as a bias (inference.c) and fuse ReLU and the residual
 * add into their epilogue. The trunk's convolutions run prepared (weights reordered once at load,
 * oneDNN on the CPU: about 3x faster than im2col + GEMM, benchmarks/README.md); the 1x1 heads
 * run as plain GEMMs. Feature maps are (C, H, W) row-major (NCHW with B = 1), matching the
 * reference tensors. The input has one channel: the model's three identical channels were folded
 * into conv1 at prepare time. All buffers come from the call's workspace; nothing allocates. */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "device_model.h"
#include "error.h"
#include "image_encoder.h"

/* ---- planning: the largest activation and conv scratch over the whole network ---- */

typedef struct encoder_sizes {
    size_t act;     /* floats of the largest activation (any conv or pool output) */
    size_t scratch; /* floats of the largest conv scratch                       */
} encoder_sizes;

static void size_conv(const afloc_model *model, const afloc_conv_plan *c, int32_t side,
                      encoder_sizes *z) {
    int32_t out = afloc_conv_out_size(side, c->k, c->stride, c->pad);
    size_t act = (size_t)c->out_c * (size_t)out * (size_t)out;
    size_t scratch = c->prepared ? model->ops->conv2d_run_scratch_floats(c->prepared, 1)
                                 : model->ops->conv2d_scratch_floats(1, c->in_c, side, side,
                                                                     c->out_c, c->k, c->stride, c->pad);
    if (act > z->act) z->act = act;
    if (scratch > z->scratch) z->scratch = scratch;
}

static encoder_sizes plan_sizes(const afloc_model *model) {
    const struct afloc_inference *inf = model->inference;
    encoder_sizes z = {0, 0};
    size_conv(model, &inf->stem, inf->up, &z);
    int32_t side = afloc_conv_out_size(afloc_conv_out_size(inf->up, 7, 2, 3), 3, 2, 1);
    for (int32_t b = 0, s = 0; b < inf->block_count; b++) {
        while (b >= inf->stage_end[s]) s++;
        const afloc_bottleneck_plan *blk = &inf->blocks[b];
        size_conv(model, &blk->conv1, side, &z);
        size_conv(model, &blk->conv2, side, &z);
        int32_t out = afloc_conv_out_size(side, 3, blk->conv2.stride, 1);
        size_conv(model, &blk->conv3, out, &z);
        if (blk->has_down) size_conv(model, &blk->down, side, &z);
        side = out;
    }
    /* The 1x1 heads write straight into the caller's outputs; their scratch still counts. */
    afloc_conv_plan head2 = {inf->local2_weight, NULL, inf->chans[1], inf->D, 1, 1, 0, NULL};
    afloc_conv_plan head3 = {inf->local_weight, NULL, inf->chans[2], inf->D, 1, 1, 0, NULL};
    encoder_sizes heads = {0, 0};
    size_conv(model, &head2, inf->side[1], &heads);
    size_conv(model, &head3, inf->side[2], &heads);
    if (heads.scratch > z.scratch) z.scratch = heads.scratch;
    return z;
}

size_t afloc_image_encoder_workspace_floats(const afloc_model *model) {
    const struct afloc_inference *inf = model->inference;
    encoder_sizes z = plan_sizes(model);
    return afloc_workspace_round((size_t)inf->up * (size_t)inf->up) +
           4 * afloc_workspace_round(z.act) + afloc_workspace_round(z.scratch) +
           afloc_workspace_round((size_t)inf->chans[3]);
}

/* ---- forward ---- */

/* out = conv(in) with the plan's folded bias, optional residual and ReLU (the prepared conv was
 * made with the same residual/ReLU choice, inference.c). *side becomes the output side. */
static afloc_status run_conv(const afloc_model *model, const afloc_conv_plan *c, float *out,
                             const float *in, int32_t *side, const float *residual, int32_t relu,
                             float *scratch) {
    if (c->prepared)
        AFLOC_TRY(model->ops->conv2d_run(c->prepared, out, in, residual, 1, scratch));
    else
        model->ops->conv2d_forward(out, in, c->weight, c->bias, residual, relu, 1, c->in_c, *side,
                                   *side, c->out_c, c->k, c->stride, c->pad, scratch);
    *side = afloc_conv_out_size(*side, c->k, c->stride, c->pad);
    return AFLOC_OK;
}

/* One Bottleneck: x (in P) -> output (in Q), using R and S as temporaries; *side is updated. */
static afloc_status run_bottleneck(const afloc_model *model, const afloc_bottleneck_plan *blk,
                                   float *P, float *Q, float *R, float *S, int32_t *side,
                                   float *scratch) {
    int32_t in_side = *side, mid_side = *side, unused = *side;
    AFLOC_TRY(run_conv(model, &blk->conv1, Q, P, &unused, NULL, 1, scratch));
    AFLOC_TRY(run_conv(model, &blk->conv2, R, Q, &mid_side, NULL, 1, scratch));
    const float *shortcut = P;
    if (blk->has_down) {
        unused = in_side;
        AFLOC_TRY(run_conv(model, &blk->down, S, P, &unused, NULL, 0, scratch));
        shortcut = S;
    }
    *side = mid_side;
    unused = mid_side;
    return run_conv(model, &blk->conv3, Q, R, &unused, shortcut, 1, scratch);
}

/* The deepest stage (0-based, -1 for none) the requested outputs need. */
static int32_t last_stage(const afloc_image_outputs *o) {
    if (o->global || o->layer4) return 3;
    if (o->local || o->layer3) return 2;
    if (o->local2 || o->layer2) return 1;
    return -1;
}

afloc_status afloc_image_encoder_forward(const afloc_model *model, afloc_workspace *ws,
                                         const float *x, const afloc_image_outputs *outputs) {
    /* On a CUDA model the embeddings come from the device; the intermediate outputs (oracle tests
     * only) keep the host path, which every model also has. */
    if (model->device && !outputs->x299 && !outputs->layer2 && !outputs->layer3 && !outputs->layer4)
        return afloc_device_image_forward(model->device, x, 1, outputs->local, outputs->local2,
                                          outputs->global, "image encoder");
    const struct afloc_inference *inf = model->inference;
    const afloc_ops *ops = model->ops;
    encoder_sizes z = plan_sizes(model);
    size_t mark = ws->used;
    float *x299 = afloc_workspace_floats(ws, (size_t)inf->up * (size_t)inf->up);
    float *P = afloc_workspace_floats(ws, z.act);
    float *Q = afloc_workspace_floats(ws, z.act);
    float *R = afloc_workspace_floats(ws, z.act);
    float *S = afloc_workspace_floats(ws, z.act);
    float *scratch = afloc_workspace_floats(ws, z.scratch);
    float *pooled = afloc_workspace_floats(ws, (size_t)inf->chans[3]);

    /* §3.1: 224 -> 299, align_corners=True, inside the encoder. */
    ops->bilinear_resize_forward(x299, x, 1, 1, inf->crop, inf->crop, inf->up, inf->up, 1);
    if (outputs->x299) memcpy(outputs->x299, x299, (size_t)inf->up * inf->up * sizeof(float));
    int32_t stop = last_stage(outputs);
    afloc_status status = AFLOC_OK;
    if (stop < 0) {
        ws->used = mark;
        return status;
    }

    /* Stem: conv1 + bn1 + ReLU into Q, maxpool into P. */
    int32_t side = inf->up;
    status = run_conv(model, &inf->stem, Q, x299, &side, NULL, 1, scratch);
    if (status != AFLOC_OK) {
        ws->used = mark;
        return status;
    }
    ops->maxpool2d_forward(P, Q, 1, inf->stem.out_c, side, side, 3, 2, 1);
    side = afloc_conv_out_size(side, 3, 2, 1);

    float *const stage_out[4] = {NULL, outputs->layer2, outputs->layer3, outputs->layer4};
    for (int32_t s = 0, b = 0; s <= stop; s++) {
        for (; b < inf->stage_end[s]; b++) {
            status = run_bottleneck(model, &inf->blocks[b], P, Q, R, S, &side, scratch);
            if (status != AFLOC_OK) {
                ws->used = mark;
                return status;
            }
            float *t = P; /* the output becomes the next block's input */
            P = Q;
            Q = t;
        }
        size_t plane = (size_t)side * (size_t)side;
        if (stage_out[s]) memcpy(stage_out[s], P, (size_t)inf->chans[s] * plane * sizeof(float));
        /* §3.3 heads: 1x1 convs without bias, per-pixel W·f. */
        if (s == 1 && outputs->local2)
            ops->conv2d_forward(outputs->local2, P, inf->local2_weight, NULL, NULL, 0, 1,
                                inf->chans[1], side, side, inf->D, 1, 1, 0, scratch);
        if (s == 2 && outputs->local) {
            ops->conv2d_forward(outputs->local, P, inf->local_weight, NULL, NULL, 0, 1,
                                inf->chans[2], side, side, inf->D, 1, 1, 0, scratch);
            if (inf->local_position) /* config local_position (cpu/position.c) */
                ops->position_add_forward(outputs->local, inf->local_position, 1, inf->D, side,
                                          side);
        }
        if (s == 3 && outputs->global) {
            ops->global_avgpool_forward(pooled, P, 1, inf->chans[3], side, side);
            ops->linear_forward(outputs->global, pooled, inf->global_weight, inf->global_bias, 0,
                                1, inf->chans[3], inf->D);
        }
    }
    ws->used = mark;
    return status;
}
