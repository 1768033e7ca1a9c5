/* synth_vocab.c: the vocab.txt of a synthetic dataset (issue 5): BERT's five special tokens
 * (ids 0..4: [PAD] [UNK] [CLS] [SEP] [MASK]), then every word of the corpus as BERT's basic
 * tokenizer splits it (lowercase, accents stripped, punctuation on its own) in byte order, then
 * every character seen (plus a-z and 0-9) alone and as "##c", so that no text of the corpus, and
 * no new word made of those characters, tokenizes to [UNK]. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "synth.h"
#include "tokenizer.h"

/* A set of short strings (open addressing; entries are offsets into one pool). */
typedef struct word_set {
    size_t *slots; /* (capacity) offset + 1, 0 = empty */
    size_t  capacity, count;
    char   *pool;
    size_t  pool_len, pool_cap;
    int     failed;
} word_set;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int set_grow(word_set *s) {
    size_t cap = s->capacity ? 2 * s->capacity : 1024;
    size_t *slots = afloc_calloc(cap, sizeof *slots);
    if (!slots) return 0;
    for (size_t i = 0; i < s->capacity; i++) {
        if (!s->slots[i]) continue;
        const char *w = s->pool + s->slots[i] - 1;
        size_t j = hash_bytes(w, strlen(w)) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = s->slots[i];
    }
    afloc_free(s->slots);
    s->slots = slots;
    s->capacity = cap;
    return 1;
}

static void set_add(word_set *s, const char *w, size_t n) {
    if (s->failed || n == 0) return;
    if (2 * (s->count + 1) > s->capacity && !set_grow(s)) {
        s->failed = 1;
        return;
    }
    size_t j = hash_bytes(w, n) & (s->capacity - 1);
    while (s->slots[j]) {
        const char *e = s->pool + s->slots[j] - 1;
        if (strlen(e) == n && !memcmp(e, w, n)) return;
        j = (j + 1) & (s->capacity - 1);
    }
    if (s->pool_len + n + 1 > s->pool_cap) {
        size_t cap = s->pool_cap ? 2 * s->pool_cap : 4096;
        while (cap < s->pool_len + n + 1) cap *= 2;
        char *pool = afloc_realloc(s->pool, cap);
        if (!pool) {
            s->failed = 1;
            return;
        }
        s->pool = pool;
        s->pool_cap = cap;
    }
    memcpy(s->pool + s->pool_len, w, n);
    s->pool[s->pool_len + n] = '\0';
    s->slots[j] = s->pool_len + 1;
    s->pool_len += n + 1;
    s->count++;
}

static int set_has(const word_set *s, const char *w, size_t n) {
    if (!s->capacity) return 0;
    size_t j = hash_bytes(w, n) & (s->capacity - 1);
    while (s->slots[j]) {
        const char *e = s->pool + s->slots[j] - 1;
        if (strlen(e) == n && !memcmp(e, w, n)) return 1;
        j = (j + 1) & (s->capacity - 1);
    }
    return 0;
}

static void set_free(word_set *s) {
    afloc_free(s->slots);
    afloc_free(s->pool);
    memset(s, 0, sizeof *s);
}

/* The set's strings, sorted by bytes (a new array of pointers into the pool; afloc_free). */
static const char **set_sorted(const word_set *s) {
    const char **list = afloc_malloc((s->count ? s->count : 1) * sizeof *list);
    if (!list) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->capacity; i++)
        if (s->slots[i]) list[n++] = s->pool + s->slots[i] - 1;
    return list;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct vocab_sets {
    word_set words, chars;
} vocab_sets;

/* Collects the word and each of its UTF-8 characters. */
static void collect_word(void *user, const char *word, size_t size) {
    vocab_sets *v = user;
    set_add(&v->words, word, size);
    for (size_t i = 0; i < size;) {
        unsigned char b = (unsigned char)word[i];
        size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        if (i + len > size) len = size - i;
        set_add(&v->chars, word + i, len);
        i += len;
    }
}

static int append(char **out, size_t *len, size_t *cap, const char *a, const char *b) {
    size_t na = strlen(a), nb = b ? strlen(b) : 0;
    if (*len + na + nb + 1 > *cap) {
        size_t c = *cap ? 2 * *cap : 4096;
        while (c < *len + na + nb + 1) c *= 2;
        char *p = afloc_realloc(*out, c);
        if (!p) return 0;
        *out = p;
        *cap = c;
    }
    memcpy(*out + *len, a, na);
    if (nb) memcpy(*out + *len + na, b, nb);
    (*out)[*len + na + nb] = '\n';
    *len += na + nb + 1;
    return 1;
}

afloc_status afloc_synth_vocab_build(const char *const *texts, size_t count, char **out,
                                     size_t *size, const char *function) {
    static const char *const specials[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    static const char extra[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    vocab_sets v;
    memset(&v, 0, sizeof v);
    afloc_status status = AFLOC_OK;
    for (size_t i = 0; i < count && status == AFLOC_OK && !v.words.failed && !v.chars.failed; i++)
        status = afloc_tokenizer_pre_tokenize(texts[i], strlen(texts[i]), 100, collect_word, &v);
    for (size_t i = 0; extra[i]; i++) set_add(&v.chars, extra + i, 1);
    const char **words = NULL, **chars = NULL;
    char *buffer = NULL;
    size_t len = 0, cap = 0;
    if (status == AFLOC_OK && (v.words.failed || v.chars.failed))
        status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for the vocabulary", function);
    if (status == AFLOC_OK) {
        words = set_sorted(&v.words);
        chars = set_sorted(&v.chars);
        if (!words || !chars)
            status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for the vocabulary", function);
    }
    if (status == AFLOC_OK) {
        qsort(words, v.words.count, sizeof *words, compare_strings);
        qsort(chars, v.chars.count, sizeof *chars, compare_strings);
        int ok = 1;
        for (int i = 0; i < 5 && ok; i++) ok = append(&buffer, &len, &cap, specials[i], NULL);
        for (size_t i = 0; i < v.words.count && ok; i++) ok = append(&buffer, &len, &cap, words[i], NULL);
        for (size_t i = 0; i < v.chars.count && ok; i++) {
            if (!set_has(&v.words, chars[i], strlen(chars[i])))
                ok = append(&buffer, &len, &cap, chars[i], NULL);
            if (ok) ok = append(&buffer, &len, &cap, "##", chars[i]);
        }
        if (!ok) status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for the vocabulary", function);
    }
    afloc_free(words);
    afloc_free(chars);
    set_free(&v.words);
    set_free(&v.chars);
    if (status != AFLOC_OK) {
        afloc_free(buffer);
        return status;
    }
    *out = buffer;
    *size = len;
    return AFLOC_OK;
}
