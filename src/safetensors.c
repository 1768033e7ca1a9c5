/* safetensors.c: the strict safetensors reader (RELIABILITY §1.5, S1-S24). Every size that comes
 * from the file is checked against the real size and a cap before it is used, byte ranges must tile
 * the data region exactly, and JSON that other parsers would read differently is refused.
 *
 * Order of checks (each step only runs on what the previous ones proved):
 *   1. size >= 8; header length N <= size - 8 (FORMAT); N <= cap (LIMIT);
 *   2. the N header bytes are strict UTF-8 (no overlongs, surrogates, truncated sequences);
 *   3. a lexical pre-scan: starts with '{', only 0x20 after the closing '}', no control bytes,
 *      no \u0000, numbers are plain non-negative integers of <= 15 digits (cJSON keeps numbers
 *      as doubles, so this keeps every value exact below 2^53), depth <= 64, bounded node count;
 *   4. cJSON on a NUL-terminated copy; then the schema of every entry, duplicate keys, dtypes,
 *      shapes with checked multiplication;
 *   5. sorted by offset, the ranges start at 0, touch without gaps or overlaps and end at the end
 *      of the file; then the optional SHA-256 of the data region. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"

#define DEFAULT_FUNCTION "afloc_st_parse_from_memory"
/* cJSON nodes a valid header needs per tensor: the entry, its 3 members, up to 8 + 2 numbers. */
#define NODES_PER_TENSOR 24

/* ---- dtypes ---- */

static const struct {
    const char *name;
    size_t      size;
} dtype_table[AFLOC_ST_DTYPE_COUNT] = {
    [AFLOC_ST_F64] = {"F64", 8},  [AFLOC_ST_F32] = {"F32", 4}, [AFLOC_ST_F16] = {"F16", 2},
    [AFLOC_ST_BF16] = {"BF16", 2}, [AFLOC_ST_I64] = {"I64", 8}, [AFLOC_ST_I32] = {"I32", 4},
    [AFLOC_ST_I16] = {"I16", 2},  [AFLOC_ST_I8] = {"I8", 1},   [AFLOC_ST_U64] = {"U64", 8},
    [AFLOC_ST_U32] = {"U32", 4},  [AFLOC_ST_U16] = {"U16", 2}, [AFLOC_ST_U8] = {"U8", 1},
    [AFLOC_ST_BOOL] = {"BOOL", 1},
};

/* Valid safetensors dtypes that libafloc does not handle: UNSUPPORTED rather than FORMAT. */
static const char *const unsupported_dtypes[] = {
    "C64", "C128", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "E8M0",
};

const char *afloc_st_dtype_name(afloc_st_dtype dtype) {
    return (unsigned)dtype < AFLOC_ST_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

size_t afloc_st_dtype_size(afloc_st_dtype dtype) {
    return (unsigned)dtype < AFLOC_ST_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

void afloc_st_limits_default(afloc_st_limits *limits) {
    limits->max_header_bytes = 16u << 20;
    limits->max_tensors = 65536;
    limits->max_rank = AFLOC_ST_MAX_RANK;
    limits->max_dimension = INT32_MAX;
    limits->max_name_bytes = 1024;
    limits->max_file_bytes = (uint64_t)64 << 30;
    limits->verify_checksum = 1;
}

/* ---- tensor entries ---- */

/* Names and metadata keys: 1..max bytes, no control characters (UTF-8 is checked already, but a
 * \u escape can produce anything, so it is checked again here). */
static afloc_status check_name(const char *name, size_t max, const char *what, const char *function) {
    size_t length = strlen(name);
    if (length == 0) return afloc_fail(AFLOC_ERR_FORMAT, "%s: empty %s", function, what);
    if (length > max)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s \"%.32s...\" is %zu bytes, limit %zu", function, what,
                          name, length, max);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s \"%.32s\" has control byte 0x%02x", function, what,
                              name, c);
    }
    if (afloc_st_utf8_invalid_at((const unsigned char *)name, length) != length)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s \"%.32s\" is not valid UTF-8", function, what, name);
    return AFLOC_OK;
}

static afloc_status parse_dtype(const cJSON *item, const char *name, const char *function,
                                afloc_st_dtype *dtype) {
    if (!cJSON_IsString(item))
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\": dtype is not a string", function, name);
    for (int d = 0; d < AFLOC_ST_DTYPE_COUNT; d++)
        if (strcmp(item->valuestring, dtype_table[d].name) == 0) {
            *dtype = (afloc_st_dtype)d;
            return AFLOC_OK;
        }
    for (size_t k = 0; k < sizeof unsupported_dtypes / sizeof *unsupported_dtypes; k++)
        if (strcmp(item->valuestring, unsupported_dtypes[k]) == 0)
            return afloc_fail(AFLOC_ERR_UNSUPPORTED, "%s: tensor \"%.64s\": dtype %s is not supported",
                              function, name, unsupported_dtypes[k]);
    return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\": unknown dtype \"%.16s\"", function, name,
                      item->valuestring);
}

/* A number the pre-scan has proved to be an integer literal below 10^15, hence exact. */
static afloc_status integer_value(const cJSON *item, const char *what, const char *name,
                                  const char *function, uint64_t *value) {
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0.0) || item->valuedouble >= 1e15)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\": %s holds a non-integer", function, name, what);
    *value = (uint64_t)item->valuedouble;
    return AFLOC_OK;
}

static afloc_status parse_entry(const cJSON *entry, const afloc_st_limits *limits, const char *function,
                                afloc_st_tensor *tensor, uint64_t *begin, uint64_t *end) {
    const char *name = entry->string;
    AFLOC_TRY(check_name(name, limits->max_name_bytes, "tensor name", function));
    if (!cJSON_IsObject(entry))
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\" is not a JSON object", function, name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *c = entry->child; c; c = c->next) {
        const cJSON **slot = !strcmp(c->string, "dtype") ? &dtype
                           : !strcmp(c->string, "shape") ? &shape
                           : !strcmp(c->string, "data_offsets") ? &offsets : NULL;
        if (!slot)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\" has unknown field \"%.32s\"", function,
                              name, c->string);
        if (*slot)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\" repeats field \"%s\"", function, name,
                              c->string);
        *slot = c;
    }
    if (!dtype || !shape || !offsets)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\" lacks \"%s\"", function, name,
                          !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    AFLOC_TRY(parse_dtype(dtype, name, function, &tensor->dtype));

    if (!cJSON_IsArray(shape))
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\": shape is not an array", function, name);
    int rank = cJSON_GetArraySize(shape);
    if (rank > limits->max_rank)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: tensor \"%.64s\" has rank %d, limit %d", function, name, rank,
                          limits->max_rank);
    uint64_t elements = 1;
    int overflow = 0, r = 0;
    for (const cJSON *c = shape->child; c; c = c->next, r++) {
        uint64_t dim = 0;
        AFLOC_TRY(integer_value(c, "shape", name, function, &dim));
        if (dim > (uint64_t)limits->max_dimension)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: tensor \"%.64s\": dimension %llu exceeds %lld", function,
                              name, (unsigned long long)dim, (long long)limits->max_dimension);
        tensor->shape[r] = (int64_t)dim;
        overflow |= __builtin_mul_overflow(elements, dim, &elements);
    }
    tensor->rank = rank;
    uint64_t nbytes;
    overflow |= __builtin_mul_overflow(elements, (uint64_t)dtype_table[tensor->dtype].size, &nbytes);
    if (overflow)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: tensor \"%.64s\": shape x dtype size overflows 64 bits",
                          function, name);

    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\": data_offsets is not [begin, end]",
                          function, name);
    AFLOC_TRY(integer_value(offsets->child, "data_offsets", name, function, begin));
    AFLOC_TRY(integer_value(offsets->child->next, "data_offsets", name, function, end));
    if (*end < *begin)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\": data_offsets [%llu, %llu] end before begin",
                          function, name, (unsigned long long)*begin, (unsigned long long)*end);
    if (*end - *begin != nbytes)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\": %s shape needs %llu bytes, data_offsets "
                          "give %llu", function, name, dtype_table[tensor->dtype].name,
                          (unsigned long long)nbytes, (unsigned long long)(*end - *begin));
    tensor->offset = (size_t)*begin;
    tensor->nbytes = (size_t)nbytes;
    return AFLOC_OK;
}

static afloc_status check_metadata(const cJSON *meta, const afloc_st_limits *limits, const char *function) {
    if (!cJSON_IsObject(meta))
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: __metadata__ is not a JSON object", function);
    AFLOC_TRY(afloc_st_json_unique_keys(meta, "__metadata__", function));
    for (const cJSON *c = meta->child; c; c = c->next) {
        AFLOC_TRY(check_name(c->string, limits->max_name_bytes, "metadata key", function));
        if (!cJSON_IsString(c))
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: __metadata__ value of \"%.64s\" is not a string", function,
                              c->string);
    }
    return AFLOC_OK;
}

/* ---- the file ---- */

static int compare_by_offset(const void *a, const void *b) {
    const afloc_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

void afloc_st_free(afloc_st_file *file) {
    if (!file) return;
    afloc_free(file->tensors);
    afloc_free(file->by_name);
    afloc_free(file->metadata);
    afloc_free(file->strings);
    afloc_free(file->owned);
    afloc_free(file);
}

/* Ranges, sorted by offset, must tile [0, data_size) exactly (S12-S15). */
static afloc_status check_coverage(afloc_st_tensor *tensors, int32_t count, size_t data_size,
                                   const char *function) {
    qsort(tensors, (size_t)count, sizeof *tensors, compare_by_offset);
    uint64_t at = 0;
    for (int32_t t = 0; t < count; t++) {
        if (tensors[t].offset != at)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: tensor \"%.64s\" starts at data byte %zu, expected %llu (%s)",
                              function, tensors[t].name, tensors[t].offset, (unsigned long long)at,
                              tensors[t].offset < at ? "overlap" : t == 0 ? "first tensor not at 0" : "hole");
        at += tensors[t].nbytes; /* both < 10^15: no overflow */
    }
    if (at > data_size)
        return afloc_fail(AFLOC_ERR_CORRUPT, "%s: header describes %llu data bytes but the file holds %zu "
                          "(truncated)", function, (unsigned long long)at, data_size);
    if (at < data_size)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: %llu bytes follow the last tensor", function,
                          (unsigned long long)(data_size - at));
    return AFLOC_OK;
}

static void to_hex(const unsigned char digest[32], char hex[65]) {
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
    }
    hex[64] = '\0';
}

static afloc_status sha256_hex(const unsigned char *data, size_t size, char hex[65], const char *function) {
    unsigned char digest[32];
    unsigned int length = 0;
    if (!EVP_Digest(data, size, digest, &length, EVP_sha256(), NULL) || length != 32)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: SHA-256 computation failed", function);
    to_hex(digest, hex);
    return AFLOC_OK;
}

static int digest_u64(EVP_MD_CTX *ctx, uint64_t value) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(value >> (8 * i));
    return EVP_DigestUpdate(ctx, b, 8);
}

static int digest_string(EVP_MD_CTX *ctx, const char *text) {
    size_t length = strlen(text);
    return digest_u64(ctx, length) && EVP_DigestUpdate(ctx, text, length);
}

static int compare_tensor_ptr_names(const void *a, const void *b) {
    return strcmp((*(const afloc_st_tensor *const *)a)->name, (*(const afloc_st_tensor *const *)b)->name);
}

static int compare_kv_keys(const void *a, const void *b) {
    return strcmp((*(const afloc_st_kv *const *)a)->key, (*(const afloc_st_kv *const *)b)->key);
}

afloc_status afloc_st_header_digest(const afloc_st_tensor *tensors, int32_t count, const afloc_st_kv *metadata,
                                    int32_t metadata_count, char hex[65], const char *function) {
    const afloc_st_tensor **order = afloc_malloc(((size_t)count + 1) * sizeof *order);
    const afloc_st_kv **keys = afloc_malloc(((size_t)metadata_count + 1) * sizeof *keys);
    EVP_MD_CTX *ctx = order && keys ? EVP_MD_CTX_new() : NULL;
    if (!ctx) {
        afloc_free(order);
        afloc_free(keys);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the header digest", function);
    }
    for (int32_t t = 0; t < count; t++) order[t] = &tensors[t];
    for (int32_t k = 0; k < metadata_count; k++) keys[k] = &metadata[k];
    qsort(order, (size_t)count, sizeof *order, compare_tensor_ptr_names);
    qsort(keys, (size_t)metadata_count, sizeof *keys, compare_kv_keys);
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && digest_string(ctx, "afloc.header_sha256/1");
    for (int32_t t = 0; t < count && ok; t++) {
        const afloc_st_tensor *x = order[t];
        ok = digest_string(ctx, x->name) && digest_string(ctx, afloc_st_dtype_name(x->dtype)) &&
             digest_u64(ctx, (uint64_t)x->rank);
        for (int32_t r = 0; r < x->rank && ok; r++) ok = digest_u64(ctx, (uint64_t)x->shape[r]);
        ok = ok && digest_u64(ctx, x->offset) && digest_u64(ctx, (uint64_t)x->offset + x->nbytes);
    }
    for (int32_t k = 0; k < metadata_count && ok; k++) {
        if (!strcmp(keys[k]->key, AFLOC_ST_SHA256_KEY) || !strcmp(keys[k]->key, AFLOC_ST_HEADER_SHA256_KEY))
            continue;
        ok = digest_string(ctx, keys[k]->key) && digest_string(ctx, keys[k]->value);
    }
    unsigned char digest[32];
    unsigned int length = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &length) && length == 32;
    EVP_MD_CTX_free(ctx);
    afloc_free(order);
    afloc_free(keys);
    if (!ok) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: SHA-256 computation failed", function);
    to_hex(digest, hex);
    return AFLOC_OK;
}

/* A checksum value must be 64 lowercase hex digits. */
static int is_sha256_hex(const char *text) {
    size_t length = strlen(text);
    for (size_t i = 0; i < length; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) return 0;
    return length == 64;
}

static afloc_status verify_checksums(const afloc_st_file *file, const char *function) {
    const char *want_data = afloc_st_metadata(file, AFLOC_ST_SHA256_KEY);
    const char *want_header = afloc_st_metadata(file, AFLOC_ST_HEADER_SHA256_KEY);
    char got[65];
    if (want_header) {
        if (!is_sha256_hex(want_header))
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s is not 64 lowercase hex digits", function,
                              AFLOC_ST_HEADER_SHA256_KEY);
        AFLOC_TRY(afloc_st_header_digest(file->tensors, file->tensor_count, file->metadata, file->metadata_count,
                                         got, function));
        if (memcmp(got, want_header, 64) != 0)
            return afloc_fail(AFLOC_ERR_CORRUPT, "%s: header digest %.16s... does not match %s %.16s...",
                              function, got, AFLOC_ST_HEADER_SHA256_KEY, want_header);
    }
    if (want_data) {
        if (!is_sha256_hex(want_data))
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s is not 64 lowercase hex digits", function,
                              AFLOC_ST_SHA256_KEY);
        AFLOC_TRY(sha256_hex(file->data, file->data_size, got, function));
        if (memcmp(got, want_data, 64) != 0)
            return afloc_fail(AFLOC_ERR_CORRUPT, "%s: data SHA-256 %.16s... does not match %s %.16s...",
                              function, got, AFLOC_ST_SHA256_KEY, want_data);
    }
    return AFLOC_OK;
}

/* Copies names, keys and values out of the cJSON tree into one block owned by the file. */
static afloc_status build_file(const cJSON *root, int32_t count, const afloc_st_limits *limits,
                               const unsigned char *data, size_t data_size, size_t header_size,
                               const char *function, afloc_st_file **out) {
    const cJSON *meta = NULL;
    size_t string_bytes = 0;
    int32_t meta_count = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) {
            meta = c;
            for (const cJSON *m = c->child; m; m = m->next, meta_count++)
                string_bytes += strlen(m->string) + strlen(m->valuestring) + 2;
        } else {
            string_bytes += strlen(c->string) + 1;
        }
    }
    afloc_st_file *file = afloc_calloc(1, sizeof *file);
    if (!file) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the file table", function);
    file->tensors = afloc_calloc((size_t)count, sizeof *file->tensors);
    file->by_name = afloc_calloc((size_t)count, sizeof *file->by_name);
    file->metadata = afloc_calloc((size_t)meta_count, sizeof *file->metadata);
    file->strings = afloc_malloc(string_bytes);
    afloc_st_tensor **order = afloc_malloc((size_t)count * sizeof *order);
    if (!file->tensors || !file->by_name || !file->metadata || !file->strings || !order) {
        afloc_free(order);
        afloc_st_free(file);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the table of %d tensors", function, count);
    }
    file->tensor_count = count;
    file->metadata_count = meta_count;
    file->data = data;
    file->data_size = data_size;
    file->header_size = header_size;
    char *p = file->strings;
    int32_t t = 0, k = 0;
    afloc_status status = AFLOC_OK;
    for (const cJSON *c = root->child; c && status == AFLOC_OK; c = c->next) {
        if (c == meta) {
            for (const cJSON *m = c->child; m; m = m->next, k++) {
                size_t kl = strlen(m->string) + 1, vl = strlen(m->valuestring) + 1;
                file->metadata[k].key = memcpy(p, m->string, kl);
                file->metadata[k].value = memcpy(p + kl, m->valuestring, vl);
                p += kl + vl;
            }
            continue;
        }
        uint64_t begin = 0, end = 0;
        status = parse_entry(c, limits, function, &file->tensors[t], &begin, &end);
        size_t nl = strlen(c->string) + 1;
        file->tensors[t++].name = memcpy(p, c->string, nl);
        p += nl;
    }
    if (status == AFLOC_OK) status = check_coverage(file->tensors, count, data_size, function);
    if (status == AFLOC_OK) {
        for (t = 0; t < count; t++) order[t] = &file->tensors[t];
        qsort(order, (size_t)count, sizeof *order, compare_tensor_ptr_names);
        for (t = 0; t < count; t++) file->by_name[t] = (int32_t)(order[t] - file->tensors);
    }
    afloc_free(order);
    if (status == AFLOC_OK && limits->verify_checksum) status = verify_checksums(file, function);
    if (status != AFLOC_OK) {
        afloc_st_free(file);
        return status;
    }
    *out = file;
    return AFLOC_OK;
}

static afloc_status check_header_length(uint64_t n, uint64_t size, const afloc_st_limits *limits,
                                        const char *function) {
    if (n > size - 8)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: header length %llu exceeds the %llu bytes after it", function,
                          (unsigned long long)n, (unsigned long long)(size - 8));
    if (n > limits->max_header_bytes)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: header length %llu exceeds the limit %zu", function,
                          (unsigned long long)n, limits->max_header_bytes);
    return AFLOC_OK;
}

static uint64_t read_u64_le(const unsigned char *b) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    return n;
}

static void effective_limits(const afloc_st_limits *given, afloc_st_limits *limits) {
    if (given) *limits = *given;
    else afloc_st_limits_default(limits);
    if (limits->max_rank < 0 || limits->max_rank > AFLOC_ST_MAX_RANK) limits->max_rank = AFLOC_ST_MAX_RANK;
    if (limits->max_tensors < 0) limits->max_tensors = 0;
    if (limits->max_dimension < 0 || limits->max_dimension > ((int64_t)1 << 53))
        limits->max_dimension = (int64_t)1 << 53;
}

afloc_status afloc_st_parse_named(const unsigned char *bytes, size_t size, const afloc_st_limits *given,
                                  const char *function, afloc_st_file **out) {
    if (!function) function = DEFAULT_FUNCTION;
    if ((!bytes && size) || !out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL argument", function);
    afloc_st_limits limits;
    effective_limits(given, &limits);
    if (size < 8)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: file is %zu bytes, too small for the 8-byte header length",
                          function, size);
    uint64_t n = read_u64_le(bytes);
    AFLOC_TRY(check_header_length(n, size, &limits, function));
    const char *header = (const char *)bytes + 8;
    size_t bad = afloc_st_utf8_invalid_at((const unsigned char *)header, (size_t)n);
    if (bad != n)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: header is not valid UTF-8 at byte %zu (0x%02x)", function, bad,
                          (unsigned char)header[bad]);
    size_t members = 0;
    size_t max_nodes = NODES_PER_TENSOR * ((size_t)limits.max_tensors + 1) + 4096;
    AFLOC_TRY(afloc_st_json_prescan(header, (size_t)n, 1, max_nodes, &members, function));
    if (members > (size_t)limits.max_tensors + 1)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: header has %zu entries, limit %d tensors", function, members,
                          limits.max_tensors);
    /* A NUL-terminated copy: cJSON is then never asked to stop at a length. */
    char *copy = afloc_malloc((size_t)n + 1);
    if (!copy) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot copy the %llu-byte header", function,
                                 (unsigned long long)n);
    memcpy(copy, header, (size_t)n);
    copy[n] = '\0';
    cJSON *root = cJSON_ParseWithLength(copy, (size_t)n + 1);
    afloc_free(copy);
    if (!root) return afloc_fail(AFLOC_ERR_FORMAT, "%s: header is not valid JSON", function);

    afloc_status status = cJSON_IsObject(root) ? AFLOC_OK
                        : afloc_fail(AFLOC_ERR_FORMAT, "%s: header is not a JSON object", function);
    if (status == AFLOC_OK) status = afloc_st_json_unique_keys(root, "the header", function);
    int32_t count = 0;
    for (const cJSON *c = root->child; c && status == AFLOC_OK; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) status = check_metadata(c, &limits, function);
        else count++;
    }
    if (status == AFLOC_OK && count > limits.max_tensors)
        status = afloc_fail(AFLOC_ERR_LIMIT, "%s: %d tensors, limit %d", function, count, limits.max_tensors);
    if (status == AFLOC_OK)
        status = build_file(root, count, &limits, bytes + 8 + n, size - 8 - (size_t)n, (size_t)n, function, out);
    cJSON_Delete(root);
    return status;
}

afloc_status afloc_st_parse_from_memory(const unsigned char *bytes, size_t size, const afloc_st_limits *limits,
                                        afloc_st_file **out) {
    return afloc_st_parse_named(bytes, size, limits, DEFAULT_FUNCTION, out);
}

int32_t afloc_st_find(const afloc_st_file *file, const char *name) {
    if (!file || !name) return -1;
    int32_t lo = 0, hi = file->tensor_count;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(file->tensors[file->by_name[mid]].name, name);
        if (c == 0) return file->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

const char *afloc_st_metadata(const afloc_st_file *file, const char *key) {
    if (!file || !key) return NULL;
    for (int32_t k = 0; k < file->metadata_count; k++)
        if (!strcmp(file->metadata[k].key, key)) return file->metadata[k].value;
    return NULL;
}

afloc_status afloc_st_tensor_copy(const afloc_st_file *file, int32_t index, void *dst, size_t dst_size) {
    if (!file || index < 0 || index >= file->tensor_count)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_st_tensor_copy: no tensor %d", index);
    const afloc_st_tensor *t = &file->tensors[index];
    if (t->nbytes > dst_size || (!dst && t->nbytes))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_st_tensor_copy: tensor \"%.64s\" needs %zu bytes, "
                          "buffer has %zu", t->name, t->nbytes, dst_size);
    if (t->nbytes) memcpy(dst, file->data + t->offset, t->nbytes);
    return AFLOC_OK;
}

/* ---- reading a file ---- */

/* Reads exactly `length` bytes at `offset`; 0 on success, else errno (or EIO when the file shrank). */
static int read_at(int fd, unsigned char *buffer, size_t length, off_t offset) {
    size_t done = 0;
    while (done < length) {
        ssize_t got = pread(fd, buffer + done, length - done, offset + (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return errno;
        if (got == 0) return EIO;
        done += (size_t)got;
    }
    return 0;
}

/* The header length is read and checked against the file size and the caps first, so a bogus
 * length never becomes an allocation (S2, S3); only then is the whole file (<= max_file_bytes)
 * read into one buffer and validated by the same code that the fuzzer exercises. */
afloc_status afloc_st_read_file(const char *path, const afloc_st_limits *given, const char *function,
                                afloc_st_file **out) {
    if (!function) function = "afloc_st_read_file";
    if (!path || !out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path or output is NULL", function);
    afloc_st_limits limits;
    effective_limits(given, &limits);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return afloc_fail(AFLOC_ERR_IO, "%s: cannot open %s: %s", function, path, strerror(errno));
    struct stat st;
    afloc_status status = AFLOC_OK;
    unsigned char *buffer = NULL;
    unsigned char prefix[8];
    int error = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        status = afloc_fail(AFLOC_ERR_IO, "%s: %s is not a readable regular file", function, path);
    } else if (st.st_size < 8) {
        status = afloc_fail(AFLOC_ERR_FORMAT, "%s: %s is %lld bytes, too small for the 8-byte header length",
                            function, path, (long long)st.st_size);
    } else if ((error = read_at(fd, prefix, 8, 0)) != 0) {
        status = afloc_fail(AFLOC_ERR_IO, "%s: cannot read %s: %s", function, path, strerror(error));
    } else {
        status = check_header_length(read_u64_le(prefix), (uint64_t)st.st_size, &limits, function);
    }
    if (status == AFLOC_OK && ((uint64_t)st.st_size > limits.max_file_bytes || (uint64_t)st.st_size > SIZE_MAX))
        status = afloc_fail(AFLOC_ERR_LIMIT, "%s: %s is %lld bytes, limit %llu", function, path,
                            (long long)st.st_size, (unsigned long long)limits.max_file_bytes);
    size_t size = status == AFLOC_OK ? (size_t)st.st_size : 0;
    if (status == AFLOC_OK && !(buffer = afloc_malloc(size)))
        status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes for %s", function, size, path);
    if (status == AFLOC_OK && (error = read_at(fd, buffer, size, 0)) != 0)
        status = afloc_fail(AFLOC_ERR_IO, "%s: cannot read %s: %s", function, path, strerror(error));
    close(fd);
    afloc_st_file *file = NULL;
    if (status == AFLOC_OK) status = afloc_st_parse_named(buffer, size, &limits, function, &file);
    if (status != AFLOC_OK) {
        afloc_free(buffer);
        return status;
    }
    file->owned = buffer;
    *out = file;
    return AFLOC_OK;
}
