/* model_layout.c: the parameter walks of the training passes (model_layout.h): BERT's
 * embeddings and layers, and ResNet's stem and Bottleneck blocks, resolved by name in the
 * model's param table, in forward order. */
#include "model_layout.h"

#include <stdio.h>

#include "cpu/cpu_ops.h"
#include "error.h"

#define EXPANSION 4 /* torchvision Bottleneck.expansion */

afloc_status afloc_layout_find(size_t *offset, const afloc_model *model, const char *name,
                               size_t count, const char *fn) {
    int32_t i = afloc_params_find(&model->table, name);
    if (i < 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\" not in the param table",
                          fn, name);
    if (count != AFLOC_LAYOUT_ANY_COUNT && model->table.params[i].count != count)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\" has %zu floats, expected "
                          "%zu", fn, name, model->table.params[i].count, count);
    *offset = model->table.params[i].offset;
    return AFLOC_OK;
}

/* ---- BERT ---- */

static afloc_status bert_layer(afloc_bert_layer_params *q, const afloc_model *model, int32_t l,
                               const char *fn) {
    const size_t C = (size_t)model->config.bert_hidden, I = (size_t)model->config.bert_intermediate;
    char pre[AFLOC_PARAM_NAME_MAX], name[AFLOC_PARAM_NAME_MAX + 64];
    snprintf(pre, sizeof pre, "text_encoder.model.encoder.layer.%d", l);
    struct { size_t *at; const char *suffix; size_t count; } list[] = {
        {&q->q_w, "attention.self.query.weight", C * C},
        {&q->q_b, "attention.self.query.bias", C},
        {&q->k_w, "attention.self.key.weight", C * C},
        {&q->k_b, "attention.self.key.bias", C},
        {&q->v_w, "attention.self.value.weight", C * C},
        {&q->v_b, "attention.self.value.bias", C},
        {&q->ao_w, "attention.output.dense.weight", C * C},
        {&q->ao_b, "attention.output.dense.bias", C},
        {&q->ln1_w, "attention.output.LayerNorm.weight", C},
        {&q->ln1_b, "attention.output.LayerNorm.bias", C},
        {&q->in_w, "intermediate.dense.weight", I * C},
        {&q->in_b, "intermediate.dense.bias", I},
        {&q->out_w, "output.dense.weight", C * I},
        {&q->out_b, "output.dense.bias", C},
        {&q->ln2_w, "output.LayerNorm.weight", C},
        {&q->ln2_b, "output.LayerNorm.bias", C},
    };
    for (size_t k = 0; k < sizeof list / sizeof list[0]; k++) {
        snprintf(name, sizeof name, "%s.%s", pre, list[k].suffix);
        AFLOC_TRY(afloc_layout_find(list[k].at, model, name, list[k].count, fn));
    }
    return AFLOC_OK;
}

afloc_status afloc_layout_bert(afloc_bert_embedding_params *emb, afloc_bert_layer_params *layers,
                               const afloc_model *model, const char *fn) {
    const afloc_config *cfg = &model->config;
    const size_t C = (size_t)cfg->bert_hidden;
    const char *e = "text_encoder.model.embeddings";
    char name[AFLOC_PARAM_NAME_MAX];
    struct { size_t *at; const char *suffix; size_t count; } list[] = {
        {&emb->word, "word_embeddings.weight", (size_t)cfg->vocab_size * C},
        {&emb->position, "position_embeddings.weight", (size_t)cfg->max_positions * C},
        {&emb->type, "token_type_embeddings.weight", (size_t)cfg->type_vocab_size * C},
        {&emb->eln_w, "LayerNorm.weight", C},
        {&emb->eln_b, "LayerNorm.bias", C},
    };
    for (size_t k = 0; k < sizeof list / sizeof list[0]; k++) {
        snprintf(name, sizeof name, "%s.%s", e, list[k].suffix);
        AFLOC_TRY(afloc_layout_find(list[k].at, model, name, list[k].count, fn));
    }
    for (int32_t l = 0; l < cfg->bert_layers; l++)
        AFLOC_TRY(bert_layer(&layers[l], model, l, fn));
    return AFLOC_OK;
}

/* ---- ResNet ---- */

static size_t take(afloc_resnet_planner *pl, size_t floats) {
    size_t at = *pl->used;
    *pl->used += (floats + pl->align - 1) / pl->align * pl->align;
    return at;
}

/* Fills a (conv, BN) pair for `name_conv` / `name_bn` and reserves its activations. */
static afloc_status plan_convbn(afloc_resnet_planner *pl, const afloc_model *m, afloc_convbn *c,
                                const char *name_conv, const char *name_bn, int32_t C,
                                int32_t OC, int32_t K, int32_t stride, int32_t pad,
                                int32_t in_side, int32_t keep_a) {
    const char *fn = pl->fn;
    char name[AFLOC_PARAM_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.weight", name_conv);
    AFLOC_TRY(afloc_layout_find(&c->weight, m, name, AFLOC_LAYOUT_ANY_COUNT, fn));
    snprintf(name, sizeof name, "%s.weight", name_bn);
    AFLOC_TRY(afloc_layout_find(&c->gamma, m, name, AFLOC_LAYOUT_ANY_COUNT, fn));
    snprintf(name, sizeof name, "%s.bias", name_bn);
    AFLOC_TRY(afloc_layout_find(&c->beta, m, name, AFLOC_LAYOUT_ANY_COUNT, fn));
    snprintf(name, sizeof name, "%s.running_mean", name_bn);
    AFLOC_TRY(afloc_layout_find(&c->running_mean, m, name, AFLOC_LAYOUT_ANY_COUNT, fn));
    snprintf(name, sizeof name, "%s.running_var", name_bn);
    AFLOC_TRY(afloc_layout_find(&c->running_var, m, name, AFLOC_LAYOUT_ANY_COUNT, fn));
    c->C = C, c->OC = OC, c->K = K, c->stride = stride, c->pad = pad, c->in_side = in_side;
    c->out_side = afloc_conv_out_size(in_side, K, stride, pad);
    if ((int64_t)pl->B * c->out_side * c->out_side < 2)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s sees %d value(s) per channel at "
                          "batch %d; train-mode BatchNorm needs more than 1", fn, name_bn,
                          pl->B * c->out_side * c->out_side, pl->B);
    size_t act = (size_t)pl->B * (size_t)OC * (size_t)c->out_side * (size_t)c->out_side;
    if (act > pl->act_max) pl->act_max = act;
    pl->need_scratch(pl->ctx, c);
    c->y = take(pl, act);
    c->a = keep_a ? take(pl, act) : 0;
    c->mean = take(pl, (size_t)OC);
    c->rstd = take(pl, (size_t)OC);
    return AFLOC_OK;
}

afloc_status afloc_layout_resnet(afloc_resnet_planner *pl, const afloc_model *model,
                                 afloc_convbn *stem, afloc_resnet_block *blocks, size_t *pool,
                                 int32_t stage_end[4], int32_t chans[4], int32_t side_out[4]) {
    const afloc_config *cfg = &model->config;
    char conv[AFLOC_PARAM_NAME_MAX], bn[AFLOC_PARAM_NAME_MAX], prefix[AFLOC_PARAM_NAME_MAX];
    const int32_t stem_oc = cfg->resnet_stem;
    AFLOC_TRY(plan_convbn(pl, model, stem, "img_encoder.model.conv1", "img_encoder.model.bn1",
                          pl->stem_channels, stem_oc, 7, 2, 3, pl->up, 1));
    int32_t side = afloc_conv_out_size(stem->out_side, 3, 2, 1), inplanes = stem_oc;
    *pool = take(pl, (size_t)pl->B * (size_t)stem_oc * (size_t)side * (size_t)side);
    size_t in = *pool;
    for (int32_t s = 0, b = 0; s < 4; s++) {
        const int32_t width = cfg->resnet_planes[s] * cfg->resnet_base_width / 64;
        const int32_t out = cfg->resnet_planes[s] * EXPANSION, stride = s == 0 ? 1 : 2;
        for (int32_t k = 0; k < cfg->resnet_blocks[s]; k++, b++) {
            afloc_resnet_block *blk = &blocks[b];
            const int32_t cin = k == 0 ? inplanes : out, st = k == 0 ? stride : 1;
            snprintf(prefix, sizeof prefix, "img_encoder.model.layer%d.%d", s + 1, k);
            blk->in = in;
            snprintf(conv, sizeof conv, "%s.conv1", prefix);
            snprintf(bn, sizeof bn, "%s.bn1", prefix);
            AFLOC_TRY(plan_convbn(pl, model, &blk->conv1, conv, bn, cin, width, 1, 1, 0, side, 1));
            snprintf(conv, sizeof conv, "%s.conv2", prefix);
            snprintf(bn, sizeof bn, "%s.bn2", prefix);
            AFLOC_TRY(plan_convbn(pl, model, &blk->conv2, conv, bn, width, width, 3, st, 1, side,
                                  1));
            const int32_t mid = blk->conv2.out_side;
            snprintf(conv, sizeof conv, "%s.conv3", prefix);
            snprintf(bn, sizeof bn, "%s.bn3", prefix);
            AFLOC_TRY(plan_convbn(pl, model, &blk->conv3, conv, bn, width, out, 1, 1, 0, mid, 1));
            /* torchvision: a projection when the stride or the channel count changes. */
            blk->has_down = k == 0 && (st != 1 || cin != out);
            if (blk->has_down) {
                snprintf(conv, sizeof conv, "%s.downsample.0", prefix);
                snprintf(bn, sizeof bn, "%s.downsample.1", prefix);
                AFLOC_TRY(plan_convbn(pl, model, &blk->down, conv, bn, cin, out, 1, st, 0, side,
                                      0));
            }
            in = blk->conv3.a;
            side = mid;
        }
        stage_end[s] = b;
        chans[s] = out;
        side_out[s] = side;
        inplanes = out;
    }
    return AFLOC_OK;
}

afloc_status afloc_layout_image_heads(size_t *g_w, size_t *g_b, size_t *l_w, size_t *l2_w,
                                      const afloc_model *model, const char *fn) {
    struct { size_t *at; const char *name; } list[] = {
        {g_w, "img_encoder.global_embedder.weight"},
        {g_b, "img_encoder.global_embedder.bias"},
        {l_w, "img_encoder.local_embedder.weight"},
        {l2_w, "img_encoder.local2_embedder.weight"},
    };
    for (size_t k = 0; k < sizeof list / sizeof list[0]; k++)
        AFLOC_TRY(afloc_layout_find(list[k].at, model, list[k].name, AFLOC_LAYOUT_ANY_COUNT, fn));
    return AFLOC_OK;
}

afloc_status afloc_layout_local_position(size_t *offset, const afloc_model *model, const char *fn) {
    *offset = AFLOC_LAYOUT_NONE;
    if (!model->config.local_position) return AFLOC_OK;
    return afloc_layout_find(offset, model, AFLOC_LOCAL_POSITION_TENSOR,
                             (size_t)model->config.embedding_dim * 2, fn);
}

void afloc_layout_bert_layer_acts(afloc_bert_layer_acts *a, size_t *used, size_t align, size_t T,
                                  size_t C, size_t I, size_t NH, int dropout) {
    const size_t TC = T * C, P = NH * T * T;
    size_t *const order[15] = {&a->qkv, &a->probs, &a->dm_p, &a->ctx, &a->a, &a->m1, &a->r1,
                               &a->dm_a, &a->A, &a->fpre, &a->f, &a->o, &a->m2, &a->r2, &a->dm_o};
    const size_t sizes[15] = {3 * TC, P, dropout ? P : 0, TC, TC, T, T, dropout ? TC : 0, TC,
                              T * I, T * I, TC, T, T, dropout ? TC : 0};
    for (int k = 0; k < 15; k++) {
        *order[k] = sizes[k] ? *used : 0; /* a mask that is not kept takes nothing */
        *used += (sizes[k] + align - 1) / align * align;
    }
}
