/* text_units.c: word groups (MODEL.md §5.3, GLoRIA's aggregate_tokens), sentence units (§5.6,
 * aggregate_tokens_sent_as_units) and cap_len (§5.8) for one token sequence.
 *   - [CLS] opens group 0; scanning tokens 1 .. L-2, a piece starting with "##" joins the open
 *     group and any other piece opens a new one; the first [SEP] closes it and is a group itself.
 *   - Sentence delimiters: word slots k in 1..n-1 named ".", plus the [SEP] slot s = n + 1; the
 *     last word c_n is never a delimiter. Sentence j covers slots d_{j-1}+1 .. d_j - 1.
 *   - cap_len counts names that do not start with '[' plus one, so each [UNK] shortens the
 *     window of the word loss while still taking a slot (reproduced on purpose). */
#include "text_units.h"

#include <string.h>

#include "error.h"
#include "tokenizer.h"

static int starts_with_hashes(const char *piece, size_t size) {
    return size >= 2 && piece[0] == '#' && piece[1] == '#';
}

afloc_status afloc_text_units_build(const afloc_tokenizer *tokenizer, const int32_t *ids,
                                    int32_t count, afloc_text_units *units, const char *function) {
    if (!tokenizer || !ids || !units)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tokenizer, ids or units is NULL",
                          function);
    int32_t vocab = 0;
    afloc_tokenizer_vocab_size(tokenizer, &vocab);
    int32_t cls = afloc_tokenizer_lookup(tokenizer, "[CLS]", 5);
    int32_t sep = afloc_tokenizer_lookup(tokenizer, "[SEP]", 5);
    if (count > AFLOC_MAX_SEQUENCE_LENGTH) count = AFLOC_MAX_SEQUENCE_LENGTH;
    if (count < 2 || ids[0] != cls)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: sequence of %d ids does not start with [CLS]", function, (int)count);
    int32_t length = 0;
    for (int32_t i = 1; i < count && !length; i++) {
        if (ids[i] < 0 || ids[i] >= vocab)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: id %d at %d outside 0..%d",
                              function, (int)ids[i], (int)i, (int)vocab - 1);
        if (ids[i] == sep) length = i + 1;
    }
    if (!length)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: no [SEP] within %d ids", function,
                          (int)count);

    afloc_text_units u;
    memset(&u, 0, sizeof u);
    u.length = length;
    int32_t g = 0;
    u.groups[0] = (afloc_word_group){.first = 0, .count = 1, .is_period = 0, .is_bracket = 1};
    for (int32_t i = 1; i < length - 1; i++) {
        size_t size;
        const char *piece = afloc_tokenizer_piece(tokenizer, ids[i], &size);
        if (starts_with_hashes(piece, size)) {
            u.groups[g].count++;
            u.groups[g].is_period = 0; /* "." + more pieces is no longer exactly "." */
            continue;
        }
        g++;
        u.groups[g].first = i;
        u.groups[g].count = 1;
        u.groups[g].is_period = size == 1 && piece[0] == '.';
        u.groups[g].is_bracket = size >= 1 && piece[0] == '[';
    }
    g++;
    u.groups[g] = (afloc_word_group){.first = length - 1, .count = 1, .is_period = 0,
                                     .is_bracket = 1};
    u.group_count = g + 1;
    u.n_words = g - 1;

    /* Sentences: delimiters d_1 < ... < d_K = s, with d_0 = 0. */
    int32_t n = u.n_words, previous = 0;
    for (int32_t k = 1; k <= n + 1; k++) {
        int delimiter = k == n + 1 || (k <= n - 1 && u.groups[k].is_period);
        if (!delimiter) continue;
        u.sentence_first[u.sentence_count] = previous + 1;
        u.sentence_words[u.sentence_count] = k - previous - 1;
        u.sentence_count++;
        previous = k;
    }

    int32_t counted = 0;
    for (int32_t k = 0; k < u.group_count; k++) counted += !u.groups[k].is_bracket;
    u.cap_len_words = counted + 1;
    u.cap_len_sentences = u.sentence_count + 1;
    *units = u;
    return AFLOC_OK;
}

afloc_status afloc_text_units_group_name(const afloc_tokenizer *tokenizer, const int32_t *ids,
                                         const afloc_text_units *units, int32_t group,
                                         char *buffer, size_t capacity, size_t *needed) {
    if (!tokenizer || !ids || !units || group < 0 || group >= units->group_count)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_text_units_group_name: group %d "
                          "outside 0..%d or NULL argument", (int)group,
                          units ? (int)units->group_count - 1 : -1);
    const afloc_word_group *w = &units->groups[group];
    size_t total = 1;
    for (int32_t i = w->first; i < w->first + w->count; i++) {
        size_t size;
        const char *piece = afloc_tokenizer_piece(tokenizer, ids[i], &size);
        total += (i > w->first && starts_with_hashes(piece, size)) ? size - 2 : size;
    }
    if (needed) *needed = total;
    if (!buffer || capacity < total)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "afloc_text_units_group_name: capacity %zu, "
                          "need %zu", capacity, total);
    size_t pos = 0;
    for (int32_t i = w->first; i < w->first + w->count; i++) {
        size_t size;
        const char *piece = afloc_tokenizer_piece(tokenizer, ids[i], &size);
        if (i > w->first && starts_with_hashes(piece, size)) {
            piece += 2;
            size -= 2;
        }
        memcpy(buffer + pos, piece, size);
        pos += size;
    }
    buffer[pos] = '\0';
    return AFLOC_OK;
}

void afloc_text_units_pack(const afloc_text_units *units, int32_t T, int32_t *packed) {
    memset(packed, 0, (size_t)AFLOC_TEXT_UNITS_INTS(T) * sizeof *packed);
    AFLOC_UNITS_LENGTH(packed) = units->length;
    AFLOC_UNITS_GROUP_COUNT(packed) = units->group_count;
    AFLOC_UNITS_SENTENCE_COUNT(packed) = units->sentence_count;
    for (int32_t g = 0; g < units->group_count && g < T; g++) {
        AFLOC_UNITS_GROUP_FIRST(packed, T, g) = units->groups[g].first;
        AFLOC_UNITS_GROUP_SIZE(packed, T, g) = units->groups[g].count;
    }
    for (int32_t j = 0; j < units->sentence_count && j < T; j++) {
        AFLOC_UNITS_SENT_FIRST(packed, T, j) = units->sentence_first[j];
        AFLOC_UNITS_SENT_WORDS(packed, T, j) = units->sentence_words[j];
    }
}
