/* text_encoder.c: the AFLoc text encoder at inference (MODEL.md §4.2, §5), one text at a time:
 *
 *   text ── §4.1/4.2 cleaning ──> one line ── WordPiece (§4.4) ──> [CLS] pieces [SEP] + [PAD]s
 *   BERT (HF BertModel, eval) on the L real tokens only                          §5.1
 *   h = Σ of the last n hidden states (layers summed per token)                 §5.2, §5.4
 *   word groups: Σ of member pieces' h  ->  text_emb_w (D, T)                     §5.3-5.4
 *   report: (1/T)·Σ over all T word slots (padding slots are zero)  ->  text_emb_r §5.5
 *   sentence units: mean of the word groups between "." delimiters  ->  text_emb_s §5.6
 *
 * Running BERT on the real tokens only is exact: padded keys get a −10000 bias whose exp
 * underflows to 0 in fp32, so padding never changes a real token (§5.1). Summing the layers before
 * the word groups (instead of after, as the reference does) is the same sum in another order.
 * An empty sentence segment (only for empty text) is a zero vector where the reference gives NaN
 * (§5.6). Token features are (L, C) row-major; the outputs are channel-first (D, T) like the
 * reference's [B, D, T]. All buffers come from the call's workspace. */
#include <string.h>

#include "alloc.h"
#include "device_model.h"
#include "error.h"
#include "text_encoder.h"
#include "text_clean.h"
#include "text_units.h"
#include "tokenizer.h"

/* ---- planning ---- */

size_t afloc_text_encoder_workspace_floats(const afloc_model *model) {
    const struct afloc_inference *inf = model->inference;
    size_t T = (size_t)inf->T, C = (size_t)inf->C, D = (size_t)inf->D;
    size_t total = 0;
    total += 7 * afloc_workspace_round(T * C);          /* E X hsum ctx a A o          */
    total += afloc_workspace_round(T * 3 * C);          /* qkv                          */
    total += afloc_workspace_round(T * (size_t)inf->I); /* intermediate                 */
    total += afloc_workspace_round(
        model->ops->attention_scratch_floats(1, inf->T, inf->NH));
    total += 2 * afloc_workspace_round(T);              /* ids, mask                    */
    total += 2 * afloc_workspace_round(D * T) + afloc_workspace_round(D); /* w, s, r   */
    return total;
}

/* ---- text -> token ids ---- */

/* The §4.2 inference text of `text`: cleaned sentences joined by single spaces, in a new
 * NUL-terminated string (afloc_free). */
static afloc_status clean_text(const char *text, size_t text_len, char **out, size_t *out_len,
                               const char *function) {
    afloc_text_sentences s;
    AFLOC_TRY(afloc_text_clean_sentences(text, text_len, 0, &s, function));
    char *joined = afloc_malloc(afloc_text_sentences_joined_size(&s));
    if (!joined) {
        afloc_text_sentences_free(&s);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory cleaning a %zu-byte text",
                          function, text_len);
    }
    *out_len = afloc_text_sentences_join(&s, joined);
    *out = joined;
    afloc_text_sentences_free(&s);
    return AFLOC_OK;
}

static afloc_status tokenize(const afloc_model *model, const char *text, size_t text_len,
                             int32_t text_mode, int32_t *ids, int32_t *mask, int32_t *length,
                             const char *function) {
    const struct afloc_inference *inf = model->inference;
    const afloc_tokenizer_options *topt = afloc_tokenizer_get_options(model->tokenizer);
    if (topt->max_length != inf->T)
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: tokenizer max_length %d differs from the "
                          "model's token_length %d", function, (int)topt->max_length, (int)inf->T);
    char *clean = NULL;
    size_t clean_len = 0;
    if (text_mode != AFLOC_TEXT_AS_WRITTEN)
        AFLOC_TRY(clean_text(text, text_len, &clean, &clean_len, function));
    /* keep_one_word: a prompt the cleaning drops entirely ("cardiomegaly") is tokenized as written
     * (BERT still lowercases and splits punctuation) instead of becoming [CLS] [SEP]. */
    const char *source = clean;
    size_t source_len = clean_len;
    if (text_mode == AFLOC_TEXT_AS_WRITTEN ||
        (text_mode == AFLOC_TEXT_PROMPT_KEEP_ONE && clean_len == 0)) {
        source = text;
        source_len = text_len;
    }
    afloc_status status = afloc_tokenizer_encode(model->tokenizer, source, source_len, ids, mask,
                                                 inf->T, length);
    afloc_free(clean);
    if (status != AFLOC_OK) return status;
    for (int32_t t = 0; t < inf->T; t++)
        if (ids[t] < 0 || ids[t] >= model->config.vocab_size)
            return afloc_fail(AFLOC_ERR_SCHEMA, "%s: token id %d is outside the model's "
                              "vocab_size %d (vocabulary and embedding table disagree)",
                              function, (int)ids[t], (int)model->config.vocab_size);
    return AFLOC_OK;
}

/* ---- BERT ---- */

/* One post-LayerNorm BertLayer on X (L, C), in place. */
static void bert_layer(const afloc_model *model, const afloc_bert_layer_plan *p, float *X,
                       int32_t L, float *qkv, float *ctx, float *a, float *A, float *f, float *o,
                       float *scratch) {
    const struct afloc_inference *inf = model->inference;
    const afloc_ops *ops = model->ops;
    int32_t C = inf->C, I = inf->I;
    float eps = model->config.layernorm_eps;
    size_t n = (size_t)L * (size_t)C;
    ops->linear_forward(qkv, X, p->qkv_weight, p->qkv_bias, 0, L, C, 3 * C);
    ops->attention_forward(ctx, qkv, NULL, 1, L, C, inf->NH, scratch);
    ops->linear_forward(a, ctx, p->attn_out_weight, p->attn_out_bias, 0, L, C, C);
    ops->add_forward(a, a, X, n);
    ops->layernorm_forward(A, a, p->attn_ln_weight, p->attn_ln_bias, L, C, eps);
    ops->linear_forward(f, A, p->inter_weight, p->inter_bias, 1, L, C, I);
    ops->linear_forward(o, f, p->out_weight, p->out_bias, 0, L, I, C);
    ops->add_forward(o, o, A, n);
    ops->layernorm_forward(X, o, p->out_ln_weight, p->out_ln_bias, L, C, eps);
}

/* Runs BERT on ids[0..L) and leaves Σ of the last n hidden states in hsum (L, C); copies each used
 * hidden state into hidden_last (n, L, C) when it is not NULL. On the host; a CUDA model runs
 * afloc_device_bert_forward instead. */
static void bert_forward(const afloc_model *model, afloc_workspace *ws, const int32_t *ids,
                         int32_t L, float *hsum, float *hidden_last) {
    const struct afloc_inference *inf = model->inference;
    const afloc_ops *ops = model->ops;
    size_t T = (size_t)inf->T, C = (size_t)inf->C;
    size_t n = (size_t)L * C;
    float *E = afloc_workspace_floats(ws, T * C);
    float *X = afloc_workspace_floats(ws, T * C);
    float *qkv = afloc_workspace_floats(ws, T * 3 * C);
    float *ctx = afloc_workspace_floats(ws, T * C);
    float *a = afloc_workspace_floats(ws, T * C);
    float *A = afloc_workspace_floats(ws, T * C);
    float *f = afloc_workspace_floats(ws, T * (size_t)inf->I);
    float *o = afloc_workspace_floats(ws, T * C);
    float *scratch = afloc_workspace_floats(ws, ops->attention_scratch_floats(1, inf->T, inf->NH));

    ops->embedding_forward(E, ids, NULL, inf->word_embeddings, inf->position_embeddings,
                           inf->type_embeddings, L, inf->C);
    ops->layernorm_forward(X, E, inf->emb_ln_weight, inf->emb_ln_bias, L, inf->C,
                           model->config.layernorm_eps);
    /* hidden_states has layers + 1 entries (the embedding output first); the last n are used. */
    int32_t layers = model->config.bert_layers, last_n = model->config.last_n_layers;
    int32_t first_used = layers + 1 - last_n; /* index into hidden_states */
    memset(hsum, 0, n * sizeof(float));
    for (int32_t h = 0; h <= layers; h++) {
        if (h > 0)
            bert_layer(model, &inf->layers[h - 1], X, L, qkv, ctx, a, A, f, o, scratch);
        if (h < first_used) continue;
        ops->add_forward(hsum, hsum, X, n);
        if (hidden_last) memcpy(hidden_last + (size_t)(h - first_used) * n, X, n * sizeof(float));
    }
}

/* ---- aggregation ---- */

/* text_emb_w (D, T): word group g = Σ of its pieces' layer-summed states. */
static void word_features(const afloc_text_units *u, const float *hsum, int32_t C, int32_t T,
                          float *words) {
    memset(words, 0, (size_t)C * (size_t)T * sizeof(float));
    for (int32_t g = 0; g < u->group_count && g < T; g++)
        for (int32_t i = 0; i < u->groups[g].count; i++) {
            const float *h = hsum + (size_t)(u->groups[g].first + i) * (size_t)C;
            for (int32_t d = 0; d < C; d++) words[(size_t)d * T + g] += h[d];
        }
}

/* text_emb_s (D, T): slot 0 [CLS], slots 1..K sentence means, slot K+1 [SEP], rest zero. */
static void sentence_features(const afloc_text_units *u, const float *words, int32_t C, int32_t T,
                              float *sentences) {
    memset(sentences, 0, (size_t)C * (size_t)T * sizeof(float));
    int32_t K = u->sentence_count, sep = u->group_count - 1;
    for (int32_t d = 0; d < C; d++) {
        const float *w = words + (size_t)d * T;
        float *s = sentences + (size_t)d * T;
        s[0] = w[0];
        for (int32_t j = 0; j < K && j + 1 < T; j++) {
            int32_t count = u->sentence_words[j];
            if (count == 0) continue; /* empty segment: zero (the reference's NaN) */
            float sum = 0.0f;
            for (int32_t k = 0; k < count; k++) sum += w[u->sentence_first[j] + k];
            s[j + 1] = sum / (float)count;
        }
        if (K + 1 < T) s[K + 1] = w[sep];
    }
}

/* text_emb_r (D) = (1/T)·Σ over the T word slots (the reference's mean over padded slots). */
static void report_feature(const float *words, int32_t C, int32_t T, float *report) {
    for (int32_t d = 0; d < C; d++) {
        float sum = 0.0f;
        for (int32_t k = 0; k < T; k++) sum += words[(size_t)d * T + k];
        report[d] = sum / (float)T;
    }
}

/* ---- entry ---- */

afloc_status afloc_text_encoder_forward(const afloc_model *model, afloc_workspace *ws,
                                        const char *text, size_t text_len, int32_t text_mode,
                                        const afloc_text_outputs *outputs, const char *function) {
    const struct afloc_inference *inf = model->inference;
    size_t T = (size_t)inf->T, C = (size_t)inf->C;
    size_t mark = ws->used;
    int32_t *ids = afloc_workspace_ints(ws, T);
    int32_t *mask = afloc_workspace_ints(ws, T);
    int32_t L = 0;
    afloc_status status = tokenize(model, text, text_len, text_mode, ids, mask, &L, function);
    afloc_text_units units;
    if (status == AFLOC_OK) status = afloc_text_units_build(model->tokenizer, ids, inf->T, &units,
                                                            function);
    if (status == AFLOC_OK && units.length != L)
        status = afloc_fail(AFLOC_ERR_INTERNAL, "%s: tokenizer length %d, text units length %d",
                            function, (int)L, (int)units.length);
    if (status != AFLOC_OK) {
        ws->used = mark;
        return status;
    }

    float *hsum = afloc_workspace_floats(ws, T * C);
    float *words = afloc_workspace_floats(ws, T * C);
    float *sentences = afloc_workspace_floats(ws, T * C);
    float *report = afloc_workspace_floats(ws, C);
    if (model->device) {
        status = afloc_device_bert_forward(model->device, ids, L, hsum, outputs->hidden_last, function);
        if (status != AFLOC_OK) {
            ws->used = mark;
            return status;
        }
    } else {
        bert_forward(model, ws, ids, L, hsum, outputs->hidden_last);
    }
    word_features(&units, hsum, inf->C, inf->T, words);
    report_feature(words, inf->C, inf->T, report);
    if (outputs->sentences) sentence_features(&units, words, inf->C, inf->T, sentences);

    if (outputs->ids) memcpy(outputs->ids, ids, T * sizeof(int32_t));
    if (outputs->mask) memcpy(outputs->mask, mask, T * sizeof(int32_t));
    if (outputs->length) *outputs->length = L;
    if (outputs->words) memcpy(outputs->words, words, T * C * sizeof(float));
    if (outputs->sentences) memcpy(outputs->sentences, sentences, T * C * sizeof(float));
    if (outputs->report) memcpy(outputs->report, report, C * sizeof(float));
    if (outputs->word_count) *outputs->word_count = units.cap_len_words;
    if (outputs->sentence_count) *outputs->sentence_count = units.cap_len_sentences;
    ws->used = mark;
    return AFLOC_OK;
}
