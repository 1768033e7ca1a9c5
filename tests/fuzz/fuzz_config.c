/* fuzz_config.c: libFuzzer target for the model config reader (RELIABILITY rule 10: a config is an
 * external input: `afloc init --config`, afloc_model_create's config_json, and the "afloc.config"
 * metadata of every model file and trainer checkpoint). Raw bytes go to afloc_config_from_json;
 * every result must be AFLOC_OK or a documented error code. An accepted config must
 *   - keep the relations the reader promises (heads divide the width, embedding = width, ...),
 *   - survive a write and a second read unchanged, bit for bit,
 *   - give positive feature-map sides and a parameter table whose tensors are laid out in order,
 *     without overlap, inside the buffer (the table is what model creation allocates from).
 * For one input in eight (chosen from the byte sum, so a crash reproduces from the file alone) the
 * k-th host allocation fails, k = sum % 32. Seeds: corpus/config/; dictionary: config.dict. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "alloc.h"
#include "config.h"
#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int condition) {
    if (!condition) abort(); /* a broken promise the fuzzer must report */
}

static void check_status(afloc_status status, int injected) {
    require(status == AFLOC_OK || status == AFLOC_ERR_FORMAT || status == AFLOC_ERR_INVALID_ARGUMENT ||
            status == AFLOC_ERR_LIMIT || (injected && status == AFLOC_ERR_OUT_OF_MEMORY));
}

static void check_relations(const afloc_config *c) {
    require(c->bert_hidden % c->bert_heads == 0 && c->embedding_dim == c->bert_hidden);
    require(c->token_length <= c->max_positions && c->last_n_layers <= c->bert_layers);
    require(c->crop_size <= c->image_size);
    for (int i = 0; i < 4; i++)
        require(c->resnet_blocks[i] >= 1 && (int64_t)c->resnet_planes[i] * c->resnet_base_width / 64 >= 1);
    int32_t l2 = 0, l3 = 0, l4 = 0;
    afloc_config_feature_sides(c, &l2, &l3, &l4);
    require(l2 >= 1 && l3 >= 1 && l4 >= 1 && l4 <= l3 && l3 <= l2);
}

static void check_table(const afloc_param_table *t) {
    size_t end = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        require(p->rank >= 1 && p->rank <= AFLOC_PARAM_MAX_RANK && p->count >= 1);
        size_t count = 1;
        for (int32_t r = 0; r < p->rank; r++) {
            require(p->shape[r] >= 1);
            count *= (size_t)p->shape[r];
        }
        require(count == p->count && p->offset >= end && p->count <= t->total_floats - p->offset);
        end = p->offset + p->count;
    }
    /* names are unique; checking every pair is quadratic, so the ends stand for the rest */
    if (t->count > 0) {
        require(afloc_params_find(t, t->params[0].name) == 0);
        require(afloc_params_find(t, t->params[t->count - 1].name) == t->count - 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++) sum += data[i];
    const int injected = sum % 8 == 5;
    if (injected) afloc_test_inject_alloc_failure((long)(sum / 8 % 32));

    afloc_config config;
    afloc_config_default(&config);
    const afloc_config before = config;
    afloc_status status = afloc_config_from_json(&config, size ? (const char *)data : "", size, "fuzz");
    check_status(status, injected);
    if (status != AFLOC_OK) {
        require(memcmp(&config, &before, sizeof config) == 0); /* a refused config changes nothing */
        require(afloc_last_error()[0] != '\0');
    } else {
        check_relations(&config);
        char *json = NULL;
        status = afloc_config_to_json(&config, &json, "fuzz");
        require(status == AFLOC_OK || (injected && status == AFLOC_ERR_OUT_OF_MEMORY));
        if (status == AFLOC_OK) {
            afloc_config again;
            status = afloc_config_from_json(&again, json, strlen(json), "fuzz");
            require(status == AFLOC_OK || (injected && status == AFLOC_ERR_OUT_OF_MEMORY));
            if (status == AFLOC_OK) require(memcmp(&again, &config, sizeof config) == 0);
            afloc_free(json);
        }
        afloc_param_table table;
        memset(&table, 0, sizeof table);
        status = afloc_params_build(&table, &config);
        require(status == AFLOC_OK || (injected && status == AFLOC_ERR_OUT_OF_MEMORY));
        if (status == AFLOC_OK) check_table(&table);
        afloc_params_free(&table);
    }
    if (injected) afloc_test_inject_alloc_failure(-1);
    return 0;
}
