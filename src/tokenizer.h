/* tokenizer.h: internal view of the BERT WordPiece tokenizer (src/tokenizer.c), for the text
 * encoder: vocabulary lookups by bytes and the text of a piece by id. */
#ifndef AFLOC_TOKENIZER_H
#define AFLOC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

/* The id of the vocabulary entry equal to the `size` bytes at `token`, or -1. */
int32_t afloc_tokenizer_lookup(const afloc_tokenizer *tokenizer, const char *token, size_t size);

/* The NUL-terminated text of entry `id` (0 <= id < vocab size) and its length in *size. */
const char *afloc_tokenizer_piece(const afloc_tokenizer *tokenizer, int32_t id, size_t *size);

/* The options the tokenizer was built with (max_length etc.). */
const afloc_tokenizer_options *afloc_tokenizer_get_options(const afloc_tokenizer *tokenizer);

/* Receives one pre-tokenized word (normalized UTF-8, not NUL-terminated); size 0 means the word
 * had more than max_chars characters. */
typedef void (*afloc_word_sink)(void *user, const char *word, size_t size);

/* Runs only BertNormalizer + BertPreTokenizer over `text` and hands each word to `sink` (for the
 * code point sweep against HuggingFace and for debugging). */
afloc_status afloc_tokenizer_pre_tokenize(const char *text, size_t text_len, int32_t max_chars,
                                          afloc_word_sink sink, void *user);

#endif /* AFLOC_TOKENIZER_H */
