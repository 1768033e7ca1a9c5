/* fuzz_tokenizer.c: libFuzzer target for the vocabulary loader, the BERT tokenizer, the report
 * cleaning and the word/sentence bookkeeping (RELIABILITY T8). The first two bytes choose where
 * the input splits into a vocabulary part and a text part. The vocabulary part goes to
 * afloc_tokenizer_create (failure is fine; success must give a tokenizer that encodes within
 * bounds); the text part is cleaned and encoded with a fixed valid vocabulary, and the results
 * are checked: ids in [0, V), length in 2..max_length, mask consistent, units buildable. Any
 * violation aborts (which is what a fuzzer reports). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "text_clean.h"
#include "text_units.h"

static const char FIXED_VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n,\n_\n-\n(\n)\na\nb\nc\nd\ne\nf\ng\nh\ni\nl\nm\nn\no\np\n"
    "r\ns\nt\nu\n##a\n##e\n##i\n##o\n##s\n##n\n##t\nthe\nno\nlung\nclear\nheart\nsize\n"
    "normal\neffusion\npneumo\n##thorax\ncardio\n##megaly\n1\n2\n##5\ncm\n中\né\n";

static void require(int condition) {
    if (!condition) abort();
}

static void check_encode(const afloc_tokenizer *t, const char *text, size_t size) {
    int32_t vocab = 0;
    require(afloc_tokenizer_vocab_size(t, &vocab) == AFLOC_OK);
    int32_t ids[AFLOC_MAX_SEQUENCE_LENGTH], mask[AFLOC_MAX_SEQUENCE_LENGTH], length = 0;
    afloc_status st = afloc_tokenizer_encode(t, text, size, ids, mask, AFLOC_MAX_SEQUENCE_LENGTH, &length);
    if (st == AFLOC_ERR_OUT_OF_MEMORY) return;
    require(st == AFLOC_OK);
    require(length >= 2 && length <= 97);
    for (int32_t i = 0; i < 97; i++) {
        require(ids[i] >= 0 && ids[i] < vocab);
        require(mask[i] == (i < length));
    }
    static afloc_text_units units;
    st = afloc_text_units_build(t, ids, 97, &units, "fuzz");
    require(st == AFLOC_OK);
    require(units.length == length && units.group_count == units.n_words + 2);
    require(units.cap_len_words >= 1 && units.cap_len_words <= units.n_words + 1);
    char name[AFLOC_MAX_VOCAB_TOKEN_BYTES * 97 + 1];
    for (int32_t g = 0; g < units.group_count; g++)
        require(afloc_text_units_group_name(t, ids, &units, g, name, sizeof name, NULL) == AFLOC_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static afloc_tokenizer *fixed = NULL;
    if (!fixed && afloc_tokenizer_create(FIXED_VOCAB, strlen(FIXED_VOCAB), NULL, &fixed) != AFLOC_OK)
        abort();
    if (size < 2) return 0;
    size_t split = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    const char *vocab = (const char *)data + 2, *text = vocab + split;
    size_t text_size = size - 2 - split;

    afloc_tokenizer *t = NULL;
    afloc_status st = afloc_tokenizer_create(vocab, split, NULL, &t);
    require(st == AFLOC_OK || st == AFLOC_ERR_FORMAT || st == AFLOC_ERR_LIMIT ||
            st == AFLOC_ERR_OUT_OF_MEMORY);
    require((st == AFLOC_OK) == (t != NULL));
    if (t) check_encode(t, text, text_size);
    afloc_tokenizer_free(t);

    check_encode(fixed, text, text_size);
    size_t needed = 0;
    st = afloc_text_clean_prompt(text, text_size, NULL, 0, &needed);
    require(st == AFLOC_OK || st == AFLOC_ERR_OUT_OF_MEMORY);
    if (st == AFLOC_OK) {
        require(needed <= text_size + 1);
        char *out = malloc(needed);
        require(out != NULL);
        require(afloc_text_clean_prompt(text, text_size, out, needed, NULL) == AFLOC_OK);
        for (size_t i = 0; i + 1 < needed; i++)
            require((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') ||
                    out[i] == '_' || out[i] == ' ');
        check_encode(fixed, out, needed - 1);
        free(out);
    }
    afloc_text_sentences sentences;
    if (afloc_text_clean_sentences(text, text_size, 5, &sentences, "fuzz") == AFLOC_OK)
        afloc_text_sentences_free(&sentences);
    return 0;
}
