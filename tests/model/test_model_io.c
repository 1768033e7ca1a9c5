/* test_model_io.c: the model's life cycle without running it (label model): config defaults, JSON
 * round trip and strict errors; the parameter table of the paper's config against the counts of
 * MODEL.md §10.2; create → save → load bit-identical; initialisation statistics; import of plain
 * safetensors; schema errors naming the tensor; allocation-failure injection on create, save and
 * load (RELIABILITY T13); NULL misuse and the CUDA refusal. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "context.h"
#include "model.h"
#include "model_file.h"
#include "model_layout.h"
#include "params.h"
#include "test_util.h"

static char dir[512];

/* A small model that still has every kind of tensor: downsample in every stage (stem 8 != 4·4),
 * local_f_embedder, 2 BERT layers. */
static const char *small_config =
    "{\"resnet_blocks\":[1,2,1,1],\"resnet_planes\":[4,8,8,16],\"resnet_stem\":8,"
    "\"use_local_f_embedder\":1,\"bert_layers\":2,\"bert_hidden\":64,\"bert_heads\":4,"
    "\"bert_intermediate\":128,\"vocab_size\":16,\"max_positions\":32,\"token_length\":16,"
    "\"last_n_layers\":2,\"embedding_dim\":64,\"upsample_size\":64,\"image_size\":32,\"crop_size\":32}";

static const char vocab16[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nleft\nright\nsmall\npleural\neffusion\nno\n"
    "pneumothorax\n##s\n.\nheart\n";

static void path_in_dir(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

/* ---- config ---- */

static void expect_config_error(const char *json, afloc_status want, const char *key) {
    afloc_config config;
    afloc_config_default(&config);
    afloc_config before = config;
    CHECK_STATUS(afloc_config_from_json(&config, json, strlen(json), "test"), want);
    CHECK(memcmp(&config, &before, sizeof config) == 0);
    if (key && !strstr(afloc_last_error(), key)) {
        fprintf(stderr, "message for %s does not name \"%s\": %s\n", json, key, afloc_last_error());
        test_failures++;
    }
}

static void test_config(void) {
    afloc_config c;
    afloc_config_default(&c);
    CHECK(c.resnet_blocks[2] == 6 && c.resnet_planes[3] == 512 && c.bert_hidden == 768);
    CHECK(c.vocab_size == 28996 && c.token_length == 97 && c.layernorm_eps == 1e-12f);
    int32_t l2 = 0, l3 = 0, l4 = 0;
    afloc_config_feature_sides(&c, &l2, &l3, &l4);
    CHECK(l2 == 38 && l3 == 19 && l4 == 10);

    char *json = NULL;
    CHECK_STATUS(afloc_config_to_json(&c, &json, "test"), AFLOC_OK);
    afloc_config back;
    memset(&back, 0xAB, sizeof back);
    CHECK_STATUS(afloc_config_from_json(&back, json, strlen(json), "test"), AFLOC_OK);
    CHECK(memcmp(&c, &back, sizeof c) == 0);
    CHECK(strstr(json, "\"layernorm_eps\":1e-12") != NULL); /* shortest float text */
    CHECK(strstr(json, "\"resnet_blocks\":[3,4,6,3]") != NULL);
    size_t needed = 0;
    CHECK_STATUS(afloc_model_config_default(NULL, 0, &needed), AFLOC_OK);
    CHECK(needed == strlen(json) + 1);
    char small[8];
    CHECK_STATUS(afloc_model_config_default(small, sizeof small, &needed), AFLOC_ERR_BUFFER_TOO_SMALL);
    char *full = malloc(needed);
    CHECK_STATUS(afloc_model_config_default(full, needed, NULL), AFLOC_OK);
    CHECK(strcmp(full, json) == 0);
    free(full);
    afloc_free(json);

    /* a partial config overrides only its keys */
    const char *partial = "{\"bert_layers\":5,\"temp1\":0.5}";
    CHECK_STATUS(afloc_config_from_json(&back, partial, strlen(partial), "test"), AFLOC_OK);
    CHECK(back.bert_layers == 5 && back.temp1 == 0.5f && back.bert_hidden == 768);

    expect_config_error("{\"bert_layer\":2}", AFLOC_ERR_FORMAT, "bert_layer");
    expect_config_error("{\"bert_layers\":2.5}", AFLOC_ERR_FORMAT, "bert_layers");
    expect_config_error("{\"bert_layers\":\"12\"}", AFLOC_ERR_FORMAT, "bert_layers");
    expect_config_error("{\"bert_layers\":true}", AFLOC_ERR_FORMAT, "bert_layers");
    expect_config_error("{\"resnet_blocks\":[3,4,6]}", AFLOC_ERR_FORMAT, "resnet_blocks");
    expect_config_error("{\"resnet_blocks\":[3,4,6,0]}", AFLOC_ERR_INVALID_ARGUMENT, "resnet_blocks[3]");
    expect_config_error("{\"temp1\":\"4\"}", AFLOC_ERR_FORMAT, "temp1");
    expect_config_error("{\"bn_eps\":-1}", AFLOC_ERR_INVALID_ARGUMENT, "bn_eps");
    expect_config_error("{\"bert_layers\":0}", AFLOC_ERR_INVALID_ARGUMENT, "bert_layers");
    expect_config_error("{\"bert_layers\":1e300}", AFLOC_ERR_INVALID_ARGUMENT, "bert_layers");
    expect_config_error("{\"bert_heads\":5}", AFLOC_ERR_INVALID_ARGUMENT, "bert_heads");
    expect_config_error("{\"embedding_dim\":512}", AFLOC_ERR_INVALID_ARGUMENT, "embedding_dim");
    expect_config_error("{\"token_length\":600}", AFLOC_ERR_INVALID_ARGUMENT, "token_length");
    expect_config_error("{\"max_positions\":64,\"token_length\":97}", AFLOC_ERR_INVALID_ARGUMENT, "token_length");
    expect_config_error("{\"last_n_layers\":13}", AFLOC_ERR_INVALID_ARGUMENT, "last_n_layers");
    expect_config_error("{\"crop_size\":256}", AFLOC_ERR_INVALID_ARGUMENT, "crop_size");
    expect_config_error("{\"use_local_f_embedder\":2}", AFLOC_ERR_INVALID_ARGUMENT, "use_local_f_embedder");
    expect_config_error("{\"map_alignment\":3}", AFLOC_ERR_INVALID_ARGUMENT, "map_alignment");
    expect_config_error("{\"local_position\":2}", AFLOC_ERR_INVALID_ARGUMENT, "local_position");
    expect_config_error("{\"resnet_planes\":[1,128,256,512],\"resnet_base_width\":32}", AFLOC_ERR_INVALID_ARGUMENT,
                        "resnet_base_width");
    expect_config_error("{\"bert_layers\":2,\"bert_layers\":3}", AFLOC_ERR_FORMAT, NULL);
    expect_config_error("{\"bert_layers\":", AFLOC_ERR_FORMAT, NULL);
    expect_config_error("[]", AFLOC_ERR_FORMAT, NULL);
}

/* ---- parameter table of the paper's config (MODEL.md §10.2) ---- */

static void table_totals(const afloc_param_table *t, int64_t *resnet, int64_t *running, int64_t *heads,
                         int64_t *bert, int64_t *pooler) {
    *resnet = *running = *heads = *bert = *pooler = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        int64_t n = (int64_t)p->count;
        if (strncmp(p->name, "img_encoder.model.", 18) == 0) {
            if (p->kind == AFLOC_PARAM_RUNNING_MEAN || p->kind == AFLOC_PARAM_RUNNING_VAR) *running += n;
            else *resnet += n;
        } else if (strncmp(p->name, "img_encoder.", 12) == 0) {
            *heads += n;
        } else {
            *bert += n;
            if (strstr(p->name, ".pooler.")) *pooler += n;
        }
        if (p->offset % 16 != 0 || (i && p->offset < t->params[i - 1].offset + t->params[i - 1].count)) {
            fprintf(stderr, "tensor %s: offset %zu misaligned or overlapping\n", p->name, p->offset);
            test_failures++;
        }
    }
}

static void test_table(void) {
    afloc_config c;
    afloc_config_default(&c);
    afloc_param_table t = {0};
    CHECK_STATUS(afloc_params_build(&t, &c), AFLOC_OK);
    int64_t resnet, running, heads, bert, pooler;
    table_totals(&t, &resnet, &running, &heads, &bert, &pooler);
    /* 522 checkpoint keys − 53 num_batches_tracked − 1 position_ids = 468 */
    CHECK(t.count == 468);
    CHECK(resnet == 23508032);
    CHECK(bert == 108310272);
    CHECK(pooler == 590592);
    CHECK(heads == 2753280);
    CHECK(t.total_floats >= (size_t)(resnet + running + heads + bert));
    CHECK(afloc_params_find(&t, "img_encoder.model.layer1.0.downsample.0.weight") >= 0);
    CHECK(afloc_params_find(&t, "img_encoder.model.layer1.1.downsample.0.weight") < 0);
    CHECK(afloc_params_find(&t, "img_encoder.local_f_embedder.weight") < 0);
    int32_t q = afloc_params_find(&t, "text_encoder.model.encoder.layer.11.attention.self.query.weight");
    CHECK(q >= 0 && t.params[q].shape[0] == 768 && t.params[q].fan_in == 768);
    int32_t l3 = afloc_params_find(&t, "img_encoder.model.layer3.0.conv2.weight");
    CHECK(l3 >= 0 && t.params[l3].rank == 4 && t.params[l3].shape[0] == 256 && t.params[l3].shape[3] == 3);
    printf("table (paper config): %d tensors, resnet trainable %lld, bn running %lld, heads %lld, "
           "bert %lld (pooler %lld), buffer %zu floats = %.1f MB\n", t.count, (long long)resnet,
           (long long)running, (long long)heads, (long long)bert, (long long)pooler, t.total_floats,
           (double)t.total_floats * 4 / 1e6);
    afloc_params_free(&t);

    c.use_local_f_embedder = 1;
    CHECK_STATUS(afloc_params_build(&t, &c), AFLOC_OK);
    table_totals(&t, &resnet, &running, &heads, &bert, &pooler);
    CHECK(t.count == 469);
    CHECK(heads == 2753280 + 1572864);
    afloc_params_free(&t);

    /* stem == 4·planes[0]: torchvision gives layer1 block 0 no downsample */
    c.resnet_stem = 256;
    CHECK_STATUS(afloc_params_build(&t, &c), AFLOC_OK);
    CHECK(afloc_params_find(&t, "img_encoder.model.layer1.0.downsample.0.weight") < 0);
    CHECK(afloc_params_find(&t, "img_encoder.model.layer2.0.downsample.0.weight") >= 0);
    afloc_params_free(&t);
    afloc_params_free(NULL);
}

/* ---- create, save, load ---- */

static afloc_context *cpu_context(void) {
    afloc_context_options o = {0};
    o.struct_size = sizeof o;
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_CPU;
    o.num_threads = 2;
    afloc_context *context = NULL;
    CHECK_STATUS(afloc_context_create(&o, &context), AFLOC_OK);
    return context;
}

static afloc_model *create_small(afloc_context *context, uint64_t seed) {
    afloc_model *model = NULL;
    CHECK_STATUS(afloc_model_create(context, small_config, vocab16, sizeof vocab16 - 1, seed, &model), AFLOC_OK);
    return model;
}

/* mean and standard deviation of a tensor */
static void moments(const afloc_model *m, const char *name, double *mean, double *sd, double *absmax) {
    int32_t i = afloc_params_find(&m->table, name);
    const float *v = m->params + m->table.params[i].offset;
    size_t n = m->table.params[i].count;
    double s = 0, s2 = 0, mx = 0;
    for (size_t k = 0; k < n; k++) {
        s += v[k];
        s2 += (double)v[k] * v[k];
        if (fabs(v[k]) > mx) mx = fabs(v[k]);
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
    *absmax = mx;
}

static void test_init(afloc_context *context) {
    afloc_model *a = create_small(context, 7), *b = create_small(context, 7), *c = create_small(context, 8);
    if (!a || !b || !c) goto done;
    size_t bytes = a->table.total_floats * sizeof(float);
    CHECK(memcmp(a->params, b->params, bytes) == 0);
    CHECK(memcmp(a->params, c->params, bytes) != 0);
    double mean, sd, mx;
    /* BERT Linear: N(0, 0.02²); 8192 values, so sd within 5% */
    moments(a, "text_encoder.model.encoder.layer.0.intermediate.dense.weight", &mean, &sd, &mx);
    printf("init bert dense: mean %.5f sd %.5f (want 0.02)\n", mean, sd);
    CHECK(fabs(sd - 0.02) < 0.001 && fabs(mean) < 0.001);
    /* ResNet convs: N(0, 2/fan_out), fan_out = out·k·k. Pooled over every conv of the trunk,
     * E[(w/sd)²] = 1 within 5% (about 9,000 values). */
    double z2 = 0;
    size_t zn = 0;
    for (int32_t i = 0; i < a->table.count; i++) {
        const afloc_param *p = &a->table.params[i];
        if (strncmp(p->name, "img_encoder.model.", 18) != 0 || p->kind != AFLOC_PARAM_WEIGHT) continue;
        double var = 2.0 / (double)(p->shape[0] * p->shape[2] * p->shape[3]);
        for (size_t k = 0; k < p->count; k++) z2 += (double)a->params[p->offset + k] * a->params[p->offset + k] / var;
        zn += p->count;
    }
    printf("init resnet convs: E[(w/sd)^2] = %.4f over %zu values (want 1)\n", z2 / (double)zn, zn);
    CHECK(fabs(z2 / (double)zn - 1.0) < 0.05);
    /* head Linear 64x64 (global_embedder): U(±1/8): max |w| in [0.95, 1]·bound, sd = bound/√3 */
    moments(a, "img_encoder.global_embedder.weight", &mean, &sd, &mx);
    printf("init head: sd %.4f max %.4f (bound 0.125)\n", sd, mx);
    CHECK(mx <= 0.125 && mx > 0.95 * 0.125 && fabs(sd - 0.125 / sqrt(3.0)) < 0.005);
    moments(a, "img_encoder.global_embedder.bias", &mean, &sd, &mx);
    CHECK(mx <= 0.125 && mx > 0.0);
    const float *rv = afloc_model_param(a, "img_encoder.model.layer1.0.bn3.running_var");
    const float *bw = afloc_model_param(a, "text_encoder.model.embeddings.LayerNorm.weight");
    const float *bb = afloc_model_param(a, "text_encoder.model.encoder.layer.1.output.dense.bias");
    CHECK(rv && rv[0] == 1.0f && bw && bw[63] == 1.0f && bb && bb[5] == 0.0f);
    CHECK(afloc_model_param(a, "img_encoder.model.fc.weight") == NULL);
done:
    afloc_model_free(a);
    afloc_model_free(b);
    afloc_model_free(c);
}

static void test_round_trip(afloc_context *context) {
    afloc_model *a = create_small(context, 42);
    if (!a) return;
    char path[600];
    path_in_dir(path, sizeof path, "small.safetensors");
    CHECK_STATUS(afloc_model_save(a, path), AFLOC_OK);
    afloc_model *b = NULL;
    CHECK_STATUS(afloc_model_load(context, path, &b), AFLOC_OK);
    if (b) {
        CHECK(b->table.total_floats == a->table.total_floats);
        CHECK(memcmp(a->params, b->params, a->table.total_floats * sizeof(float)) == 0);
        CHECK(memcmp(&a->config, &b->config, sizeof a->config) == 0);
        CHECK(a->vocab_size == b->vocab_size && memcmp(a->vocab, b->vocab, a->vocab_size) == 0);
        char ja[2048], jb[2048];
        CHECK_STATUS(afloc_model_get_config(a, ja, sizeof ja, NULL), AFLOC_OK);
        CHECK_STATUS(afloc_model_get_config(b, jb, sizeof jb, NULL), AFLOC_OK);
        CHECK(strcmp(ja, jb) == 0 && strstr(ja, "\"bert_layers\":2"));
        size_t needed = 0;
        CHECK_STATUS(afloc_model_get_config(b, NULL, 0, &needed), AFLOC_OK);
        CHECK(needed == strlen(ja) + 1);
        CHECK_STATUS(afloc_model_get_config(b, ja, needed - 1, &needed), AFLOC_ERR_BUFFER_TOO_SMALL);
        int32_t tokens = 0;
        CHECK_STATUS(afloc_tokenizer_vocab_size(b->tokenizer, &tokens), AFLOC_OK);
        CHECK(tokens == 16);
        printf("round trip: %d tensors, %zu floats, bit-identical after save/load\n", b->table.count,
               b->table.total_floats);
    }
    /* save over an existing file, then load again */
    CHECK_STATUS(afloc_model_save(b ? b : a, path), AFLOC_OK);
    afloc_model *c = NULL;
    CHECK_STATUS(afloc_model_load(context, path, &c), AFLOC_OK);
    if (c) CHECK(memcmp(a->params, c->params, a->table.total_floats * sizeof(float)) == 0);
    afloc_model_free(c);
    afloc_model_free(b);
    afloc_model_free(a);
}

/* ---- files that do not match the model ---- */

typedef enum { EDIT_NONE, EDIT_DROP, EDIT_SHAPE, EDIT_EXTRA, EDIT_DTYPE } edit_kind;

/* Writes `a`'s tensors with one edit, as a model file (config_json, vocab) or plain safetensors. */
static void write_edited(const afloc_model *a, const char *path, edit_kind edit, const char *target,
                         const char *config_json, const char *vocab, size_t vocab_bytes, int plain) {
    int32_t n = a->table.count;
    afloc_st_write_tensor *t = calloc((size_t)n + 1, sizeof *t);
    static int64_t shape[4];
    static float extra[10 * 2048];
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        const afloc_param *p = &a->table.params[i];
        int hit = strcmp(p->name, target) == 0;
        if (hit && edit == EDIT_DROP) continue;
        t[k] = (afloc_st_write_tensor){p->name, AFLOC_ST_F32, p->rank, p->shape, a->params + p->offset,
                                       p->count * sizeof(float)};
        if (hit && edit == EDIT_SHAPE) { /* transposed */
            memcpy(shape, p->shape, sizeof shape);
            shape[0] = p->shape[1];
            shape[1] = p->shape[0];
            t[k].shape = shape;
        }
        if (hit && edit == EDIT_DTYPE) t[k].dtype = AFLOC_ST_I32;
        k++;
    }
    if (edit == EDIT_EXTRA) {
        static const int64_t fc_shape[2] = {10, 2048};
        t[k++] = (afloc_st_write_tensor){target, AFLOC_ST_F32, 2, fc_shape, extra, sizeof extra};
    }
    if (plain) CHECK_STATUS(afloc_st_write(path, t, k, NULL, 0, "test"), AFLOC_OK);
    else CHECK_STATUS(afloc_mf_write(path, config_json, (const unsigned char *)vocab, vocab_bytes, t, k, "test"),
                      AFLOC_OK);
    free(t);
}

static void expect_load_error(afloc_context *context, const char *path, afloc_status want, const char *text1,
                              const char *text2) {
    afloc_model *sentinel = (afloc_model *)&want, *m = sentinel;
    CHECK_STATUS(afloc_model_load(context, path, &m), want);
    CHECK(m == sentinel);
    const char *e = afloc_last_error();
    if ((text1 && !strstr(e, text1)) || (text2 && !strstr(e, text2))) {
        fprintf(stderr, "message lacks \"%s\"/\"%s\": %s\n", text1, text2 ? text2 : "", e);
        test_failures++;
    }
    printf("  %s -> %s: %s\n", strrchr(path, '/') + 1, afloc_status_string(want), e);
}

static void test_schema(afloc_context *context) {
    afloc_model *a = create_small(context, 3);
    if (!a) return;
    char *config = NULL;
    CHECK_STATUS(afloc_config_to_json(&a->config, &config, "test"), AFLOC_OK);
    char path[600];
    const char *q = "text_encoder.model.encoder.layer.1.intermediate.dense.weight";
    path_in_dir(path, sizeof path, "missing.safetensors");
    write_edited(a, path, EDIT_DROP, q, config, vocab16, sizeof vocab16 - 1, 0);
    expect_load_error(context, path, AFLOC_ERR_SCHEMA, "afloc_model_load: tensor \"" "text_encoder.model.encoder"
                      ".layer.1.intermediate.dense.weight\" is missing", NULL);
    path_in_dir(path, sizeof path, "shape.safetensors");
    write_edited(a, path, EDIT_SHAPE, q, config, vocab16, sizeof vocab16 - 1, 0);
    expect_load_error(context, path, AFLOC_ERR_SCHEMA, "has shape [64, 128], expected [128, 64]", q);
    path_in_dir(path, sizeof path, "dtype.safetensors");
    write_edited(a, path, EDIT_DTYPE, q, config, vocab16, sizeof vocab16 - 1, 0);
    expect_load_error(context, path, AFLOC_ERR_SCHEMA, "dtype I32", q);
    path_in_dir(path, sizeof path, "extra.safetensors");
    write_edited(a, path, EDIT_EXTRA, "img_encoder.model.fc.weight", config, vocab16, sizeof vocab16 - 1, 0);
    expect_load_error(context, path, AFLOC_ERR_SCHEMA, "unexpected tensor \"img_encoder.model.fc.weight\"", NULL);
    /* a vocabulary of 15 tokens for vocab_size 16 */
    path_in_dir(path, sizeof path, "vocab.safetensors");
    write_edited(a, path, EDIT_NONE, "", config, vocab16, sizeof vocab16 - 1 - strlen("heart\n"), 0);
    expect_load_error(context, path, AFLOC_ERR_SCHEMA, "15 tokens", "vocab_size is 16");
    /* a config the file's tensors do not fit, and a config that is invalid */
    path_in_dir(path, sizeof path, "config.safetensors");
    write_edited(a, path, EDIT_NONE, "", "{\"bert_layers\":2,\"last_n_layers\":2}", vocab16, sizeof vocab16 - 1, 0);
    expect_load_error(context, path, AFLOC_ERR_SCHEMA, "afloc_model_load: tensor", "shape");
    path_in_dir(path, sizeof path, "badconfig.safetensors");
    write_edited(a, path, EDIT_NONE, "", "{\"bert_heads\":7}", vocab16, sizeof vocab16 - 1, 0);
    expect_load_error(context, path, AFLOC_ERR_FORMAT, "bert_heads", NULL);
    path_in_dir(path, sizeof path, "unknownkey.safetensors");
    write_edited(a, path, EDIT_NONE, "", "{\"bert_layerz\":2}", vocab16, sizeof vocab16 - 1, 0);
    expect_load_error(context, path, AFLOC_ERR_FORMAT, "bert_layerz", NULL);
    path_in_dir(path, sizeof path, "does-not-exist.safetensors");
    expect_load_error(context, path, AFLOC_ERR_IO, NULL, NULL);

    /* import of plain safetensors: identical values; a mismatch is SCHEMA naming the tensor */
    path_in_dir(path, sizeof path, "plain.safetensors");
    write_edited(a, path, EDIT_NONE, "", NULL, NULL, 0, 1);
    afloc_model *b = NULL;
    CHECK_STATUS(afloc_model_import_safetensors(context, path, config, vocab16, sizeof vocab16 - 1, &b), AFLOC_OK);
    if (b) CHECK(memcmp(a->params, b->params, a->table.total_floats * sizeof(float)) == 0);
    afloc_model_free(b);
    b = NULL;
    CHECK_STATUS(afloc_model_import_safetensors(context, path, NULL, vocab16, sizeof vocab16 - 1, &b),
                 AFLOC_ERR_SCHEMA);
    CHECK(b == NULL);
    CHECK_STATUS(afloc_model_import_safetensors(context, path, config, vocab16, 12, &b), AFLOC_ERR_FORMAT);
    path_in_dir(path, sizeof path, "plain-missing.safetensors");
    write_edited(a, path, EDIT_DROP, "img_encoder.local_f_embedder.weight", NULL, NULL, 0, 1);
    CHECK_STATUS(afloc_model_import_safetensors(context, path, config, vocab16, sizeof vocab16 - 1, &b),
                 AFLOC_ERR_SCHEMA);
    CHECK(strstr(afloc_last_error(), "\"img_encoder.local_f_embedder.weight\" is missing") != NULL);
    /* the position term may be absent from imported tensors: it starts at zero, the rest as read */
    char *positioned = strdup(config); /* the same config with local_position 1 */
    char *key = positioned ? strstr(positioned, "\"local_position\"") : NULL;
    char *zero = key ? strchr(key, '0') : NULL;
    CHECK(zero != NULL);
    if (zero) *zero = '1';
    path_in_dir(path, sizeof path, "plain.safetensors");
    b = NULL;
    if (positioned)
        CHECK_STATUS(afloc_model_import_safetensors(context, path, positioned, vocab16,
                                                    sizeof vocab16 - 1, &b), AFLOC_OK);
    if (b) {
        CHECK(b->table.count == a->table.count + 1);
        for (int32_t i = 0; i < b->table.count; i++) {
            const afloc_param *p = &b->table.params[i];
            size_t at = 0;
            if (!strcmp(p->name, "img_encoder.local_position.weight")) {
                for (size_t k = 0; k < p->count; k++) CHECK(b->params[p->offset + k] == 0.0f);
            } else {
                CHECK_STATUS(afloc_layout_find(&at, a, p->name, p->count, "test"), AFLOC_OK);
                CHECK(memcmp(b->params + p->offset, a->params + at, p->count * sizeof(float)) == 0);
            }
        }
    }
    afloc_model_free(b);
    /* ... but a model file must hold every tensor its config names */
    path_in_dir(path, sizeof path, "position-missing.safetensors");
    if (positioned) {
        write_edited(a, path, EDIT_NONE, "", positioned, vocab16, sizeof vocab16 - 1, 0);
        expect_load_error(context, path, AFLOC_ERR_SCHEMA,
                          "\"img_encoder.local_position.weight\" is missing", NULL);
    }
    free(positioned);
    afloc_free(config);
    afloc_model_free(a);
}

/* ---- allocation failures (RELIABILITY T13) and misuse ---- */

/* Writes `m`'s tensors as plain safetensors, leaving out those whose names start with `skip`
 * (NULL: none) or equal `drop` (NULL: none). */
static void write_without(const afloc_model *m, const char *path, const char *skip, const char *drop) {
    afloc_st_write_tensor *t = calloc((size_t)m->table.count + 1, sizeof *t);
    int32_t k = 0;
    for (int32_t i = 0; t && i < m->table.count; i++) {
        const afloc_param *p = &m->table.params[i];
        if ((skip && strncmp(p->name, skip, strlen(skip)) == 0) || (drop && strcmp(p->name, drop) == 0)) continue;
        t[k++] = (afloc_st_write_tensor){p->name, AFLOC_ST_F32, p->rank, p->shape, m->params + p->offset,
                                         p->count * sizeof(float)};
    }
    CHECK(t != NULL);
    if (t) CHECK_STATUS(afloc_st_write(path, t, k, NULL, 0, "test"), AFLOC_OK);
    free(t);
}

/* small_config with another resnet_blocks; caller frees */
static char *with_blocks(const char *blocks) {
    const char *at = strstr(small_config, "[1,2,1,1]");
    size_t n = strlen(small_config), head = (size_t)(at - small_config);
    char *s = malloc(n + 16);
    if (s) snprintf(s, n + 16, "%.*s%s%s", (int)head, small_config, blocks, at + strlen("[1,2,1,1]"));
    return s;
}

/* Global and local image embeddings of a fixed gradient image. */
static int embed_gradient(const afloc_model *m, float *global, size_t global_len, float *local,
                          size_t local_len) {
    static uint8_t pixels[40 * 40];
    for (int i = 0; i < 40 * 40; i++) pixels[i] = (uint8_t)((i % 40) * 5 + (i / 40) * 2);
    afloc_image_view v = {.struct_size = sizeof v, .pixel_type = AFLOC_PIXEL_U8, .channels = 1,
                          .width = 40, .height = 40, .row_stride = 40, .pixels = pixels};
    return afloc_model_embed_image(m, &v, global, global_len, local, local_len) == AFLOC_OK;
}

/* afloc_model_grow: added blocks start as identities (the grown model embeds an image bit for bit
 * as the source model does, and stops doing so once an added block's last BatchNorm scale moves),
 * every other tensor is the source's, the added ones are afloc_model_create's for that seed;
 * misplaced or partial blocks are SCHEMA errors, and plain import still refuses a deeper config. */
static void test_grow(afloc_context *context) {
    afloc_model *a = create_small(context, 3), *g = NULL, *fresh = NULL, *deep = NULL, *b = NULL;
    char *deeper = with_blocks("[2,2,3,1]"), *shallower = with_blocks("[1,1,1,1]");
    float *ga = calloc(64, sizeof(float)), *gg = calloc(64, sizeof(float));
    float *la = calloc(64 * 64 * 64, sizeof(float)), *lg = calloc(64 * 64 * 64, sizeof(float));
    char path[600], gap[600], partial[600];
    if (!a || !deeper || !shallower || !ga || !gg || !la || !lg) goto done;
    path_in_dir(path, sizeof path, "grow-source.safetensors");
    write_without(a, path, NULL, NULL);
    CHECK_STATUS(afloc_model_grow(context, path, deeper, vocab16, sizeof vocab16 - 1, 11, &g), AFLOC_OK);
    CHECK_STATUS(afloc_model_create(context, deeper, vocab16, sizeof vocab16 - 1, 11, &fresh), AFLOC_OK);
    if (!g || !fresh) goto done;
    CHECK(g->table.count == a->table.count + 3 * 15); /* a bottleneck: 3 convolutions, 3 BatchNorms x 4 */
    int added = 0;
    for (int32_t i = 0; i < g->table.count; i++) {
        const afloc_param *p = &g->table.params[i];
        const float *v = g->params + p->offset;
        size_t at = 0;
        if (afloc_params_find(&a->table, p->name) >= 0) {
            CHECK_STATUS(afloc_layout_find(&at, a, p->name, p->count, "test"), AFLOC_OK);
            CHECK(memcmp(v, a->params + at, p->count * sizeof(float)) == 0);
            continue;
        }
        added++;
        CHECK(strstr(p->name, "layer1.1.") || strstr(p->name, "layer3.1.") || strstr(p->name, "layer3.2."));
        if (strstr(p->name, ".bn3.weight")) {
            for (size_t k = 0; k < p->count; k++) CHECK(v[k] == 0.0f);
        } else {
            CHECK_STATUS(afloc_layout_find(&at, fresh, p->name, p->count, "test"), AFLOC_OK);
            CHECK(memcmp(v, fresh->params + at, p->count * sizeof(float)) == 0);
        }
    }
    CHECK(added == 45);
    afloc_model_dims dims = {.struct_size = sizeof dims};
    CHECK_STATUS(afloc_model_get_dims(g, &dims), AFLOC_OK);
    const size_t D = (size_t)dims.embedding_dim, L = D * (size_t)dims.grid_side * (size_t)dims.grid_side;
    CHECK(D <= 64 && L <= 64 * 64 * 64);
    CHECK(embed_gradient(a, ga, D, la, L) && embed_gradient(g, gg, D, lg, L));
    CHECK(memcmp(ga, gg, D * sizeof(float)) == 0 && memcmp(la, lg, L * sizeof(float)) == 0);
    /* the added blocks are in the forward pass: a nonzero scale changes the embeddings */
    size_t at = 0;
    CHECK_STATUS(afloc_layout_find(&at, g, "img_encoder.model.layer3.2.bn3.weight", 32, "test"), AFLOC_OK);
    for (size_t k = 0; k < 32; k++) g->params[at + k] = 0.5f;
    path_in_dir(gap, sizeof gap, "grow-moved.safetensors"); /* the inference plan is built at load */
    write_without(g, gap, NULL, NULL);
    CHECK_STATUS(afloc_model_import_safetensors(context, gap, deeper, vocab16, sizeof vocab16 - 1, &b), AFLOC_OK);
    CHECK(b && embed_gradient(b, gg, D, lg, L) && memcmp(la, lg, L * sizeof(float)) != 0);
    afloc_model_free(b);
    b = NULL;
    /* no growth is an import; fewer blocks than the file is an unexpected tensor */
    CHECK_STATUS(afloc_model_grow(context, path, small_config, vocab16, sizeof vocab16 - 1, 11, &b), AFLOC_OK);
    if (b) CHECK(memcmp(a->params, b->params, a->table.total_floats * sizeof(float)) == 0);
    afloc_model_free(b);
    b = NULL;
    CHECK_STATUS(afloc_model_grow(context, path, shallower, vocab16, sizeof vocab16 - 1, 11, &b), AFLOC_ERR_SCHEMA);
    CHECK(b == NULL && strstr(afloc_last_error(), "unexpected tensor") != NULL);
    /* plain import does not grow */
    CHECK_STATUS(afloc_model_import_safetensors(context, path, deeper, vocab16, sizeof vocab16 - 1, &b),
                 AFLOC_ERR_SCHEMA);
    CHECK(b == NULL && strstr(afloc_last_error(), "layer1.1.") != NULL);
    /* a block may only be added after the file's last block of its stage, and only whole */
    CHECK_STATUS(afloc_model_create(context, deeper, vocab16, sizeof vocab16 - 1, 5, &deep), AFLOC_OK);
    if (!deep) goto done;
    path_in_dir(gap, sizeof gap, "grow-gap.safetensors");
    write_without(deep, gap, "img_encoder.model.layer3.1.", NULL);
    CHECK_STATUS(afloc_model_grow(context, gap, deeper, vocab16, sizeof vocab16 - 1, 11, &b), AFLOC_ERR_SCHEMA);
    CHECK(b == NULL && strstr(afloc_last_error(), "stage 3: block 2") != NULL);
    path_in_dir(partial, sizeof partial, "grow-partial.safetensors");
    write_without(deep, partial, NULL, "img_encoder.model.layer3.2.conv2.weight");
    CHECK_STATUS(afloc_model_grow(context, partial, deeper, vocab16, sizeof vocab16 - 1, 11, &b), AFLOC_ERR_SCHEMA);
    CHECK(b == NULL && strstr(afloc_last_error(), "only whole blocks") != NULL);
    CHECK_STATUS(afloc_model_grow(context, NULL, deeper, vocab16, 1, 11, &b), AFLOC_ERR_INVALID_ARGUMENT);
done:
    afloc_model_free(a);
    afloc_model_free(g);
    afloc_model_free(fresh);
    afloc_model_free(deep);
    free(deeper);
    free(shallower);
    free(ga);
    free(gg);
    free(la);
    free(lg);
}

static void test_oom(afloc_context *context) {
    char path[600];
    path_in_dir(path, sizeof path, "oom.safetensors");
    afloc_model *a = create_small(context, 5);
    if (!a) return;
    CHECK_STATUS(afloc_model_save(a, path), AFLOC_OK);
    int runs[3] = {0, 0, 0};
    for (int what = 0; what < 3; what++) {
        for (long k = 0; k < 100000; k++) {
            afloc_model *m = NULL;
            afloc_test_inject_alloc_failure(k);
            afloc_status s = what == 0 ? afloc_model_load(context, path, &m)
                           : what == 1 ? afloc_model_create(context, small_config, vocab16, sizeof vocab16 - 1, 5, &m)
                                       : afloc_model_save(a, path);
            afloc_test_inject_alloc_failure(-1);
            runs[what]++;
            if (s == AFLOC_OK) {
                if (what < 2) CHECK(m && memcmp(m->params, a->params, a->table.total_floats * 4) == 0);
                afloc_model_free(m);
                break;
            }
            if (s != AFLOC_ERR_OUT_OF_MEMORY) {
                fprintf(stderr, "oom %d at allocation %ld: %s (%s)\n", what, k, afloc_status_string(s),
                        afloc_last_error());
                test_failures++;
                break;
            }
            CHECK(m == NULL);
        }
    }
    /* the file is intact after the failed saves */
    afloc_model *b = NULL;
    CHECK_STATUS(afloc_model_load(context, path, &b), AFLOC_OK);
    afloc_model_free(b);
    printf("oom injection: load %d, create %d, save %d allocation points, all OUT_OF_MEMORY then OK\n",
           runs[0] - 1, runs[1] - 1, runs[2] - 1);
    afloc_model_free(a);
}

static void test_misuse(afloc_context *context) {
    afloc_model *sentinel = (afloc_model *)&context, *m = sentinel;
    CHECK_STATUS(afloc_model_create(NULL, NULL, vocab16, sizeof vocab16 - 1, 1, &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_create(context, NULL, NULL, 0, 1, &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_create(context, NULL, vocab16, sizeof vocab16 - 1, 1, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    /* paper config with a 16-token vocabulary: vocab_size mismatch */
    CHECK_STATUS(afloc_model_create(context, "{\"bert_layers\":1,\"bert_hidden\":8,\"bert_heads\":2,"
                                    "\"embedding_dim\":8,\"last_n_layers\":1}", vocab16, sizeof vocab16 - 1, 1, &m),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(afloc_last_error(), "vocab_size") != NULL);
    CHECK_STATUS(afloc_model_create(context, "{\"nope\":1}", vocab16, sizeof vocab16 - 1, 1, &m), AFLOC_ERR_FORMAT);
    CHECK_STATUS(afloc_model_create(context, small_config, "[PAD]\n[UNK]\n", 12, 1, &m), AFLOC_ERR_FORMAT);
    CHECK_STATUS(afloc_model_load(NULL, "x", &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_load(context, NULL, &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_load(context, "x", NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_import_safetensors(context, NULL, NULL, vocab16, 1, &m), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(m == sentinel);
    CHECK_STATUS(afloc_model_save(NULL, "x"), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_get_config(NULL, NULL, 0, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_model_free(NULL);
    afloc_model *a = create_small(context, 1);
    CHECK_STATUS(afloc_model_save(a, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_model_save(a, "/nonexistent-dir/x.safetensors"), AFLOC_ERR_IO);
    afloc_model_free(a);

    /* a CUDA context without its plugin table (faked; a real one always has it): refused */
    afloc_context fake = *context;
    fake.backend = AFLOC_BACKEND_CUDA;
    fake.cuda = NULL;
    CHECK_STATUS(afloc_model_create(&fake, small_config, vocab16, sizeof vocab16 - 1, 1, &m), AFLOC_ERR_INTERNAL);
    CHECK(strstr(afloc_last_error(), "CUDA") != NULL);
    CHECK_STATUS(afloc_model_load(&fake, "x", &m), AFLOC_ERR_INTERNAL);
    CHECK(m == sentinel);
}

int main(void) {
    const char *base = getenv("AFLOC_BINARY_DIR");
    snprintf(dir, sizeof dir, "%s/tests/model/model_io_files", base ? base : ".");
    char command[600];
    snprintf(command, sizeof command, "mkdir -p '%s'", dir);
    if (system(command) != 0) return 1;
    test_config();
    test_table();
    afloc_context *context = cpu_context();
    if (context) {
        test_init(context);
        test_round_trip(context);
        test_schema(context);
        test_grow(context);
        test_oom(context);
        test_misuse(context);
    }
    afloc_context_free(context);
    return test_finish("model_io");
}
