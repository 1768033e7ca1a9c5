/* tokenizer.c: BERT WordPiece tokenization as HuggingFace's BertTokenizerFast does it with
 * do_lower_case = True (MODEL.md §4.4): BertNormalizer (drop controls/U+0000/U+FFFD, whitespace
 * -> ' ', spaces around CJK ideographs, NFD + strip non-spacing marks, lowercase),
 * BertPreTokenizer (split on whitespace, punctuation split off as single-character words), then
 * per word greedy longest-prefix WordPiece with "##" continuations ([UNK] for the whole word if
 * any position cannot be matched, or if it has more than max_chars_per_word characters), then
 * [CLS] pieces [SEP], truncated to max_length and padded with [PAD].
 *
 * The normalizer works one input character at a time through the generated tables of
 * unicode.h; HF applies NFD to the whole string, which also reorders runs of combining marks
 * by canonical class. Every mark with a non-zero class that BERT keeps is a spacing mark (Mc)
 * inside a script word, so the reordering cannot change where words split; it could only change
 * the ids of words containing two such marks in non-canonical order (documented difference).
 * Tokenization stops as soon as max_length - 2 pieces exist: the truncated result is the same
 * and a 1 MiB text costs no more than its first words. */
#include "tokenizer.h"

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "file_io.h"
#include "options.h"
#include "unicode.h"

struct afloc_tokenizer {
    afloc_tokenizer_options options;
    int32_t   size;     /* V entries                                        */
    char     *pool;     /* the tokens, each followed by a NUL               */
    uint32_t *offsets;  /* (V + 1) start of each token in pool              */
    int32_t  *slots;    /* open-addressing hash table of ids, -1 = empty    */
    uint32_t  slot_mask;
    int32_t   pad_id, unk_id, cls_id, sep_id;
};

static const afloc_tokenizer_options default_options = {
    .struct_size        = sizeof(afloc_tokenizer_options),
    .lowercase          = 1,
    .max_length         = 97,
    .max_chars_per_word = 100,
};

afloc_status afloc_tokenizer_options_default(afloc_tokenizer_options *options) {
    return afloc_options_fill_defaults(options, &default_options, sizeof default_options,
                                       "afloc_tokenizer_options_default");
}

/* ---- vocabulary ---- */

static uint32_t hash_bytes(const char *bytes, size_t size) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < size; i++) h = (h ^ (unsigned char)bytes[i]) * 16777619u;
    return h;
}

int32_t afloc_tokenizer_lookup(const afloc_tokenizer *tokenizer, const char *token, size_t size) {
    uint32_t slot = hash_bytes(token, size) & tokenizer->slot_mask;
    for (;;) {
        int32_t id = tokenizer->slots[slot];
        if (id < 0) return -1;
        uint32_t begin = tokenizer->offsets[id], length = tokenizer->offsets[id + 1] - begin - 1;
        if (length == size && memcmp(tokenizer->pool + begin, token, size) == 0) return id;
        slot = (slot + 1) & tokenizer->slot_mask;
    }
}

const char *afloc_tokenizer_piece(const afloc_tokenizer *tokenizer, int32_t id, size_t *size) {
    uint32_t begin = tokenizer->offsets[id];
    *size = tokenizer->offsets[id + 1] - begin - 1;
    return tokenizer->pool + begin;
}

const afloc_tokenizer_options *afloc_tokenizer_get_options(const afloc_tokenizer *tokenizer) {
    return &tokenizer->options;
}

void afloc_tokenizer_free(afloc_tokenizer *tokenizer) {
    if (!tokenizer) return;
    afloc_free(tokenizer->pool);
    afloc_free(tokenizer->offsets);
    afloc_free(tokenizer->slots);
    afloc_free(tokenizer);
}

/* Counts the lines and checks each one before anything is allocated (RELIABILITY rule 1). */
static afloc_status scan_vocab(const char *vocab, size_t size, int32_t *lines) {
    static const char *fn = "afloc_tokenizer_create";
    int32_t count = 0;
    size_t pos = 0;
    while (pos < size) {
        const char *nl = memchr(vocab + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - vocab) : size;
        size_t length = end - pos;
        if (length && vocab[end - 1] == '\r') length--;
        if (count >= AFLOC_MAX_VOCAB_TOKENS)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: vocabulary has more than %d lines", fn,
                              AFLOC_MAX_VOCAB_TOKENS);
        if (length == 0)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: vocabulary line %d is empty", fn, count + 1);
        if (length > AFLOC_MAX_VOCAB_TOKEN_BYTES)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: vocabulary line %d is %zu bytes (limit %d)", fn,
                              count + 1, length, AFLOC_MAX_VOCAB_TOKEN_BYTES);
        for (size_t i = 0; i < length; i++) {
            unsigned char b = (unsigned char)vocab[pos + i];
            if (b < 0x20 || b == 0x7F)
                return afloc_fail(AFLOC_ERR_FORMAT,
                                  "%s: vocabulary line %d has control byte 0x%02X at column %zu",
                                  fn, count + 1, b, i + 1);
        }
        if (!afloc_utf8_valid((const unsigned char *)vocab + pos, length))
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: vocabulary line %d is not valid UTF-8", fn,
                              count + 1);
        count++;
        pos = end + 1;
    }
    if (count == 0) return afloc_fail(AFLOC_ERR_FORMAT, "%s: vocabulary is empty", fn);
    *lines = count;
    return AFLOC_OK;
}

/* Copies the lines into the pool and the hash table; rejects duplicates. */
static afloc_status index_vocab(afloc_tokenizer *t, const char *vocab, size_t size) {
    size_t pos = 0, out = 0;
    for (int32_t id = 0; id < t->size; id++) {
        const char *nl = memchr(vocab + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - vocab) : size;
        size_t length = end - pos;
        if (length && vocab[end - 1] == '\r') length--;
        t->offsets[id] = (uint32_t)out;
        memcpy(t->pool + out, vocab + pos, length);
        t->pool[out + length] = '\0';
        int32_t previous = afloc_tokenizer_lookup(t, t->pool + out, length);
        if (previous >= 0)
            return afloc_fail(AFLOC_ERR_FORMAT,
                              "afloc_tokenizer_create: vocabulary line %d repeats line %d (\"%.40s\")",
                              id + 1, previous + 1, t->pool + out);
        out += length + 1;
        t->offsets[id + 1] = (uint32_t)out; /* lookups of this id need its end */
        uint32_t slot = hash_bytes(t->pool + t->offsets[id], length) & t->slot_mask;
        while (t->slots[slot] >= 0) slot = (slot + 1) & t->slot_mask;
        t->slots[slot] = id;
        pos = end + 1;
    }
    return AFLOC_OK;
}

static afloc_status find_special(afloc_tokenizer *t, const char *name, int32_t *id) {
    *id = afloc_tokenizer_lookup(t, name, strlen(name));
    if (*id < 0)
        return afloc_fail(AFLOC_ERR_FORMAT, "afloc_tokenizer_create: vocabulary has no %s token",
                          name);
    return AFLOC_OK;
}

static afloc_status check_options(const afloc_tokenizer_options *o, const char *fn) {
    if (o->lowercase != 1)
        return afloc_fail(AFLOC_ERR_UNSUPPORTED, "%s: lowercase %d not supported (only 1 in 0.1)",
                          fn, (int)o->lowercase);
    if (o->max_length < 2 || o->max_length > AFLOC_MAX_SEQUENCE_LENGTH)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: max_length %d outside 2..%d", fn,
                          (int)o->max_length, AFLOC_MAX_SEQUENCE_LENGTH);
    if (o->max_chars_per_word < 1 || o->max_chars_per_word > 10000)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: max_chars_per_word %d outside 1..10000",
                          fn, (int)o->max_chars_per_word);
    return AFLOC_OK;
}

afloc_status afloc_tokenizer_create(const char *vocab, size_t vocab_size,
                                    const afloc_tokenizer_options *options,
                                    afloc_tokenizer **out) {
    static const char *fn = "afloc_tokenizer_create";
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    if (!vocab && vocab_size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: vocab is NULL with size %zu", fn,
                          vocab_size);
    afloc_tokenizer_options o;
    AFLOC_TRY(afloc_options_read(&o, sizeof o, options, &default_options, fn));
    AFLOC_TRY(check_options(&o, fn));
    if (vocab_size > AFLOC_MAX_VOCAB_BYTES)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: vocabulary is %zu bytes (limit %u)", fn,
                          vocab_size, (unsigned)AFLOC_MAX_VOCAB_BYTES);
    int32_t lines = 0;
    AFLOC_TRY(scan_vocab(vocab, vocab_size, &lines));

    uint32_t slots = 16;
    while (slots < 2u * (uint32_t)lines) slots *= 2;
    afloc_tokenizer *t = afloc_calloc(1, sizeof *t);
    if (!t) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for the tokenizer", fn);
    t->options = o;
    t->size = lines;
    t->slot_mask = slots - 1;
    t->pool = afloc_malloc(vocab_size + 1);
    t->offsets = afloc_malloc(((size_t)lines + 1) * sizeof *t->offsets);
    t->slots = afloc_malloc((size_t)slots * sizeof *t->slots);
    if (!t->pool || !t->offsets || !t->slots) {
        afloc_tokenizer_free(t);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for %d vocabulary entries", fn,
                          (int)lines);
    }
    memset(t->slots, 0xFF, (size_t)slots * sizeof *t->slots);
    afloc_status status = index_vocab(t, vocab, vocab_size);
    if (status == AFLOC_OK) status = find_special(t, "[PAD]", &t->pad_id);
    if (status == AFLOC_OK) status = find_special(t, "[UNK]", &t->unk_id);
    if (status == AFLOC_OK) status = find_special(t, "[CLS]", &t->cls_id);
    if (status == AFLOC_OK) status = find_special(t, "[SEP]", &t->sep_id);
    if (status != AFLOC_OK) {
        afloc_tokenizer_free(t);
        return status;
    }
    afloc_clear_error();
    *out = t;
    return AFLOC_OK;
}

afloc_status afloc_tokenizer_load(const char *vocab_path, const afloc_tokenizer_options *options,
                                  afloc_tokenizer **out) {
    static const char *fn = "afloc_tokenizer_load";
    if (!vocab_path || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: vocab_path or out is NULL", fn);
    unsigned char *data = NULL;
    size_t size = 0;
    AFLOC_TRY(afloc_read_file(vocab_path, AFLOC_MAX_VOCAB_BYTES, fn, &data, &size));
    afloc_status status = afloc_tokenizer_create((const char *)data, size, options, out);
    afloc_free(data);
    return status;
}

afloc_status afloc_tokenizer_vocab_size(const afloc_tokenizer *tokenizer, int32_t *size) {
    if (!tokenizer || !size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_tokenizer_vocab_size: tokenizer or size is NULL");
    *size = tokenizer->size;
    return AFLOC_OK;
}

afloc_status afloc_tokenizer_token_id(const afloc_tokenizer *tokenizer, const char *token,
                                      int32_t *id) {
    if (!tokenizer || !token || !id)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_tokenizer_token_id: tokenizer, token or id is NULL");
    size_t length = strnlen(token, AFLOC_MAX_VOCAB_TOKEN_BYTES + 1);
    *id = length > AFLOC_MAX_VOCAB_TOKEN_BYTES ? -1 : afloc_tokenizer_lookup(tokenizer, token, length);
    return AFLOC_OK;
}

afloc_status afloc_tokenizer_token_text(const afloc_tokenizer *tokenizer, int32_t id, char *buffer,
                                        size_t capacity, size_t *needed) {
    static const char *fn = "afloc_tokenizer_token_text";
    if (!tokenizer) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tokenizer is NULL", fn);
    if (id < 0 || id >= tokenizer->size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: id %d outside 0..%d", fn, (int)id,
                          (int)tokenizer->size - 1);
    size_t length;
    const char *piece = afloc_tokenizer_piece(tokenizer, id, &length);
    if (needed) *needed = length + 1;
    if (!buffer) return AFLOC_OK;
    if (capacity < length + 1)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: capacity %zu, need %zu", fn, capacity,
                          length + 1);
    memcpy(buffer, piece, length + 1);
    return AFLOC_OK;
}

/* ---- encoding ---- */

/* The state of one encode call: the word being built and the pieces emitted so far. */
typedef struct encoder {
    const afloc_tokenizer *t;  /* NULL when only pre-tokenizing into `sink` */
    afloc_word_sink sink;
    void    *sink_user;
    int32_t  max_chars;
    int32_t  limit;     /* pieces wanted: max_length - 2                        */
    int32_t  count;     /* pieces emitted                                       */
    int32_t *pieces;    /* (limit) emitted piece ids                            */
    char    *word;      /* "##" + the word's UTF-8 bytes (bytes kept up to the char limit) */
    size_t   word_bytes;
    int32_t  word_chars;
    size_t  *bounds;    /* (max_chars + 1) byte offset of each character start  */
    int32_t *scratch;   /* (max_chars) pieces of the current word               */
} encoder;

static void emit(encoder *e, int32_t id) {
    if (e->count < e->limit) e->pieces[e->count++] = id;
}

/* Greedy longest-prefix WordPiece on the finished word, then resets it. */
static void finish_word(encoder *e) {
    int32_t chars = e->word_chars;
    if (chars == 0) return;
    size_t word_bytes = e->word_bytes;
    e->word_chars = 0;
    e->word_bytes = 0;
    if (e->sink) {
        e->sink(e->sink_user, e->word + 2, chars > e->max_chars ? 0 : word_bytes);
        return;
    }
    if (chars > e->max_chars) {
        emit(e, e->t->unk_id);
        return;
    }
    char *bytes = e->word + 2; /* the "##" slot precedes the word */
    int32_t n = 0;
    int32_t start = 0;
    while (start < chars) {
        int32_t end = chars, id = -1;
        for (; end > start; end--) {
            size_t a = e->bounds[start], b = e->bounds[end];
            if (start == 0) {
                id = afloc_tokenizer_lookup(e->t, bytes, b);
            } else {
                /* Look up "##" + bytes[a..b): write the prefix into the two bytes before it
                 * (e->word + a, since bytes = e->word + 2), then restore them. */
                char *prefix = e->word + a;
                char saved0 = prefix[0], saved1 = prefix[1];
                prefix[0] = '#';
                prefix[1] = '#';
                id = afloc_tokenizer_lookup(e->t, prefix, b - a + 2);
                prefix[0] = saved0;
                prefix[1] = saved1;
            }
            if (id >= 0) break;
        }
        if (id < 0) {
            emit(e, e->t->unk_id);
            return;
        }
        e->scratch[n++] = id;
        start = end;
    }
    for (int32_t i = 0; i < n; i++) emit(e, e->scratch[i]);
}

static void append_char(encoder *e, uint32_t cp) {
    if (e->word_chars < e->max_chars + 1) {
        e->bounds[e->word_chars] = e->word_bytes;
        e->word_bytes += afloc_utf8_put(cp, (unsigned char *)e->word + 2 + e->word_bytes);
        e->bounds[e->word_chars + 1] = e->word_bytes;
    }
    if (e->word_chars < INT32_MAX) e->word_chars++;
}

/* One character of normalized text: whitespace ends the word, punctuation is a word of its own. */
static void pre_tokenize(encoder *e, uint32_t cp) {
    uint32_t flags = afloc_unicode_flags(cp);
    if (flags & AFLOC_UNICODE_SPACE) {
        finish_word(e);
    } else if (flags & AFLOC_UNICODE_PUNCT) {
        finish_word(e);
        append_char(e, cp);
        finish_word(e);
    } else {
        append_char(e, cp);
    }
}

/* BertNormalizer for one input character, feeding the pre-tokenizer. */
static void normalize(encoder *e, uint32_t cp) {
    uint32_t flags = afloc_unicode_flags(cp);
    if (flags & (AFLOC_UNICODE_DROP | AFLOC_UNICODE_MN)) return;
    if (flags & AFLOC_UNICODE_SPACE) {
        finish_word(e);
        return;
    }
    uint32_t folded[AFLOC_UNICODE_MAX_FOLD];
    size_t n = afloc_unicode_fold_char(cp, folded);
    int cjk = afloc_unicode_is_cjk(cp);
    if (cjk) finish_word(e);
    for (size_t i = 0; i < n; i++) pre_tokenize(e, folded[i]);
    if (cjk) finish_word(e);
}

afloc_status afloc_tokenizer_pre_tokenize(const char *text, size_t text_len, int32_t max_chars,
                                         afloc_word_sink sink, void *user) {
    static const char *fn = "afloc_tokenizer_pre_tokenize";
    if ((!text && text_len) || !sink || max_chars < 1 || max_chars > 10000)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: bad argument", fn);
    size_t bytes = ((size_t)max_chars + 2) * sizeof(size_t) + 2 + 4 * ((size_t)max_chars + 1);
    unsigned char *block = afloc_malloc(bytes);
    if (!block) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory", fn);
    encoder e = {0};
    e.sink = sink;
    e.sink_user = user;
    e.max_chars = max_chars;
    e.limit = INT32_MAX;
    e.bounds = (size_t *)block;
    e.word = (char *)(block + ((size_t)max_chars + 2) * sizeof(size_t));
    const unsigned char *in = (const unsigned char *)text;
    size_t pos = 0;
    while (pos < text_len) normalize(&e, afloc_utf8_next(in, text_len, &pos));
    finish_word(&e);
    afloc_free(block);
    return AFLOC_OK;
}

afloc_status afloc_tokenizer_encode(const afloc_tokenizer *tokenizer, const char *text,
                                    size_t text_len, int32_t *ids, int32_t *attention_mask,
                                    int32_t capacity, int32_t *length) {
    static const char *fn = "afloc_tokenizer_encode";
    if (!tokenizer || !ids)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tokenizer or ids is NULL", fn);
    if (!text && text_len)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: text is NULL with text_len %zu", fn,
                          text_len);
    if (text_len > AFLOC_MAX_TEXT_BYTES)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: text is %zu bytes (limit %u)", fn, text_len,
                          (unsigned)AFLOC_MAX_TEXT_BYTES);
    int32_t max_length = tokenizer->options.max_length;
    if (capacity < max_length)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: capacity %d is below max_length %d", fn,
                          (int)capacity, (int)max_length);

    size_t max_chars = (size_t)tokenizer->options.max_chars_per_word;
    size_t word_bytes = 2 + 4 * (max_chars + 1);
    size_t bytes = (size_t)max_length * sizeof(int32_t) + max_chars * sizeof(int32_t) +
                   (max_chars + 2) * sizeof(size_t) + word_bytes;
    unsigned char *block = afloc_malloc(bytes);
    if (!block)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for %zu bytes of workspace", fn,
                          bytes);
    encoder e = {0};
    e.t = tokenizer;
    e.max_chars = (int32_t)max_chars;
    e.limit = max_length - 2;
    e.bounds = (size_t *)block;
    e.pieces = (int32_t *)(block + (max_chars + 2) * sizeof(size_t));
    e.scratch = e.pieces + max_length;
    e.word = (char *)(e.scratch + max_chars);

    const unsigned char *in = (const unsigned char *)text;
    size_t pos = 0;
    while (pos < text_len && e.count < e.limit) normalize(&e, afloc_utf8_next(in, text_len, &pos));
    finish_word(&e);

    int32_t n = 0;
    ids[n++] = tokenizer->cls_id;
    for (int32_t i = 0; i < e.count; i++) ids[n++] = e.pieces[i];
    ids[n++] = tokenizer->sep_id;
    for (int32_t i = 0; i < max_length; i++) {
        if (i >= n) ids[i] = tokenizer->pad_id;
        if (attention_mask) attention_mask[i] = i < n;
    }
    if (length) *length = n;
    afloc_free(block);
    return AFLOC_OK;
}
