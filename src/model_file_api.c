/* model_file_api.c: the public functions over model files (afloc.h, "model files" section):
 * a JSON description of a file, and a tokenizer built from the vocabulary a file carries. */
#include <cjson/cJSON.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "model_file.h"

/* Adds {"name","dtype","shape"} for every tensor; returns 0 when cJSON ran out of memory. */
static int describe_tensors(cJSON *root, const afloc_st_file *st) {
    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    if (!tensors) return 0;
    for (int32_t i = 0; i < st->tensor_count; i++) {
        const afloc_st_tensor *t = &st->tensors[i];
        cJSON *entry = cJSON_CreateObject();
        if (!entry) return 0;
        cJSON_AddItemToArray(tensors, entry);
        cJSON *shape = NULL;
        if (!cJSON_AddStringToObject(entry, "name", t->name) ||
            !cJSON_AddStringToObject(entry, "dtype", afloc_st_dtype_name(t->dtype)) ||
            !(shape = cJSON_AddArrayToObject(entry, "shape")))
            return 0;
        for (int32_t d = 0; d < t->rank; d++) {
            cJSON *dim = cJSON_CreateNumber((double)t->shape[d]); /* dims < 2^31: exact */
            if (!dim) return 0;
            cJSON_AddItemToArray(shape, dim);
        }
    }
    return 1;
}

afloc_status afloc_model_file_inspect(const char *path, char *buffer, size_t capacity,
                                      size_t *needed) {
    static const char fn[] = "afloc_model_file_inspect";
    afloc_clear_error();
    if (!path) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
    afloc_model_file *file = NULL;
    AFLOC_TRY(afloc_mf_read(path, NULL, NULL, 0, fn, &file));

    afloc_status status = AFLOC_OK;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *config = cJSON_Parse(file->config_json); /* validated as an object by afloc_mf_read */
    if (!root || !config || !cJSON_AddStringToObject(root, "format", AFLOC_MF_FORMAT_VERSION)) {
        cJSON_Delete(config);
        status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory describing %s", fn, path);
    } else {
        cJSON_AddItemToObject(root, "config", config);
        if (!cJSON_AddNumberToObject(root, "vocab_size", file->vocab_size) ||
            !cJSON_AddNumberToObject(root, "tensor_count", file->st->tensor_count) ||
            !describe_tensors(root, file->st) || !(text = cJSON_PrintUnformatted(root)))
            status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory describing %s", fn, path);
    }
    if (status == AFLOC_OK) {
        size_t size = strlen(text) + 1;
        if (needed) *needed = size;
        if (buffer && capacity < size)
            status = afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: capacity %zu, %zu bytes needed", fn,
                                capacity, size);
        else if (buffer)
            memcpy(buffer, text, size);
    }
    cJSON_free(text);
    cJSON_Delete(root);
    afloc_mf_free(file);
    return status;
}

afloc_status afloc_tokenizer_load_model_file(const char *path, const afloc_tokenizer_options *options,
                                             afloc_tokenizer **out) {
    static const char fn[] = "afloc_tokenizer_load_model_file";
    afloc_clear_error();
    if (!path || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, path ? "out" : "path");
    afloc_model_file *file = NULL;
    AFLOC_TRY(afloc_mf_read(path, NULL, NULL, 0, fn, &file));
    size_t bytes = 0;
    const unsigned char *vocab = afloc_mf_vocab(file, &bytes);
    afloc_status status = afloc_tokenizer_create((const char *)vocab, bytes, options, out);
    afloc_mf_free(file);
    return status;
}
