/* text_encoder.h: the CPU text encoder (text_encoder.c, MODEL.md §4.2, §5) on one text, reading the
 * model's inference plan (inference_plan.h). Internal: the public entry points are in localize.c
 * and classify.c, the trainer's captions in train_text.c; tests call it to compare intermediates
 * with the PyTorch oracle. Word and sentence features are channel-first (D, T). */
#ifndef AFLOC_TEXT_ENCODER_H
#define AFLOC_TEXT_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "inference_plan.h"

/* Outputs of the text encoder; any pointer may be NULL. */
typedef struct afloc_text_outputs {
    int32_t *ids;          /* (T): token ids, [PAD] after the first [SEP]                */
    int32_t *mask;         /* (T): 1 on real tokens                                       */
    int32_t *length;       /* L: real tokens incl. [CLS] and [SEP]                         */
    float   *hidden_last;  /* (last_n_layers, L, C): hidden states of the used layers     */
    float   *words;        /* (D, T): text_emb_w, unused slots zero                        */
    float   *sentences;    /* (D, T): text_emb_s, unused slots zero, empty sentence zero   */
    float   *report;       /* (D): text_emb_r                                              */
    int32_t *word_count;   /* cap_len of the word list (MODEL.md §5.8)                     */
    int32_t *sentence_count; /* cap_len of the sentence list                               */
} afloc_text_outputs;

/* How the text encoder reads its text. */
enum {
    AFLOC_TEXT_PROMPT          = 0, /* §4.2 inference cleaning (the reference)               */
    AFLOC_TEXT_PROMPT_KEEP_ONE = 1, /* the same, but a text that cleans to nothing is
                                       tokenized as written (one-word prompts survive)       */
    AFLOC_TEXT_AS_WRITTEN      = 2  /* no cleaning: a training caption (sentences joined by
                                       ". ", §4.3), so sentence units are meaningful         */
};

/* Encodes `text` (text_len bytes of UTF-8) read as `text_mode` (AFLOC_TEXT_*): tokenization, BERT on the real tokens only, the last-n layer sum, word
 * groups, sentence units and the report embedding with its 1/T factor. Returns
 * AFLOC_ERR_OUT_OF_MEMORY (text cleaning scratch), AFLOC_ERR_LIMIT or AFLOC_ERR_INVALID_ARGUMENT
 * with messages starting with `function`; the outputs are written only on success. */
afloc_status afloc_text_encoder_forward(const afloc_model *model, afloc_workspace *ws,
                                        const char *text, size_t text_len, int32_t text_mode,
                                        const afloc_text_outputs *outputs, const char *function);

/* Floats of workspace afloc_text_encoder_forward uses. */
size_t afloc_text_encoder_workspace_floats(const afloc_model *model);

#endif /* AFLOC_TEXT_ENCODER_H */
