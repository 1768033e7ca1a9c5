/* config.c: the model configuration (config.h): the paper's defaults (MODEL.md §1, §3, §5.1),
 * a strict JSON reader and a writer, and the derived feature-map sides (MODEL.md §3.2).
 *
 * The JSON form is one flat object whose keys are the field names of afloc_config, with
 * resnet_blocks/resnet_planes as 4-element arrays. Reading starts from the defaults and overrides
 * the keys present. It is strict (RELIABILITY rule 3): an unknown key, a wrong type or a
 * non-integer for an integer field is AFLOC_ERR_FORMAT; a value outside its range or an
 * inconsistent combination is AFLOC_ERR_INVALID_ARGUMENT; the message names the key. The ranges
 * are sanity caps far above any real model, so a config can never ask for an absurd allocation. */
#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "safetensors.h"

/* ---- the field table ---- */

typedef enum field_type { FIELD_INT, FIELD_FLOAT, FIELD_INT4 } field_type;

typedef struct field {
    const char *key;
    field_type  type;
    size_t      offset;
    double      min, max; /* inclusive; floats must also be finite */
} field;

#define F_INT(name, lo, hi)   {#name, FIELD_INT, offsetof(afloc_config, name), lo, hi}
#define F_FLOAT(name, lo, hi) {#name, FIELD_FLOAT, offsetof(afloc_config, name), lo, hi}
#define F_INT4(name, lo, hi)  {#name, FIELD_INT4, offsetof(afloc_config, name), lo, hi}

static const field fields[] = {
    F_INT4(resnet_blocks, 1, 64),
    F_INT4(resnet_planes, 1, 8192),
    F_INT(resnet_base_width, 1, 1024),
    F_INT(resnet_stem, 1, 8192),
    F_INT(input_channels, 1, 64),
    F_FLOAT(bn_eps, 1e-30, 1.0),
    F_INT(image_size, 1, 4096),
    F_INT(crop_size, 1, 4096),
    F_INT(upsample_size, 1, 4096),
    F_INT(use_local_f_embedder, 0, 1),
    F_INT(bert_layers, 1, 128),
    F_INT(bert_hidden, 1, 16384),
    F_INT(bert_heads, 1, 1024),
    F_INT(bert_intermediate, 1, 65536),
    F_INT(vocab_size, 4, AFLOC_MAX_VOCAB_TOKENS),
    F_INT(max_positions, 2, 8192),
    F_INT(type_vocab_size, 1, 64),
    F_FLOAT(layernorm_eps, 1e-30, 1.0),
    F_INT(last_n_layers, 1, 128),
    F_INT(token_length, 2, AFLOC_MAX_SEQUENCE_LENGTH),
    F_INT(captions_per_image, 1, 1000),
    F_INT(embedding_dim, 1, 16384),
    F_FLOAT(temp1, 1e-6, 1e6),
    F_FLOAT(temp2, 1e-6, 1e6),
    F_FLOAT(temp3, 1e-6, 1e6),
    F_FLOAT(gaussian_sigma, 1e-6, 1000.0),
    F_FLOAT(gaussian_truncate, 1e-6, 1000.0),
    F_INT(map_alignment, 0, 2),
    F_INT(local_position, 0, 1),
};
#define FIELD_COUNT ((int)(sizeof fields / sizeof fields[0]))

void afloc_config_default(afloc_config *config) {
    static const afloc_config paper = {
        .resnet_blocks        = {3, 4, 6, 3},
        .resnet_planes        = {64, 128, 256, 512},
        .resnet_base_width    = 64,
        .resnet_stem          = 64,
        .input_channels       = 3,
        .bn_eps               = 1e-5f,
        .image_size           = 224,
        .crop_size            = 224,
        .upsample_size        = 299,
        .use_local_f_embedder = 0,
        .bert_layers          = 12,
        .bert_hidden          = 768,
        .bert_heads           = 12,
        .bert_intermediate    = 3072,
        .vocab_size           = 28996,
        .max_positions        = 512,
        .type_vocab_size      = 2,
        .layernorm_eps        = 1e-12f,
        .last_n_layers        = 4,
        .token_length         = 97,
        .captions_per_image   = 5,
        .embedding_dim        = 768,
        .temp1                = 4.0f,
        .temp2                = 5.0f,
        .temp3                = 10.0f,
        .gaussian_sigma       = 1.5f,
        .gaussian_truncate    = 4.0f,
        .map_alignment        = 0,
        .local_position       = 0,
    };
    *config = paper;
}

/* ---- reading ---- */

/* One JSON number into an int field slot: integral and inside [min, max]. */
static afloc_status read_int(const cJSON *item, const field *f, const char *key, int32_t *out,
                             const char *function) {
    if (!cJSON_IsNumber(item))
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: config key \"%s\" must be an integer", function, key);
    double v = item->valuedouble;
    if (!isfinite(v) || floor(v) != v)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: config key \"%s\" must be an integer, got %g", function,
                          key, v);
    if (v < f->min || v > f->max)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: config key \"%s\" is %.0f, outside %.0f..%.0f",
                          function, key, v, f->min, f->max);
    *out = (int32_t)v;
    return AFLOC_OK;
}

static afloc_status read_field(afloc_config *config, const field *f, const cJSON *item,
                               const char *function) {
    unsigned char *slot = (unsigned char *)config + f->offset;
    if (f->type == FIELD_INT) return read_int(item, f, f->key, (int32_t *)(void *)slot, function);
    if (f->type == FIELD_FLOAT) {
        if (!cJSON_IsNumber(item))
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: config key \"%s\" must be a number", function, f->key);
        double v = item->valuedouble;
        if (!isfinite(v) || v < f->min || v > f->max)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: config key \"%s\" is %g, outside %g..%g",
                              function, f->key, v, f->min, f->max);
        float value = (float)v;
        memcpy(slot, &value, sizeof value);
        return AFLOC_OK;
    }
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 4)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: config key \"%s\" must be an array of 4 integers",
                          function, f->key);
    int32_t values[4];
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s[%d]", f->key, i);
        AFLOC_TRY(read_int(cJSON_GetArrayItem(item, i), f, key, &values[i], function));
    }
    memcpy(slot, values, sizeof values);
    return AFLOC_OK;
}

/* Relations between fields that single ranges cannot express. */
static afloc_status check_consistency(const afloc_config *c, const char *function) {
    for (int i = 0; i < 4; i++) {
        int64_t width = (int64_t)c->resnet_planes[i] * c->resnet_base_width / 64;
        if (width < 1)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                              "%s: config key \"resnet_base_width\" %d gives stage %d a bottleneck width of 0 "
                              "(planes %d)", function, c->resnet_base_width, i + 1, c->resnet_planes[i]);
    }
    if (c->bert_heads > c->bert_hidden || c->bert_hidden % c->bert_heads != 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: config key \"bert_heads\" %d does not divide bert_hidden %d", function,
                          c->bert_heads, c->bert_hidden);
    if (c->embedding_dim != c->bert_hidden)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: config key \"embedding_dim\" %d must equal bert_hidden %d (AFLoc has no text "
                          "projection)", function, c->embedding_dim, c->bert_hidden);
    if (c->token_length > c->max_positions)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: config key \"token_length\" %d exceeds max_positions %d", function,
                          c->token_length, c->max_positions);
    if (c->last_n_layers > c->bert_layers)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: config key \"last_n_layers\" %d exceeds bert_layers %d", function,
                          c->last_n_layers, c->bert_layers);
    if (c->crop_size > c->image_size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: config key \"crop_size\" %d exceeds image_size %d",
                          function, c->crop_size, c->image_size);
    return AFLOC_OK;
}

afloc_status afloc_config_from_json(afloc_config *config, const char *json, size_t json_len,
                                    const char *function) {
    if (!function) function = "afloc_config_from_json";
    if (!config || !json)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL config or JSON", function);
    /* A config often comes from a text file: JSON whitespace around the object is fine (the
     * strict reader itself allows only trailing spaces, as safetensors headers need). */
    while (json_len > 0 && (json[json_len - 1] == ' ' || json[json_len - 1] == '\n' ||
                            json[json_len - 1] == '\r' || json[json_len - 1] == '\t'))
        json_len--;
    while (json_len > 0 && (*json == ' ' || *json == '\n' || *json == '\r' || *json == '\t')) {
        json++;
        json_len--;
    }
    void *parsed = NULL;
    AFLOC_TRY(afloc_st_json_parse_strict(json, json_len, function, &parsed));
    cJSON *root = parsed;
    afloc_config result;
    afloc_config_default(&result);
    afloc_status status = AFLOC_OK;
    if (!cJSON_IsObject(root))
        status = afloc_fail(AFLOC_ERR_FORMAT, "%s: the config is not a JSON object", function);
    for (const cJSON *item = root->child; item && status == AFLOC_OK; item = item->next) {
        int f = 0;
        while (f < FIELD_COUNT && strcmp(fields[f].key, item->string) != 0) f++;
        if (f == FIELD_COUNT)
            status = afloc_fail(AFLOC_ERR_FORMAT, "%s: unknown config key \"%.64s\"", function, item->string);
        else
            status = read_field(&result, &fields[f], item, function);
    }
    cJSON_Delete(root);
    if (status == AFLOC_OK) status = check_consistency(&result, function);
    if (status == AFLOC_OK) *config = result;
    return status;
}

/* ---- writing ---- */

/* The shortest decimal text that reads back as the same float ("1e-12", not 9.99999996e-13). */
static void format_float(char out[32], float value) {
    for (int precision = 1; precision <= 9; precision++) {
        snprintf(out, 32, "%.*g", precision, (double)value);
        if (strtof(out, NULL) == value) return;
    }
}

afloc_status afloc_config_to_json(const afloc_config *config, char **json, const char *function) {
    if (!function) function = "afloc_config_to_json";
    if (!config || !json) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL config or output", function);
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    for (int f = 0; f < FIELD_COUNT && ok; f++) {
        const unsigned char *slot = (const unsigned char *)config + fields[f].offset;
        cJSON *item = NULL;
        if (fields[f].type == FIELD_INT) {
            int32_t v;
            memcpy(&v, slot, sizeof v);
            item = cJSON_CreateNumber(v);
        } else if (fields[f].type == FIELD_FLOAT) {
            float v;
            char text[32];
            memcpy(&v, slot, sizeof v);
            format_float(text, v);
            item = cJSON_CreateRaw(text);
        } else {
            int32_t v[4];
            memcpy(v, slot, sizeof v);
            item = cJSON_CreateIntArray(v, 4);
        }
        ok = item && cJSON_AddItemToObject(root, fields[f].key, item);
        if (!ok) cJSON_Delete(item);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    char *copy = text ? afloc_malloc(strlen(text) + 1) : NULL;
    if (copy) memcpy(copy, text, strlen(text) + 1);
    cJSON_free(text);
    if (!copy) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory writing the config", function);
    *json = copy;
    return AFLOC_OK;
}

/* ---- derived sizes ---- */

static int32_t out_side(int32_t n, int32_t k, int32_t stride, int32_t pad) {
    return (n + 2 * pad - k) / stride + 1;
}

void afloc_config_feature_sides(const afloc_config *config, int32_t *layer2, int32_t *layer3,
                                int32_t *layer4) {
    int32_t n = out_side(config->upsample_size, 7, 2, 3); /* conv1 7x7 s2 p3: 299 -> 150   */
    n = out_side(n, 3, 2, 1);                             /* maxpool 3x3 s2 p1: -> 75       */
    /* layer1 has stride 1; layers 2-4 stride 2 on the 3x3 conv (pad 1): 38, 19, 10 */
    int32_t l2 = out_side(n, 3, 2, 1);
    int32_t l3 = out_side(l2, 3, 2, 1);
    int32_t l4 = out_side(l3, 3, 2, 1);
    if (layer2) *layer2 = l2;
    if (layer3) *layer3 = l3;
    if (layer4) *layer4 = l4;
}
