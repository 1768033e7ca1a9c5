/* test_text_clean.c: hand-worked cases of the report cleaning (MODEL.md §4.1-4.3): numbering and
 * decimals, the <= 1 word rule, non-ASCII deletion, the captions_per_image stop rule, buffer
 * sizing, limits. The full comparison with the reference Python runs in text_tokenizer_diff. */
#include "alloc.h"
#include "test_util.h"
#include "text_clean.h"

static void expect_prompt(const char *text, const char *want) {
    char out[512];
    size_t needed = 0;
    CHECK_STATUS(afloc_text_clean_prompt(text, strlen(text), out, sizeof out, &needed), AFLOC_OK);
    if (strcmp(out, want) != 0) {
        fprintf(stderr, "clean(\"%s\") = \"%s\", want \"%s\"\n", text, out, want);
        test_failures++;
    }
    CHECK(needed == strlen(want) + 1);
}

int main(void) {
    expect_prompt("", "");
    expect_prompt("Cardiomegaly", "");                       /* one-word prompt vanishes */
    expect_prompt("cardiomegaly.", "");
    expect_prompt("Mild cardiomegaly", "mild cardiomegaly");
    expect_prompt("1. Small left effusion. 2. No pneumothorax.", "small left effusion no pneumothorax");
    expect_prompt("Nodule 1.5 cm in size", "5 cm in size"); /* "1." is numbering: "nodule" is alone */
    expect_prompt("a_b c-d", "a_b c d");
    expect_prompt("Caf\xc3\xa9 na\xc3\xafve x", "caf nave x");      /* non-ASCII deleted inside words */
    expect_prompt("\xc3\xa9\xc3\xa9 ab", "ab");                   /* all-non-ASCII word dropped, counted */
    expect_prompt("\xc3\xa9\xc3\xa9 \xc3\xbc. ab cd", " ab cd");    /* kept empty sentence, as the reference */
    expect_prompt("e\xcc\x81t\xc3\xa9 x", "e t x");                  /* U+0301 is not \w: splits */
    expect_prompt("A\xc4\xb0" "B cd", "ai b cd");                   /* U+0130 lowers to i + mark */
    expect_prompt("\xe2\x84\xaa" "ELVIN x", "kelvin x");            /* U+212A lowers to k */
    expect_prompt("no\nacute\tdisease", "no acute disease");
    expect_prompt("a\xff" "b c", "a b c");                          /* invalid byte -> U+FFFD, separates */
    expect_prompt("12.34.56 x y", "56 x y");

    /* Buffer sizing. */
    size_t needed = 0;
    CHECK_STATUS(afloc_text_clean_prompt("ab cd", 5, NULL, 0, &needed), AFLOC_OK);
    CHECK(needed == 6);
    char small[3];
    CHECK_STATUS(afloc_text_clean_prompt("ab cd", 5, small, sizeof small, &needed), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(afloc_text_clean_prompt(NULL, 3, NULL, 0, &needed), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_text_clean_prompt(NULL, 0, NULL, 0, &needed), AFLOC_OK);
    CHECK(needed == 1);
    static char big[AFLOC_MAX_TEXT_BYTES + 1];
    memset(big, 'a', sizeof big);
    CHECK_STATUS(afloc_text_clean_prompt(big, sizeof big, NULL, 0, &needed), AFLOC_ERR_LIMIT);
    CHECK_STATUS(afloc_text_clean_prompt(big, AFLOC_MAX_TEXT_BYTES, NULL, 0, &needed), AFLOC_OK);
    CHECK(needed == 1); /* one 1 MiB word: a one-word sentence */

    /* The caption cache stop rule: stop when the running count equals 5 exactly. */
    afloc_text_sentences s;
    const char *report = "heart size normal. lungs are clear now. no effusion. x y";
    CHECK_STATUS(afloc_text_clean_sentences(report, strlen(report), 5, &s, "test"), AFLOC_OK);
    CHECK(s.count == 4); /* 3, 7, 9, 11: never exactly 5, so every sentence stays */
    afloc_text_sentences_free(&s);
    const char *report2 = "one two three four five. six seven";
    CHECK_STATUS(afloc_text_clean_sentences(report2, strlen(report2), 5, &s, "test"), AFLOC_OK);
    CHECK(s.count == 1 && s.words[0] == 5 && strcmp(s.text, "one two three four five") == 0);
    afloc_text_sentences_free(&s);
    const char *report3 = "a b. c d e. f g. h i";
    CHECK_STATUS(afloc_text_clean_sentences(report3, strlen(report3), 5, &s, "test"), AFLOC_OK);
    CHECK(s.count == 2 && strcmp(s.text + s.starts[1], "c d e") == 0);
    afloc_text_sentences_free(&s);

    /* Allocation failures: each is OUT_OF_MEMORY, nothing leaks (ASan). */
    for (long k = 0; k < 8; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_status st = afloc_text_clean_prompt(report, strlen(report), NULL, 0, &needed);
        afloc_test_inject_alloc_failure(-1);
        CHECK(st == AFLOC_OK || st == AFLOC_ERR_OUT_OF_MEMORY);
    }
    return test_finish("text_clean");
}
