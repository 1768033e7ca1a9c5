/* train_text.h: the text encoder's training forward and backward (MODEL.md §5, issue 4), used by
 * the trainer: BERT in train mode (optional dropout) on a batch of B tokenized captions, then the
 * word groups, sentence units and report embedding of §5.3–§5.6, and their gradients.
 *
 * A plan is built once per (model, B, dropout): it holds an activation arena sized for B
 * captions of token_length T tokens each (every tensor the backward reads: each layer's input,
 * packed QKV, attention probabilities, LayerNorm inputs and saved mean / rstd, the pre-GELU
 * intermediate, the dropout masks when dropout > 0), the packed QKV weights and the backward's
 * temporaries. forward and backward then allocate nothing.
 *
 * Each caption runs BERT on its L real tokens only, as inference does (§5.1: padding cannot
 * influence a real position). Layouts: ids (B, T) int32 as afloc_tokenizer_encode writes them,
 * lengths (B) = L per caption; text_emb_w and text_emb_s (B, D, T) channel-first, zero beyond the
 * used slots; text_emb_r (B, D) = (1/T)·Σ over the word slots. Parameters and gradients are
 * buffers with the layout of model->params (the param table's offsets).
 *
 * Dropout (p = the plan's dropout, HF BERT's four sites): embeddings output, attention
 * probabilities, attention.output.dense output, output.dense output. Masks come from
 * afloc_cpu_dropout_mask(mask, n, p, seed, offset) with offset = site · S, where
 * S = max(NH·T·T, T·C) and, for caption b (0-based) of a layer-count N model,
 *   site = b·(1 + 3N) + 0               embeddings output (L, C)
 *   site = b·(1 + 3N) + 1 + 3l + 0      layer l attention probabilities (NH, L, L)
 *   site = b·(1 + 3N) + 1 + 3l + 1      layer l attention.output.dense output (L, C)
 *   site = b·(1 + 3N) + 1 + 3l + 2      layer l output.dense output (L, C)
 * element i of a site being element i of that tensor in row-major order. A (seed, batch) pair
 * therefore gives the same masks on any thread count, independent of the other captions. */
#ifndef AFLOC_TRAIN_TEXT_H
#define AFLOC_TRAIN_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "model.h"
#include "text_units.h"

typedef struct afloc_train_text_plan afloc_train_text_plan;

/* Builds the plan for `model` (its config, tokenizer and param table are read now and must
 * outlive the plan), batch size B >= 1 and dropout probability 0 <= dropout < 1 (0: none, no mask
 * storage). Returns AFLOC_ERR_INVALID_ARGUMENT (NULL argument, B or dropout out of range, a
 * tensor missing from the table), AFLOC_ERR_OUT_OF_MEMORY; *out untouched on failure. */
afloc_status afloc_train_text_plan_create(afloc_train_text_plan **out, const afloc_model *model,
                                          int32_t B, float dropout);
/* Frees a plan; NULL is a no-op. */
void afloc_train_text_plan_free(afloc_train_text_plan *plan);

/* Batch, D (= bert_hidden) and T (token_length). Any pointer may be NULL. */
void afloc_train_text_sizes(const afloc_train_text_plan *plan, int32_t *B, int32_t *D,
                            int32_t *T);

/* Training forward of B captions: ids (B, T) and lengths (B) as afloc_tokenizer_encode gives
 * them (ids[b·T] = [CLS], the L-th token [SEP], every id below vocab_size; lengths[b] must equal
 * L). `params` has the model's layout and is only read. `seed` picks the dropout masks (see
 * above; ignored without dropout). Results stay in the plan until the next forward (see
 * afloc_train_text_outputs). Returns AFLOC_ERR_INVALID_ARGUMENT on a NULL argument or a caption
 * that breaks the rules above (the plan then holds no forward). Not thread-safe on one plan. */
afloc_status afloc_train_text_forward(afloc_train_text_plan *plan, const float *params,
                                      const int32_t *ids, const int32_t *lengths, uint64_t seed);

/* The last forward's outputs, owned by the plan (any pointer may be NULL): text_emb_w (B, D, T),
 * text_emb_s (B, D, T), text_emb_r (B, D), cap_len_words (B) and cap_len_sentences (B) (§5.8). */
void afloc_train_text_outputs(const afloc_train_text_plan *plan, const float **text_emb_w,
                              const float **text_emb_s, const float **text_emb_r,
                              const int32_t **cap_len_words, const int32_t **cap_len_sentences);

/* Backward of the last forward (same `params`, unchanged in between). d_w (B, D, T), d_s
 * (B, D, T), d_r (B, D) are the upstream gradients; a NULL one counts as zero, and entries of
 * unused slots are ignored. Gradients ACCUMULATE (+=) into `grads` (the model's layout) for every
 * BERT parameter: embeddings (word, position, token_type, LayerNorm) and each layer's
 * query / key / value, attention.output.dense, attention.output.LayerNorm, intermediate.dense,
 * output.dense, output.LayerNorm. The pooler and everything else get none. Returns
 * AFLOC_ERR_INVALID_ARGUMENT on a NULL plan, grads or params, or when no forward ran. Not
 * thread-safe on one plan. */
afloc_status afloc_train_text_backward(afloc_train_text_plan *plan, float *grads,
                                       const float *params, const float *d_w, const float *d_s,
                                       const float *d_r);

/* What the device step (device_train_text.c) shares with this file, so both backends run the
 * same host code for it: check_caption validates caption b (its T ids `row`, its length) as the
 * forward does and builds its units; messages start with `function`. (The §5.3–§5.6 float work
 * on those units is the op afloc_cpu_text_aggregate_forward / _backward and its CUDA twin.) */
afloc_status afloc_train_text_check_caption(const afloc_model *model, const int32_t *row,
                                           int32_t T, int32_t length, int32_t b,
                                           afloc_text_units *units, const char *function);

#endif /* AFLOC_TRAIN_TEXT_H */
