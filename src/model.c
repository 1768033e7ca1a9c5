/* model.c: the life cycle of an afloc_model (afloc.h, "model" section): create with fresh
 * PyTorch-style initialisation, load and save a libafloc model file, import plain safetensors
 * weights (the converter's path), the config as JSON, free.
 *
 * Every route builds the model the same way: config → parameter table (params.h) → one
 * zero-filled parameter buffer → values (initialised, or copied tensor by tensor from a file whose
 * tensors were first checked against the table: RELIABILITY rule 1, nothing sized by the file is
 * allocated before the file is validated) → tokenizer → inference plan (inference_plan.h).
 *
 * Initialisation (afloc_model_create) mirrors what PyTorch does for a fresh AFLoc, module by
 * module, with our own random numbers:
 *  - img_encoder.model.* (torchvision ResNet.__init__): conv weight ~ N(0, 2/fan_out) with
 *    fan_out = out·k·k (kaiming_normal_, mode fan_out, ReLU); BatchNorm weight 1, bias 0, running
 *    mean 0, running var 1;
 *  - img_encoder.{global,local,local2,local_f}_embedder (nn.Linear/nn.Conv2d reset_parameters):
 *    kaiming_uniform_(a=√5) = U(±1/√fan_in) for weights, U(±1/√fan_in) for the Linear bias;
 *  - text_encoder.* (transformers 4.2.1 BertPreTrainedModel._init_weights): Linear and Embedding
 *    weights ~ N(0, 0.02²) (that version does not zero the padding row), biases 0, LayerNorm 1/0.
 * The generator: value i of a tensor is a function of (seed, FNV-1a hash of the tensor's name,
 * i) through the splitmix64 finaliser; normals by Box-Muller in double, rounded to float. So a
 * tensor's values do not depend on table order or thread count. This is not PyTorch's stream:
 * the distributions match, the numbers do not. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "alloc.h"
#include "context.h"
#include "device_model.h"
#include "error.h"
#include "inference.h"
#include "model.h"
#include "model_file.h"
#include "tokenizer.h"

/* ---- small helpers ---- */

/* Re-issues the current last error as `status` prefixed with `function` and `what`. */
static afloc_status rewrap(afloc_status status, const char *function, const char *what) {
    char reason[AFLOC_ERROR_CAPACITY];
    snprintf(reason, sizeof reason, "%s", afloc_last_error());
    return afloc_fail(status, "%s: %s: %s", function, what, reason);
}

/* Re-issues the current last error unchanged under another status. */
static afloc_status recode(afloc_status status) {
    char reason[AFLOC_ERROR_CAPACITY];
    snprintf(reason, sizeof reason, "%s", afloc_last_error());
    return afloc_fail(status, "%s", reason);
}

/* Copies NUL-terminated `text` to a caller buffer (NULL buffer: size query). */
static afloc_status copy_out(const char *text, char *buffer, size_t capacity, size_t *needed,
                             const char *function) {
    size_t size = strlen(text) + 1;
    if (needed) *needed = size;
    if (!buffer) return AFLOC_OK;
    if (capacity < size)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: capacity %zu, %zu bytes needed", function,
                          capacity, size);
    memcpy(buffer, text, size);
    return AFLOC_OK;
}

static afloc_status check_backend(const afloc_context *context, const char *function) {
    if (context->backend == AFLOC_BACKEND_CUDA && (!context->cuda || !context->cuda->device))
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: CUDA context without a compute table", function);
    return AFLOC_OK;
}

/* ---- building ---- */

void afloc_model_free(afloc_model *model) {
    if (!model) return;
    afloc_device_model_free(model->device);
    afloc_inference_free(model->inference);
    afloc_tokenizer_free(model->tokenizer);
    afloc_free(model->vocab);
    afloc_free(model->params);
    afloc_params_free(&model->table);
    afloc_free(model);
}

/* A model with its table and a zero-filled parameter buffer (zero padding between tensors keeps
 * the buffer bit-identical across save and load). */
static afloc_status model_new(const afloc_context *context, const afloc_config *config,
                              const char *function, afloc_model **out) {
    afloc_model *model = afloc_calloc(1, sizeof *model);
    if (!model) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the model", function);
    model->context = context;
    model->ops     = afloc_cpu_ops();
    model->config  = *config;
    afloc_status status = afloc_params_build(&model->table, config);
    if (status != AFLOC_OK) status = rewrap(status, function, "parameter table");
    if (status == AFLOC_OK) {
        size_t floats = model->table.total_floats;
        model->params = floats <= SIZE_MAX / sizeof(float) ? afloc_calloc(floats, sizeof(float)) : NULL;
        if (!model->params)
            status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu parameters (%zu bytes)",
                                function, floats, floats * sizeof(float));
    }
    if (status != AFLOC_OK) {
        afloc_model_free(model);
        return status;
    }
    *out = model;
    return AFLOC_OK;
}

/* Builds the tokenizer from `vocab` (one token per line) and keeps a canonical copy of the
 * vocabulary ('\n' after every token) for afloc_model_save. `mismatch` is the status for a
 * token count other than config.vocab_size. */
static afloc_status attach_vocab(afloc_model *model, const char *vocab, size_t bytes,
                                 afloc_status mismatch, const char *function) {
    afloc_tokenizer_options options = {0};
    options.struct_size = sizeof options;
    afloc_tokenizer_options_default(&options);
    options.max_length = model->config.token_length;
    afloc_status status = afloc_tokenizer_create(vocab, bytes, &options, &model->tokenizer);
    if (status != AFLOC_OK) return rewrap(status, function, "vocabulary");
    int32_t tokens = 0;
    afloc_tokenizer_vocab_size(model->tokenizer, &tokens);
    if (tokens != model->config.vocab_size)
        return afloc_fail(mismatch, "%s: the vocabulary has %d tokens, the config's vocab_size is %d",
                          function, tokens, model->config.vocab_size);
    size_t total = 0;
    for (int32_t id = 0; id < tokens; id++) {
        size_t size = 0;
        afloc_tokenizer_piece(model->tokenizer, id, &size);
        total += size + 1;
    }
    model->vocab = afloc_malloc(total);
    if (!model->vocab)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu vocabulary bytes", function, total);
    size_t at = 0;
    for (int32_t id = 0; id < tokens; id++) {
        size_t size = 0;
        const char *piece = afloc_tokenizer_piece(model->tokenizer, id, &size);
        memcpy(model->vocab + at, piece, size);
        model->vocab[at + size] = '\n';
        at += size + 1;
    }
    model->vocab_size = total;
    return AFLOC_OK;
}

/* Vocabulary, then the inference plan; frees the model on failure. */
static afloc_status finish(afloc_model *model, const char *vocab, size_t bytes, afloc_status mismatch,
                           const char *function, afloc_model **out) {
    afloc_status status = attach_vocab(model, vocab, bytes, mismatch, function);
    if (status == AFLOC_OK) status = afloc_inference_prepare(model);
    /* On a CUDA context the encoders run on the device: weights uploaded once, here. */
    const afloc_context *context = model->context;
    if (status == AFLOC_OK && context->backend == AFLOC_BACKEND_CUDA)
        status = afloc_device_model_create(model, context->cuda->device, context->options.device_index,
                                           afloc_context_device_math(context), 1, function,
                                           &model->device);
    if (status != AFLOC_OK) {
        afloc_model_free(model);
        return status;
    }
    *out = model;
    return AFLOC_OK;
}

/* How tensors from a file are taken: a model file (every tensor of the config), plain tensors
 * from elsewhere (the position term may be absent), or a model to grow (whole residual blocks
 * may be absent too, see afloc_model_grow). */
typedef enum { TENSORS_MODEL_FILE, TENSORS_IMPORT, TENSORS_GROW } tensor_source;

/* If `name` is a tensor of a ResNet block after the first of its stage
 * ("img_encoder.model.layerL.B." with B >= 1: a block without a downsample path, which can
 * start as an identity), sets *stage (0-3) and *block and returns 1. */
static int later_block_tensor(const char *name, int32_t *stage, int32_t *block) {
    static const char prefix[] = "img_encoder.model.layer";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) return 0;
    const char *s = name + sizeof prefix - 1;
    if (*s < '1' || *s > '4' || s[1] != '.') return 0;
    *stage = *s - '1';
    char *end = NULL;
    long b = strtol(s + 2, &end, 10);
    if (end == s + 2 || *end != '.' || b < 1 || b > 1000) return 0;
    *block = (int32_t)b;
    return 1;
}

/* The table as the model file layer's expected schema (all F32). Caller frees. */
static afloc_status expected_schema(const afloc_param_table *table, tensor_source source,
                                    const char *function, afloc_mf_expected **out) {
    afloc_mf_expected *expected = afloc_calloc((size_t)table->count + 1, sizeof *expected);
    if (!expected)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the schema (%d tensors)", function,
                          table->count);
    for (int32_t i = 0; i < table->count; i++) {
        const afloc_param *p = &table->params[i];
        int32_t stage = 0, block = 0;
        expected[i].name  = p->name;
        expected[i].dtype = AFLOC_ST_F32;
        expected[i].rank  = p->rank;
        memcpy(expected[i].shape, p->shape, (size_t)p->rank * sizeof p->shape[0]);
        /* the position term may be absent from imported tensors: it then starts at zero, off */
        expected[i].optional =
            (source != TENSORS_MODEL_FILE && strcmp(p->name, AFLOC_LOCAL_POSITION_TENSOR) == 0) ||
            (source == TENSORS_GROW && later_block_tensor(p->name, &stage, &block));
    }
    *out = expected;
    return AFLOC_OK;
}

/* Growth: each later block of the config is either wholly in the file or wholly absent, and the
 * absent ones come after the present ones of their stage (blocks are added at the end). */
static afloc_status check_growth(const afloc_param_table *table, const afloc_st_file *st,
                                 const char *function) {
    for (int32_t stage = 0; stage < 4; stage++) {
        int32_t last_present = 0, first_absent = INT32_MAX;
        for (int32_t i = 0; i < table->count; i++) {
            int32_t s = 0, b = 0;
            if (!later_block_tensor(table->params[i].name, &s, &b) || s != stage) continue;
            if (afloc_st_find(st, table->params[i].name) >= 0) {
                if (b > last_present) last_present = b;
            } else if (b < first_absent) {
                first_absent = b;
            }
        }
        if (last_present >= first_absent)
            return afloc_fail(AFLOC_ERR_SCHEMA,
                              "%s: resnet stage %d: block %d is (partly) in the file, block %d is not; "
                              "only whole blocks after the file's last one can be added",
                              function, stage + 1, last_present, first_absent);
    }
    return AFLOC_OK;
}

/* ---- initialisation ---- */

static uint64_t mix64(uint64_t z) { /* the splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *name) { /* FNV-1a, 64 bit */
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) h = (h ^ *s) * 0x100000001B3ull;
    return h;
}

/* The i-th uniform number of stream `key`, in (0, 1). */
static double uniform01(uint64_t key, uint64_t i) {
    uint64_t bits = mix64(key + (i + 1) * 0x9E3779B97F4A7C15ull);
    return ((double)(bits >> 11) + 0.5) * 0x1p-53;
}

static void fill_constant(float *values, size_t n, float value) {
    for (size_t i = 0; i < n; i++) values[i] = value;
}

static void fill_uniform(float *values, size_t n, uint64_t key, double bound) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < (int64_t)n; i++)
        values[i] = (float)((2.0 * uniform01(key, (uint64_t)i) - 1.0) * bound);
}

static void fill_normal(float *values, size_t n, uint64_t key, double std) {
    const double two_pi = 6.283185307179586476925286766559;
    #pragma omp parallel for schedule(static)
    for (int64_t pair = 0; pair < (int64_t)(n + 1) / 2; pair++) {
        double r = sqrt(-2.0 * log(uniform01(key, 2 * (uint64_t)pair)));
        double angle = two_pi * uniform01(key, 2 * (uint64_t)pair + 1);
        values[2 * pair] = (float)(std * r * cos(angle));
        if ((size_t)(2 * pair + 1) < n) values[2 * pair + 1] = (float)(std * r * sin(angle));
    }
}

static int starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void init_param(float *values, const afloc_param *p, uint64_t seed) {
    uint64_t key = mix64(seed ^ name_hash(p->name));
    int resnet = starts_with(p->name, "img_encoder.model.");
    int head = !resnet && starts_with(p->name, "img_encoder.");
    switch (p->kind) {
    case AFLOC_PARAM_WEIGHT:
        if (strcmp(p->name, AFLOC_LOCAL_POSITION_TENSOR) == 0) {
            /* zero: the term starts switched off, so a model given it (afloc init --weights)
             * computes exactly what it computed without it until training moves it */
            fill_constant(values, p->count, 0.0f);
        } else if (resnet) { /* kaiming_normal_(mode="fan_out", nonlinearity="relu") */
            double fan_out = (double)p->count / (double)p->shape[1];
            fill_normal(values, p->count, key, sqrt(2.0 / fan_out));
        } else if (head) { /* kaiming_uniform_(a=√5): gain √(1/3), bound gain·√(3/fan_in) */
            fill_uniform(values, p->count, key, 1.0 / sqrt((double)p->fan_in));
        } else {
            fill_normal(values, p->count, key, 0.02);
        }
        break;
    case AFLOC_PARAM_BIAS:
        if (head) fill_uniform(values, p->count, key, 1.0 / sqrt((double)p->fan_in));
        else fill_constant(values, p->count, 0.0f);
        break;
    case AFLOC_PARAM_NORM_WEIGHT:
    case AFLOC_PARAM_RUNNING_VAR:
        fill_constant(values, p->count, 1.0f);
        break;
    default: /* NORM_BIAS, RUNNING_MEAN */
        fill_constant(values, p->count, 0.0f);
        break;
    }
}

/* Checks `st` against the table of `config`, then builds a model holding its tensors (the
 * vocabulary is attached by the caller). A tensor that `source` lets be absent starts as
 * init_param (seed `seed`) starts it, except the last BatchNorm scale of an added residual block,
 * which starts at zero: the block is then an identity, so a grown model computes exactly what
 * the file's model computed. (init_param starts the position term at zero too: off.) */
static afloc_status model_from_tensors(const afloc_context *context, const afloc_config *config,
                                       const afloc_st_file *st, tensor_source source, uint64_t seed,
                                       const char *function, afloc_model **out) {
    afloc_param_table table = {0};
    afloc_status status = afloc_params_build(&table, config);
    if (status != AFLOC_OK) return rewrap(status, function, "parameter table");
    afloc_mf_expected *expected = NULL;
    status = expected_schema(&table, source, function, &expected);
    if (status == AFLOC_OK) status = afloc_mf_check_schema(st, expected, table.count, function);
    if (status == AFLOC_OK && source == TENSORS_GROW) status = check_growth(&table, st, function);
    afloc_free(expected);
    afloc_params_free(&table);
    if (status != AFLOC_OK) return status;

    afloc_model *model = NULL;
    AFLOC_TRY(model_new(context, config, function, &model));
    for (int32_t i = 0; i < model->table.count && status == AFLOC_OK; i++) {
        const afloc_param *p = &model->table.params[i];
        float *values = model->params + p->offset;
        const int32_t index = afloc_st_find(st, p->name);
        if (index >= 0) {
            status = afloc_st_tensor_copy(st, index, values, p->count * sizeof(float));
            continue;
        }
        /* an optional tensor the schema check let pass */
        static const char last_scale[] = ".bn3.weight";
        const size_t n = strlen(p->name), k = sizeof last_scale - 1;
        if (n > k && strcmp(p->name + n - k, last_scale) == 0) memset(values, 0, p->count * sizeof(float));
        else init_param(values, p, seed);
    }
    if (status != AFLOC_OK) {
        afloc_model_free(model);
        return rewrap(status, function, "copying tensors");
    }
    *out = model;
    return AFLOC_OK;
}

/* ---- public functions ---- */

afloc_status afloc_model_config_default(char *json, size_t capacity, size_t *needed) {
    static const char fn[] = "afloc_model_config_default";
    afloc_clear_error();
    afloc_config config;
    afloc_config_default(&config);
    char *text = NULL;
    AFLOC_TRY(afloc_config_to_json(&config, &text, fn));
    afloc_status status = copy_out(text, json, capacity, needed, fn);
    afloc_free(text);
    return status;
}

afloc_status afloc_model_create(afloc_context *context, const char *config_json, const char *vocab,
                                size_t vocab_size, uint64_t seed, afloc_model **out) {
    static const char fn[] = "afloc_model_create";
    afloc_clear_error();
    if (!context || !vocab || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                          !context ? "context" : !vocab ? "vocab" : "out");
    AFLOC_TRY(check_backend(context, fn));
    afloc_config config;
    afloc_config_default(&config);
    if (config_json) AFLOC_TRY(afloc_config_from_json(&config, config_json, strlen(config_json), fn));
    afloc_model *model = NULL;
    AFLOC_TRY(model_new(context, &config, fn, &model));
    for (int32_t i = 0; i < model->table.count; i++) {
        const afloc_param *p = &model->table.params[i];
        init_param(model->params + p->offset, p, seed);
    }
    return finish(model, vocab, vocab_size, AFLOC_ERR_INVALID_ARGUMENT, fn, out);
}

afloc_status afloc_model_load(afloc_context *context, const char *path, afloc_model **out) {
    static const char fn[] = "afloc_model_load";
    afloc_clear_error();
    if (!context || !path || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                          !context ? "context" : !path ? "path" : "out");
    AFLOC_TRY(check_backend(context, fn));
    afloc_model_file *file = NULL;
    AFLOC_TRY(afloc_mf_read(path, NULL, NULL, 0, fn, &file));
    afloc_config config;
    afloc_status status = afloc_config_from_json(&config, file->config_json, strlen(file->config_json),
                                                 "afloc_model_load: afloc.config");
    if (status == AFLOC_ERR_INVALID_ARGUMENT) status = recode(AFLOC_ERR_FORMAT); /* the file is wrong */
    afloc_model *model = NULL;
    if (status == AFLOC_OK) status = model_from_tensors(context, &config, file->st, TENSORS_MODEL_FILE, 0, fn, &model);
    if (status == AFLOC_OK) {
        size_t bytes = 0;
        const unsigned char *vocab = afloc_mf_vocab(file, &bytes);
        status = finish(model, (const char *)vocab, bytes, AFLOC_ERR_SCHEMA, fn, out);
    }
    afloc_mf_free(file);
    return status;
}

/* afloc_model_import_safetensors and afloc_model_grow: tensors from a safetensors file under a
 * caller's config and vocabulary. */
static afloc_status model_from_file(afloc_context *context, const char *tensors_path,
                                    const char *config_json, const char *vocab, size_t vocab_size,
                                    tensor_source source, uint64_t seed, const char *fn,
                                    afloc_model **out) {
    afloc_clear_error();
    if (!context || !tensors_path || !vocab || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                          !context ? "context" : !tensors_path ? "tensors_path" : !vocab ? "vocab" : "out");
    AFLOC_TRY(check_backend(context, fn));
    afloc_config config;
    afloc_config_default(&config);
    if (config_json) AFLOC_TRY(afloc_config_from_json(&config, config_json, strlen(config_json), fn));
    afloc_st_file *st = NULL;
    AFLOC_TRY(afloc_st_read_file(tensors_path, NULL, fn, &st));
    afloc_model *model = NULL;
    afloc_status status = model_from_tensors(context, &config, st, source, seed, fn, &model);
    afloc_st_free(st);
    if (status != AFLOC_OK) return status;
    return finish(model, vocab, vocab_size, AFLOC_ERR_INVALID_ARGUMENT, fn, out);
}

afloc_status afloc_model_import_safetensors(afloc_context *context, const char *tensors_path,
                                            const char *config_json, const char *vocab,
                                            size_t vocab_size, afloc_model **out) {
    return model_from_file(context, tensors_path, config_json, vocab, vocab_size, TENSORS_IMPORT, 0,
                           "afloc_model_import_safetensors", out);
}

afloc_status afloc_model_grow(afloc_context *context, const char *tensors_path, const char *config_json,
                              const char *vocab, size_t vocab_size, uint64_t seed, afloc_model **out) {
    return model_from_file(context, tensors_path, config_json, vocab, vocab_size, TENSORS_GROW, seed,
                           "afloc_model_grow", out);
}

afloc_status afloc_model_save(const afloc_model *model, const char *path) {
    static const char fn[] = "afloc_model_save";
    afloc_clear_error();
    if (!model || !path)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !model ? "model" : "path");
    char *config = NULL;
    AFLOC_TRY(afloc_config_to_json(&model->config, &config, fn));
    const afloc_param_table *table = &model->table;
    afloc_st_write_tensor *tensors = afloc_calloc((size_t)table->count + 1, sizeof *tensors);
    if (!tensors) {
        afloc_free(config);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d tensor entries", fn, table->count);
    }
    for (int32_t i = 0; i < table->count; i++) {
        const afloc_param *p = &table->params[i];
        tensors[i].name   = p->name;
        tensors[i].dtype  = AFLOC_ST_F32;
        tensors[i].rank   = p->rank;
        tensors[i].shape  = p->shape;
        tensors[i].data   = model->params + p->offset;
        tensors[i].nbytes = p->count * sizeof(float);
    }
    afloc_status status = afloc_mf_write(path, config, model->vocab, model->vocab_size, tensors,
                                         table->count, fn);
    afloc_free(tensors);
    afloc_free(config);
    return status;
}

afloc_status afloc_model_get_config(const afloc_model *model, char *json, size_t capacity,
                                    size_t *needed) {
    static const char fn[] = "afloc_model_get_config";
    afloc_clear_error();
    if (!model) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    char *text = NULL;
    AFLOC_TRY(afloc_config_to_json(&model->config, &text, fn));
    afloc_status status = copy_out(text, json, capacity, needed, fn);
    afloc_free(text);
    return status;
}

float *afloc_model_param(const afloc_model *model, const char *name) {
    if (!model) return NULL;
    int32_t index = afloc_params_find(&model->table, name);
    return index < 0 ? NULL : model->params + model->table.params[index].offset;
}
