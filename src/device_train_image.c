/* device_train_image.c: the image encoder's training forward and backward on the device
 * (device_train_parts.h), op for op the walk of train_image.c (read that file for the
 * architecture): the same arena layout (each (conv, BN) pair keeps its conv output y, its BN
 * output a and its saved mean / rstd), the same op order, the same accumulation, on device
 * buffers through the plugin's table. With the CPU ops behind the table
 * (tests/common/host_device_ops.h) it reproduces train_image.c bit for bit.
 *
 * The stem: train_image.c runs conv1 on the one gray channel with the weight summed over its
 * input channels. There is no device op for a strided channel sum, so the channel slices of
 * conv1.weight (OC, in_ch, 7, 7) are first gathered into (in_ch, OC, 7, 7) with OC·in_ch
 * 49-float device copies, then summed with add_forward in channel order (the CPU's order, so the
 * same bits); the gradient goes back with OC·in_ch 49-float add_forward calls. About 2·192 tiny
 * enqueues per step for ResNet-50, microseconds of host time each. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cpu/cpu_ops.h"
#include "device_train_parts.h"
#include "error.h"
#include "model_layout.h"

#define BN_MOMENTUM 0.1f /* torch.nn.BatchNorm2d default      */
#define STEM_TAPS   49   /* 7x7                               */

typedef afloc_convbn       convbn;
typedef afloc_resnet_block block;

struct afloc_dtrain_image {
    const afloc_model      *model;
    const afloc_device_ops *ops;
    afloc_device           *dev;
    int32_t B, crop, up, in_ch, D, chans[4], side[4];
    float   eps;
    convbn  stem;
    int32_t block_count, stage_end[4];
    block  *blocks;
    size_t  head_g_w, head_g_b, head_l_w, head_l2_w;
    size_t  head_pos; /* local_position's, AFLOC_LAYOUT_NONE without it */
    size_t  x, x299, w1t, w1sum, pool, pooled, emb_g, emb_l, emb_l2;
    size_t  g0, g1, t1, t2, t3, dpooled, dw1sum, shortcut;
    size_t  act_max, arena_floats, scratch_bytes;
    float  *arena; /* device */
};

/* ---- planning (train_image.c's, with the device's scratch sizes) ---- */

static size_t take(size_t *used, size_t floats) {
    size_t at = *used;
    *used += (floats + 63) / 64 * 64; /* 256-byte aligned, as cuDNN likes its buffers */
    return at;
}

static void need_scratch(afloc_dtrain_image *p, int32_t C, int32_t side, int32_t OC, int32_t K,
                         int32_t stride, int32_t pad) {
    size_t f = p->ops->conv2d_scratch_bytes(p->dev, p->B, C, side, side, OC, K, stride, pad);
    size_t b = p->ops->conv2d_backward_scratch_bytes(p->dev, p->B, C, side, side, OC, K, stride,
                                                     pad);
    if (f > p->scratch_bytes) p->scratch_bytes = f;
    if (b > p->scratch_bytes) p->scratch_bytes = b;
}

static void need_conv_scratch(void *ctx, const convbn *c) {
    need_scratch(ctx, c->C, c->in_side, c->OC, c->K, c->stride, c->pad);
}

/* the stem convolves one channel with the summed weight (C = 1 for its scratch) */
static afloc_status plan_layers(afloc_dtrain_image *p, size_t *used, const char *fn) {
    afloc_resnet_planner pl = {.ctx = p, .B = p->B, .stem_channels = 1, .up = p->up,
                               .used = used, .align = 64, .need_scratch = need_conv_scratch,
                               .fn = fn};
    AFLOC_TRY(afloc_layout_resnet(&pl, p->model, &p->stem, p->blocks, &p->pool, p->stage_end,
                                  p->chans, p->side));
    p->act_max = pl.act_max;
    return AFLOC_OK;
}

static afloc_status plan_rest(afloc_dtrain_image *p, size_t *used, const char *fn) {
    AFLOC_TRY(afloc_layout_image_heads(&p->head_g_w, &p->head_g_b, &p->head_l_w, &p->head_l2_w,
                                       p->model, fn));
    AFLOC_TRY(afloc_layout_local_position(&p->head_pos, p->model, fn));
    const size_t Bz = (size_t)p->B, D = (size_t)p->D, taps = (size_t)p->stem.OC * STEM_TAPS;
    const size_t S2 = (size_t)p->side[1] * p->side[1], S3 = (size_t)p->side[2] * p->side[2];
    p->w1t = take(used, taps * (size_t)p->in_ch);
    p->w1sum = take(used, taps);
    p->pooled = take(used, Bz * (size_t)p->chans[3]);
    p->emb_g = take(used, Bz * D);
    p->emb_l = take(used, Bz * D * S3);
    p->emb_l2 = take(used, Bz * D * S2);
    p->g0 = take(used, p->act_max);
    p->g1 = take(used, p->act_max);
    p->t1 = take(used, p->act_max);
    p->t2 = take(used, p->act_max);
    p->t3 = take(used, p->act_max);
    p->shortcut = take(used, p->act_max);
    p->dpooled = take(used, Bz * (size_t)p->chans[3]);
    p->dw1sum = take(used, taps);
    need_scratch(p, p->chans[1], p->side[1], p->D, 1, 1, 0);
    need_scratch(p, p->chans[2], p->side[2], p->D, 1, 1, 0);
    return AFLOC_OK;
}

void afloc_dtrain_image_free(afloc_dtrain_image *p) {
    if (!p) return;
    if (p->arena) p->ops->release(p->dev, p->arena);
    afloc_free(p->blocks);
    afloc_free(p);
}

afloc_status afloc_dtrain_image_create(afloc_dtrain_image **out, const afloc_model *model,
                                       const afloc_device_ops *ops, afloc_device *dev, int32_t B,
                                       size_t *scratch_bytes, const char *function) {
    if (B < 1 || B > 65536)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch size %d outside 1..65536",
                          function, (int)B);
    const afloc_config *cfg = &model->config;
    afloc_dtrain_image *p = afloc_calloc(1, sizeof *p);
    if (!p) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: image plan", function);
    p->model = model, p->ops = ops, p->dev = dev;
    p->B = B, p->crop = cfg->crop_size, p->up = cfg->upsample_size;
    p->in_ch = cfg->input_channels, p->D = cfg->embedding_dim, p->eps = cfg->bn_eps;
    for (int s = 0; s < 4; s++) p->block_count += cfg->resnet_blocks[s];
    p->blocks = afloc_calloc((size_t)p->block_count, sizeof *p->blocks);
    if (!p->blocks) {
        const int32_t count = p->block_count;
        afloc_dtrain_image_free(p);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: %d image blocks", function, (int)count);
    }
    size_t used = 0;
    p->x = take(&used, (size_t)B * (size_t)p->crop * (size_t)p->crop);
    p->x299 = take(&used, (size_t)B * (size_t)p->up * (size_t)p->up);
    afloc_status st = plan_layers(p, &used, function);
    if (st == AFLOC_OK) st = plan_rest(p, &used, function);
    if (st == AFLOC_OK) {
        p->arena_floats = used;
        st = ops->alloc(dev, (void **)&p->arena, used * sizeof(float));
        if (st != AFLOC_OK) {
            p->arena = NULL;
            st = afloc_fail(st, "%s: cannot allocate the %zu-byte image activation arena on the "
                            "device (batch %d): %s", function, used * sizeof(float), (int)B,
                            ops->message(dev));
        }
    }
    if (st != AFLOC_OK) {
        afloc_dtrain_image_free(p);
        return st;
    }
    /* zeroed once, so that no op ever reads uninitialised memory (padding lanes included) */
    ops->zero(dev, p->arena, used * sizeof(float));
    if (p->scratch_bytes > *scratch_bytes) *scratch_bytes = p->scratch_bytes;
    *out = p;
    return AFLOC_OK;
}

void afloc_dtrain_image_sizes(const afloc_dtrain_image *p, int32_t *D, int32_t *side2,
                              int32_t *side3) {
    *D = p->D;
    *side2 = p->side[1];
    *side3 = p->side[2];
}

void afloc_dtrain_image_outputs(const afloc_dtrain_image *p, const float **emb_g,
                                const float **emb_l, const float **emb_l2) {
    *emb_g = p->arena + p->emb_g;
    *emb_l = p->arena + p->emb_l;
    *emb_l2 = p->arena + p->emb_l2;
}

/* ---- forward ---- */

static size_t act_floats(const afloc_dtrain_image *p, const convbn *c) {
    return (size_t)p->B * (size_t)c->OC * (size_t)c->out_side * (size_t)c->out_side;
}

static void convbn_forward(afloc_dtrain_image *p, const convbn *c, float *params, const float *in,
                           const float *weight, float *dst, int32_t relu, void *scratch) {
    const afloc_device_ops *ops = p->ops;
    float *A = p->arena, *y = A + c->y;
    ops->conv2d_forward(p->dev, y, in, weight ? weight : params + c->weight, NULL, NULL, 0, p->B,
                        weight ? 1 : c->C, c->in_side, c->in_side, c->OC, c->K, c->stride, c->pad,
                        scratch);
    ops->batchnorm2d_train_forward(p->dev, dst, A + c->mean, A + c->rstd, params + c->running_mean,
                                   params + c->running_var, y, params + c->gamma, params + c->beta,
                                   p->B, c->OC, c->out_side, c->out_side, p->eps, BN_MOMENTUM);
    if (relu) ops->relu_forward(p->dev, dst, dst, act_floats(p, c));
}

static void block_forward(afloc_dtrain_image *p, const block *blk, float *params, void *scratch) {
    float *A = p->arena;
    const float *in = A + blk->in;
    float *out = A + blk->conv3.a;
    convbn_forward(p, &blk->conv1, params, in, NULL, A + blk->conv1.a, 1, scratch);
    convbn_forward(p, &blk->conv2, params, A + blk->conv1.a, NULL, A + blk->conv2.a, 1, scratch);
    convbn_forward(p, &blk->conv3, params, A + blk->conv2.a, NULL, out, 0, scratch);
    const float *shortcut = in;
    if (blk->has_down) {
        convbn_forward(p, &blk->down, params, in, NULL, A + p->shortcut, 0, scratch);
        shortcut = A + p->shortcut;
    }
    const size_t n = act_floats(p, &blk->conv3);
    p->ops->add_forward(p->dev, out, out, shortcut, n);
    p->ops->relu_forward(p->dev, out, out, n);
}

/* w1sum (OC, 49) = Σ_c conv1.weight[:, c] in channel order, as train_image.c's sum_stem_weight. */
static void sum_stem_weight(afloc_dtrain_image *p, const float *w) {
    const afloc_device_ops *ops = p->ops;
    const size_t OC = (size_t)p->stem.OC, C = (size_t)p->in_ch, taps = OC * STEM_TAPS;
    float *wt = p->arena + p->w1t, *sum = p->arena + p->w1sum;
    for (size_t c = 0; c < C; c++)
        for (size_t o = 0; o < OC; o++)
            ops->copy(p->dev, wt + (c * OC + o) * STEM_TAPS, w + (o * C + c) * STEM_TAPS,
                      STEM_TAPS * sizeof(float));
    if (C == 1) {
        ops->copy(p->dev, sum, wt, taps * sizeof(float));
        return;
    }
    ops->add_forward(p->dev, sum, wt, wt + taps, taps);
    for (size_t c = 2; c < C; c++) ops->add_forward(p->dev, sum, sum, wt + c * taps, taps);
}

afloc_status afloc_dtrain_image_forward(afloc_dtrain_image *p, float *params, const float *x,
                                        void *scratch) {
    const afloc_device_ops *ops = p->ops;
    float *A = p->arena;
    const int32_t B = p->B;
    afloc_status st = ops->upload(p->dev, A + p->x, x,
                                  (size_t)B * (size_t)p->crop * (size_t)p->crop * sizeof(float));
    if (st != AFLOC_OK) return st;
    ops->bilinear_resize_forward(p->dev, A + p->x299, A + p->x, B, 1, p->crop, p->crop, p->up,
                                 p->up, 1);
    sum_stem_weight(p, params + p->stem.weight);
    convbn_forward(p, &p->stem, params, A + p->x299, A + p->w1sum, A + p->stem.a, 1, scratch);
    ops->maxpool2d_forward(p->dev, A + p->pool, A + p->stem.a, B, p->stem.OC, p->stem.out_side,
                           p->stem.out_side, 3, 2, 1);
    for (int32_t b = 0; b < p->block_count; b++) block_forward(p, &p->blocks[b], params, scratch);
    const float *l2 = A + p->blocks[p->stage_end[1] - 1].conv3.a;
    const float *l3 = A + p->blocks[p->stage_end[2] - 1].conv3.a;
    const float *l4 = A + p->blocks[p->stage_end[3] - 1].conv3.a;
    ops->conv2d_forward(p->dev, A + p->emb_l2, l2, params + p->head_l2_w, NULL, NULL, 0, B,
                        p->chans[1], p->side[1], p->side[1], p->D, 1, 1, 0, scratch);
    ops->conv2d_forward(p->dev, A + p->emb_l, l3, params + p->head_l_w, NULL, NULL, 0, B,
                        p->chans[2], p->side[2], p->side[2], p->D, 1, 1, 0, scratch);
    if (p->head_pos != AFLOC_LAYOUT_NONE)
        ops->position_add_forward(p->dev, A + p->emb_l, params + p->head_pos, B, p->D, p->side[2],
                                  p->side[2]);
    ops->global_avgpool_forward(p->dev, A + p->pooled, l4, B, p->chans[3], p->side[3], p->side[3]);
    ops->linear_forward(p->dev, A + p->emb_g, A + p->pooled, params + p->head_g_w,
                        params + p->head_g_b, 0, B, p->chans[3], p->D);
    return AFLOC_OK;
}

/* ---- backward ---- */

static void zero(const afloc_dtrain_image *p, float *x, size_t n) {
    p->ops->zero(p->dev, x, n * sizeof(float));
}

static void convbn_backward(afloc_dtrain_image *p, const convbn *c, float *grads,
                            const float *params, const float *dz, const float *in,
                            const float *weight, float *dweight, float *dinput, void *scratch) {
    const afloc_device_ops *ops = p->ops;
    float *A = p->arena, *dy = A + p->t2;
    zero(p, dy, act_floats(p, c));
    ops->batchnorm2d_backward(p->dev, dy, grads + c->gamma, grads + c->beta, dz, A + c->y,
                              A + c->mean, A + c->rstd, params + c->gamma, p->B, c->OC,
                              c->out_side, c->out_side);
    ops->conv2d_backward(p->dev, dinput, dweight ? dweight : grads + c->weight, NULL, dy, in,
                         weight ? weight : params + c->weight, p->B, weight ? 1 : c->C,
                         c->in_side, c->in_side, c->OC, c->K, c->stride, c->pad, scratch);
}

static float *relu_back(afloc_dtrain_image *p, const convbn *c, const float *da) {
    float *dz = p->arena + p->t1;
    const size_t n = act_floats(p, c);
    zero(p, dz, n);
    p->ops->relu_backward(p->dev, dz, da, p->arena + c->a, n);
    return dz;
}

static void block_backward(afloc_dtrain_image *p, const block *blk, float *grads,
                           const float *params, const float *dout, float *din, void *scratch) {
    float *A = p->arena, *t3 = A + p->t3;
    const float *in = A + blk->in;
    float *dpre = relu_back(p, &blk->conv3, dout);
    if (blk->has_down)
        convbn_backward(p, &blk->down, grads, params, dpre, in, NULL, NULL, din, scratch);
    else
        p->ops->add_forward(p->dev, din, din, dpre, act_floats(p, &blk->conv3));
    zero(p, t3, act_floats(p, &blk->conv2));
    convbn_backward(p, &blk->conv3, grads, params, dpre, A + blk->conv2.a, NULL, NULL, t3, scratch);
    float *dz = relu_back(p, &blk->conv2, t3);
    zero(p, t3, act_floats(p, &blk->conv1));
    convbn_backward(p, &blk->conv2, grads, params, dz, A + blk->conv1.a, NULL, NULL, t3, scratch);
    dz = relu_back(p, &blk->conv1, t3);
    convbn_backward(p, &blk->conv1, grads, params, dz, in, NULL, NULL, din, scratch);
}

static size_t block_in_floats(const afloc_dtrain_image *p, const block *blk) {
    return (size_t)p->B * (size_t)blk->conv1.C * (size_t)blk->conv1.in_side *
           (size_t)blk->conv1.in_side;
}

void afloc_dtrain_image_backward(afloc_dtrain_image *p, float *grads, const float *params,
                                 const float *d_emb_g, const float *d_emb_l,
                                 const float *d_emb_l2, void *scratch) {
    const afloc_device_ops *ops = p->ops;
    afloc_device *dev = p->dev;
    float *A = p->arena, *g0 = A + p->g0, *g1 = A + p->g1;
    const int32_t B = p->B;
    const block *last = &p->blocks[p->block_count - 1];
    zero(p, g0, act_floats(p, &last->conv3));
    if (d_emb_g) {
        float *dpooled = A + p->dpooled;
        zero(p, dpooled, (size_t)B * (size_t)p->chans[3]);
        ops->linear_backward(dev, dpooled, grads + p->head_g_w, grads + p->head_g_b, d_emb_g,
                             A + p->pooled, params + p->head_g_w, B, p->chans[3], p->D);
        ops->global_avgpool_backward(dev, g0, dpooled, B, p->chans[3], p->side[3], p->side[3]);
    }
    for (int32_t b = p->block_count - 1; b >= 0; b--) {
        const block *blk = &p->blocks[b];
        zero(p, g1, block_in_floats(p, blk));
        if (b == p->stage_end[2] && d_emb_l) {
            if (p->head_pos != AFLOC_LAYOUT_NONE)
                ops->position_add_backward(dev, grads + p->head_pos, d_emb_l, B, p->D, p->side[2],
                                           p->side[2]);
            ops->conv2d_backward(dev, g1, grads + p->head_l_w, NULL, d_emb_l, A + blk->in,
                                 params + p->head_l_w, B, p->chans[2], p->side[2], p->side[2],
                                 p->D, 1, 1, 0, scratch);
        }
        if (b == p->stage_end[1] && d_emb_l2)
            ops->conv2d_backward(dev, g1, grads + p->head_l2_w, NULL, d_emb_l2, A + blk->in,
                                 params + p->head_l2_w, B, p->chans[1], p->side[1], p->side[1],
                                 p->D, 1, 1, 0, scratch);
        block_backward(p, blk, grads, params, g0, g1, scratch);
        float *t = g0;
        g0 = g1;
        g1 = t;
    }
    const convbn *st = &p->stem;
    float *da = g1;
    zero(p, da, act_floats(p, st));
    ops->maxpool2d_backward(dev, da, g0, A + st->a, B, st->OC, st->out_side, st->out_side, 3, 2, 1);
    float *dz = relu_back(p, st, da);
    float *dw1 = A + p->dw1sum;
    const size_t OC = (size_t)st->OC, C = (size_t)p->in_ch;
    zero(p, dw1, OC * STEM_TAPS);
    convbn_backward(p, st, grads, params, dz, A + p->x299, A + p->w1sum, dw1, NULL, scratch);
    /* every input-channel slice of conv1.weight gets the summed weight's gradient (+=) */
    float *gw = grads + st->weight;
    for (size_t o = 0; o < OC; o++)
        for (size_t c = 0; c < C; c++) {
            float *slice = gw + (o * C + c) * STEM_TAPS;
            ops->add_forward(dev, slice, slice, dw1 + o * STEM_TAPS, STEM_TAPS);
        }
}
