/* test_tokenizer.c: the BERT tokenizer's own contract: hand-worked encodings (lowercase, accents,
 * punctuation, "##" pieces, [UNK], the 100-character rule, truncation at max_length, padding),
 * vocabulary validation (empty, duplicate, invalid UTF-8, control bytes, missing specials, limits,
 * CRLF), API misuse, 1 MiB texts (time measured), and allocation failure injection. */
#include <time.h>

#include "alloc.h"
#include "test_util.h"
#include "tokenizer.h"

/* [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 then a few pieces. */
static const char VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nlung\n##s\nare\nclear\n.\n,\n_\n"
                            "cafe\npneumo\n##thorax\na\n##a\n中\n1\n##5\ncm\n";

static afloc_tokenizer *make(const char *vocab, int32_t max_length) {
    afloc_tokenizer_options o = {0};
    o.struct_size = sizeof o;
    afloc_tokenizer_options_default(&o);
    o.max_length = max_length;
    afloc_tokenizer *t = NULL;
    CHECK_STATUS(afloc_tokenizer_create(vocab, strlen(vocab), &o, &t), AFLOC_OK);
    return t;
}

static void expect(const afloc_tokenizer *t, const char *text, const int32_t *want, int32_t n) {
    int32_t ids[16], mask[16], length = -1;
    CHECK_STATUS(afloc_tokenizer_encode(t, text, strlen(text), ids, mask, 16, &length), AFLOC_OK);
    int ok = length == n;
    for (int32_t i = 0; i < n && ok; i++) ok = ids[i] == want[i] && mask[i] == 1;
    for (int32_t i = n; i < 8 && ok; i++) ok = ids[i] == 0 && mask[i] == 0;
    if (!ok) {
        fprintf(stderr, "encode(\"%s\"): got", text);
        for (int32_t i = 0; i < length; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, ", want");
        for (int32_t i = 0; i < n; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
        test_failures++;
    }
}

static void test_encode(void) {
    afloc_tokenizer *t = make(VOCAB, 8);
    if (!t) return;
    expect(t, "", (int32_t[]){2, 3}, 2);
    expect(t, "The LUNGS are clear.", (int32_t[]){2, 5, 6, 7, 8, 9, 10, 3}, 8);
    expect(t, "Caf\xc3\xa9", (int32_t[]){2, 13, 3}, 3);                 /* accent stripped */
    expect(t, "pneumothorax", (int32_t[]){2, 14, 15, 3}, 4);
    expect(t, "pneumox", (int32_t[]){2, 1, 3}, 3);                        /* unmatched tail: [UNK] */
    expect(t, "the_lung", (int32_t[]){2, 5, 12, 6, 3}, 5);               /* '_' is punctuation */
    expect(t, "1.5 cm", (int32_t[]){2, 19, 10, 1, 21, 3}, 6);           /* "5" alone has no piece */
    expect(t, "a\xe4\xb8\xad" "a", (int32_t[]){2, 16, 18, 16, 3}, 5);  /* CJK split off */
    expect(t, "\t the\x01\xe2\x80\x8b lung\r\n", (int32_t[]){2, 5, 6, 3}, 4); /* controls dropped */
    expect(t, "a\xff" "a", (int32_t[]){2, 16, 17, 3}, 4);             /* bad byte -> U+FFFD -> dropped */
    expect(t, "the the the the the the the the", (int32_t[]){2, 5, 5, 5, 5, 5, 5, 3}, 8); /* truncated */
    /* 100 characters is still a word; 101 is [UNK]. */
    char word[102];
    memset(word, 'a', sizeof word);
    word[101] = '\0';
    int32_t ids[8], length;
    CHECK_STATUS(afloc_tokenizer_encode(t, word, 100, ids, NULL, 8, &length), AFLOC_OK);
    CHECK(length == 8 && ids[1] == 16 && ids[2] == 17); /* a ##a ##a ... truncated */
    CHECK_STATUS(afloc_tokenizer_encode(t, word, 101, ids, NULL, 8, &length), AFLOC_OK);
    CHECK(length == 3 && ids[1] == 1);

    /* Lookups. */
    int32_t id = 0, size = 0;
    CHECK_STATUS(afloc_tokenizer_vocab_size(t, &size), AFLOC_OK);
    CHECK(size == 22);
    CHECK_STATUS(afloc_tokenizer_token_id(t, "##thorax", &id), AFLOC_OK);
    CHECK(id == 15);
    CHECK_STATUS(afloc_tokenizer_token_id(t, "absent", &id), AFLOC_OK);
    CHECK(id == -1);
    char text[16];
    size_t needed = 0;
    CHECK_STATUS(afloc_tokenizer_token_text(t, 15, NULL, 0, &needed), AFLOC_OK);
    CHECK(needed == 9);
    CHECK_STATUS(afloc_tokenizer_token_text(t, 15, text, 8, &needed), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(afloc_tokenizer_token_text(t, 15, text, sizeof text, NULL), AFLOC_OK);
    CHECK(strcmp(text, "##thorax") == 0);
    CHECK_STATUS(afloc_tokenizer_token_text(t, 22, text, sizeof text, NULL), AFLOC_ERR_INVALID_ARGUMENT);

    /* Misuse. */
    CHECK_STATUS(afloc_tokenizer_encode(NULL, "a", 1, ids, NULL, 8, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_tokenizer_encode(t, "a", 1, NULL, NULL, 8, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_tokenizer_encode(t, NULL, 1, ids, NULL, 8, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_tokenizer_encode(t, NULL, 0, ids, NULL, 8, NULL), AFLOC_OK);
    ids[0] = -7;
    CHECK_STATUS(afloc_tokenizer_encode(t, "a", 1, ids, NULL, 7, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(ids[0] == -7); /* untouched on failure */
    afloc_tokenizer_free(t);
    afloc_tokenizer_free(NULL);
}

static void expect_vocab_error(const char *vocab, size_t size, afloc_status want, const char *fragment) {
    afloc_tokenizer *t = (afloc_tokenizer *)&t;
    if (vocab && size == 0) size = strlen(vocab);
    CHECK_STATUS(afloc_tokenizer_create(vocab, size, NULL, &t), want);
    CHECK(t == (afloc_tokenizer *)&t);
    if (fragment && !strstr(afloc_last_error(), fragment)) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", afloc_last_error(), fragment);
        test_failures++;
    }
}

static void test_vocab(void) {
    expect_vocab_error("", 0, AFLOC_ERR_FORMAT, "empty"); /* size 0 below means strlen */
    expect_vocab_error("[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\nx\n", 0, AFLOC_ERR_FORMAT, "line 6 repeats line 5");
    expect_vocab_error("[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n", 0, AFLOC_ERR_FORMAT, "line 3 is empty");
    expect_vocab_error("[PAD]\n[UNK]\n[CLS]\n[SEP]\n\xc3\x28\n", 0, AFLOC_ERR_FORMAT, "line 5 is not valid UTF-8");
    expect_vocab_error("[PAD]\n[UNK]\n[CLS]\n[SEP]\n\xed\xa0\x80\n", 0, AFLOC_ERR_FORMAT, "UTF-8");
    expect_vocab_error("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\tb\n", 0, AFLOC_ERR_FORMAT, "control byte");
    expect_vocab_error("[PAD]\n[UNK]\n[CLS]\na\0b\n", 22, AFLOC_ERR_FORMAT, "control byte");
    expect_vocab_error("[PAD]\n[UNK]\n[CLS]\n", 0, AFLOC_ERR_FORMAT, "no [SEP]");
    expect_vocab_error(NULL, 3, AFLOC_ERR_INVALID_ARGUMENT, NULL);
    char long_token[600] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
    memset(long_token + 24, 'x', 257);
    expect_vocab_error(long_token, 24 + 257, AFLOC_ERR_LIMIT, "257 bytes");
    memset(long_token + 24, 'x', 300);
    long_token[24 + 256] = '\0';
    afloc_tokenizer *t = NULL;
    CHECK_STATUS(afloc_tokenizer_create(long_token, strlen(long_token), NULL, &t), AFLOC_OK); /* 256 ok */
    afloc_tokenizer_free(t);
    CHECK_STATUS(afloc_tokenizer_create("x", (size_t)AFLOC_MAX_VOCAB_BYTES + 1, NULL, &t), AFLOC_ERR_LIMIT);
    /* CRLF lines and a last line without newline are accepted. */
    t = NULL;
    CHECK_STATUS(afloc_tokenizer_create("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nab", 30, NULL, &t), AFLOC_OK);
    int32_t id = -1;
    if (t) {
        CHECK_STATUS(afloc_tokenizer_token_id(t, "ab", &id), AFLOC_OK);
        CHECK(id == 4);
        CHECK_STATUS(afloc_tokenizer_token_id(t, "[SEP]", &id), AFLOC_OK);
        CHECK(id == 3);
    }
    afloc_tokenizer_free(t);
    /* Options. */
    afloc_tokenizer_options o = {0};
    o.struct_size = sizeof o;
    CHECK_STATUS(afloc_tokenizer_options_default(&o), AFLOC_OK);
    CHECK(o.lowercase == 1 && o.max_length == 97 && o.max_chars_per_word == 100);
    o.max_length = 1;
    CHECK_STATUS(afloc_tokenizer_create(VOCAB, strlen(VOCAB), &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    o.max_length = 97;
    o.lowercase = 0;
    CHECK_STATUS(afloc_tokenizer_create(VOCAB, strlen(VOCAB), &o, &t), AFLOC_ERR_UNSUPPORTED);
    CHECK_STATUS(afloc_tokenizer_options_default(NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_tokenizer_load("/nonexistent/vocab.txt", NULL, &t), AFLOC_ERR_IO);
}

static void test_huge(void) {
    afloc_tokenizer *t = make(VOCAB, 97);
    if (!t) return;
    static char big[AFLOC_MAX_TEXT_BYTES + 1];
    int32_t ids[97], length = 0;
    const char fills[] = {'a', ' ', '.'};
    for (int k = 0; k < 3; k++) {
        memset(big, fills[k], sizeof big);
        clock_t start = clock();
        CHECK_STATUS(afloc_tokenizer_encode(t, big, AFLOC_MAX_TEXT_BYTES, ids, NULL, 97, &length), AFLOC_OK);
        double ms = 1000.0 * (double)(clock() - start) / CLOCKS_PER_SEC;
        printf("1 MiB of '%c': %d tokens in %.1f ms\n", fills[k], (int)length, ms);
        CHECK(ms < 2000.0);
    }
    CHECK_STATUS(afloc_tokenizer_encode(t, big, sizeof big, ids, NULL, 97, &length), AFLOC_ERR_LIMIT);
    afloc_tokenizer_free(t);
}

static void test_oom(void) {
    int failures_seen = 0;
    for (long k = 0; k < 10; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_tokenizer *t = NULL;
        afloc_status st = afloc_tokenizer_create(VOCAB, strlen(VOCAB), NULL, &t);
        int32_t ids[97];
        afloc_status st2 = t ? afloc_tokenizer_encode(t, "the lungs", 9, ids, NULL, 97, NULL) : AFLOC_OK;
        afloc_test_inject_alloc_failure(-1);
        CHECK(st == AFLOC_OK || st == AFLOC_ERR_OUT_OF_MEMORY);
        CHECK(st2 == AFLOC_OK || st2 == AFLOC_ERR_OUT_OF_MEMORY);
        failures_seen += st != AFLOC_OK || st2 != AFLOC_OK;
        afloc_tokenizer_free(t);
    }
    CHECK(failures_seen >= 5);
}

int main(void) {
    test_encode();
    test_vocab();
    test_huge();
    test_oom();
    return test_finish("text_tokenizer");
}
