/* test_model_file_api.c: the public model-file functions. A model file written by the internal
 * writer is described by afloc_model_file_inspect (JSON checked field by field) and gives a
 * tokenizer through afloc_tokenizer_load_model_file that encodes exactly like one created from
 * the same vocabulary bytes. Damaged and missing files give their documented statuses, and the
 * NULL/capacity conventions hold. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "model_file.h"
#include "test_util.h"

static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nleft\nlung\n##s\nl\n##e\n##f\n##t\n";
static const char config[] = "{\"embedding_dim\":8,\"image_size\":224}";

static void write_model(const char *path) {
    static const float weights[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t shape[2] = {2, 3};
    afloc_st_write_tensor tensor = {"img_encoder.global_embedder.weight", AFLOC_ST_F32, 2, shape,
                                    weights, sizeof weights};
    CHECK_STATUS(afloc_mf_write(path, config, (const unsigned char *)vocab, sizeof vocab - 1, &tensor, 1,
                                "test"),
                 AFLOC_OK);
}

static void test_inspect(const char *path) {
    size_t needed = 0;
    CHECK_STATUS(afloc_model_file_inspect(path, NULL, 0, &needed), AFLOC_OK);
    CHECK(needed > 10);
    char small[8] = "unset";
    CHECK_STATUS(afloc_model_file_inspect(path, small, sizeof small, NULL), AFLOC_ERR_BUFFER_TOO_SMALL);
    CHECK(strcmp(small, "unset") == 0);
    char json[2048];
    CHECK_STATUS(afloc_model_file_inspect(path, json, sizeof json, NULL), AFLOC_OK);
    printf("inspect: %s\n", json);
    cJSON *root = cJSON_Parse(json);
    CHECK(root != NULL);
    if (!root) return;
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(root, "format")), "1") == 0);
    CHECK(cJSON_GetObjectItem(root, "vocab_size")->valuedouble == 11);
    CHECK(cJSON_GetObjectItem(root, "tensor_count")->valuedouble == 2);
    const cJSON *cfg = cJSON_GetObjectItem(root, "config");
    CHECK(cJSON_GetObjectItem(cfg, "embedding_dim")->valuedouble == 8);
    int found = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(root, "tensors")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
        if (name && !strcmp(name, "img_encoder.global_embedder.weight")) {
            const cJSON *shape = cJSON_GetObjectItem(t, "shape");
            found = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "dtype")), "F32") &&
                    cJSON_GetArraySize(shape) == 2 && cJSON_GetArrayItem(shape, 0)->valuedouble == 2 &&
                    cJSON_GetArrayItem(shape, 1)->valuedouble == 3;
        }
    }
    CHECK(found);
    cJSON_Delete(root);
}

static void test_tokenizer(const char *path) {
    afloc_tokenizer *from_file = NULL, *from_bytes = NULL;
    CHECK_STATUS(afloc_tokenizer_load_model_file(path, NULL, &from_file), AFLOC_OK);
    CHECK_STATUS(afloc_tokenizer_create(vocab, sizeof vocab - 1, NULL, &from_bytes), AFLOC_OK);
    if (!from_file || !from_bytes) return;
    int32_t a[97], b[97], la = 0, lb = 0;
    const char *text = "left lungs lef";
    CHECK_STATUS(afloc_tokenizer_encode(from_file, text, strlen(text), a, NULL, 97, &la), AFLOC_OK);
    CHECK_STATUS(afloc_tokenizer_encode(from_bytes, text, strlen(text), b, NULL, 97, &lb), AFLOC_OK);
    CHECK(la == 8 && la == lb && memcmp(a, b, sizeof a) == 0);
    afloc_tokenizer_free(from_file);
    afloc_tokenizer_free(from_bytes);
}

static void test_error_paths(const char *path, const char *damaged) {
    afloc_tokenizer *tokenizer = (afloc_tokenizer *)&tokenizer; /* sentinel */
    CHECK_STATUS(afloc_model_file_inspect(NULL, NULL, 0, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_tokenizer_load_model_file(path, NULL, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_file_inspect("/nonexistent/model.safetensors", NULL, 0, NULL), AFLOC_ERR_IO);
    CHECK_STATUS(afloc_tokenizer_load_model_file("/nonexistent/model.safetensors", NULL, &tokenizer),
                 AFLOC_ERR_IO);
    CHECK(tokenizer == (afloc_tokenizer *)&tokenizer);

    /* Flip one bit of the last data byte (inside the vocab or the weights): the checksum catches it. */
    FILE *in = fopen(path, "rb");
    unsigned char bytes[8192];
    size_t size = in ? fread(bytes, 1, sizeof bytes, in) : 0;
    if (in) fclose(in);
    CHECK(size > 0 && size < sizeof bytes);
    bytes[size - 1] ^= 0x01;
    FILE *out = fopen(damaged, "wb");
    CHECK(out && fwrite(bytes, 1, size, out) == size);
    if (out) fclose(out);
    CHECK_STATUS(afloc_model_file_inspect(damaged, NULL, 0, NULL), AFLOC_ERR_CORRUPT);
    CHECK_STATUS(afloc_tokenizer_load_model_file(damaged, NULL, &tokenizer), AFLOC_ERR_CORRUPT);
    CHECK(tokenizer == (afloc_tokenizer *)&tokenizer);
}

int main(void) {
    char path[] = "/tmp/afloc_mf_api_XXXXXX";
    char *dir = mkdtemp(path);
    if (!dir) return 1;
    char model[512], damaged[512];
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(damaged, sizeof damaged, "%s/damaged.safetensors", dir);
    write_model(model);
    test_inspect(model);
    test_tokenizer(model);
    test_error_paths(model, damaged);
    unlink(model);
    unlink(damaged);
    rmdir(dir);
    return test_finish("test_model_file_api");
}
