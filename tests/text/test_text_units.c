/* test_text_units.c: word groups, sentence units and cap_len (MODEL.md §5.3, §5.6, §5.8) on
 * hand-worked sequences: subword merging, "." delimiters, a trailing "." (never a delimiter),
 * truncation, the [UNK] quirk, empty text. */
#include "test_util.h"
#include "text_units.h"
#include "tokenizer.h"

static const char VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nlung\n##s\nare\nclear\n.\nno\neffusion\n"
                            "pneumo\n##thorax\n";

static void name_is(const afloc_tokenizer *t, const int32_t *ids, const afloc_text_units *u, int32_t g,
                    const char *want) {
    char name[64];
    CHECK_STATUS(afloc_text_units_group_name(t, ids, u, g, name, sizeof name, NULL), AFLOC_OK);
    if (strcmp(name, want) != 0) {
        fprintf(stderr, "group %d named \"%s\", want \"%s\"\n", g, name, want);
        test_failures++;
    }
}

static int build(const afloc_tokenizer *t, const char *text, int32_t *ids, afloc_text_units *u) {
    int32_t length = 0;
    CHECK_STATUS(afloc_tokenizer_encode(t, text, strlen(text), ids, NULL, 12, &length), AFLOC_OK);
    CHECK_STATUS(afloc_text_units_build(t, ids, 12, u, "test"), AFLOC_OK);
    return length;
}

int main(void) {
    afloc_tokenizer_options o = {0};
    o.struct_size = sizeof o;
    afloc_tokenizer_options_default(&o);
    o.max_length = 12;
    afloc_tokenizer *t = NULL;
    CHECK_STATUS(afloc_tokenizer_create(VOCAB, strlen(VOCAB), &o, &t), AFLOC_OK);
    if (!t) return test_finish("text_units");
    int32_t ids[12];
    static afloc_text_units u;

    /* [CLS] the lung ##s are clear . no pneumo ##thorax [SEP]: 8 words, 2 sentences. */
    build(t, "the lungs are clear. no pneumothorax", ids, &u);
    CHECK(u.length == 11 && u.n_words == 7 && u.group_count == 9);
    name_is(t, ids, &u, 0, "[CLS]");
    name_is(t, ids, &u, 2, "lungs");
    name_is(t, ids, &u, 5, ".");
    name_is(t, ids, &u, 7, "pneumothorax");
    name_is(t, ids, &u, 8, "[SEP]");
    CHECK(u.groups[2].first == 2 && u.groups[2].count == 2);
    CHECK(u.groups[7].first == 8 && u.groups[7].count == 2);
    CHECK(u.groups[8].first == 10 && u.groups[8].count == 1);
    CHECK(u.sentence_count == 2);
    CHECK(u.sentence_first[0] == 1 && u.sentence_words[0] == 4); /* the lungs are clear */
    CHECK(u.sentence_first[1] == 6 && u.sentence_words[1] == 2); /* no pneumothorax */
    CHECK(u.cap_len_words == 8 && u.cap_len_sentences == 3);

    /* A trailing "." (last word) is not a delimiter: one sentence that includes it. */
    build(t, "no effusion.", ids, &u);
    CHECK(u.n_words == 3 && u.sentence_count == 1 && u.sentence_words[0] == 3);

    /* Truncation: pieces stop at 10; the split word keeps the pieces that fit. */
    int32_t length = build(t, "the lungs are clear . no the are pneumothorax", ids, &u);
    CHECK(length == 12 && u.n_words == 9 && u.sentence_count == 2);
    CHECK(u.sentence_first[1] == 6 && u.sentence_words[1] == 4);
    name_is(t, ids, &u, 9, "pneumo"); /* the ##thorax piece was cut off */

    /* [UNK] takes a slot but is not counted by cap_len. */
    build(t, "the xyz lungs", ids, &u);
    CHECK(u.n_words == 3 && u.groups[2].is_bracket && u.cap_len_words == 3);
    name_is(t, ids, &u, 2, "[UNK]");

    /* Empty text: [CLS] [SEP], one empty sentence. */
    build(t, "", ids, &u);
    CHECK(u.n_words == 0 && u.group_count == 2 && u.sentence_count == 1 && u.sentence_words[0] == 0);
    CHECK(u.cap_len_words == 1 && u.cap_len_sentences == 2);

    /* ". ." in a row: an empty middle sentence. */
    build(t, "the . . lung", ids, &u);
    CHECK(u.sentence_count == 3 && u.sentence_words[1] == 0);

    /* Misuse. */
    int32_t bad[3] = {4, 3, 0};
    CHECK_STATUS(afloc_text_units_build(t, bad, 3, &u, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    int32_t no_sep[3] = {2, 4, 4};
    CHECK_STATUS(afloc_text_units_build(t, no_sep, 3, &u, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    int32_t out_of_range[3] = {2, 99, 3};
    CHECK_STATUS(afloc_text_units_build(t, out_of_range, 3, &u, "test"), AFLOC_ERR_INVALID_ARGUMENT);
    char small[2];
    build(t, "the lungs", ids, &u);
    CHECK_STATUS(afloc_text_units_group_name(t, ids, &u, 2, small, sizeof small, NULL), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(afloc_text_units_group_name(t, ids, &u, 9, small, sizeof small, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_tokenizer_free(t);
    return test_finish("text_units");
}
