/* text_clean.h: the report cleaning of the AFLoc reference (MODEL.md §4.1), shared by the
 * inference prompt (§4.2, afloc_text_clean_prompt) and the training caption cache (§4.3). */
#ifndef AFLOC_TEXT_CLEAN_H
#define AFLOC_TEXT_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

/* The kept sentences of one report, in order. */
typedef struct afloc_text_sentences {
    char    *text;   /* the sentences back to back, each followed by a NUL; ASCII [a-z0-9_ ] */
    size_t  *starts; /* (count) offset of each sentence in text                            */
    int32_t *words;  /* (count) words kept in each sentence (0 when all were non-ASCII)     */
    int32_t  count;
} afloc_text_sentences;

/* Splits `text` (text_len bytes of UTF-8, invalid bytes read as U+FFFD) into candidate sentences
 * on "[0-9]+\." and ".", and keeps those with >= 2 \w+ words, lowercased, non-ASCII deleted, words
 * joined by single spaces (a kept sentence may be empty when every word was non-ASCII, as in the
 * reference). With stop_at_words > 0 (the §4.3 cache: captions_per_image = 5), stops after the
 * sentence at which the running count of kept words equals stop_at_words exactly. On success
 * `*out` owns its arrays (afloc_text_sentences_free); on failure it is untouched. Errors:
 * AFLOC_ERR_LIMIT (text_len > AFLOC_MAX_TEXT_BYTES), AFLOC_ERR_INVALID_ARGUMENT,
 * AFLOC_ERR_OUT_OF_MEMORY; messages start with `function`. */
afloc_status afloc_text_clean_sentences(const char *text, size_t text_len, int32_t stop_at_words,
                                        afloc_text_sentences *out, const char *function);

/* Frees the arrays of `sentences` (not the struct) and zeroes it. NULL is a no-op. */
void afloc_text_sentences_free(afloc_text_sentences *sentences);

/* The §4.2 inference text: the sentences joined by single spaces. joined_size is its size in
 * bytes including the NUL; join writes it (NUL-terminated) into `out`, which must hold
 * joined_size bytes, and returns its length without the NUL. */
size_t afloc_text_sentences_joined_size(const afloc_text_sentences *sentences);
size_t afloc_text_sentences_join(const afloc_text_sentences *sentences, char *out);

#endif /* AFLOC_TEXT_CLEAN_H */
