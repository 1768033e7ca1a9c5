/* test_st_model.c: writer -> reader round trips (generic safetensors and the model file
 * convention of DESIGN.md §6), the schema check (S21 -> SCHEMA), checksums (S22 -> CORRUPT), the
 * convention's own failures, writer argument checks, and T19-lite: 1,000 mutations of a valid
 * model file (bit flip, zeroed 4 KiB block, truncation, appended byte, F32<->I32 swap, swapped
 * names) must all be rejected, never OK, never a crash. */
#include <stdint.h>
#include <unistd.h>

#include "model_file.h"
#include "st_test_util.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- a small model ---- */

enum { N_PARAMS = 7 };
static const afloc_mf_expected params[N_PARAMS] = {
    {"img.conv.weight", AFLOC_ST_F32, 4, {8, 3, 7, 7}, 0},
    {"img.bn.weight", AFLOC_ST_F32, 1, {8}, 0},
    {"img.bn.bias", AFLOC_ST_F32, 1, {8}, 0},
    {"txt.q.weight", AFLOC_ST_F32, 2, {16, 16}, 0},
    {"txt.k.weight", AFLOC_ST_F32, 2, {16, 16}, 0},
    {"txt.emb", AFLOC_ST_F32, 2, {256, 16}, 0},
    {"txt.ids", AFLOC_ST_I32, 1, {4}, 0},
};
static const char config[] = "{\"embedding_dim\":16,\"temperature_global\":10.0,\"layers\":[1,1],\"name\":\"tiny\"}";
static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nlung\n##s\n\xC3\xA9t\xC3\xA9\n";

static unsigned char *param_data[N_PARAMS];
static afloc_st_write_tensor writes[N_PARAMS];

static void make_model(void) {
    for (int p = 0; p < N_PARAMS; p++) {
        size_t n = afloc_st_dtype_size(params[p].dtype);
        for (int r = 0; r < params[p].rank; r++) n *= (size_t)params[p].shape[r];
        param_data[p] = malloc(n);
        for (size_t i = 0; i < n; i += 4) {
            float v = (float)(int64_t)(rng() % 2000001) / 1000.0f - 1000.0f;
            memcpy(param_data[p] + i, &v, 4);
        }
        writes[p] = (afloc_st_write_tensor){params[p].name, params[p].dtype, params[p].rank, params[p].shape,
                                            param_data[p], n};
    }
}

static afloc_status parse_model(const unsigned char *bytes, size_t size, const afloc_mf_expected *expected,
                                int32_t count) {
    afloc_model_file *mf = NULL;
    afloc_status status = afloc_mf_parse(bytes, size, NULL, expected, count, "test", &mf);
    afloc_mf_free(mf);
    return status;
}

static void named(const char *id, afloc_status got, afloc_status want) {
    st_cases++;
    if (got != want) {
        fprintf(stderr, "FAIL %s: got %s, expected %s (%s)\n", id, afloc_status_string(got),
                afloc_status_string(want), afloc_last_error());
        test_failures++;
    } else {
        printf("ok   %-44s %-22s %s\n", id, afloc_status_string(got), got ? afloc_last_error() : "");
    }
}

/* ---- round trips ---- */

static void roundtrip_generic(void) {
    double f64 = -2.5;
    uint16_t bf16[3] = {0x3F80, 0xC000, 0x7FC0};
    int64_t i64[2] = {INT64_MIN, INT64_MAX};
    unsigned char flags[5] = {1, 0, 1, 1, 0};
    int64_t s3[1] = {3}, s2[1] = {2}, s5[1] = {5}, empty_shape[2] = {2, 0};
    const afloc_st_write_tensor t[] = {
        {"scalar", AFLOC_ST_F64, 0, NULL, &f64, 8},
        {"b", AFLOC_ST_BF16, 1, s3, bf16, 6},
        {"empty", AFLOC_ST_F32, 2, empty_shape, NULL, 0},
        {"i", AFLOC_ST_I64, 1, s2, i64, 16},
        {"flags \xE2\x9C\x93", AFLOC_ST_BOOL, 1, s5, flags, 5},
    };
    const afloc_st_kv meta[] = {{"note", "line1\nline2 \"quoted\" \xC3\xA9"}, {"k", ""}};
    char path[] = "/tmp/afloc_st_rt_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_STATUS(afloc_st_write(path, t, 5, meta, 2, "test"), AFLOC_OK);
    unsigned char *bytes = NULL;
    size_t size = 0;
    CHECK_STATUS(afloc_st_write_to_memory(t, 5, meta, 2, "test", &bytes, &size), AFLOC_OK);
    afloc_st_file *file = NULL;
    CHECK_STATUS(afloc_st_read_file(path, NULL, "test", &file), AFLOC_OK);
    int equal_bytes = 0, mismatches = 0;
    if (file) {
        FILE *f = fopen(path, "rb");
        unsigned char *disk = malloc(size + 1);
        size_t got = fread(disk, 1, size + 1, f);
        fclose(f);
        equal_bytes = got == size && memcmp(disk, bytes, size) == 0;
        free(disk);
        CHECK(file->header_size % 8 == 0);
        CHECK(file->tensor_count == 5);
        for (int k = 0; k < 5; k++) {
            int32_t index = afloc_st_find(file, t[k].name);
            if (index < 0) { mismatches++; continue; }
            const afloc_st_tensor *x = &file->tensors[index];
            unsigned char buffer[64] = {0};
            CHECK_STATUS(afloc_st_tensor_copy(file, index, buffer, sizeof buffer), AFLOC_OK);
            if (x->dtype != t[k].dtype || x->rank != t[k].rank || x->nbytes != t[k].nbytes ||
                (t[k].nbytes && memcmp(buffer, t[k].data, t[k].nbytes) != 0))
                mismatches++;
            for (int r = 0; r < x->rank; r++)
                if (x->shape[r] != t[k].shape[r]) mismatches++;
        }
        const char *note = afloc_st_metadata(file, "note");
        CHECK(note && strcmp(note, meta[0].value) == 0);
        CHECK(afloc_st_metadata(file, "k") && !afloc_st_metadata(file, "k")[0]);
        CHECK(afloc_st_metadata(file, AFLOC_ST_SHA256_KEY) != NULL);
        afloc_st_free(file);
    }
    CHECK(equal_bytes && mismatches == 0);
    printf("round trip: 5 tensors (F64 scalar, BF16, empty F32 [2,0], I64, BOOL), %zu bytes, file == memory "
           "image: %s, mismatches: %d\n", size, equal_bytes ? "yes" : "no", mismatches);
    free(bytes);
    unlink(path);

    /* The writer refuses what the reader would refuse. */
    int64_t s4[1] = {4};
    const afloc_st_write_tensor dup[] = {{"x", AFLOC_ST_U8, 1, s4, "abcd", 4}, {"x", AFLOC_ST_U8, 1, s4, "abcd", 4}};
    CHECK_STATUS(afloc_st_write_to_memory(dup, 2, NULL, 0, "test", &bytes, &size), AFLOC_ERR_INVALID_ARGUMENT);
    const afloc_st_write_tensor wrong = {"x", AFLOC_ST_F32, 1, s4, "abcd", 4};
    CHECK_STATUS(afloc_st_write_to_memory(&wrong, 1, NULL, 0, "test", &bytes, &size), AFLOC_ERR_INVALID_ARGUMENT);
    const afloc_st_write_tensor reserved = {"__metadata__", AFLOC_ST_U8, 1, s4, "abcd", 4};
    CHECK_STATUS(afloc_st_write_to_memory(&reserved, 1, NULL, 0, "test", &bytes, &size), AFLOC_ERR_INVALID_ARGUMENT);
    const afloc_st_kv sha = {AFLOC_ST_SHA256_KEY, "0"};
    CHECK_STATUS(afloc_st_write_to_memory(NULL, 0, &sha, 1, "test", &bytes, &size), AFLOC_ERR_INVALID_ARGUMENT);
    const afloc_st_kv bad_utf8 = {"k", "\xC0\xAF"};
    CHECK_STATUS(afloc_st_write_to_memory(NULL, 0, &bad_utf8, 1, "test", &bytes, &size), AFLOC_ERR_INVALID_ARGUMENT);
}

static void model_file_cases(unsigned char **model, size_t *model_size) {
    CHECK_STATUS(afloc_mf_write_to_memory(config, (const unsigned char *)vocab, strlen(vocab), writes, N_PARAMS,
                                          "test", model, model_size), AFLOC_OK);
    afloc_model_file *mf = NULL;
    CHECK_STATUS(afloc_mf_parse(*model, *model_size, NULL, params, N_PARAMS, "test", &mf), AFLOC_OK);
    if (mf) {
        CHECK(strcmp(mf->config_json, config) == 0);
        CHECK(mf->vocab_size == 8);
        size_t vb = 0;
        const unsigned char *v = afloc_mf_vocab(mf, &vb);
        CHECK(vb == strlen(vocab) && memcmp(v, vocab, vb) == 0);
        for (int p = 0; p < N_PARAMS; p++) {
            int32_t index = afloc_st_find(mf->st, params[p].name);
            unsigned char *copy = malloc(writes[p].nbytes);
            CHECK(index >= 0 && afloc_st_tensor_copy(mf->st, index, copy, writes[p].nbytes) == AFLOC_OK &&
                  memcmp(copy, writes[p].data, writes[p].nbytes) == 0);
            free(copy);
        }
        afloc_mf_free(mf);
    }
    named("model file round trip (7 params + vocab)", parse_model(*model, *model_size, params, N_PARAMS), AFLOC_OK);

    /* S21: valid file, wrong model. */
    afloc_mf_expected e[N_PARAMS + 1];
    memcpy(e, params, sizeof params);
    e[N_PARAMS] = (afloc_mf_expected){"img.extra", AFLOC_ST_F32, 1, {8}, 0};
    named("S21 expected tensor missing", parse_model(*model, *model_size, e, N_PARAMS + 1), AFLOC_ERR_SCHEMA);
    memcpy(e, params, sizeof params);
    e[1].dtype = AFLOC_ST_I32;
    named("S21 dtype F32 -> I32 swapped", parse_model(*model, *model_size, e, N_PARAMS), AFLOC_ERR_SCHEMA);
    memcpy(e, params, sizeof params);
    e[5].shape[0] = 16;
    e[5].shape[1] = 256;
    named("S21 shape transposed", parse_model(*model, *model_size, e, N_PARAMS), AFLOC_ERR_SCHEMA);
    named("S21 unexpected extra tensor", parse_model(*model, *model_size, params, N_PARAMS - 1), AFLOC_ERR_SCHEMA);
    memcpy(e, params, sizeof params);
    e[3].rank = 1;
    named("S21 rank differs", parse_model(*model, *model_size, e, N_PARAMS), AFLOC_ERR_SCHEMA);

    /* S22: damage in the data region. */
    afloc_model_file *probe = NULL;
    CHECK_STATUS(afloc_mf_parse(*model, *model_size, NULL, NULL, 0, "test", &probe), AFLOC_OK);
    size_t data_start = probe ? *model_size - probe->st->data_size : 0;
    afloc_mf_free(probe);
    unsigned char *copy = malloc(*model_size);
    memcpy(copy, *model, *model_size);
    copy[data_start + 5000] ^= 0x10;
    named("S22 one bit flipped in the data", parse_model(copy, *model_size, params, N_PARAMS), AFLOC_ERR_CORRUPT);
    memcpy(copy, *model, *model_size);
    memset(copy + data_start + 4096, 0, 4096);
    named("S22 4 KiB block zeroed in the data", parse_model(copy, *model_size, params, N_PARAMS), AFLOC_ERR_CORRUPT);
    free(copy);
}

/* The convention's own failures: FORMAT / UNSUPPORTED with a clear message. */
static void convention_cases(void) {
    int64_t vshape[1] = {(int64_t)strlen(vocab)};
    afloc_st_write_tensor t = {AFLOC_MF_VOCAB_TENSOR, AFLOC_ST_U8, 1, vshape, vocab, strlen(vocab)};
    struct { const char *id, *format, *config; afloc_status want; } cases[] = {
        {"model: no afloc.format", NULL, config, AFLOC_ERR_FORMAT},
        {"model: format version 2", "2", config, AFLOC_ERR_UNSUPPORTED},
        {"model: no afloc.config", "1", NULL, AFLOC_ERR_FORMAT},
        {"model: config is an array", "1", "[1,2]", AFLOC_ERR_FORMAT},
        {"model: config is not JSON", "1", "{\"a\":", AFLOC_ERR_FORMAT},
        {"model: config with a duplicate key", "1", "{\"a\":1,\"a\":2}", AFLOC_ERR_FORMAT},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        afloc_st_kv meta[2];
        int32_t m = 0;
        if (cases[c].format) meta[m++] = (afloc_st_kv){AFLOC_MF_FORMAT_KEY, cases[c].format};
        if (cases[c].config) meta[m++] = (afloc_st_kv){AFLOC_MF_CONFIG_KEY, cases[c].config};
        unsigned char *bytes = NULL;
        size_t size = 0;
        CHECK_STATUS(afloc_st_write_to_memory(&t, 1, meta, m, "test", &bytes, &size), AFLOC_OK);
        named(cases[c].id, parse_model(bytes, size, NULL, 0), cases[c].want);
        free(bytes);
    }
    afloc_st_kv meta[2] = {{AFLOC_MF_FORMAT_KEY, "1"}, {AFLOC_MF_CONFIG_KEY, config}};
    unsigned char *bytes = NULL;
    size_t size = 0;
    int64_t s2[1] = {2};
    afloc_st_write_tensor other = {"x", AFLOC_ST_U8, 1, s2, "ab", 2};
    CHECK_STATUS(afloc_st_write_to_memory(&other, 1, meta, 2, "test", &bytes, &size), AFLOC_OK);
    named("model: no tokenizer.vocab", parse_model(bytes, size, NULL, 0), AFLOC_ERR_FORMAT);
    free(bytes);
    afloc_st_write_tensor empty_token = {AFLOC_MF_VOCAB_TENSOR, AFLOC_ST_U8, 1, s2, "a\n", 2};
    empty_token.shape = (const int64_t[1]){3};
    empty_token.data = "a\n\n";
    empty_token.nbytes = 3;
    CHECK_STATUS(afloc_st_write_to_memory(&empty_token, 1, meta, 2, "test", &bytes, &size), AFLOC_OK);
    named("model: vocabulary with an empty token", parse_model(bytes, size, NULL, 0), AFLOC_ERR_FORMAT);
    free(bytes);
    const char *plain = "{\"__metadata__\":{\"afloc.format\":\"1\",\"afloc.config\":\"{}\"},"
                        "\"tokenizer.vocab\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    unsigned char *b = st_build(plain, strlen(plain), 1, &size);
    b[size - 1] = 'a';
    named("model: no checksums", parse_model(b, size, NULL, 0), AFLOC_ERR_FORMAT);
    free(b);
    /* Writer side of the convention. */
    CHECK_STATUS(afloc_mf_write_to_memory("[1]", (const unsigned char *)vocab, strlen(vocab), NULL, 0, "test",
                                          &bytes, &size), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_mf_write_to_memory(config, (const unsigned char *)"a\n\nb", 4, NULL, 0, "test", &bytes, &size),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_mf_write_to_memory(config, (const unsigned char *)vocab, strlen(vocab), &t, 1, "test", &bytes,
                                          &size), AFLOC_ERR_INVALID_ARGUMENT);
}

/* ---- T19-lite ---- */

static size_t find_bytes(const unsigned char *hay, size_t n, const char *needle, size_t from) {
    size_t m = strlen(needle);
    for (size_t i = from; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return i;
    return SIZE_MAX;
}

static void corruption(const unsigned char *model, size_t size) {
    const char *kinds[] = {"bit flip", "zero 4 KiB", "truncate 1", "append 1", "F32<->I32", "swap names"};
    int by_code[32] = {0}, by_kind_ok[6] = {0}, accepted = 0, total = 0;
    size_t header_end = 8;
    for (int i = 0; i < 8; i++) header_end += (size_t)model[i] << (8 * i);
    unsigned char *m = malloc(size + 1);
    for (int trial = 0; trial < 1000; trial++) {
        int kind = trial % 6;
        size_t n = size;
        memcpy(m, model, size);
        if (kind == 0) {
            size_t bit = (size_t)(rng() % (size * 8));
            m[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        } else if (kind == 1) {
            size_t start = (size_t)(rng() % size), end = start + 4096 > size ? size : start + 4096;
            memset(m + start, 0, end - start);
            if (memcmp(m, model, size) == 0) { trial--; continue; } /* block was already zero */
        } else if (kind == 2) {
            n = size - 1 - (size_t)(rng() % 64);
        } else if (kind == 3) {
            m[n++] = (unsigned char)rng();
        } else if (kind == 4) {
            /* Every "F32" or "I32" dtype string is a candidate; pick one and swap it. */
            size_t hits[16], h = 0;
            for (size_t at = 0; h < 16 && (at = find_bytes(m, header_end, "\"dtype\":\"", at)) != SIZE_MAX; at++)
                if (m[at + 10] == '3' && m[at + 11] == '2' && (m[at + 9] == 'F' || m[at + 9] == 'I')) hits[h++] = at + 9;
            size_t pick = hits[rng() % h];
            m[pick] = m[pick] == 'F' ? 'I' : 'F';
        } else {
            /* Swap two names of the same length: q/k have the same shape, so only the header
             * digest can notice; emb/ids differ in dtype and shape. */
            const char *pairs[2][2] = {{"\"txt.q.weight\"", "\"txt.k.weight\""}, {"\"txt.emb\"", "\"txt.ids\""}};
            int which = (int)(rng() % 2);
            size_t pa = find_bytes(m, header_end, pairs[which][0], 0);
            size_t pb = find_bytes(m, header_end, pairs[which][1], 0);
            size_t len = strlen(pairs[which][0]);
            unsigned char tmp[32];
            memcpy(tmp, m + pa, len);
            memcpy(m + pa, m + pb, len);
            memcpy(m + pb, tmp, len);
        }
        afloc_status status = parse_model(m, n, params, N_PARAMS);
        total++;
        by_code[status]++;
        if (status == AFLOC_OK) {
            accepted++;
            by_kind_ok[kind]++;
        } else if (status != AFLOC_ERR_CORRUPT && status != AFLOC_ERR_FORMAT && status != AFLOC_ERR_SCHEMA &&
                   status != AFLOC_ERR_LIMIT && status != AFLOC_ERR_UNSUPPORTED) {
            fprintf(stderr, "mutation %d (%s) gave %s: %s\n", trial, kinds[kind], afloc_status_string(status),
                    afloc_last_error());
            test_failures++;
        }
    }
    free(m);
    for (int k = 0; k < 6; k++)
        if (by_kind_ok[k]) fprintf(stderr, "FAIL: %d '%s' mutations were accepted\n", by_kind_ok[k], kinds[k]);
    CHECK(accepted == 0);
    printf("T19-lite: %d mutations of a %zu-byte model file: accepted %d; CORRUPT %d, FORMAT %d, SCHEMA %d, "
           "LIMIT %d, UNSUPPORTED %d\n", total, size, accepted, by_code[AFLOC_ERR_CORRUPT], by_code[AFLOC_ERR_FORMAT],
           by_code[AFLOC_ERR_SCHEMA], by_code[AFLOC_ERR_LIMIT], by_code[AFLOC_ERR_UNSUPPORTED]);
}

int main(void) {
    make_model();
    roundtrip_generic();
    unsigned char *model = NULL;
    size_t model_size = 0;
    model_file_cases(&model, &model_size);
    convention_cases();
    if (model) corruption(model, model_size);
    free(model);
    for (int p = 0; p < N_PARAMS; p++) free(param_data[p]);
    return test_finish("st_model_file");
}
