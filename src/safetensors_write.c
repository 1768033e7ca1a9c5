/* safetensors_write.c: the safetensors writer. It produces canonical files that the strict reader
 * (safetensors.c) and the reference implementation both accept: header JSON built with cJSON,
 * `__metadata__` first and holding afloc.data_sha256 (the SHA-256 of the data region), padded
 * with 0x20 to a multiple of 8, data contiguous in the caller's order. Files are replaced
 * atomically and durably through afloc_write_file_atomic (RELIABILITY rule 9). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "file_io.h"

/* Offsets and dimensions stay below 10^15 so cJSON prints them as plain integers (%1.15g) and
 * the reader's 15-digit rule accepts them. */
#define MAX_DATA_BYTES 1000000000000000ull

static _Atomic size_t fail_write_after; /* test hook, 0 = off */

void afloc_st_test_fail_write_after(size_t bytes) { atomic_store(&fail_write_after, bytes); }

/* ---- validation ---- */

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Same rules as the reader: 1..1024 bytes, no control bytes, valid UTF-8. */
static int name_ok(const char *name) {
    if (!name) return 0;
    size_t length = strlen(name);
    if (length == 0 || length > 1024) return 0;
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
    return afloc_st_utf8_invalid_at((const unsigned char *)name, length) == length;
}

static afloc_status check_unique(const char **names, int32_t count, const char *what, const char *function) {
    if (count < 2) return AFLOC_OK;
    qsort(names, (size_t)count, sizeof *names, compare_names);
    for (int32_t k = 1; k < count; k++)
        if (strcmp(names[k - 1], names[k]) == 0)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: duplicate %s \"%.64s\"", function, what, names[k]);
    return AFLOC_OK;
}

static afloc_status check_tensor(const afloc_st_write_tensor *t, const char *function) {
    if (!name_ok(t->name) || !strcmp(t->name, "__metadata__"))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor name \"%.64s\" is empty, too long, reserved "
                          "or not clean UTF-8", function, t->name ? t->name : "(null)");
    size_t size = afloc_st_dtype_size(t->dtype);
    if (size == 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor \"%.64s\": bad dtype %d", function, t->name,
                          (int)t->dtype);
    if (t->rank < 0 || t->rank > AFLOC_ST_MAX_RANK || (t->rank > 0 && !t->shape))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor \"%.64s\": rank %d outside 0..%d", function,
                          t->name, t->rank, AFLOC_ST_MAX_RANK);
    uint64_t elements = 1;
    int overflow = 0;
    for (int32_t r = 0; r < t->rank; r++) {
        if (t->shape[r] < 0 || t->shape[r] > INT32_MAX)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor \"%.64s\": dimension %lld outside 0..%d",
                              function, t->name, (long long)t->shape[r], INT32_MAX);
        overflow |= __builtin_mul_overflow(elements, (uint64_t)t->shape[r], &elements);
    }
    overflow |= __builtin_mul_overflow(elements, (uint64_t)size, &elements);
    if (overflow || elements != t->nbytes)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor \"%.64s\": nbytes %zu does not match its "
                          "%s shape", function, t->name, t->nbytes, afloc_st_dtype_name(t->dtype));
    if (t->nbytes && !t->data)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: tensor \"%.64s\": data is NULL", function, t->name);
    return AFLOC_OK;
}

static afloc_status check_inputs(const afloc_st_write_tensor *tensors, int32_t count, const afloc_st_kv *metadata,
                                 int32_t metadata_count, const char *function, uint64_t *data_bytes) {
    if (count < 0 || count > 65536 || (count && !tensors) || metadata_count < 0 || metadata_count > 65536 ||
        (metadata_count && !metadata))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: bad tensor count %d or metadata count %d", function,
                          count, metadata_count);
    uint64_t total = 0;
    for (int32_t t = 0; t < count; t++) {
        AFLOC_TRY(check_tensor(&tensors[t], function));
        total += tensors[t].nbytes;
        if (total >= MAX_DATA_BYTES)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: more than 10^15 bytes of tensor data", function);
    }
    for (int32_t k = 0; k < metadata_count; k++) {
        if (!name_ok(metadata[k].key) || !metadata[k].value || !strcmp(metadata[k].key, AFLOC_ST_SHA256_KEY) ||
            !strcmp(metadata[k].key, AFLOC_ST_HEADER_SHA256_KEY))
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: metadata key %d (\"%.64s\") is invalid or reserved",
                              function, k, metadata[k].key ? metadata[k].key : "(null)");
        size_t length = strlen(metadata[k].value);
        if (afloc_st_utf8_invalid_at((const unsigned char *)metadata[k].value, length) != length)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: metadata value of \"%.64s\" is not valid UTF-8",
                              function, metadata[k].key);
    }
    size_t n = (size_t)(count > metadata_count ? count : metadata_count);
    const char **names = afloc_malloc((n ? n : 1) * sizeof *names);
    if (!names) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu names", function, n);
    for (int32_t t = 0; t < count; t++) names[t] = tensors[t].name;
    afloc_status status = check_unique(names, count, "tensor name", function);
    for (int32_t k = 0; k < metadata_count && status == AFLOC_OK; k++) names[k] = metadata[k].key;
    if (status == AFLOC_OK) status = check_unique(names, metadata_count, "metadata key", function);
    afloc_free(names);
    *data_bytes = total;
    return status;
}

/* ---- header ---- */

static afloc_status data_sha256(const afloc_st_write_tensor *tensors, int32_t count, char hex[65],
                                const char *function) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot create a SHA-256 context", function);
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (int32_t t = 0; t < count && ok; t++)
        if (tensors[t].nbytes) ok = EVP_DigestUpdate(ctx, tensors[t].data, tensors[t].nbytes);
    unsigned char digest[32];
    unsigned int length = 0;
    if (ok) ok = EVP_DigestFinal_ex(ctx, digest, &length) && length == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: SHA-256 computation failed", function);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
    }
    hex[64] = '\0';
    return AFLOC_OK;
}

/* The digest the reader will recompute from the parsed header (afloc_st_header_digest). */
static afloc_status header_digest(const afloc_st_write_tensor *tensors, int32_t count, const afloc_st_kv *metadata,
                                  int32_t metadata_count, char hex[65], const char *function) {
    afloc_st_tensor *table = afloc_calloc((size_t)count + 1, sizeof *table);
    if (!table) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d table rows", function, count);
    size_t offset = 0;
    for (int32_t t = 0; t < count; t++) {
        table[t].name = (char *)tensors[t].name; /* read only */
        table[t].dtype = tensors[t].dtype;
        table[t].rank = tensors[t].rank;
        for (int32_t r = 0; r < tensors[t].rank; r++) table[t].shape[r] = tensors[t].shape[r];
        table[t].offset = offset;
        table[t].nbytes = tensors[t].nbytes;
        offset += tensors[t].nbytes;
    }
    afloc_status status = afloc_st_header_digest(table, count, metadata, metadata_count, hex, function);
    afloc_free(table);
    return status;
}

static cJSON *integer_pair(uint64_t a, uint64_t b) {
    cJSON *array = cJSON_CreateArray();
    cJSON *x = cJSON_CreateNumber((double)a), *y = cJSON_CreateNumber((double)b);
    if (!array || !x || !y || !cJSON_AddItemToArray(array, x) || (x = NULL, !cJSON_AddItemToArray(array, y))) {
        cJSON_Delete(array);
        cJSON_Delete(x);
        cJSON_Delete(y);
        return NULL;
    }
    return array;
}

/* Builds the JSON object; NULL only when cJSON runs out of memory. */
static cJSON *build_header_json(const afloc_st_write_tensor *tensors, int32_t count, const afloc_st_kv *metadata,
                                int32_t metadata_count, const char *sha_hex, const char *header_hex) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    int ok = root && meta;
    for (int32_t k = 0; k < metadata_count && ok; k++)
        ok = cJSON_AddStringToObject(meta, metadata[k].key, metadata[k].value) != NULL;
    if (ok) ok = cJSON_AddStringToObject(meta, AFLOC_ST_SHA256_KEY, sha_hex) != NULL;
    if (ok) ok = cJSON_AddStringToObject(meta, AFLOC_ST_HEADER_SHA256_KEY, header_hex) != NULL;
    uint64_t offset = 0;
    for (int32_t t = 0; t < count && ok; t++) {
        const afloc_st_write_tensor *w = &tensors[t];
        cJSON *entry = cJSON_AddObjectToObject(root, w->name);
        cJSON *shape = entry ? cJSON_AddArrayToObject(entry, "shape") : NULL;
        ok = entry && cJSON_AddStringToObject(entry, "dtype", afloc_st_dtype_name(w->dtype)) && shape;
        for (int32_t r = 0; r < w->rank && ok; r++) {
            cJSON *dim = cJSON_CreateNumber((double)w->shape[r]);
            ok = dim && cJSON_AddItemToArray(shape, dim);
            if (!ok) cJSON_Delete(dim);
        }
        cJSON *offsets = ok ? integer_pair(offset, offset + w->nbytes) : NULL;
        ok = ok && offsets && cJSON_AddItemToObject(entry, "data_offsets", offsets);
        if (!ok) cJSON_Delete(offsets);
        offset += w->nbytes;
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* The 8-byte length plus the padded header, in one afloc_malloc'ed buffer. */
static afloc_status encode_header(const afloc_st_write_tensor *tensors, int32_t count, const afloc_st_kv *metadata,
                                  int32_t metadata_count, const char *function, unsigned char **out,
                                  size_t *out_size, uint64_t *data_bytes) {
    AFLOC_TRY(check_inputs(tensors, count, metadata, metadata_count, function, data_bytes));
    char sha[65], header_sha[65];
    AFLOC_TRY(data_sha256(tensors, count, sha, function));
    AFLOC_TRY(header_digest(tensors, count, metadata, metadata_count, header_sha, function));
    cJSON *root = build_header_json(tensors, count, metadata, metadata_count, sha, header_sha);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot build the JSON header", function);
    size_t length = strlen(text);
    size_t padded = (length + 7) & ~(size_t)7;
    if (padded > (16u << 20)) {
        cJSON_free(text);
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: header would be %zu bytes, limit 16 MiB", function, padded);
    }
    unsigned char *buffer = afloc_malloc(8 + padded);
    if (!buffer) {
        cJSON_free(text);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the %zu-byte header", function, padded);
    }
    for (int i = 0; i < 8; i++) buffer[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buffer + 8, text, length);
    memset(buffer + 8 + length, ' ', padded - length);
    cJSON_free(text);
    *out = buffer;
    *out_size = 8 + padded;
    return AFLOC_OK;
}

afloc_status afloc_st_write_to_memory(const afloc_st_write_tensor *tensors, int32_t count,
                                      const afloc_st_kv *metadata, int32_t metadata_count,
                                      const char *function, unsigned char **bytes, size_t *size) {
    if (!function) function = "afloc_st_write_to_memory";
    if (!bytes || !size) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL output", function);
    unsigned char *header = NULL;
    size_t header_size = 0;
    uint64_t data_bytes = 0;
    AFLOC_TRY(encode_header(tensors, count, metadata, metadata_count, function, &header, &header_size,
                            &data_bytes));
    if (data_bytes > SIZE_MAX - header_size) {
        afloc_free(header);
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: file too large for memory", function);
    }
    unsigned char *buffer = afloc_realloc(header, header_size + (size_t)data_bytes);
    if (!buffer) {
        afloc_free(header);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", function,
                          header_size + (size_t)data_bytes);
    }
    size_t at = header_size;
    for (int32_t t = 0; t < count; t++) {
        if (tensors[t].nbytes) memcpy(buffer + at, tensors[t].data, tensors[t].nbytes);
        at += tensors[t].nbytes;
    }
    *bytes = buffer;
    *size = at;
    return AFLOC_OK;
}

/* ---- atomic file writing ---- */

struct file_writer {
    const unsigned char         *header;
    size_t                       header_size;
    const afloc_st_write_tensor *tensors;
    int32_t                      count;
    const char                  *function;
};

/* Writes one piece, honouring the test hook that simulates a failing device mid-file. */
static afloc_status write_piece(int fd, const void *data, size_t size, size_t *written, const char *function) {
    size_t limit = atomic_load(&fail_write_after);
    if (limit && *written + size > limit) {
        size_t part = limit > *written ? limit - *written : 0;
        if (part) (void)afloc_write_all(fd, data, part, function);
        return afloc_fail(AFLOC_ERR_IO, "%s: write failed: injected I/O error after %zu bytes", function, limit);
    }
    AFLOC_TRY(afloc_write_all(fd, data, size, function));
    *written += size;
    return AFLOC_OK;
}

static afloc_status write_file_contents(void *user, int fd) {
    const struct file_writer *w = user;
    size_t written = 0;
    AFLOC_TRY(write_piece(fd, w->header, w->header_size, &written, w->function));
    for (int32_t t = 0; t < w->count; t++)
        if (w->tensors[t].nbytes)
            AFLOC_TRY(write_piece(fd, w->tensors[t].data, w->tensors[t].nbytes, &written, w->function));
    return AFLOC_OK;
}

/* Removes "<name>.tmp.<pid>.<n>" files next to `path` whose writer process no longer exists: the
 * leftovers of saves that were killed (RELIABILITY T17). A live process's temp file, including
 * this process's, is never touched. Best effort: failures are ignored. */
static void remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char directory[4096];
    if (!slash) snprintf(directory, sizeof directory, ".");
    else if (slash == path) snprintf(directory, sizeof directory, "/");
    else if ((size_t)(slash - path) < sizeof directory)
        snprintf(directory, sizeof directory, "%.*s", (int)(slash - path), path);
    else return;
    size_t base_length = strlen(base);
    DIR *dir = opendir(directory);
    if (!dir) return;
    pid_t self = getpid();
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (strncmp(name, base, base_length) != 0 || strncmp(name + base_length, ".tmp.", 5) != 0) continue;
        const char *p = name + base_length + 5;
        char *end = NULL;
        errno = 0;
        long pid = strtol(p, &end, 10);
        if (errno || end == p || *end != '.' || pid <= 0 || pid == (long)self) continue;
        const char *q = end + 1;
        if (!*q) continue;
        for (; *q; q++)
            if (*q < '0' || *q > '9') break;
        if (*q) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        char full[4096 + 256];
        snprintf(full, sizeof full, "%s/%s", directory, name);
        unlink(full);
    }
    closedir(dir);
}

afloc_status afloc_st_write(const char *path, const afloc_st_write_tensor *tensors, int32_t count,
                            const afloc_st_kv *metadata, int32_t metadata_count, const char *function) {
    if (!function) function = "afloc_st_write";
    if (!path || !*path) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path is NULL or empty", function);
    unsigned char *header = NULL;
    size_t header_size = 0;
    uint64_t data_bytes = 0;
    AFLOC_TRY(encode_header(tensors, count, metadata, metadata_count, function, &header, &header_size,
                            &data_bytes));
    struct file_writer w = {header, header_size, tensors, count, function};
    afloc_status status = afloc_write_file_atomic(path, write_file_contents, &w, function);
    afloc_free(header);
    if (status == AFLOC_OK) remove_stale_temps(path);
    return status;
}
