/* train_image.c: training forward and backward of the AFLoc image encoder (train_image.h), the
 * ResNet of MODEL.md §3 with BatchNorm in train mode, as PyTorch's model.train() runs it:
 *
 *   x (B,1,crop,crop) ── bilinear, align_corners=True ──> x299 (B,1,up,up)          §3.1
 *   stem: conv 7x7/2 → BN → ReLU → maxpool 3x3/2 pad 1                               §3.2
 *   layer1..4: Bottleneck = conv1x1-BN-ReLU, conv3x3/s-BN-ReLU, conv1x1-BN,
 *              + shortcut (identity, or downsample conv1x1/s-BN), ReLU
 *   heads: img_emb_l2 = 1x1 conv on layer2, img_emb_l = 1x1 conv on layer3,          §3.3
 *          img_emb_g  = Linear(avgpool(layer4))
 *
 * Plain fp32 CPU ops (afloc_cpu_*; im2col + GEMM convolutions, not the prepared oneDNN path), so
 * the math is the reference's. Every activation the backward reads lives in one arena laid out
 * at plan time: each (conv, BN) pair keeps its conv output y (= BN input), its BN output a (after
 * ReLU where there is one; for a block's conv3, the block output after the residual add and ReLU)
 * and its saved mean / rstd. The downsample BN's output is not needed by the backward and goes
 * through a shared temporary. */
#include "train_image.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cpu/cpu_ops.h"
#include "error.h"
#include "model_layout.h"

#define BN_MOMENTUM 0.1f /* torch.nn.BatchNorm2d default      */

/* (conv, BN) pairs and Bottleneck blocks as model_layout.h plans them. */
typedef afloc_convbn       convbn;
typedef afloc_resnet_block block;

struct afloc_train_image_plan {
    const afloc_model *model;
    int32_t B, crop, up, in_ch, D, chans[4], side[4]; /* side[s]: output side of stage s */
    float   eps;
    convbn  stem;
    int32_t block_count, stage_end[4];
    block  *blocks;
    size_t  head_g_w, head_g_b, head_l_w, head_l2_w; /* param offsets */
    size_t  head_pos; /* local_position's, AFLOC_LAYOUT_NONE without it */
    /* arena offsets */
    size_t x, x299, w1sum, pool, pooled, emb_g, emb_l, emb_l2;
    size_t g0, g1, t1, t2, t3, dpooled, dw1sum, shortcut, scratch;
    size_t act_max, scratch_floats, arena_floats;
    float *arena;
    int    forward_done;
};

/* ---- planning ---- */

static size_t take(size_t *used, size_t floats) {
    size_t at = *used;
    *used += (floats + 15) / 16 * 16; /* 64-byte aligned, as the param buffer */
    return at;
}

static void need_scratch(void *ctx, const convbn *c) {
    afloc_train_image_plan *p = ctx;
    size_t fwd = afloc_cpu_conv2d_scratch_floats(p->B, c->C, c->in_side, c->in_side, c->OC, c->K,
                                                 c->stride, c->pad);
    size_t bwd = afloc_cpu_conv2d_backward_scratch_floats(p->B, c->C, c->in_side, c->in_side,
                                                          c->OC, c->K, c->stride, c->pad);
    if (fwd > p->scratch_floats) p->scratch_floats = fwd;
    if (bwd > p->scratch_floats) p->scratch_floats = bwd;
}

static afloc_status plan_layers(afloc_train_image_plan *p, size_t *used) {
    afloc_resnet_planner pl = {.ctx = p, .B = p->B, .stem_channels = p->in_ch, .up = p->up,
                               .used = used, .align = 16, .need_scratch = need_scratch,
                               .fn = "afloc_train_image_plan_create"};
    AFLOC_TRY(afloc_layout_resnet(&pl, p->model, &p->stem, p->blocks, &p->pool, p->stage_end,
                                  p->chans, p->side));
    p->act_max = pl.act_max;
    return AFLOC_OK;
}

afloc_status afloc_train_image_plan_create(afloc_train_image_plan **out, const afloc_model *model,
                                           int32_t B) {
    static const char fn[] = "afloc_train_image_plan_create";
    if (!out || !model) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL out or model", fn);
    if (B < 1 || B > 65536)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch size %d outside 1..65536", fn, B);
    const afloc_config *cfg = &model->config;
    afloc_train_image_plan *p = afloc_calloc(1, sizeof *p);
    if (!p) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the plan", fn);
    p->model = model;
    p->B = B, p->crop = cfg->crop_size, p->up = cfg->upsample_size;
    p->in_ch = cfg->input_channels, p->D = cfg->embedding_dim, p->eps = cfg->bn_eps;
    p->block_count = 0;
    for (int s = 0; s < 4; s++) p->block_count += cfg->resnet_blocks[s];
    p->blocks = afloc_calloc((size_t)p->block_count, sizeof *p->blocks);
    if (!p->blocks) {
        const int32_t count = p->block_count;
        afloc_free(p);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d blocks", fn, count);
    }
    size_t used = 0;
    const size_t Bz = (size_t)B;
    p->x = take(&used, Bz * (size_t)p->crop * (size_t)p->crop);
    p->x299 = take(&used, Bz * (size_t)p->up * (size_t)p->up);
    afloc_status status = plan_layers(p, &used);
    if (status == AFLOC_OK)
        status = afloc_layout_image_heads(&p->head_g_w, &p->head_g_b, &p->head_l_w,
                                          &p->head_l2_w, model, fn);
    if (status == AFLOC_OK) status = afloc_layout_local_position(&p->head_pos, model, fn);
    if (status != AFLOC_OK) {
        afloc_train_image_plan_free(p);
        return status;
    }
    const size_t D = (size_t)p->D, S2 = (size_t)p->side[1] * p->side[1];
    const size_t S3 = (size_t)p->side[2] * p->side[2];
    p->w1sum = take(&used, (size_t)p->stem.OC * 49);
    p->pooled = take(&used, Bz * (size_t)p->chans[3]);
    p->emb_g = take(&used, Bz * D);
    p->emb_l = take(&used, Bz * D * S3);
    p->emb_l2 = take(&used, Bz * D * S2);
    /* backward temporaries: block-output / block-input gradients (g0, g1), the gradient before
     * the last ReLU (t1), of a conv output (t2) and of a conv input inside the block (t3) */
    p->g0 = take(&used, p->act_max);
    p->g1 = take(&used, p->act_max);
    p->t1 = take(&used, p->act_max);
    p->t2 = take(&used, p->act_max);
    p->t3 = take(&used, p->act_max);
    p->shortcut = take(&used, p->act_max);
    p->dpooled = take(&used, Bz * (size_t)p->chans[3]);
    p->dw1sum = take(&used, (size_t)p->stem.OC * 49);
    /* the 1x1 heads: pointwise, no im2col, but ask anyway */
    size_t head_scratch = afloc_cpu_conv2d_scratch_floats(B, p->chans[1], p->side[1], p->side[1], p->D, 1, 1, 0);
    if (head_scratch > p->scratch_floats) p->scratch_floats = head_scratch;
    head_scratch = afloc_cpu_conv2d_scratch_floats(B, p->chans[2], p->side[2], p->side[2], p->D, 1, 1, 0);
    if (head_scratch > p->scratch_floats) p->scratch_floats = head_scratch;
    p->scratch = take(&used, p->scratch_floats);
    p->arena_floats = used;
    p->arena = afloc_calloc(used, sizeof(float));
    if (!p->arena) {
        afloc_train_image_plan_free(p);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the %zu-float arena", fn,
                          used);
    }
    *out = p;
    return AFLOC_OK;
}

void afloc_train_image_plan_free(afloc_train_image_plan *plan) {
    if (!plan) return;
    afloc_free(plan->arena);
    afloc_free(plan->blocks);
    afloc_free(plan);
}

void afloc_train_image_sizes(const afloc_train_image_plan *plan, int32_t *B, int32_t *D,
                             int32_t *side2, int32_t *side3, int32_t *side4) {
    if (B) *B = plan->B;
    if (D) *D = plan->D;
    if (side2) *side2 = plan->side[1];
    if (side3) *side3 = plan->side[2];
    if (side4) *side4 = plan->side[3];
}

void afloc_train_image_outputs(const afloc_train_image_plan *plan, const float **img_emb_g,
                               const float **img_emb_l, const float **img_emb_l2) {
    if (img_emb_g) *img_emb_g = plan->arena + plan->emb_g;
    if (img_emb_l) *img_emb_l = plan->arena + plan->emb_l;
    if (img_emb_l2) *img_emb_l2 = plan->arena + plan->emb_l2;
}

/* ---- forward ---- */

static size_t act_floats(const afloc_train_image_plan *p, const convbn *c) {
    return (size_t)p->B * (size_t)c->OC * (size_t)c->out_side * (size_t)c->out_side;
}

/* y = conv(in, weight); dst = BN_train(y) (running stats updated in params); ReLU on dst if
 * relu. `weight` overrides the param (the stem's summed weight) when not NULL. */
static void convbn_forward(afloc_train_image_plan *p, const convbn *c, float *params,
                           const float *in, const float *weight, float *dst, int32_t relu) {
    float *A = p->arena, *y = A + c->y;
    afloc_cpu_conv2d_forward(y, in, weight ? weight : params + c->weight, NULL, NULL, 0, p->B,
                             weight ? 1 : c->C, c->in_side, c->in_side, c->OC, c->K, c->stride,
                             c->pad, A + p->scratch);
    afloc_cpu_batchnorm2d_train_forward(dst, A + c->mean, A + c->rstd, params + c->running_mean,
                                        params + c->running_var, y, params + c->gamma,
                                        params + c->beta, p->B, c->OC, c->out_side, c->out_side,
                                        p->eps, BN_MOMENTUM);
    if (relu) afloc_cpu_relu_forward(dst, dst, act_floats(p, c));
}

static void block_forward(afloc_train_image_plan *p, const block *blk, float *params) {
    float *A = p->arena;
    const float *in = A + blk->in;
    float *out = A + blk->conv3.a;
    convbn_forward(p, &blk->conv1, params, in, NULL, A + blk->conv1.a, 1);
    convbn_forward(p, &blk->conv2, params, A + blk->conv1.a, NULL, A + blk->conv2.a, 1);
    convbn_forward(p, &blk->conv3, params, A + blk->conv2.a, NULL, out, 0);
    const float *shortcut = in;
    if (blk->has_down) {
        convbn_forward(p, &blk->down, params, in, NULL, A + p->shortcut, 0);
        shortcut = A + p->shortcut;
    }
    const size_t n = act_floats(p, &blk->conv3);
    afloc_cpu_add_forward(out, out, shortcut, n);
    afloc_cpu_relu_forward(out, out, n);
}

/* Sums conv1's weight (OC, in_ch, 7, 7) over its input channels into (OC, 1, 7, 7), channel 0
 * first, as the replicated gray input makes them act on the same pixels. */
static void sum_stem_weight(float *w1sum, const float *w, int32_t OC, int32_t in_ch) {
    for (int32_t o = 0; o < OC; o++)
        for (int32_t k = 0; k < 49; k++) {
            float s = 0.0f;
            for (int32_t c = 0; c < in_ch; c++) s += w[((size_t)o * in_ch + c) * 49 + k];
            w1sum[(size_t)o * 49 + k] = s;
        }
}

afloc_status afloc_train_image_forward(afloc_train_image_plan *plan, float *params,
                                       const float *x) {
    if (!plan || !params || !x)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_train_image_forward: NULL plan, params or x");
    afloc_train_image_plan *p = plan;
    float *A = p->arena;
    const int32_t B = p->B;
    memcpy(A + p->x, x, (size_t)B * p->crop * p->crop * sizeof(float));
    afloc_cpu_bilinear_resize_forward(A + p->x299, A + p->x, B, 1, p->crop, p->crop, p->up, p->up, 1);
    /* stem */
    sum_stem_weight(A + p->w1sum, params + p->stem.weight, p->stem.OC, p->in_ch);
    convbn_forward(p, &p->stem, params, A + p->x299, A + p->w1sum, A + p->stem.a, 1);
    afloc_cpu_maxpool2d_forward(A + p->pool, A + p->stem.a, B, p->stem.OC, p->stem.out_side,
                                p->stem.out_side, 3, 2, 1);
    for (int32_t b = 0; b < p->block_count; b++) block_forward(p, &p->blocks[b], params);
    /* heads (§3.3) on the stage outputs */
    const float *l2 = A + p->blocks[p->stage_end[1] - 1].conv3.a;
    const float *l3 = A + p->blocks[p->stage_end[2] - 1].conv3.a;
    const float *l4 = A + p->blocks[p->stage_end[3] - 1].conv3.a;
    afloc_cpu_conv2d_forward(A + p->emb_l2, l2, params + p->head_l2_w, NULL, NULL, 0, B,
                             p->chans[1], p->side[1], p->side[1], p->D, 1, 1, 0, A + p->scratch);
    afloc_cpu_conv2d_forward(A + p->emb_l, l3, params + p->head_l_w, NULL, NULL, 0, B,
                             p->chans[2], p->side[2], p->side[2], p->D, 1, 1, 0, A + p->scratch);
    if (p->head_pos != AFLOC_LAYOUT_NONE)
        afloc_cpu_position_add_forward(A + p->emb_l, params + p->head_pos, B, p->D, p->side[2],
                                       p->side[2]);
    afloc_cpu_global_avgpool_forward(A + p->pooled, l4, B, p->chans[3], p->side[3], p->side[3]);
    afloc_cpu_linear_forward(A + p->emb_g, A + p->pooled, params + p->head_g_w,
                             params + p->head_g_b, 0, B, p->chans[3], p->D);
    p->forward_done = 1;
    return AFLOC_OK;
}

/* ---- backward ---- */

/* From dz (gradient of the BN output, before any ReLU), accumulates dgamma / dbeta / dweight
 * into grads and dinput into `dinput` (may be NULL). Uses t2 for the conv-output gradient. */
static void convbn_backward(afloc_train_image_plan *p, const convbn *c, float *grads,
                            const float *params, const float *dz, const float *in,
                            const float *weight, float *dweight, float *dinput) {
    float *A = p->arena, *dy = A + p->t2;
    memset(dy, 0, act_floats(p, c) * sizeof(float));
    afloc_cpu_batchnorm2d_backward(dy, grads + c->gamma, grads + c->beta, dz, A + c->y,
                                   A + c->mean, A + c->rstd, params + c->gamma, p->B, c->OC,
                                   c->out_side, c->out_side);
    afloc_cpu_conv2d_backward(dinput, dweight ? dweight : grads + c->weight, NULL, dy, in,
                              weight ? weight : params + c->weight, p->B, weight ? 1 : c->C,
                              c->in_side, c->in_side, c->OC, c->K, c->stride, c->pad,
                              A + p->scratch);
}

/* dz = relu'(a) ∘ da into t1 (zeroed first); returns t1. */
static float *relu_back(afloc_train_image_plan *p, const convbn *c, const float *da) {
    float *dz = p->arena + p->t1;
    const size_t n = act_floats(p, c);
    memset(dz, 0, n * sizeof(float));
    afloc_cpu_relu_backward(dz, da, p->arena + c->a, n);
    return dz;
}

/* dout (gradient of the block output) → din (+=, gradient of the block input). dout must not be
 * t1, t2 or t3. */
static void block_backward(afloc_train_image_plan *p, const block *blk, float *grads,
                           const float *params, const float *dout, float *din) {
    float *A = p->arena, *t3 = A + p->t3;
    const float *in = A + blk->in;
    /* after the add: ReLU, then both branches get the same gradient dpre */
    float *dpre = relu_back(p, &blk->conv3, dout);
    if (blk->has_down)
        convbn_backward(p, &blk->down, grads, params, dpre, in, NULL, NULL, din);
    else
        afloc_cpu_add_forward(din, din, dpre, act_floats(p, &blk->conv3));
    /* main branch: conv3 ← conv2 ← conv1; dpre (t1) is consumed by conv3 before t1 is reused */
    memset(t3, 0, act_floats(p, &blk->conv2) * sizeof(float));
    convbn_backward(p, &blk->conv3, grads, params, dpre, A + blk->conv2.a, NULL, NULL, t3);
    float *dz = relu_back(p, &blk->conv2, t3);
    memset(t3, 0, act_floats(p, &blk->conv1) * sizeof(float));
    convbn_backward(p, &blk->conv2, grads, params, dz, A + blk->conv1.a, NULL, NULL, t3);
    dz = relu_back(p, &blk->conv1, t3);
    convbn_backward(p, &blk->conv1, grads, params, dz, in, NULL, NULL, din);
}

/* Gradient of a block's input size (B, C, side, side) for block b. */
static size_t block_in_floats(const afloc_train_image_plan *p, const block *blk) {
    return (size_t)p->B * (size_t)blk->conv1.C * (size_t)blk->conv1.in_side *
           (size_t)blk->conv1.in_side;
}

afloc_status afloc_train_image_backward(afloc_train_image_plan *plan, float *grads,
                                        const float *params, const float *d_emb_g,
                                        const float *d_emb_l, const float *d_emb_l2) {
    static const char fn[] = "afloc_train_image_backward";
    if (!plan || !grads || !params)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL plan, grads or params", fn);
    if (!plan->forward_done)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: no forward pass to differentiate", fn);
    afloc_train_image_plan *p = plan;
    float *A = p->arena, *g0 = A + p->g0, *g1 = A + p->g1;
    const int32_t B = p->B;
    /* g0: gradient of layer4's output, from the global head */
    const block *last = &p->blocks[p->block_count - 1];
    memset(g0, 0, act_floats(p, &last->conv3) * sizeof(float));
    if (d_emb_g) {
        float *dpooled = A + p->dpooled;
        memset(dpooled, 0, (size_t)B * p->chans[3] * sizeof(float));
        afloc_cpu_linear_backward(dpooled, grads + p->head_g_w, grads + p->head_g_b, d_emb_g,
                                  A + p->pooled, params + p->head_g_w, B, p->chans[3], p->D);
        afloc_cpu_global_avgpool_backward(g0, dpooled, B, p->chans[3], p->side[3], p->side[3]);
    }
    for (int32_t b = p->block_count - 1; b >= 0; b--) {
        const block *blk = &p->blocks[b];
        memset(g1, 0, block_in_floats(p, blk) * sizeof(float));
        /* the input of stage s's first block is stage s-1's output: add that stage's head */
        if (b == p->stage_end[2] && d_emb_l) {
            if (p->head_pos != AFLOC_LAYOUT_NONE)
                afloc_cpu_position_add_backward(grads + p->head_pos, d_emb_l, B, p->D,
                                                p->side[2], p->side[2]);
            afloc_cpu_conv2d_backward(g1, grads + p->head_l_w, NULL, d_emb_l, A + blk->in,
                                      params + p->head_l_w, B, p->chans[2], p->side[2],
                                      p->side[2], p->D, 1, 1, 0, A + p->scratch);
        }
        if (b == p->stage_end[1] && d_emb_l2)
            afloc_cpu_conv2d_backward(g1, grads + p->head_l2_w, NULL, d_emb_l2, A + blk->in,
                                      params + p->head_l2_w, B, p->chans[1], p->side[1],
                                      p->side[1], p->D, 1, 1, 0, A + p->scratch);
        block_backward(p, blk, grads, params, g0, g1);
        float *t = g0;
        g0 = g1;
        g1 = t;
    }
    /* stem: g0 is the gradient of the maxpool output */
    const convbn *st = &p->stem;
    float *da = g1;
    memset(da, 0, act_floats(p, st) * sizeof(float));
    afloc_cpu_maxpool2d_backward(da, g0, A + st->a, B, st->OC, st->out_side, st->out_side, 3, 2, 1);
    float *dz = relu_back(p, st, da);
    float *dw1 = A + p->dw1sum;
    memset(dw1, 0, (size_t)st->OC * 49 * sizeof(float));
    convbn_backward(p, st, grads, params, dz, A + p->x299, A + p->w1sum, dw1, NULL);
    /* every input-channel slice of conv1.weight gets the summed weight's gradient */
    float *gw = grads + st->weight;
    for (int32_t o = 0; o < st->OC; o++)
        for (int32_t c = 0; c < p->in_ch; c++)
            for (int32_t k = 0; k < 49; k++)
                gw[((size_t)o * p->in_ch + c) * 49 + k] += dw1[(size_t)o * 49 + k];
    return AFLOC_OK;
}
