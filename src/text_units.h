/* text_units.h: the bookkeeping that turns one tokenized sequence into the word groups of
 * MODEL.md §5.3, the sentence units of §5.6 and the loss lengths (cap_len) of §5.8. Pure index
 * arithmetic: the text encoder sums or averages hidden states over these index lists. */
#ifndef AFLOC_TEXT_UNITS_H
#define AFLOC_TEXT_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

/* One word group: tokens first .. first + count - 1 of the sequence. */
typedef struct afloc_word_group {
    int32_t first;      /* token index of the group's first piece                      */
    int32_t count;      /* pieces in the group (>= 1)                                  */
    int32_t is_period;  /* the group's name is exactly "." (a sentence delimiter)      */
    int32_t is_bracket; /* the name starts with '[' ([CLS], [SEP], [UNK], "[" ...):
                           not counted by cap_len (§5.8 quirk)                         */
} afloc_word_group;

typedef struct afloc_text_units {
    int32_t length;         /* L: tokens up to and including the first [SEP]            */
    int32_t n_words;        /* n: groups between [CLS] and [SEP]                        */
    int32_t group_count;    /* N_w = n + 2: slot 0 [CLS], slots 1..n words, slot n+1 [SEP] */
    afloc_word_group groups[AFLOC_MAX_SEQUENCE_LENGTH];
    /* Sentence j (0-based, j < sentence_count = K) averages word slots
     * sentence_first[j] .. sentence_first[j] + sentence_words[j] - 1; sentence_words[j] may
     * be 0 (empty text, or two "." in a row): the reference gives NaN there, libafloc's
     * encoder uses a zero vector. Sentence slots of Es: 0 = [CLS], 1..K sentences, K+1 = [SEP]. */
    int32_t sentence_count;
    int32_t sentence_first[AFLOC_MAX_SEQUENCE_LENGTH];
    int32_t sentence_words[AFLOC_MAX_SEQUENCE_LENGTH];
    int32_t cap_len_words;     /* (names not starting with '[') + 1, §5.8 */
    int32_t cap_len_sentences; /* K + 1                                   */
} afloc_text_units;

/* Builds the units of one sequence `ids` (capacity `count` ids) produced by
 * afloc_tokenizer_encode: ids[0] must be [CLS] and a [SEP] must follow within `count` and within
 * AFLOC_MAX_SEQUENCE_LENGTH. Ids must be in the vocabulary. AFLOC_ERR_INVALID_ARGUMENT otherwise;
 * messages start with `function`. */
afloc_status afloc_text_units_build(const afloc_tokenizer *tokenizer, const int32_t *ids,
                                    int32_t count, afloc_text_units *units, const char *function);

/* The name of word group `group` (pieces concatenated, "##" removed) with a NUL into `buffer`;
 * *needed gets the size including the NUL. AFLOC_ERR_BUFFER_TOO_SMALL when it does not fit,
 * AFLOC_ERR_INVALID_ARGUMENT for a group outside 0..group_count-1. */
afloc_status afloc_text_units_group_name(const afloc_tokenizer *tokenizer, const int32_t *ids,
                                         const afloc_text_units *units, int32_t group,
                                         char *buffer, size_t capacity, size_t *needed);

/* The units of one caption packed as int32 for the text-aggregation op (cpu_ops.h
 * afloc_cpu_text_aggregate_forward and its CUDA twin), AFLOC_TEXT_UNITS_INTS(T) ints:
 *   [0] L = length, [1] group_count, [2] sentence_count K,
 *   [3 .. 3+T)     first token of word slot g      [3+T .. 3+2T)  its token count
 *   [3+2T .. 3+3T) first word slot of sentence j   [3+3T .. 3+4T) its word count
 * Slots at or beyond T are dropped (the op never reads them); unused entries are 0. */
#define AFLOC_TEXT_UNITS_INTS(T) (3 + 4 * (T))
/* Field views of one packed caption `u` (T slots): L, group_count, K, then per slot. */
#define AFLOC_UNITS_LENGTH(u)            ((u)[0])
#define AFLOC_UNITS_GROUP_COUNT(u)       ((u)[1])
#define AFLOC_UNITS_SENTENCE_COUNT(u)    ((u)[2])
#define AFLOC_UNITS_GROUP_FIRST(u, T, g) ((u)[3 + (g)])
#define AFLOC_UNITS_GROUP_SIZE(u, T, g)  ((u)[3 + (T) + (g)])
#define AFLOC_UNITS_SENT_FIRST(u, T, j)  ((u)[3 + 2 * (T) + (j)])
#define AFLOC_UNITS_SENT_WORDS(u, T, j)  ((u)[3 + 3 * (T) + (j)])
void afloc_text_units_pack(const afloc_text_units *units, int32_t T, int32_t *packed);

#endif /* AFLOC_TEXT_UNITS_H */
