/* model_file.c: the libafloc model file convention (DESIGN.md §6): a safetensors file with
 * afloc.format, afloc.config (JSON object) and the vocabulary tensor tokenizer.vocab, plus the
 * schema check of the parameters against a caller-supplied table (S21: AFLOC_ERR_SCHEMA). */
#include "model_file.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

/* Vocabulary: non-empty, '\n'-separated tokens of UTF-8 without NUL or '\r'; one final '\n' may
 * end the last token. Counts the tokens; fails with `code`. */
static afloc_status check_vocab(const unsigned char *vocab, size_t bytes, int32_t *tokens, afloc_status code,
                                const char *function) {
    if (bytes == 0 || !vocab) return afloc_fail(code, "%s: the vocabulary is empty", function);
    if (afloc_st_utf8_invalid_at(vocab, bytes) != bytes)
        return afloc_fail(code, "%s: the vocabulary is not valid UTF-8 at byte %zu", function,
                          afloc_st_utf8_invalid_at(vocab, bytes));
    size_t end = vocab[bytes - 1] == '\n' ? bytes - 1 : bytes;
    int64_t count = 1;
    size_t start = 0;
    for (size_t i = 0; i <= end; i++) {
        if (i < end && vocab[i] != '\n') {
            if (vocab[i] == '\0' || vocab[i] == '\r')
                return afloc_fail(code, "%s: vocabulary byte %zu is 0x%02x", function, i, vocab[i]);
            continue;
        }
        if (i == start) return afloc_fail(code, "%s: vocabulary token %lld is empty", function, (long long)count);
        if (i < end) count++;
        start = i + 1;
    }
    if (count > INT32_MAX) return afloc_fail(code, "%s: vocabulary has more than 2^31 tokens", function);
    *tokens = (int32_t)count;
    return AFLOC_OK;
}

static afloc_status check_config(const char *config, afloc_status code, const char *function) {
    void *json = NULL;
    afloc_status status = afloc_st_json_parse_strict(config, strlen(config), "afloc.config", &json);
    if (status == AFLOC_ERR_FORMAT) {
        char reason[AFLOC_ERROR_CAPACITY]; /* the message buffer cannot be its own source */
        snprintf(reason, sizeof reason, "%s", afloc_last_error());
        return afloc_fail(code, "%s: %s", function, reason);
    }
    if (status != AFLOC_OK) return status;
    cJSON_Delete(json);
    return AFLOC_OK;
}

/* ---- writing ---- */

/* Builds the tensor list (caller's + vocabulary) and metadata, then calls `sink`. */
static afloc_status write_model(const char *path, const char *config_json, const unsigned char *vocab,
                                size_t vocab_bytes, const afloc_st_write_tensor *tensors, int32_t count,
                                const char *function, unsigned char **bytes, size_t *size) {
    if (!config_json || count < 0 || count >= 65536 || (count && !tensors))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL config or bad tensor count %d", function, count);
    int32_t tokens = 0;
    AFLOC_TRY(check_vocab(vocab, vocab_bytes, &tokens, AFLOC_ERR_INVALID_ARGUMENT, function));
    AFLOC_TRY(check_config(config_json, AFLOC_ERR_INVALID_ARGUMENT, function));
    afloc_st_write_tensor *all = afloc_malloc(((size_t)count + 1) * sizeof *all);
    if (!all) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d tensor entries", function, count);
    if (count) memcpy(all, tensors, (size_t)count * sizeof *all);
    int64_t vocab_shape[1] = {(int64_t)vocab_bytes};
    all[count] = (afloc_st_write_tensor){AFLOC_MF_VOCAB_TENSOR, AFLOC_ST_U8, 1, vocab_shape, vocab, vocab_bytes};
    afloc_st_kv metadata[2] = {{AFLOC_MF_FORMAT_KEY, AFLOC_MF_FORMAT_VERSION}, {AFLOC_MF_CONFIG_KEY, config_json}};
    afloc_status status = path ? afloc_st_write(path, all, count + 1, metadata, 2, function)
                               : afloc_st_write_to_memory(all, count + 1, metadata, 2, function, bytes, size);
    afloc_free(all);
    return status;
}

afloc_status afloc_mf_write(const char *path, const char *config_json, const unsigned char *vocab,
                            size_t vocab_bytes, const afloc_st_write_tensor *tensors, int32_t count,
                            const char *function) {
    if (!function) function = "afloc_mf_write";
    if (!path) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path is NULL", function);
    return write_model(path, config_json, vocab, vocab_bytes, tensors, count, function, NULL, NULL);
}

afloc_status afloc_mf_write_to_memory(const char *config_json, const unsigned char *vocab, size_t vocab_bytes,
                                      const afloc_st_write_tensor *tensors, int32_t count, const char *function,
                                      unsigned char **bytes, size_t *size) {
    if (!function) function = "afloc_mf_write_to_memory";
    if (!bytes || !size) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL output", function);
    return write_model(NULL, config_json, vocab, vocab_bytes, tensors, count, function, bytes, size);
}

/* ---- reading ---- */

static void format_shape(char *out, size_t capacity, int32_t rank, const int64_t *shape) {
    size_t at = 0;
    at += (size_t)snprintf(out, capacity, "[");
    for (int32_t r = 0; r < rank && at < capacity; r++)
        at += (size_t)snprintf(out + at, capacity - at, "%s%lld", r ? ", " : "", (long long)shape[r]);
    if (at < capacity) snprintf(out + at, capacity - at, "]");
}

afloc_status afloc_mf_check_schema(const afloc_st_file *file, const afloc_mf_expected *expected,
                                   int32_t expected_count, const char *function) {
    if (!function) function = "afloc_mf_check_schema";
    if (!file || expected_count < 0 || (expected_count && !expected))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL file or bad expected table", function);
    unsigned char *seen = afloc_calloc((size_t)file->tensor_count + 1, 1);
    if (!seen) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the schema check", function);
    afloc_status status = AFLOC_OK;
    for (int32_t e = 0; e < expected_count && status == AFLOC_OK; e++) {
        const afloc_mf_expected *x = &expected[e];
        int32_t index = afloc_st_find(file, x->name);
        if (index < 0 && x->optional) continue;
        if (index < 0) {
            status = afloc_fail(AFLOC_ERR_SCHEMA, "%s: tensor \"%.96s\" is missing", function, x->name);
            break;
        }
        const afloc_st_tensor *t = &file->tensors[index];
        seen[index] = 1;
        if (t->dtype != x->dtype) {
            status = afloc_fail(AFLOC_ERR_SCHEMA, "%s: tensor \"%.96s\" has dtype %s, expected %s", function,
                                x->name, afloc_st_dtype_name(t->dtype), afloc_st_dtype_name(x->dtype));
        } else if (t->rank != x->rank || memcmp(t->shape, x->shape, (size_t)t->rank * sizeof *t->shape) != 0) {
            char got[96], want[96];
            format_shape(got, sizeof got, t->rank, t->shape);
            format_shape(want, sizeof want, x->rank, x->shape);
            status = afloc_fail(AFLOC_ERR_SCHEMA, "%s: tensor \"%.96s\" has shape %s, expected %s", function,
                                x->name, got, want);
        }
    }
    for (int32_t t = 0; t < file->tensor_count && status == AFLOC_OK; t++)
        if (!seen[t] && strcmp(file->tensors[t].name, AFLOC_MF_VOCAB_TENSOR) != 0)
            status = afloc_fail(AFLOC_ERR_SCHEMA, "%s: unexpected tensor \"%.96s\"", function, file->tensors[t].name);
    afloc_free(seen);
    return status;
}

/* Checks the convention on a validated safetensors file and takes ownership of it. */
static afloc_status validate(afloc_st_file *st, const afloc_mf_expected *expected, int32_t expected_count,
                             const char *function, afloc_model_file **out) {
    afloc_status status = AFLOC_OK;
    const char *format = afloc_st_metadata(st, AFLOC_MF_FORMAT_KEY);
    const char *config = afloc_st_metadata(st, AFLOC_MF_CONFIG_KEY);
    int32_t vocab = afloc_st_find(st, AFLOC_MF_VOCAB_TENSOR);
    int32_t tokens = 0;
    if (!format)
        status = afloc_fail(AFLOC_ERR_FORMAT, "%s: not a libafloc model file: no %s in __metadata__", function,
                            AFLOC_MF_FORMAT_KEY);
    else if (strcmp(format, AFLOC_MF_FORMAT_VERSION) != 0)
        status = afloc_fail(AFLOC_ERR_UNSUPPORTED, "%s: model file format version \"%.16s\"; this library reads "
                            "version %s", function, format, AFLOC_MF_FORMAT_VERSION);
    else if (!config)
        status = afloc_fail(AFLOC_ERR_FORMAT, "%s: no %s in __metadata__", function, AFLOC_MF_CONFIG_KEY);
    else if (!afloc_st_metadata(st, AFLOC_ST_SHA256_KEY) || !afloc_st_metadata(st, AFLOC_ST_HEADER_SHA256_KEY))
        /* Our writer always adds both; without them a damaged header could pass unnoticed. */
        status = afloc_fail(AFLOC_ERR_FORMAT, "%s: model file lacks %s or %s", function, AFLOC_ST_SHA256_KEY,
                            AFLOC_ST_HEADER_SHA256_KEY);
    else status = check_config(config, AFLOC_ERR_FORMAT, function);
    if (status == AFLOC_OK && (vocab < 0 || st->tensors[vocab].dtype != AFLOC_ST_U8 || st->tensors[vocab].rank != 1))
        status = afloc_fail(AFLOC_ERR_FORMAT, "%s: no rank-1 U8 tensor %s", function, AFLOC_MF_VOCAB_TENSOR);
    if (status == AFLOC_OK)
        status = check_vocab(st->data + st->tensors[vocab].offset, st->tensors[vocab].nbytes, &tokens,
                             AFLOC_ERR_FORMAT, function);
    if (status == AFLOC_OK && expected) status = afloc_mf_check_schema(st, expected, expected_count, function);
    afloc_model_file *mf = NULL;
    if (status == AFLOC_OK && !(mf = afloc_calloc(1, sizeof *mf)))
        status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the model file", function);
    if (status != AFLOC_OK) {
        afloc_st_free(st);
        return status;
    }
    mf->st = st;
    mf->config_json = config;
    mf->vocab_index = vocab;
    mf->vocab_size = tokens;
    *out = mf;
    return AFLOC_OK;
}

afloc_status afloc_mf_read(const char *path, const afloc_st_limits *limits, const afloc_mf_expected *expected,
                           int32_t expected_count, const char *function, afloc_model_file **out) {
    if (!function) function = "afloc_mf_read";
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL output", function);
    afloc_st_file *st = NULL;
    AFLOC_TRY(afloc_st_read_file(path, limits, function, &st));
    return validate(st, expected, expected_count, function, out);
}

afloc_status afloc_mf_parse(const unsigned char *bytes, size_t size, const afloc_st_limits *limits,
                            const afloc_mf_expected *expected, int32_t expected_count, const char *function,
                            afloc_model_file **out) {
    if (!function) function = "afloc_mf_parse";
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL output", function);
    afloc_st_file *st = NULL;
    AFLOC_TRY(afloc_st_parse_named(bytes, size, limits, function, &st));
    return validate(st, expected, expected_count, function, out);
}

const unsigned char *afloc_mf_vocab(const afloc_model_file *model_file, size_t *bytes) {
    const afloc_st_tensor *t = &model_file->st->tensors[model_file->vocab_index];
    if (bytes) *bytes = t->nbytes;
    return model_file->st->data + t->offset;
}

void afloc_mf_free(afloc_model_file *model_file) {
    if (!model_file) return;
    afloc_st_free(model_file->st);
    afloc_free(model_file);
}
