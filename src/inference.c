/* inference.c: builds a model's inference plan (inference_plan.h) once, after create/load:
 *  - conv1's weight (64, 3, 7, 7) summed over its 3 input channels, because the three input
 *    channels are the same gray image (MODEL.md §2.2): conv(x,x,x; W) = conv(x; W0+W1+W2);
 *  - every BatchNorm (eval mode, running statistics) folded into the conv before it
 *    (afloc_cpu_batchnorm_fold, host-side preparation), giving a conv with bias;
 *  - BERT's query, key and value weights packed into one (3C, C) matrix (and biases into 3C), so
 *    one GEMM produces the Q | K | V layout the attention op reads;
 *  - the list of bottlenecks with their strides and shapes, and the workspace size of the largest
 *    call, for which the workspace pool (workspace.h) is created.
 * The checkpoint values in model->params are left untouched (they are what afloc_model_save
 * writes); the folded copies live in one block owned by the plan. */
#include "inference.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "context.h"
#include "cpu/cpu_ops.h"
#include "error.h"

static const char *prepare_fn = "afloc_model_create/load";

/* ---- parameter lookup ---- */

/* Values of parameter `name` (printf-style), which must hold exactly `count` floats. */
static afloc_status find_param(const afloc_model *model, size_t count, const float **out,
                               const char *format, ...) __attribute__((format(printf, 4, 5)));

static afloc_status find_param(const afloc_model *model, size_t count, const float **out,
                               const char *format, ...) {
    char name[AFLOC_PARAM_NAME_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(name, sizeof name, format, args);
    va_end(args);
    int32_t index = afloc_params_find(&model->table, name);
    if (index < 0)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: inference needs tensor \"%s\", which is missing",
                          prepare_fn, name);
    const afloc_param *p = &model->table.params[index];
    if (p->count != count)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: tensor \"%s\" has %zu values, inference expects %zu",
                          prepare_fn, name, p->count, count);
    *out = model->params + p->offset;
    return AFLOC_OK;
}

static int has_param(const afloc_model *model, const char *name) {
    return afloc_params_find(&model->table, name) >= 0;
}

/* ---- sizes ---- */

static size_t conv_floats(int32_t in_c, int32_t out_c, int32_t k) {
    return (size_t)out_c * (size_t)in_c * (size_t)k * (size_t)k + (size_t)out_c;
}

/* Folded-buffer floats of the whole plan: every conv (weight + bias) and the packed QKV. */
static size_t plan_floats(const afloc_config *cfg) {
    size_t total = conv_floats(1, cfg->resnet_stem, 7);
    int32_t in_c = cfg->resnet_stem;
    for (int32_t s = 0; s < 4; s++) {
        int32_t width = (int32_t)((int64_t)cfg->resnet_planes[s] * cfg->resnet_base_width / 64);
        int32_t out_c = 4 * cfg->resnet_planes[s];
        for (int32_t b = 0; b < cfg->resnet_blocks[s]; b++) {
            int32_t stride = (b == 0 && s > 0) ? 2 : 1;
            total += conv_floats(in_c, width, 1) + conv_floats(width, width, 3) +
                     conv_floats(width, out_c, 1);
            if (stride != 1 || in_c != out_c) total += conv_floats(in_c, out_c, 1);
            in_c = out_c;
        }
    }
    size_t C = (size_t)cfg->bert_hidden;
    total += (size_t)cfg->bert_layers * (3 * C * C + 3 * C);
    return total;
}

/* ---- BatchNorm folding ---- */

/* Folds conv `prefix`.weight (out_c, in_c, k, k) and BatchNorm `bn` into *plan, taking the space
 * from *cursor. When sum_inputs is set, the weight's `in_c` input channels are first summed into
 * one (the stem). */
static afloc_status fold_conv(const afloc_model *model, afloc_conv_plan *plan, float **cursor,
                              const char *conv_name, const char *bn_prefix, int32_t in_c,
                              int32_t out_c, int32_t k, int32_t stride, int32_t pad,
                              int32_t sum_inputs) {
    const float *w, *gamma, *beta, *mean, *var;
    size_t kk = (size_t)k * (size_t)k;
    AFLOC_TRY(find_param(model, (size_t)out_c * (size_t)in_c * kk, &w, "%s", conv_name));
    AFLOC_TRY(find_param(model, (size_t)out_c, &gamma, "%s.weight", bn_prefix));
    AFLOC_TRY(find_param(model, (size_t)out_c, &beta, "%s.bias", bn_prefix));
    AFLOC_TRY(find_param(model, (size_t)out_c, &mean, "%s.running_mean", bn_prefix));
    AFLOC_TRY(find_param(model, (size_t)out_c, &var, "%s.running_var", bn_prefix));
    int32_t plan_in = sum_inputs ? 1 : in_c;
    size_t per_oc = (size_t)plan_in * kk;
    float *weight = *cursor;
    float *bias = weight + (size_t)out_c * per_oc;
    *cursor = bias + out_c;
    if (sum_inputs) {
        for (int32_t oc = 0; oc < out_c; oc++)
            for (size_t i = 0; i < kk; i++) {
                float sum = 0.0f;
                for (int32_t c = 0; c < in_c; c++) sum += w[((size_t)oc * in_c + c) * kk + i];
                weight[(size_t)oc * kk + i] = sum;
            }
    } else {
        memcpy(weight, w, (size_t)out_c * per_oc * sizeof(float));
    }
    afloc_cpu_batchnorm_fold(weight, bias, weight, gamma, beta, mean, var, out_c, per_oc,
                             model->config.bn_eps);
    plan->weight = weight;
    plan->bias = bias;
    plan->in_c = plan_in;
    plan->out_c = out_c;
    plan->k = k;
    plan->stride = stride;
    plan->pad = pad;
    return AFLOC_OK;
}

static afloc_status prepare_resnet(const afloc_model *model, struct afloc_inference *inf,
                                   float **cursor) {
    const afloc_config *cfg = &model->config;
    AFLOC_TRY(fold_conv(model, &inf->stem, cursor, "img_encoder.model.conv1.weight",
                        "img_encoder.model.bn1", cfg->input_channels, cfg->resnet_stem, 7, 2, 3,
                        1));
    int32_t in_c = cfg->resnet_stem, index = 0;
    char conv[AFLOC_PARAM_NAME_MAX], bn[AFLOC_PARAM_NAME_MAX];
    for (int32_t s = 0; s < 4; s++) {
        int32_t width = (int32_t)((int64_t)cfg->resnet_planes[s] * cfg->resnet_base_width / 64);
        int32_t out_c = 4 * cfg->resnet_planes[s];
        for (int32_t b = 0; b < cfg->resnet_blocks[s]; b++, index++) {
            afloc_bottleneck_plan *blk = &inf->blocks[index];
            int32_t stride = (b == 0 && s > 0) ? 2 : 1;
            const char *pre = "img_encoder.model.layer";
            snprintf(conv, sizeof conv, "%s%d.%d.conv1.weight", pre, s + 1, b);
            snprintf(bn, sizeof bn, "%s%d.%d.bn1", pre, s + 1, b);
            AFLOC_TRY(fold_conv(model, &blk->conv1, cursor, conv, bn, in_c, width, 1, 1, 0, 0));
            snprintf(conv, sizeof conv, "%s%d.%d.conv2.weight", pre, s + 1, b);
            snprintf(bn, sizeof bn, "%s%d.%d.bn2", pre, s + 1, b);
            AFLOC_TRY(fold_conv(model, &blk->conv2, cursor, conv, bn, width, width, 3, stride, 1,
                                0));
            snprintf(conv, sizeof conv, "%s%d.%d.conv3.weight", pre, s + 1, b);
            snprintf(bn, sizeof bn, "%s%d.%d.bn3", pre, s + 1, b);
            AFLOC_TRY(fold_conv(model, &blk->conv3, cursor, conv, bn, width, out_c, 1, 1, 0, 0));
            snprintf(conv, sizeof conv, "%s%d.%d.downsample.0.weight", pre, s + 1, b);
            snprintf(bn, sizeof bn, "%s%d.%d.downsample.1", pre, s + 1, b);
            blk->has_down = has_param(model, conv);
            /* torchvision builds the projection exactly when the shape changes. */
            int32_t must = stride != 1 || in_c != out_c;
            if (blk->has_down != must)
                return afloc_fail(AFLOC_ERR_SCHEMA, "%s: tensor \"%s\" is %s", prepare_fn, conv,
                                  must ? "missing" : "unexpected");
            if (blk->has_down)
                AFLOC_TRY(fold_conv(model, &blk->down, cursor, conv, bn, in_c, out_c, 1, stride,
                                    0, 0));
            in_c = out_c;
        }
        inf->stage_end[s] = index;
        inf->chans[s] = out_c;
    }
    AFLOC_TRY(find_param(model, (size_t)cfg->embedding_dim * (size_t)inf->chans[3],
                         &inf->global_weight, "img_encoder.global_embedder.weight"));
    AFLOC_TRY(find_param(model, (size_t)cfg->embedding_dim, &inf->global_bias,
                         "img_encoder.global_embedder.bias"));
    AFLOC_TRY(find_param(model, (size_t)cfg->embedding_dim * (size_t)inf->chans[2],
                         &inf->local_weight, "img_encoder.local_embedder.weight"));
    AFLOC_TRY(find_param(model, (size_t)cfg->embedding_dim * (size_t)inf->chans[1],
                         &inf->local2_weight, "img_encoder.local2_embedder.weight"));
    inf->local_position = NULL;
    if (cfg->local_position)
        AFLOC_TRY(find_param(model, (size_t)cfg->embedding_dim * 2, &inf->local_position, "%s",
                             AFLOC_LOCAL_POSITION_TENSOR));
    return AFLOC_OK;
}

static afloc_status prepare_bert(const afloc_model *model, struct afloc_inference *inf,
                                 float **cursor) {
    const afloc_config *cfg = &model->config;
    size_t C = (size_t)cfg->bert_hidden, I = (size_t)cfg->bert_intermediate;
    const char *emb = "text_encoder.model.embeddings";
    AFLOC_TRY(find_param(model, (size_t)cfg->vocab_size * C, &inf->word_embeddings,
                         "%s.word_embeddings.weight", emb));
    AFLOC_TRY(find_param(model, (size_t)cfg->max_positions * C, &inf->position_embeddings,
                         "%s.position_embeddings.weight", emb));
    AFLOC_TRY(find_param(model, (size_t)cfg->type_vocab_size * C, &inf->type_embeddings,
                         "%s.token_type_embeddings.weight", emb));
    AFLOC_TRY(find_param(model, C, &inf->emb_ln_weight, "%s.LayerNorm.weight", emb));
    AFLOC_TRY(find_param(model, C, &inf->emb_ln_bias, "%s.LayerNorm.bias", emb));
    static const char *const qkv_names[3] = {"query", "key", "value"};
    for (int32_t l = 0; l < cfg->bert_layers; l++) {
        afloc_bert_layer_plan *p = &inf->layers[l];
        char pre[AFLOC_PARAM_NAME_MAX];
        snprintf(pre, sizeof pre, "text_encoder.model.encoder.layer.%d", l);
        float *w = *cursor, *b = w + 3 * C * C;
        *cursor = b + 3 * C;
        for (int32_t j = 0; j < 3; j++) {
            const float *wj, *bj;
            AFLOC_TRY(find_param(model, C * C, &wj, "%s.attention.self.%s.weight", pre,
                                 qkv_names[j]));
            AFLOC_TRY(find_param(model, C, &bj, "%s.attention.self.%s.bias", pre, qkv_names[j]));
            memcpy(w + (size_t)j * C * C, wj, C * C * sizeof(float));
            memcpy(b + (size_t)j * C, bj, C * sizeof(float));
        }
        p->qkv_weight = w;
        p->qkv_bias = b;
        AFLOC_TRY(find_param(model, C * C, &p->attn_out_weight, "%s.attention.output.dense.weight", pre));
        AFLOC_TRY(find_param(model, C, &p->attn_out_bias, "%s.attention.output.dense.bias", pre));
        AFLOC_TRY(find_param(model, C, &p->attn_ln_weight, "%s.attention.output.LayerNorm.weight", pre));
        AFLOC_TRY(find_param(model, C, &p->attn_ln_bias, "%s.attention.output.LayerNorm.bias", pre));
        AFLOC_TRY(find_param(model, I * C, &p->inter_weight, "%s.intermediate.dense.weight", pre));
        AFLOC_TRY(find_param(model, I, &p->inter_bias, "%s.intermediate.dense.bias", pre));
        AFLOC_TRY(find_param(model, C * I, &p->out_weight, "%s.output.dense.weight", pre));
        AFLOC_TRY(find_param(model, C, &p->out_bias, "%s.output.dense.bias", pre));
        AFLOC_TRY(find_param(model, C, &p->out_ln_weight, "%s.output.LayerNorm.weight", pre));
        AFLOC_TRY(find_param(model, C, &p->out_ln_bias, "%s.output.LayerNorm.bias", pre));
    }
    return AFLOC_OK;
}

/* Checks the config values the plan relies on (the config parser checks ranges; these are the
 * relations the forward passes assume). */
static afloc_status check_config(const afloc_config *cfg) {
    if (cfg->embedding_dim != cfg->bert_hidden)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: embedding_dim %d differs from bert_hidden %d "
                          "(AFLoc has no text projection)", prepare_fn, (int)cfg->embedding_dim,
                          (int)cfg->bert_hidden);
    if (cfg->bert_heads < 1 || cfg->bert_hidden % cfg->bert_heads != 0)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: bert_hidden %d is not a multiple of bert_heads %d",
                          prepare_fn, (int)cfg->bert_hidden, (int)cfg->bert_heads);
    if (cfg->token_length < 2 || cfg->token_length > cfg->max_positions ||
        cfg->token_length > AFLOC_MAX_SEQUENCE_LENGTH)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: token_length %d outside 2..min(max_positions %d, %d)",
                          prepare_fn, (int)cfg->token_length, (int)cfg->max_positions,
                          AFLOC_MAX_SEQUENCE_LENGTH);
    if (cfg->last_n_layers < 1 || cfg->last_n_layers > cfg->bert_layers + 1)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: last_n_layers %d outside 1..bert_layers+1 (%d)",
                          prepare_fn, (int)cfg->last_n_layers, (int)cfg->bert_layers + 1);
    if (cfg->resnet_base_width < 1 || cfg->resnet_stem < 1 || cfg->input_channels < 1)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: invalid ResNet stem/base width", prepare_fn);
    for (int32_t s = 0; s < 4; s++)
        if (cfg->resnet_blocks[s] < 1 || cfg->resnet_planes[s] < 1 ||
            (int64_t)cfg->resnet_planes[s] * cfg->resnet_base_width < 64)
            return afloc_fail(AFLOC_ERR_SCHEMA, "%s: stage %d has %d blocks of %d planes", prepare_fn,
                              (int)s + 1, (int)cfg->resnet_blocks[s], (int)cfg->resnet_planes[s]);
    if (cfg->upsample_size < 8 || cfg->crop_size < 1)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: upsample_size %d too small", prepare_fn,
                          (int)cfg->upsample_size);
    return AFLOC_OK;
}

/* ---- prepared convolutions ---- */

/* The OpenMP team size every public call uses (afloc_inference_set_threads): the context's
 * num_threads, or all cores when it is 0. Prepared convs are made for the same size. */
static int32_t inference_threads(const afloc_model *model) {
    int32_t n = model->context ? model->context->options.num_threads : 0;
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
#endif
    return n > 0 ? n : 1;
}

static afloc_status prepare_conv(const afloc_model *model, afloc_conv_plan *c, int32_t side,
                                 int32_t residual, int32_t relu) {
    if (!model->ops->conv2d_prepare) return AFLOC_OK; /* a backend without prepared convs */
    return model->ops->conv2d_prepare(&c->prepared, c->weight, c->bias, residual, relu, c->in_c,
                                      c->out_c, c->k, c->stride, c->pad, 1, side, side,
                                      inference_threads(model));
}

/* Prepares every trunk conv for its fixed input side, with the epilogue run_conv asks for:
 * stem, conv1 and conv2 ReLU; the projection plain; conv3 residual + ReLU. */
static afloc_status prepare_trunk_convs(const afloc_model *model, struct afloc_inference *inf) {
    AFLOC_TRY(prepare_conv(model, &inf->stem, inf->up, 0, 1));
    int32_t side = afloc_conv_out_size(afloc_conv_out_size(inf->up, 7, 2, 3), 3, 2, 1);
    for (int32_t b = 0; b < inf->block_count; b++) {
        afloc_bottleneck_plan *blk = &inf->blocks[b];
        int32_t out = afloc_conv_out_size(side, 3, blk->conv2.stride, 1);
        AFLOC_TRY(prepare_conv(model, &blk->conv1, side, 0, 1));
        AFLOC_TRY(prepare_conv(model, &blk->conv2, side, 0, 1));
        if (blk->has_down) AFLOC_TRY(prepare_conv(model, &blk->down, side, 0, 0));
        AFLOC_TRY(prepare_conv(model, &blk->conv3, out, 1, 1));
        side = out;
    }
    return AFLOC_OK;
}

static void release_conv(const afloc_ops *ops, afloc_conv_plan *c) {
    if (c->prepared && ops && ops->conv2d_release) ops->conv2d_release(c->prepared);
    c->prepared = NULL;
}

/* ---- prepare / free ---- */

/* The floats an entry point of localize.c carves before calling the encoders (all of them share
 * it); planned here with the rest of the workspace. */
size_t afloc_localize_workspace_floats(const afloc_model *model) {
    const struct afloc_inference *inf = model->inference;
    size_t crop2 = (size_t)inf->crop * (size_t)inf->crop;
    size_t S2 = (size_t)inf->side[2] * (size_t)inf->side[2];
    size_t D = (size_t)inf->D;
    return 2 * afloc_workspace_round(crop2) + afloc_workspace_round(D * S2) +
           3 * afloc_workspace_round(D) + 3 * afloc_workspace_round(S2) +
           2 * afloc_workspace_round(AFLOC_MAX_PROMPTS);
}

static afloc_status prepare_plan(afloc_model *model, struct afloc_inference *inf) {
    const afloc_config *cfg = &model->config;
    AFLOC_TRY(check_config(cfg));
    int32_t blocks = 0;
    for (int32_t s = 0; s < 4; s++) blocks += cfg->resnet_blocks[s];
    inf->block_count = blocks;
    inf->crop = cfg->crop_size;
    inf->up = cfg->upsample_size;
    inf->C = cfg->bert_hidden;
    inf->NH = cfg->bert_heads;
    inf->I = cfg->bert_intermediate;
    inf->T = cfg->token_length;
    inf->D = cfg->embedding_dim;
    /* Spatial sides: stem conv 7/2/3, maxpool 3/2/1, then each stage's first 3x3 conv. */
    int32_t side = afloc_conv_out_size(afloc_conv_out_size(inf->up, 7, 2, 3), 3, 2, 1);
    for (int32_t s = 0; s < 4; s++) {
        if (s > 0) side = afloc_conv_out_size(side, 3, 2, 1);
        inf->side[s] = side;
    }
    if (side < 1)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: upsample_size %d leaves no layer4 output",
                          prepare_fn, (int)inf->up);

    inf->blocks = afloc_calloc((size_t)blocks, sizeof *inf->blocks);
    inf->layers = afloc_calloc((size_t)(cfg->bert_layers > 0 ? cfg->bert_layers : 1),
                               sizeof *inf->layers);
    inf->folded_floats = plan_floats(cfg);
    inf->folded = afloc_malloc(inf->folded_floats * sizeof(float));
    if (!inf->blocks || !inf->layers || !inf->folded)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for the inference plan "
                          "(%zu bytes of folded weights)", prepare_fn,
                          inf->folded_floats * sizeof(float));
    float *cursor = inf->folded;
    AFLOC_TRY(prepare_resnet(model, inf, &cursor));
    AFLOC_TRY(prepare_bert(model, inf, &cursor));
    if ((size_t)(cursor - inf->folded) != inf->folded_floats)
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: folded plan used %zu floats, planned %zu",
                          prepare_fn, (size_t)(cursor - inf->folded), inf->folded_floats);
    inf->ops = model->ops;
    AFLOC_TRY(prepare_trunk_convs(model, inf));

    /* The model pointer must see the plan for the size functions below. */
    model->inference = inf;
    inf->workspace_floats = afloc_image_encoder_workspace_floats(model) +
                            afloc_text_encoder_workspace_floats(model) +
                            afloc_localize_workspace_floats(model);
    model->inference = NULL;
    return afloc_workspace_pool_create(inf->workspace_floats, &inf->pool, prepare_fn);
}

afloc_status afloc_inference_prepare(afloc_model *model) {
    if (!model || !model->params || !model->ops || !model->tokenizer)
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: inference prepared on an incomplete model",
                          prepare_fn);
    struct afloc_inference *inf = afloc_calloc(1, sizeof *inf);
    if (!inf)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for the inference plan",
                          prepare_fn);
    afloc_status status = prepare_plan(model, inf);
    if (status != AFLOC_OK) {
        afloc_inference_free(inf);
        return status;
    }
    model->inference = inf;
    return AFLOC_OK;
}

void afloc_inference_free(struct afloc_inference *inference) {
    if (!inference) return;
    if (inference->blocks) {
        release_conv(inference->ops, &inference->stem);
        for (int32_t b = 0; b < inference->block_count; b++) {
            afloc_bottleneck_plan *blk = &inference->blocks[b];
            release_conv(inference->ops, &blk->conv1);
            release_conv(inference->ops, &blk->conv2);
            release_conv(inference->ops, &blk->conv3);
            release_conv(inference->ops, &blk->down);
        }
    }
    afloc_workspace_pool_free(inference->pool);
    afloc_free(inference->folded);
    afloc_free(inference->blocks);
    afloc_free(inference->layers);
    afloc_free(inference);
}

/* ---- helpers shared by the entry points ---- */

void afloc_inference_map_to_frame(const afloc_model *model, int32_t alignment, float *frame,
                                  const float *smoothed) {
    const struct afloc_inference *inf = model->inference;
    int32_t S = inf->side[2], crop = inf->crop;
    if (alignment == AFLOC_MAP_ALIGN_MODEL) alignment = model->config.map_alignment;
    if (alignment == AFLOC_MAP_ALIGN_CENTRED || alignment == AFLOC_MAP_ALIGN_CENTRED_CUBIC) {
        float step = afloc_inference_centred_step(inf);
        (alignment == AFLOC_MAP_ALIGN_CENTRED ? model->ops->bilinear_sample_forward
                                              : model->ops->bicubic_sample_forward)(
            frame, smoothed, 1, 1, S, S, crop, crop, step, step);
    } else {
        model->ops->bilinear_resize_forward(frame, smoothed, 1, 1, S, S, crop, crop, 0);
    }
}

void afloc_inference_set_threads(const afloc_model *model) {
#ifdef _OPENMP
    omp_set_num_threads(inference_threads(model));
#else
    (void)model;
#endif
}

afloc_status afloc_inference_check_model(const afloc_model *model, const char *function) {
    if (!model) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: model is NULL", function);
    if (!model->inference)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: model has no inference plan", function);
    return AFLOC_OK;
}

afloc_status afloc_inference_check_text(const char *text, size_t *length, const char *function) {
    if (!text) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: text is NULL", function);
    size_t n = strnlen(text, (size_t)AFLOC_MAX_TEXT_BYTES + 1);
    if (n > AFLOC_MAX_TEXT_BYTES)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: text is longer than %u bytes", function,
                          (unsigned)AFLOC_MAX_TEXT_BYTES);
    *length = n;
    return AFLOC_OK;
}

afloc_status afloc_inference_preprocess(const afloc_model *model, const afloc_image_view *image,
                                        float *frame, afloc_letterbox_geometry *geometry,
                                        const char *function) {
    afloc_preprocess_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_preprocess_options_default(&o);
    o.image_size = model->config.image_size;
    o.crop_size = model->config.crop_size;
    if (geometry) {
        memset(geometry, 0, sizeof *geometry);
        geometry->struct_size = sizeof *geometry;
    }
    size_t n = (size_t)o.crop_size * (size_t)o.crop_size;
    afloc_status status = afloc_image_preprocess(image, &o, frame, n, geometry);
    if (status != AFLOC_OK) {
        /* Re-label the message with the public function the caller called. */
        char message[AFLOC_ERROR_CAPACITY];
        snprintf(message, sizeof message, "%s", afloc_last_error());
        const char *rest = message;
        static const char prefix[] = "afloc_image_preprocess: ";
        if (!strncmp(rest, prefix, sizeof prefix - 1)) rest += sizeof prefix - 1;
        return afloc_fail(status, "%s: image: %s", function, rest);
    }
    return AFLOC_OK;
}
