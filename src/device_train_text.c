/* device_train_text.c: BERT's training forward and backward on the device
 * (device_train_parts.h), op for op the walk of train_text.c (read that file for the model and
 * the dropout-site rule): caption by caption on its L real tokens, the same arena layout with
 * T-token slots, dropout masks from the device's dropout_mask with the same (seed, offset), so
 * both backends draw the same masks, and the packed QKV weight rebuilt at every forward with
 * device copies; its gradient is scattered back with add_forward.
 *
 * The word groups, sentence units and report embedding of MODEL.md §5.3–§5.6: the host builds
 * each caption's units from its ids (train_text.c's check_caption, the index bookkeeping) and
 * uploads them packed (afloc_text_units_pack: (3 + 4T) ints a caption) with cap_len; the float
 * work, forward and backward, is the device op text_aggregate_*, so no activation or gradient
 * crosses to the host. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "device_train_parts.h"
#include "error.h"
#include "model_layout.h"
#include "text_units.h"
#include "train_text.h"

typedef afloc_bert_layer_params layer_params;

typedef afloc_bert_layer_acts layer_acts;

typedef struct caption_acts {
    size_t E, em, er, dm_e;
    size_t *X;         /* N + 1 */
    layer_acts *layer; /* N     */
} caption_acts;

struct afloc_dtrain_text {
    const afloc_model      *model;
    const afloc_device_ops *ops;
    afloc_device           *dev;
    int32_t B, T, C, NH, I, N, last_n;
    float   eps, dropout;
    afloc_bert_embedding_params emb;
    layer_params *lp;
    caption_acts *cap;
    size_t       *x_offsets;
    layer_acts   *acts;
    afloc_text_units *units; /* (B), host */
    int32_t *lengths;        /* (B), host copy of the forward's lengths        */
    int32_t *caps;           /* (2B), host: cap_len words then sentences        */
    /* device arena offsets (floats) */
    size_t wqkv, hsum, emb_w, emb_s, emb_r, dh, dslot;
    size_t dwqkv, dX, dXprev, d1, d2, dA, dctx, dqkv, df, dfpre;
    size_t arena_floats;
    float   *arena;   /* device */
    int32_t *ids;       /* device (B, T) */
    int32_t *cap_dev;   /* device (2B)   */
    int32_t *units_dev; /* device (B, AFLOC_TEXT_UNITS_INTS(T)) */
    int32_t *packed;    /* host, the same                        */
};

/* ---- planning ---- */

static size_t take(size_t *used, size_t floats) {
    size_t at = *used;
    *used += (floats + 63) / 64 * 64;
    return at;
}

static size_t plan_arena(afloc_dtrain_text *p) {
    size_t used = 0;
    const size_t T = (size_t)p->T, C = (size_t)p->C, I = (size_t)p->I, NH = (size_t)p->NH;
    const size_t B = (size_t)p->B, TC = T * C;
    const int drop = p->dropout > 0.0f;
    p->wqkv = take(&used, (size_t)p->N * (3 * C * C + 3 * C));
    for (size_t b = 0; b < B; b++) {
        caption_acts *c = &p->cap[b];
        c->X = p->x_offsets + b * (size_t)(p->N + 1);
        c->layer = p->acts + b * (size_t)p->N;
        c->E = take(&used, TC);
        c->em = take(&used, T);
        c->er = take(&used, T);
        c->dm_e = drop ? take(&used, TC) : 0;
        for (int32_t h = 0; h <= p->N; h++) c->X[h] = take(&used, TC);
        for (int32_t l = 0; l < p->N; l++)
            afloc_layout_bert_layer_acts(&c->layer[l], &used, 64, T, C, I, NH, drop);
    }
    p->hsum = take(&used, B * TC);
    p->emb_w = take(&used, B * TC);
    p->emb_s = take(&used, B * TC);
    p->emb_r = take(&used, B * C);
    p->dh = take(&used, B * TC);
    p->dslot = take(&used, B * TC);
    p->dwqkv = take(&used, 3 * C * C + 3 * C);
    p->dX = take(&used, TC);
    p->dXprev = take(&used, TC);
    p->d1 = take(&used, TC);
    p->d2 = take(&used, TC);
    p->dA = take(&used, TC);
    p->dctx = take(&used, TC);
    p->dqkv = take(&used, 3 * TC);
    p->df = take(&used, T * I);
    p->dfpre = take(&used, T * I);
    return used;
}

void afloc_dtrain_text_free(afloc_dtrain_text *p) {
    if (!p) return;
    if (p->arena) p->ops->release(p->dev, p->arena);
    if (p->ids) p->ops->release(p->dev, p->ids);
    if (p->cap_dev) p->ops->release(p->dev, p->cap_dev);
    if (p->units_dev) p->ops->release(p->dev, p->units_dev);
    afloc_free(p->lp);
    afloc_free(p->cap);
    afloc_free(p->x_offsets);
    afloc_free(p->acts);
    afloc_free(p->units);
    afloc_free(p->lengths);
    afloc_free(p->caps);
    afloc_free(p->packed);
    afloc_free(p);
}

static afloc_status allocate(afloc_dtrain_text *p, const char *fn) {
    const size_t B = (size_t)p->B, N = (size_t)p->N, U = (size_t)AFLOC_TEXT_UNITS_INTS(p->T);
    p->lp = afloc_calloc(N, sizeof *p->lp);
    p->cap = afloc_calloc(B, sizeof *p->cap);
    p->x_offsets = afloc_calloc(B * (N + 1), sizeof *p->x_offsets);
    p->acts = afloc_calloc(B * N, sizeof *p->acts);
    p->units = afloc_calloc(B, sizeof *p->units);
    p->lengths = afloc_calloc(B, sizeof *p->lengths);
    p->caps = afloc_calloc(2 * B, sizeof *p->caps);
    p->packed = afloc_calloc(B * U, sizeof *p->packed);
    if (!p->lp || !p->cap || !p->x_offsets || !p->acts || !p->units || !p->lengths || !p->caps ||
        !p->packed)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: host buffers of the text plan (batch %d)",
                          fn, (int)p->B);
    AFLOC_TRY(afloc_layout_bert(&p->emb, p->lp, p->model, fn));
    p->arena_floats = plan_arena(p);
    const afloc_device_ops *ops = p->ops;
    afloc_status st = ops->alloc(p->dev, (void **)&p->arena, p->arena_floats * sizeof(float));
    if (st == AFLOC_OK) st = ops->alloc(p->dev, (void **)&p->ids, B * (size_t)p->T * sizeof(int32_t));
    if (st == AFLOC_OK) st = ops->alloc(p->dev, (void **)&p->cap_dev, 2 * B * sizeof(int32_t));
    if (st == AFLOC_OK) st = ops->alloc(p->dev, (void **)&p->units_dev, B * U * sizeof(int32_t));
    if (st != AFLOC_OK)
        return afloc_fail(st, "%s: cannot allocate the %zu-byte text activation arena on the "
                          "device (batch %d): %s", fn, p->arena_floats * sizeof(float), (int)p->B,
                          ops->message(p->dev));
    ops->zero(p->dev, p->arena, p->arena_floats * sizeof(float));
    ops->zero(p->dev, p->ids, B * (size_t)p->T * sizeof(int32_t));
    ops->zero(p->dev, p->cap_dev, 2 * B * sizeof(int32_t));
    ops->zero(p->dev, p->units_dev, B * U * sizeof(int32_t));
    return AFLOC_OK;
}

afloc_status afloc_dtrain_text_create(afloc_dtrain_text **out, const afloc_model *model,
                                      const afloc_device_ops *ops, afloc_device *dev, int32_t B,
                                      float dropout, size_t *scratch_bytes, const char *function) {
    const afloc_config *cfg = &model->config;
    if (!model->tokenizer || B < 1 || B > 65536 || !(dropout >= 0.0f && dropout < 1.0f))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: no tokenizer, batch %d or dropout %g "
                          "out of range", function, (int)B, (double)dropout);
    if (cfg->bert_heads < 1 || cfg->bert_hidden % cfg->bert_heads != 0 || cfg->bert_layers < 1 ||
        cfg->last_n_layers < 1 || cfg->last_n_layers > cfg->bert_layers + 1 ||
        cfg->token_length > cfg->max_positions || cfg->token_length > AFLOC_MAX_SEQUENCE_LENGTH)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: BERT config not usable", function);
    afloc_dtrain_text *p = afloc_calloc(1, sizeof *p);
    if (!p) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: text plan", function);
    p->model = model, p->ops = ops, p->dev = dev, p->B = B;
    p->T = cfg->token_length, p->C = cfg->bert_hidden, p->NH = cfg->bert_heads;
    p->I = cfg->bert_intermediate, p->N = cfg->bert_layers, p->last_n = cfg->last_n_layers;
    p->eps = cfg->layernorm_eps, p->dropout = dropout;
    afloc_status st = allocate(p, function);
    if (st != AFLOC_OK) {
        afloc_dtrain_text_free(p);
        return st;
    }
    size_t fs = ops->attention_scratch_bytes(dev, 1, p->T, p->NH);
    size_t bs = ops->attention_backward_scratch_bytes(dev, 1, p->T, p->NH);
    if (fs > *scratch_bytes) *scratch_bytes = fs;
    if (bs > *scratch_bytes) *scratch_bytes = bs;
    *out = p;
    return AFLOC_OK;
}

void afloc_dtrain_text_sizes(const afloc_dtrain_text *p, int32_t *D, int32_t *T) {
    *D = p->C;
    *T = p->T;
}

void afloc_dtrain_text_outputs(const afloc_dtrain_text *p, const float **emb_w,
                               const float **emb_s, const float **emb_r, const int32_t **cap_w,
                               const int32_t **cap_s) {
    *emb_w = p->arena + p->emb_w;
    *emb_s = p->arena + p->emb_s;
    *emb_r = p->arena + p->emb_r;
    *cap_w = p->cap_dev;
    *cap_s = p->cap_dev + p->B;
}

/* ---- forward ---- */

/* Copies query / key / value of every layer into its packed (3C, C) weight + (3C) bias block. */
static void pack_qkv(afloc_dtrain_text *p, const float *params) {
    const size_t C = (size_t)p->C, CC = C * C;
    for (int32_t l = 0; l < p->N; l++) {
        const layer_params *q = &p->lp[l];
        float *w = p->arena + p->wqkv + (size_t)l * (3 * CC + 3 * C), *b = w + 3 * CC;
        const size_t ws[3] = {q->q_w, q->k_w, q->v_w}, bs[3] = {q->q_b, q->k_b, q->v_b};
        for (int j = 0; j < 3; j++) {
            p->ops->copy(p->dev, w + (size_t)j * CC, params + ws[j], CC * sizeof(float));
            p->ops->copy(p->dev, b + (size_t)j * C, params + bs[j], C * sizeof(float));
        }
    }
}

/* train_text.c's site_offset: the dropout stream position of site `site` of caption b. */
static uint64_t site_offset(const afloc_dtrain_text *p, int32_t b, int32_t site) {
    const uint64_t T = (uint64_t)p->T, C = (uint64_t)p->C, NH = (uint64_t)p->NH;
    const uint64_t stride = NH * T * T > T * C ? NH * T * T : T * C;
    return ((uint64_t)b * (uint64_t)(1 + 3 * p->N) + (uint64_t)site) * stride;
}

static void dropout_site(afloc_dtrain_text *p, int32_t b, int32_t site, float *x, size_t mask_at,
                         size_t n, uint64_t seed) {
    if (p->dropout <= 0.0f) return;
    float *mask = p->arena + mask_at;
    p->ops->dropout_mask(p->dev, mask, n, p->dropout, seed, site_offset(p, b, site));
    p->ops->dropout_forward(p->dev, x, x, mask, n);
}

static void layer_forward(afloc_dtrain_text *p, int32_t b, int32_t l, const float *params,
                          int32_t L, uint64_t seed, void *scratch) {
    const afloc_device_ops *ops = p->ops;
    afloc_device *dev = p->dev;
    float *R = p->arena;
    const caption_acts *c = &p->cap[b];
    const layer_acts *a = &c->layer[l];
    const layer_params *q = &p->lp[l];
    const int32_t C = p->C, I = p->I;
    const size_t n = (size_t)L * (size_t)C;
    const float *X = R + c->X[l];
    const float *w = R + p->wqkv + (size_t)l * (3 * (size_t)C * C + 3 * (size_t)C);
    ops->linear_forward(dev, R + a->qkv, X, w, w + 3 * (size_t)C * C, 0, L, C, 3 * C);
    float *dm_p = NULL;
    if (p->dropout > 0.0f) {
        dm_p = R + a->dm_p;
        ops->dropout_mask(dev, dm_p, (size_t)p->NH * L * L, p->dropout, seed,
                          site_offset(p, b, 1 + 3 * l));
    }
    ops->attention_forward_train(dev, R + a->ctx, R + a->probs, R + a->qkv, NULL, dm_p, 1, L, C,
                                 p->NH, scratch);
    ops->linear_forward(dev, R + a->a, R + a->ctx, params + q->ao_w, params + q->ao_b, 0, L, C, C);
    dropout_site(p, b, 1 + 3 * l + 1, R + a->a, a->dm_a, n, seed);
    ops->add_forward(dev, R + a->a, R + a->a, X, n);
    ops->layernorm_forward_train(dev, R + a->A, R + a->m1, R + a->r1, R + a->a, params + q->ln1_w,
                                 params + q->ln1_b, L, C, p->eps);
    ops->linear_forward(dev, R + a->fpre, R + a->A, params + q->in_w, params + q->in_b, 0, L, C, I);
    ops->gelu_forward(dev, R + a->f, R + a->fpre, (size_t)L * (size_t)I);
    ops->linear_forward(dev, R + a->o, R + a->f, params + q->out_w, params + q->out_b, 0, L, I, C);
    dropout_site(p, b, 1 + 3 * l + 2, R + a->o, a->dm_o, n, seed);
    ops->add_forward(dev, R + a->o, R + a->o, R + a->A, n);
    ops->layernorm_forward_train(dev, R + c->X[l + 1], R + a->m2, R + a->r2, R + a->o,
                                 params + q->ln2_w, params + q->ln2_b, L, C, p->eps);
}

/* The device status of a round trip, as a failure naming `fn`. */
static afloc_status device_fail(const afloc_dtrain_text *p, afloc_status st, const char *fn) {
    return afloc_fail(st, "%s: CUDA device: %s", fn, p->ops->message(p->dev));
}

/* §5.3–§5.6: the units and cap_len up (a few KB), then the aggregation op on the device. */
static afloc_status aggregate(afloc_dtrain_text *p, const char *fn) {
    const afloc_device_ops *ops = p->ops;
    const size_t B = (size_t)p->B, U = (size_t)AFLOC_TEXT_UNITS_INTS(p->T);
    float *R = p->arena;
    for (size_t b = 0; b < B; b++) {
        afloc_text_units_pack(&p->units[b], p->T, p->packed + b * U);
        p->caps[b] = p->units[b].cap_len_words;
        p->caps[B + b] = p->units[b].cap_len_sentences;
    }
    afloc_status st = ops->upload(p->dev, p->units_dev, p->packed, B * U * sizeof(int32_t));
    if (st == AFLOC_OK) st = ops->upload(p->dev, p->cap_dev, p->caps, 2 * B * sizeof(int32_t));
    if (st != AFLOC_OK) return device_fail(p, st, fn);
    ops->text_aggregate_forward(p->dev, R + p->emb_w, R + p->emb_s, R + p->emb_r, R + p->hsum,
                                p->units_dev, p->B, p->C, p->T);
    return AFLOC_OK;
}

afloc_status afloc_dtrain_text_forward(afloc_dtrain_text *p, const float *params,
                                       const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                       void *scratch, const char *function) {
    const afloc_device_ops *ops = p->ops;
    afloc_device *dev = p->dev;
    const size_t B = (size_t)p->B, T = (size_t)p->T, TC = T * (size_t)p->C;
    for (int32_t b = 0; b < p->B; b++)
        AFLOC_TRY(afloc_train_text_check_caption(p->model, ids + (size_t)b * T, p->T, lengths[b],
                                                 b, &p->units[b], function));
    memcpy(p->lengths, lengths, B * sizeof(int32_t));
    afloc_status st = ops->upload(dev, p->ids, ids, B * T * sizeof(int32_t));
    if (st != AFLOC_OK) return device_fail(p, st, function);
    pack_qkv(p, params);
    float *R = p->arena;
    const int32_t C = p->C, first_used = p->N + 1 - p->last_n;
    ops->zero(dev, R + p->hsum, B * TC * sizeof(float));
    for (int32_t b = 0; b < p->B; b++) {
        const caption_acts *c = &p->cap[b];
        const int32_t L = lengths[b];
        const size_t n = (size_t)L * (size_t)C;
        float *hsum = R + p->hsum + (size_t)b * TC;
        ops->embedding_forward(dev, R + c->E, p->ids + (size_t)b * T, NULL, params + p->emb.word,
                               params + p->emb.position, params + p->emb.type, L, C);
        ops->layernorm_forward_train(dev, R + c->X[0], R + c->em, R + c->er, R + c->E,
                                     params + p->emb.eln_w, params + p->emb.eln_b, L, C, p->eps);
        dropout_site(p, b, 0, R + c->X[0], c->dm_e, n, seed);
        for (int32_t h = 0; h <= p->N; h++) {
            if (h > 0) layer_forward(p, b, h - 1, params, L, seed, scratch);
            if (h >= first_used) ops->add_forward(dev, hsum, hsum, R + c->X[h], n);
        }
    }
    return aggregate(p, function);
}

/* ---- backward ---- */

static void zero(const afloc_dtrain_text *p, float *x, size_t n) {
    p->ops->zero(p->dev, x, n * sizeof(float));
}

static void layer_backward(afloc_dtrain_text *p, int32_t b, int32_t l, float *grads,
                           const float *params, int32_t L, const float *dout, float *dXin,
                           void *scratch) {
    const afloc_device_ops *ops = p->ops;
    afloc_device *dev = p->dev;
    float *R = p->arena;
    const caption_acts *c = &p->cap[b];
    const layer_acts *a = &c->layer[l];
    const layer_params *q = &p->lp[l];
    const int32_t C = p->C, I = p->I;
    const size_t n = (size_t)L * (size_t)C, nI = (size_t)L * (size_t)I;
    const int drop = p->dropout > 0.0f;
    float *d1 = R + p->d1, *d2 = R + p->d2, *dA = R + p->dA, *dctx = R + p->dctx;
    float *dqkv = R + p->dqkv, *df = R + p->df, *dfpre = R + p->dfpre;
    zero(p, d1, n);
    ops->layernorm_backward(dev, d1, grads + q->ln2_w, grads + q->ln2_b, dout, R + a->o,
                            params + q->ln2_w, R + a->m2, R + a->r2, L, C);
    ops->copy(dev, dA, d1, n * sizeof(float));
    const float *dlin = d1;
    if (drop) {
        zero(p, d2, n);
        ops->dropout_backward(dev, d2, d1, R + a->dm_o, n);
        dlin = d2;
    }
    zero(p, df, nI);
    ops->linear_backward(dev, df, grads + q->out_w, grads + q->out_b, dlin, R + a->f,
                         params + q->out_w, L, I, C);
    zero(p, dfpre, nI);
    ops->gelu_backward(dev, dfpre, df, R + a->fpre, nI);
    ops->linear_backward(dev, dA, grads + q->in_w, grads + q->in_b, dfpre, R + a->A,
                         params + q->in_w, L, C, I);
    zero(p, d1, n);
    ops->layernorm_backward(dev, d1, grads + q->ln1_w, grads + q->ln1_b, dA, R + a->a,
                            params + q->ln1_w, R + a->m1, R + a->r1, L, C);
    ops->add_forward(dev, dXin, dXin, d1, n);
    dlin = d1;
    if (drop) {
        zero(p, d2, n);
        ops->dropout_backward(dev, d2, d1, R + a->dm_a, n);
        dlin = d2;
    }
    zero(p, dctx, n);
    ops->linear_backward(dev, dctx, grads + q->ao_w, grads + q->ao_b, dlin, R + a->ctx,
                         params + q->ao_w, L, C, C);
    zero(p, dqkv, 3 * n);
    ops->attention_backward(dev, dqkv, dctx, R + a->qkv, R + a->probs, drop ? R + a->dm_p : NULL,
                            1, L, C, p->NH, scratch);
    const size_t CC = (size_t)C * (size_t)C;
    const float *w = R + p->wqkv + (size_t)l * (3 * CC + 3 * (size_t)C);
    float *dw = R + p->dwqkv, *db = dw + 3 * CC;
    zero(p, dw, 3 * CC + 3 * (size_t)C);
    ops->linear_backward(dev, dXin, dw, db, dqkv, R + c->X[l], w, L, C, 3 * C);
    const size_t ws[3] = {q->q_w, q->k_w, q->v_w}, bs[3] = {q->q_b, q->k_b, q->v_b};
    for (int j = 0; j < 3; j++) {
        ops->add_forward(dev, grads + ws[j], grads + ws[j], dw + (size_t)j * CC, CC);
        ops->add_forward(dev, grads + bs[j], grads + bs[j], db + (size_t)j * C, (size_t)C);
    }
}

afloc_status afloc_dtrain_text_backward(afloc_dtrain_text *p, float *grads, const float *params,
                                        const float *d_w, const float *d_s, const float *d_r,
                                        void *scratch, const char *function) {
    (void)function; /* device failures surface at the step's next sync */
    const afloc_device_ops *ops = p->ops;
    afloc_device *dev = p->dev;
    float *R = p->arena, *dX = R + p->dX, *dXprev = R + p->dXprev;
    /* §5.3–§5.6 backward on the device: the hsum gradient dh, rows 0..L-1 of each caption */
    ops->text_aggregate_backward(dev, R + p->dh, d_w, d_s, d_r, p->units_dev, p->B, p->C, p->T,
                                 R + p->dslot);
    const int32_t C = p->C, first_used = p->N + 1 - p->last_n;
    const size_t TC = (size_t)p->T * (size_t)C;
    for (int32_t b = 0; b < p->B; b++) {
        const caption_acts *c = &p->cap[b];
        const int32_t L = p->lengths[b];
        const size_t n = (size_t)L * (size_t)C;
        const float *dh = R + p->dh + (size_t)b * TC; /* stays intact through the layers */
        ops->copy(dev, dX, dh, n * sizeof(float));    /* h = N is always used (last_n >= 1) */
        float *cur = dX, *prev = dXprev;
        for (int32_t h = p->N; h > 0; h--) {
            zero(p, prev, n);
            layer_backward(p, b, h - 1, grads, params, L, cur, prev, scratch);
            if (h - 1 >= first_used) ops->add_forward(dev, prev, prev, dh, n);
            float *t = cur;
            cur = prev;
            prev = t;
        }
        const float *dln = cur;
        if (p->dropout > 0.0f) {
            zero(p, prev, n);
            ops->dropout_backward(dev, prev, cur, R + c->dm_e, n);
            dln = prev;
        }
        float *dE = R + p->d1;
        zero(p, dE, n);
        ops->layernorm_backward(dev, dE, grads + p->emb.eln_w, grads + p->emb.eln_b, dln,
                                R + c->E, params + p->emb.eln_w, R + c->em, R + c->er, L, C);
        ops->embedding_backward(dev, grads + p->emb.word, grads + p->emb.position,
                                grads + p->emb.type, dE, p->ids + (size_t)b * (size_t)p->T, NULL,
                                L, C);
    }
    return AFLOC_OK;
}
