/* train_text.c: training forward and backward of the AFLoc text encoder (train_text.h), HF
 * BertModel in train() mode as MODEL.md §5 uses it, caption by caption on the real tokens:
 *
 *   X0 = drop(LN(word[id] + position[t] + token_type[0]))                         §5.1
 *   per layer: qkv = X·Wqkvᵀ + b (query, key, value packed) → attention (dropout on the
 *              probabilities) → a = drop(dense(ctx)) + X → A = LN(a)
 *              f = GELU(A·W1ᵀ + b1) → o = drop(f·W2ᵀ + b2) + A → X' = LN(o)
 *   hsum = Σ of the last n hidden states                                           §5.2, §5.4
 *   text_emb_w: word groups, Σ of member pieces; text_emb_r: (1/T)·Σ word slots;   §5.3–5.5
 *   text_emb_s: [CLS], sentence means between "." delimiters, [SEP]                §5.6
 *
 * Plain fp32 CPU ops (afloc_cpu_*). Every activation the backward reads lives in one arena laid
 * out at plan time with T-token slots per caption; a caption of L tokens uses the first L rows
 * (attention tensors: NH·L·L of the NH·T·T slot). The packed QKV weight of each layer is built
 * from params at every forward; its gradient goes through one packed temporary and is scattered
 * back to query / key / value after each (caption, layer). */
#include "train_text.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cpu/cpu_ops.h"
#include "error.h"
#include "model_layout.h"
#include "text_units.h"

typedef afloc_bert_layer_params layer_params;

/* Arena offsets of one layer's saved activations for one caption. */
typedef afloc_bert_layer_acts layer_acts;

/* One caption's activations: X[h] (h = 0..N) the hidden states, the embedding LayerNorm's input
 * and statistics, the layers, the layer sum. */
typedef struct caption_acts {
    size_t E, em, er, dm_e, hsum;
    size_t *X;         /* N + 1 offsets, into the plan's shared offset array */
    layer_acts *layer; /* N entries */
} caption_acts;

struct afloc_train_text_plan {
    const afloc_model *model;
    int32_t B, T, C, NH, I, N, last_n, V;
    float eps, dropout;
    afloc_bert_embedding_params emb; /* param offsets */
    layer_params *lp;
    caption_acts *cap;
    size_t *x_offsets;     /* B·(N + 1) */
    layer_acts *acts;      /* B·N       */
    afloc_text_units *units; /* B       */
    int32_t *cap_words, *cap_sentences, *lengths, *ids;
    /* arena offsets */
    size_t wqkv;           /* N·(3C·C + 3C): packed weight then bias per layer */
    size_t emb_w, emb_s, emb_r;
    size_t dwqkv, dX, dXprev, d1, d2, dA, dctx, dqkv, df, dfpre, dslot, scratch;
    size_t arena_floats;
    float *arena;
    int forward_done;
};

/* ---- planning ---- */

static size_t take(size_t *used, size_t floats) {
    size_t at = *used;
    *used += (floats + 15) / 16 * 16; /* 64-byte aligned, as the param buffer */
    return at;
}

/* Lays out the arena; returns its size in floats. */
static size_t plan_arena(afloc_train_text_plan *p) {
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
        c->hsum = take(&used, TC);
        for (int32_t h = 0; h <= p->N; h++) c->X[h] = take(&used, TC);
        for (int32_t l = 0; l < p->N; l++)
            afloc_layout_bert_layer_acts(&c->layer[l], &used, 16, T, C, I, NH, drop);
    }
    p->emb_w = take(&used, B * TC);
    p->emb_s = take(&used, B * TC);
    p->emb_r = take(&used, B * C);
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
    p->dslot = take(&used, TC);
    size_t fs = afloc_cpu_attention_scratch_floats(1, p->T, p->NH);
    size_t bs = afloc_cpu_attention_backward_scratch_floats(1, p->T, p->NH);
    p->scratch = take(&used, fs > bs ? fs : bs);
    return used;
}

afloc_status afloc_train_text_plan_create(afloc_train_text_plan **out, const afloc_model *model,
                                          int32_t B, float dropout) {
    static const char fn[] = "afloc_train_text_plan_create";
    if (!out || !model || !model->tokenizer)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL out, model or tokenizer", fn);
    if (B < 1 || B > 65536)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch size %d outside 1..65536", fn, B);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: dropout %g outside [0, 1)", fn,
                          (double)dropout);
    const afloc_config *cfg = &model->config;
    if (cfg->bert_heads < 1 || cfg->bert_hidden % cfg->bert_heads != 0 || cfg->bert_layers < 1 ||
        cfg->last_n_layers < 1 || cfg->last_n_layers > cfg->bert_layers + 1 ||
        cfg->token_length > cfg->max_positions || cfg->token_length > AFLOC_MAX_SEQUENCE_LENGTH)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: BERT config not usable (hidden %d, "
                          "heads %d, layers %d, last_n_layers %d, token_length %d)", fn,
                          (int)cfg->bert_hidden, (int)cfg->bert_heads, (int)cfg->bert_layers,
                          (int)cfg->last_n_layers, (int)cfg->token_length);
    afloc_train_text_plan *p = afloc_calloc(1, sizeof *p);
    if (!p) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the plan", fn);
    p->model = model;
    p->B = B, p->T = cfg->token_length, p->C = cfg->bert_hidden, p->NH = cfg->bert_heads;
    p->I = cfg->bert_intermediate, p->N = cfg->bert_layers, p->last_n = cfg->last_n_layers;
    p->V = cfg->vocab_size, p->eps = cfg->layernorm_eps, p->dropout = dropout;
    const size_t Bz = (size_t)B, N = (size_t)p->N;
    p->lp = afloc_calloc(N, sizeof *p->lp);
    p->cap = afloc_calloc(Bz, sizeof *p->cap);
    p->x_offsets = afloc_calloc(Bz * (N + 1), sizeof *p->x_offsets);
    p->acts = afloc_calloc(Bz * N, sizeof *p->acts);
    p->units = afloc_calloc(Bz, sizeof *p->units);
    p->cap_words = afloc_calloc(Bz, sizeof(int32_t));
    p->cap_sentences = afloc_calloc(Bz, sizeof(int32_t));
    p->lengths = afloc_calloc(Bz, sizeof(int32_t));
    p->ids = afloc_calloc(Bz * (size_t)p->T, sizeof(int32_t));
    if (!p->lp || !p->cap || !p->x_offsets || !p->acts || !p->units || !p->cap_words ||
        !p->cap_sentences || !p->lengths || !p->ids) {
        afloc_train_text_plan_free(p);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the tables for batch %d",
                          fn, B);
    }
    afloc_status status = afloc_layout_bert(&p->emb, p->lp, model, fn);
    if (status != AFLOC_OK) {
        afloc_train_text_plan_free(p);
        return status;
    }
    p->arena_floats = plan_arena(p);
    p->arena = afloc_calloc(p->arena_floats, sizeof(float));
    if (!p->arena) {
        const size_t floats = p->arena_floats;
        afloc_train_text_plan_free(p);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the %zu-float arena", fn,
                          floats);
    }
    *out = p;
    return AFLOC_OK;
}

void afloc_train_text_plan_free(afloc_train_text_plan *plan) {
    if (!plan) return;
    afloc_free(plan->arena);
    afloc_free(plan->ids);
    afloc_free(plan->lengths);
    afloc_free(plan->cap_sentences);
    afloc_free(plan->cap_words);
    afloc_free(plan->units);
    afloc_free(plan->acts);
    afloc_free(plan->x_offsets);
    afloc_free(plan->cap);
    afloc_free(plan->lp);
    afloc_free(plan);
}

void afloc_train_text_sizes(const afloc_train_text_plan *plan, int32_t *B, int32_t *D,
                            int32_t *T) {
    if (B) *B = plan->B;
    if (D) *D = plan->C;
    if (T) *T = plan->T;
}

void afloc_train_text_outputs(const afloc_train_text_plan *plan, const float **text_emb_w,
                              const float **text_emb_s, const float **text_emb_r,
                              const int32_t **cap_len_words, const int32_t **cap_len_sentences) {
    if (text_emb_w) *text_emb_w = plan->arena + plan->emb_w;
    if (text_emb_s) *text_emb_s = plan->arena + plan->emb_s;
    if (text_emb_r) *text_emb_r = plan->arena + plan->emb_r;
    if (cap_len_words) *cap_len_words = plan->cap_words;
    if (cap_len_sentences) *cap_len_sentences = plan->cap_sentences;
}

/* ---- forward ---- */

/* Packs query / key / value of every layer into (3C, C) weight + (3C) bias blocks. */
static void pack_qkv(afloc_train_text_plan *p, const float *params) {
    const size_t C = (size_t)p->C, CC = C * C;
    for (int32_t l = 0; l < p->N; l++) {
        const layer_params *q = &p->lp[l];
        float *w = p->arena + p->wqkv + (size_t)l * (3 * CC + 3 * C), *b = w + 3 * CC;
        const size_t ws[3] = {q->q_w, q->k_w, q->v_w}, bs[3] = {q->q_b, q->k_b, q->v_b};
        for (int j = 0; j < 3; j++) {
            memcpy(w + (size_t)j * CC, params + ws[j], CC * sizeof(float));
            memcpy(b + (size_t)j * C, params + bs[j], C * sizeof(float));
        }
    }
}

static uint64_t site_offset(const afloc_train_text_plan *p, int32_t b, int32_t site) {
    const uint64_t T = (uint64_t)p->T, C = (uint64_t)p->C, NH = (uint64_t)p->NH;
    const uint64_t stride = NH * T * T > T * C ? NH * T * T : T * C;
    return ((uint64_t)b * (uint64_t)(1 + 3 * p->N) + (uint64_t)site) * stride;
}

/* Applies dropout site `site` of caption b to x (n floats) in place, saving the mask. */
static void dropout_site(afloc_train_text_plan *p, int32_t b, int32_t site, float *x,
                         size_t mask_at, size_t n, uint64_t seed) {
    if (p->dropout <= 0.0f) return;
    float *mask = p->arena + mask_at;
    afloc_cpu_dropout_mask(mask, n, p->dropout, seed, site_offset(p, b, site));
    afloc_cpu_dropout_forward(x, x, mask, n);
}

static void layer_forward(afloc_train_text_plan *p, int32_t b, int32_t l, const float *params,
                          int32_t L, uint64_t seed) {
    float *R = p->arena;
    const caption_acts *c = &p->cap[b];
    const layer_acts *a = &c->layer[l];
    const layer_params *q = &p->lp[l];
    const int32_t C = p->C, I = p->I;
    const size_t n = (size_t)L * (size_t)C;
    const float *X = R + c->X[l];
    const float *w = R + p->wqkv + (size_t)l * (3 * (size_t)C * C + 3 * (size_t)C);
    afloc_cpu_linear_forward(R + a->qkv, X, w, w + 3 * (size_t)C * C, 0, L, C, 3 * C);
    float *dm_p = NULL;
    if (p->dropout > 0.0f) {
        dm_p = R + a->dm_p;
        afloc_cpu_dropout_mask(dm_p, (size_t)p->NH * L * L, p->dropout, seed,
                               site_offset(p, b, 1 + 3 * l));
    }
    afloc_cpu_attention_forward_train(R + a->ctx, R + a->probs, R + a->qkv, NULL, dm_p, 1, L, C,
                                      p->NH, R + p->scratch);
    afloc_cpu_linear_forward(R + a->a, R + a->ctx, params + q->ao_w, params + q->ao_b, 0, L, C, C);
    dropout_site(p, b, 1 + 3 * l + 1, R + a->a, a->dm_a, n, seed);
    afloc_cpu_add_forward(R + a->a, R + a->a, X, n);
    afloc_cpu_layernorm_forward_train(R + a->A, R + a->m1, R + a->r1, R + a->a, params + q->ln1_w,
                                      params + q->ln1_b, L, C, p->eps);
    afloc_cpu_linear_forward(R + a->fpre, R + a->A, params + q->in_w, params + q->in_b, 0, L, C, I);
    afloc_cpu_gelu_forward(R + a->f, R + a->fpre, (size_t)L * (size_t)I);
    afloc_cpu_linear_forward(R + a->o, R + a->f, params + q->out_w, params + q->out_b, 0, L, I, C);
    dropout_site(p, b, 1 + 3 * l + 2, R + a->o, a->dm_o, n, seed);
    afloc_cpu_add_forward(R + a->o, R + a->o, R + a->A, n);
    afloc_cpu_layernorm_forward_train(R + c->X[l + 1], R + a->m2, R + a->r2, R + a->o,
                                      params + q->ln2_w, params + q->ln2_b, L, C, p->eps);
}

/* text_emb_w, text_emb_s (C, T) and text_emb_r (C) of caption b from its hsum. */
static void aggregate(afloc_train_text_plan *p, int32_t b) {
    const size_t TC = (size_t)p->T * (size_t)p->C;
    float *R = p->arena;
    int32_t packed[AFLOC_TEXT_UNITS_INTS(AFLOC_MAX_SEQUENCE_LENGTH)];
    afloc_text_units_pack(&p->units[b], p->T, packed);
    afloc_cpu_text_aggregate_forward(R + p->emb_w + (size_t)b * TC, R + p->emb_s + (size_t)b * TC,
                                     R + p->emb_r + (size_t)b * (size_t)p->C, R + p->cap[b].hsum,
                                     packed, 1, p->C, p->T);
}

afloc_status afloc_train_text_check_caption(const afloc_model *model, const int32_t *row,
                                           int32_t T, int32_t length, int32_t b,
                                           afloc_text_units *units, const char *function) {
    const int32_t V = model->config.vocab_size;
    for (int32_t t = 0; t < T; t++)
        if (row[t] < 0 || row[t] >= V)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: caption %d token %d has id %d "
                              "outside the vocabulary (0..%d)", function, b, t, row[t], V - 1);
    AFLOC_TRY(afloc_text_units_build(model->tokenizer, row, T, units, function));
    if (length != units->length)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: caption %d length %d, but its [SEP] "
                          "ends it at %d tokens", function, b, length, units->length);
    return AFLOC_OK;
}

static afloc_status check_caption(afloc_train_text_plan *p, const int32_t *ids,
                                  const int32_t *lengths, int32_t b) {
    return afloc_train_text_check_caption(p->model, ids + (size_t)b * (size_t)p->T, p->T,
                                          lengths[b], b, &p->units[b], "afloc_train_text_forward");
}

afloc_status afloc_train_text_forward(afloc_train_text_plan *plan, const float *params,
                                      const int32_t *ids, const int32_t *lengths, uint64_t seed) {
    if (!plan || !params || !ids || !lengths)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_train_text_forward: NULL plan, params, ids or lengths");
    afloc_train_text_plan *p = plan;
    p->forward_done = 0;
    for (int32_t b = 0; b < p->B; b++) AFLOC_TRY(check_caption(p, ids, lengths, b));
    memcpy(p->ids, ids, (size_t)p->B * (size_t)p->T * sizeof(int32_t));
    memcpy(p->lengths, lengths, (size_t)p->B * sizeof(int32_t));
    pack_qkv(p, params);
    float *R = p->arena;
    const int32_t C = p->C, first_used = p->N + 1 - p->last_n;
    for (int32_t b = 0; b < p->B; b++) {
        const caption_acts *c = &p->cap[b];
        const int32_t L = lengths[b];
        const size_t n = (size_t)L * (size_t)C;
        afloc_cpu_embedding_forward(R + c->E, p->ids + (size_t)b * p->T, NULL,
                                    params + p->emb.word, params + p->emb.position,
                                    params + p->emb.type, L, C);
        afloc_cpu_layernorm_forward_train(R + c->X[0], R + c->em, R + c->er, R + c->E,
                                          params + p->emb.eln_w, params + p->emb.eln_b, L, C,
                                          p->eps);
        dropout_site(p, b, 0, R + c->X[0], c->dm_e, n, seed);
        memset(R + c->hsum, 0, n * sizeof(float));
        for (int32_t h = 0; h <= p->N; h++) {
            if (h > 0) layer_forward(p, b, h - 1, params, L, seed);
            if (h >= first_used) afloc_cpu_add_forward(R + c->hsum, R + c->hsum, R + c->X[h], n);
        }
        aggregate(p, b);
        p->cap_words[b] = p->units[b].cap_len_words;
        p->cap_sentences[b] = p->units[b].cap_len_sentences;
    }
    p->forward_done = 1;
    return AFLOC_OK;
}

/* ---- backward ---- */

/* Gradient of caption b's hsum (L, C) into dh, from the upstream gradients. */
static void aggregate_backward(afloc_train_text_plan *p, int32_t b, const float *d_w,
                               const float *d_s, const float *d_r, float *dh) {
    const size_t TC = (size_t)p->T * (size_t)p->C;
    const float *gw = d_w ? d_w + (size_t)b * TC : NULL, *gs = d_s ? d_s + (size_t)b * TC : NULL;
    const float *gr = d_r ? d_r + (size_t)b * (size_t)p->C : NULL;
    int32_t packed[AFLOC_TEXT_UNITS_INTS(AFLOC_MAX_SEQUENCE_LENGTH)];
    afloc_text_units_pack(&p->units[b], p->T, packed);
    afloc_cpu_text_aggregate_backward(dh, gw, gs, gr, packed, 1, p->C, p->T, p->arena + p->dslot);
}

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* dout: gradient of layer l's output (L, C); dX (zeroed by the caller) receives the gradient of
 * its input. */
static void layer_backward(afloc_train_text_plan *p, int32_t b, int32_t l, float *grads,
                           const float *params, int32_t L, const float *dout, float *dXin) {
    float *R = p->arena;
    const caption_acts *c = &p->cap[b];
    const layer_acts *a = &c->layer[l];
    const layer_params *q = &p->lp[l];
    const int32_t C = p->C, I = p->I;
    const size_t n = (size_t)L * (size_t)C, nI = (size_t)L * (size_t)I;
    const int drop = p->dropout > 0.0f;
    float *d1 = R + p->d1, *d2 = R + p->d2, *dA = R + p->dA, *dctx = R + p->dctx;
    float *dqkv = R + p->dqkv, *df = R + p->df, *dfpre = R + p->dfpre;
    /* X' = LN2(o), o = drop(f·W2ᵀ + b2) + A */
    zero(d1, n);
    afloc_cpu_layernorm_backward(d1, grads + q->ln2_w, grads + q->ln2_b, dout, R + a->o,
                                 params + q->ln2_w, R + a->m2, R + a->r2, L, C);
    memcpy(dA, d1, n * sizeof(float));
    const float *dlin = d1;
    if (drop) {
        zero(d2, n);
        afloc_cpu_dropout_backward(d2, d1, R + a->dm_o, n);
        dlin = d2;
    }
    zero(df, nI);
    afloc_cpu_linear_backward(df, grads + q->out_w, grads + q->out_b, dlin, R + a->f,
                              params + q->out_w, L, I, C);
    zero(dfpre, nI);
    afloc_cpu_gelu_backward(dfpre, df, R + a->fpre, nI);
    afloc_cpu_linear_backward(dA, grads + q->in_w, grads + q->in_b, dfpre, R + a->A,
                              params + q->in_w, L, C, I);
    /* A = LN1(a), a = drop(ctx·Woᵀ + bo) + X */
    zero(d1, n);
    afloc_cpu_layernorm_backward(d1, grads + q->ln1_w, grads + q->ln1_b, dA, R + a->a,
                                 params + q->ln1_w, R + a->m1, R + a->r1, L, C);
    afloc_cpu_add_forward(dXin, dXin, d1, n);
    dlin = d1;
    if (drop) {
        zero(d2, n);
        afloc_cpu_dropout_backward(d2, d1, R + a->dm_a, n);
        dlin = d2;
    }
    zero(dctx, n);
    afloc_cpu_linear_backward(dctx, grads + q->ao_w, grads + q->ao_b, dlin, R + a->ctx,
                              params + q->ao_w, L, C, C);
    zero(dqkv, 3 * n);
    afloc_cpu_attention_backward(dqkv, dctx, R + a->qkv, R + a->probs, drop ? R + a->dm_p : NULL,
                                 1, L, C, p->NH, R + p->scratch);
    /* packed QKV: gradient into the packed temporary, then scattered to query / key / value */
    const size_t CC = (size_t)C * (size_t)C;
    const float *w = R + p->wqkv + (size_t)l * (3 * CC + 3 * (size_t)C);
    float *dw = R + p->dwqkv, *db = dw + 3 * CC;
    zero(dw, 3 * CC + 3 * (size_t)C);
    afloc_cpu_linear_backward(dXin, dw, db, dqkv, R + c->X[l], w, L, C, 3 * C);
    const size_t ws[3] = {q->q_w, q->k_w, q->v_w}, bs[3] = {q->q_b, q->k_b, q->v_b};
    for (int j = 0; j < 3; j++) {
        afloc_cpu_add_forward(grads + ws[j], grads + ws[j], dw + (size_t)j * CC, CC);
        afloc_cpu_add_forward(grads + bs[j], grads + bs[j], db + (size_t)j * C, (size_t)C);
    }
}

afloc_status afloc_train_text_backward(afloc_train_text_plan *plan, float *grads,
                                       const float *params, const float *d_w, const float *d_s,
                                       const float *d_r) {
    static const char fn[] = "afloc_train_text_backward";
    if (!plan || !grads || !params)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL plan, grads or params", fn);
    if (!plan->forward_done)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: no forward pass to differentiate", fn);
    afloc_train_text_plan *p = plan;
    float *R = p->arena, *dX = R + p->dX, *dXprev = R + p->dXprev;
    float *dh = R + p->d2; /* free until the first layer backward */
    const int32_t C = p->C, first_used = p->N + 1 - p->last_n;
    for (int32_t b = 0; b < p->B; b++) {
        const caption_acts *c = &p->cap[b];
        const int32_t L = p->lengths[b];
        const size_t n = (size_t)L * (size_t)C;
        aggregate_backward(p, b, d_w, d_s, d_r, dh);
        memcpy(dX, dh, n * sizeof(float)); /* h = N is always used (last_n >= 1) */
        float *dh_keep = R + p->dslot;     /* dh survives the layers in dslot (T·C floats) */
        memcpy(dh_keep, dh, n * sizeof(float));
        float *cur = dX, *prev = dXprev;
        for (int32_t h = p->N; h > 0; h--) {
            zero(prev, n);
            layer_backward(p, b, h - 1, grads, params, L, cur, prev);
            if (h - 1 >= first_used) afloc_cpu_add_forward(prev, prev, dh_keep, n);
            float *t = cur;
            cur = prev;
            prev = t;
        }
        /* cur: gradient of X0 = drop(LN(E)) */
        const float *dln = cur;
        if (p->dropout > 0.0f) {
            zero(prev, n);
            afloc_cpu_dropout_backward(prev, cur, R + c->dm_e, n);
            dln = prev;
        }
        float *dE = R + p->d1;
        zero(dE, n);
        afloc_cpu_layernorm_backward(dE, grads + p->emb.eln_w, grads + p->emb.eln_b, dln,
                                     R + c->E, params + p->emb.eln_w, R + c->em, R + c->er, L, C);
        afloc_cpu_embedding_backward(grads + p->emb.word, grads + p->emb.position,
                                     grads + p->emb.type, dE, p->ids + (size_t)b * p->T, NULL, L,
                                     C);
    }
    return AFLOC_OK;
}
