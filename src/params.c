/* params.c: the parameter table (params.h): every tensor of the model for a config, under its
 * official checkpoint name (MODEL.md §10.2, "afloc." stripped), in the checkpoint's module order,
 * with shape, kind, fan_in and offset in the single parameter buffer. Each tensor starts on a
 * 16-float (64-byte) boundary so that vector loads and device copies of one tensor are aligned.
 *
 * Module trees it follows: torchvision 0.9 ResNet with Bottleneck blocks (v1.5: stride on the 3x3
 * conv; a downsample branch in block 0 of a stage when stride != 1 or inplanes != 4·planes), the
 * AFLoc image heads (§3.3), and HF BertModel 4.2.1 (§5.1) including the pooler. */
#include "params.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define ALIGN_FLOATS 16
#define EXPANSION    4 /* torchvision Bottleneck.expansion */

/* Collects the rows; counts first (params == NULL), then fills. */
typedef struct builder {
    afloc_param *params;
    int32_t      count;
    size_t       total;    /* floats, aligned                          */
    int          overflow; /* a size passed SIZE_MAX: config too large */
} builder;

static void add(builder *b, int32_t kind, int64_t fan_in, int32_t rank, const int64_t *shape,
                const char *format, ...) __attribute__((format(printf, 6, 7)));

static void add(builder *b, int32_t kind, int64_t fan_in, int32_t rank, const int64_t *shape,
                const char *format, ...) {
    size_t count = 1;
    for (int32_t r = 0; r < rank; r++) {
        if ((uint64_t)shape[r] > SIZE_MAX / (count ? count : 1)) b->overflow = 1;
        else count *= (size_t)shape[r];
    }
    size_t offset = (b->total + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    if (offset < b->total || count > SIZE_MAX - offset - ALIGN_FLOATS) b->overflow = 1;
    if (b->params && !b->overflow) {
        afloc_param *p = &b->params[b->count];
        memset(p, 0, sizeof *p);
        va_list args;
        va_start(args, format);
        vsnprintf(p->name, sizeof p->name, format, args);
        va_end(args);
        p->kind   = kind;
        p->rank   = rank;
        memcpy(p->shape, shape, (size_t)rank * sizeof *shape);
        p->offset = offset;
        p->count  = count;
        p->fan_in = fan_in;
    }
    b->count++;
    b->total = b->overflow ? 0 : offset + count;
}

/* ---- image encoder ---- */

static void add_conv(builder *b, int64_t out, int64_t in, int64_t k, const char *name) {
    int64_t shape[4] = {out, in, k, k};
    add(b, AFLOC_PARAM_WEIGHT, in * k * k, 4, shape, "%s.weight", name);
}

/* BatchNorm2d: weight, bias, running_mean, running_var (num_batches_tracked is not kept). */
static void add_bn(builder *b, int64_t channels, const char *name) {
    int64_t shape[1] = {channels};
    add(b, AFLOC_PARAM_NORM_WEIGHT, 0, 1, shape, "%s.weight", name);
    add(b, AFLOC_PARAM_NORM_BIAS, 0, 1, shape, "%s.bias", name);
    add(b, AFLOC_PARAM_RUNNING_MEAN, 0, 1, shape, "%s.running_mean", name);
    add(b, AFLOC_PARAM_RUNNING_VAR, 0, 1, shape, "%s.running_var", name);
}

static void add_resnet(builder *b, const afloc_config *c) {
    const char *m = "img_encoder.model";
    char name[AFLOC_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.conv1", m);
    add_conv(b, c->resnet_stem, c->input_channels, 7, name);
    snprintf(name, sizeof name, "%s.bn1", m);
    add_bn(b, c->resnet_stem, name);
    int64_t inplanes = c->resnet_stem;
    for (int L = 0; L < 4; L++) {
        int64_t planes = c->resnet_planes[L];
        int64_t width  = planes * c->resnet_base_width / 64;
        int64_t out    = planes * EXPANSION;
        int     stride = L == 0 ? 1 : 2;
        for (int blk = 0; blk < c->resnet_blocks[L]; blk++) {
            int64_t in = blk == 0 ? inplanes : out;
            char prefix[AFLOC_PARAM_NAME_MAX];
            snprintf(prefix, sizeof prefix, "%s.layer%d.%d", m, L + 1, blk);
            snprintf(name, sizeof name, "%s.conv1", prefix);
            add_conv(b, width, in, 1, name);
            snprintf(name, sizeof name, "%s.bn1", prefix);
            add_bn(b, width, name);
            snprintf(name, sizeof name, "%s.conv2", prefix);
            add_conv(b, width, width, 3, name);
            snprintf(name, sizeof name, "%s.bn2", prefix);
            add_bn(b, width, name);
            snprintf(name, sizeof name, "%s.conv3", prefix);
            add_conv(b, out, width, 1, name);
            snprintf(name, sizeof name, "%s.bn3", prefix);
            add_bn(b, out, name);
            if (blk == 0 && (stride != 1 || in != out)) {
                snprintf(name, sizeof name, "%s.downsample.0", prefix);
                add_conv(b, out, in, 1, name);
                snprintf(name, sizeof name, "%s.downsample.1", prefix);
                add_bn(b, out, name);
            }
        }
        inplanes = out;
    }
}

/* global (Linear on pooled layer4), local (1x1 on layer3), local2 (1x1 on layer2), optional
 * local_f (1x1 on layer4); MODEL.md §3.3. */
static void add_heads(builder *b, const afloc_config *c) {
    int64_t d = c->embedding_dim;
    int64_t c2 = (int64_t)c->resnet_planes[1] * EXPANSION;
    int64_t c3 = (int64_t)c->resnet_planes[2] * EXPANSION;
    int64_t c4 = (int64_t)c->resnet_planes[3] * EXPANSION;
    int64_t g[2] = {d, c4}, gb[1] = {d};
    add(b, AFLOC_PARAM_WEIGHT, c4, 2, g, "img_encoder.global_embedder.weight");
    add(b, AFLOC_PARAM_BIAS, c4, 1, gb, "img_encoder.global_embedder.bias");
    add_conv(b, d, c3, 1, "img_encoder.local_embedder");
    add_conv(b, d, c2, 1, "img_encoder.local2_embedder");
    if (c->use_local_f_embedder) add_conv(b, d, c4, 1, "img_encoder.local_f_embedder");
    if (c->local_position) { /* libafloc's, not in the paper: src/cpu/position.c */
        int64_t p[2] = {d, 2};
        add(b, AFLOC_PARAM_WEIGHT, 2, 2, p, "%s", AFLOC_LOCAL_POSITION_TENSOR);
    }
}

/* ---- text encoder ---- */

static void add_linear(builder *b, int64_t out, int64_t in, const char *name) {
    int64_t w[2] = {out, in}, bias[1] = {out};
    add(b, AFLOC_PARAM_WEIGHT, in, 2, w, "%s.weight", name);
    add(b, AFLOC_PARAM_BIAS, in, 1, bias, "%s.bias", name);
}

static void add_layernorm(builder *b, int64_t channels, const char *name) {
    int64_t shape[1] = {channels};
    add(b, AFLOC_PARAM_NORM_WEIGHT, 0, 1, shape, "%s.weight", name);
    add(b, AFLOC_PARAM_NORM_BIAS, 0, 1, shape, "%s.bias", name);
}

static void add_bert(builder *b, const afloc_config *c) {
    const char *m = "text_encoder.model";
    int64_t h = c->bert_hidden;
    int64_t word[2] = {c->vocab_size, h}, pos[2] = {c->max_positions, h}, type[2] = {c->type_vocab_size, h};
    add(b, AFLOC_PARAM_WEIGHT, 0, 2, word, "%s.embeddings.word_embeddings.weight", m);
    add(b, AFLOC_PARAM_WEIGHT, 0, 2, pos, "%s.embeddings.position_embeddings.weight", m);
    add(b, AFLOC_PARAM_WEIGHT, 0, 2, type, "%s.embeddings.token_type_embeddings.weight", m);
    char name[AFLOC_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.embeddings.LayerNorm", m);
    add_layernorm(b, h, name);
    static const char *const qkv[3] = {"query", "key", "value"};
    for (int i = 0; i < c->bert_layers; i++) {
        char layer[AFLOC_PARAM_NAME_MAX];
        snprintf(layer, sizeof layer, "%s.encoder.layer.%d", m, i);
        for (int j = 0; j < 3; j++) {
            snprintf(name, sizeof name, "%s.attention.self.%s", layer, qkv[j]);
            add_linear(b, h, h, name);
        }
        snprintf(name, sizeof name, "%s.attention.output.dense", layer);
        add_linear(b, h, h, name);
        snprintf(name, sizeof name, "%s.attention.output.LayerNorm", layer);
        add_layernorm(b, h, name);
        snprintf(name, sizeof name, "%s.intermediate.dense", layer);
        add_linear(b, c->bert_intermediate, h, name);
        snprintf(name, sizeof name, "%s.output.dense", layer);
        add_linear(b, h, c->bert_intermediate, name);
        snprintf(name, sizeof name, "%s.output.LayerNorm", layer);
        add_layernorm(b, h, name);
    }
    snprintf(name, sizeof name, "%s.pooler.dense", m);
    add_linear(b, h, h, name);
}

static void build_all(builder *b, const afloc_config *config) {
    add_resnet(b, config);
    add_heads(b, config);
    add_bert(b, config);
}

afloc_status afloc_params_build(afloc_param_table *table, const afloc_config *config) {
    static const char fn[] = "afloc_params_build";
    if (!table || !config) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL table or config", fn);
    builder sizing = {0};
    build_all(&sizing, config);
    if (sizing.overflow)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: the config's parameter count overflows", fn);
    builder b = {0};
    b.params = afloc_calloc((size_t)sizing.count, sizeof *b.params);
    if (!b.params)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d table rows", fn, sizing.count);
    build_all(&b, config);
    table->params       = b.params;
    table->count        = b.count;
    table->total_floats = (b.total + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    return AFLOC_OK;
}

void afloc_params_free(afloc_param_table *table) {
    if (!table) return;
    afloc_free(table->params);
    table->params = NULL;
    table->count = 0;
    table->total_floats = 0;
}

int32_t afloc_params_find(const afloc_param_table *table, const char *name) {
    if (!table || !name) return -1;
    for (int32_t i = 0; i < table->count; i++)
        if (strcmp(table->params[i].name, name) == 0) return i;
    return -1;
}
