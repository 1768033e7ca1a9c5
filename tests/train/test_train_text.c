/* test_train_text.c: the text encoder's training forward and backward (src/train_text.c) against
 * PyTorch autograd (ref_train_text.py: ref_afloc's BertModel in train() mode, dropout 0, on the
 * padded sequence with its attention mask, loaded from the same model file). The tiny model
 * (tests/model/tiny_model.h: 3 BERT layers, last_n_layers 2, hidden 32, 4 heads) is created in C
 * and saved; captions are tokenized in C (afloc_tokenizer_encode on model->tokenizer): several
 * sentences with a trailing ".", an [UNK] word ("%"), a one-word caption, an empty segment
 * (". ."). Both sides get the same random upstream gradients for text_emb_w / text_emb_s /
 * text_emb_r. Compared by checkpoint name: the three outputs and every BERT parameter gradient.
 * Also: cap_len against text_units, a second backward doubles the gradients, nothing outside the
 * trained BERT tensors is touched, dropout masks are a function of the seed, misuse and
 * allocation failures in plan_create. */
#include <math.h>
#include <sys/stat.h>

#include "../model/tiny_model.h"
#include "../ops/ops_io.h"
#include "alloc.h"
#include "model.h"
#include "text_units.h"
#include "tokenizer.h"
#include "train_text.h"

/* Tolerances; atol is relative to the tensor's max |want| (scale). fp32 both sides, other
 * summation orders (GEMM blocking, double LayerNorm sums). Worst seen (max |err| / scale):
 * outputs 2.0e-7, embeddings 3.6e-7, LayerNorm 2.9e-7, linear 4.0e-7 (key.bias scaled by
 * value.bias, see run_case). Limits 25-75x that. */
static const ops_tolerance TOLERANCES[] = {
    {"output", 1e-5f, 1e-4f},     /* text_emb_w / s / r                                   */
    {"embedding", 3e-5f, 1e-3f},  /* word / position / token_type tables                 */
    {"layernorm", 3e-5f, 1e-3f},  /* every LayerNorm weight / bias                        */
    {"linear", 3e-5f, 1e-3f},     /* query / key / value / dense weights and biases       */
};
enum { G_OUTPUT, G_EMBEDDING, G_LAYERNORM, G_LINEAR, G_COUNT };
static double worst_scaled[G_COUNT];

static const char *const CAPTIONS[] = {
    "there is a small left pleural effusion. the heart size is normal.",
    "mild edema % in the lower lobe. no pneumothorax",
    "edema",
    "right lung opacity. . large effusion",
};
enum { B = 4 };

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static float uniform(float lo, float hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static int write_tensor(const char *dir, const char *name, const void *x, int dtype, int32_t ndim,
                        const int64_t *dims) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    uint32_t head[2] = {(uint32_t)dtype, (uint32_t)ndim};
    size_t n = 1;
    for (int32_t i = 0; i < ndim; i++) n *= (size_t)dims[i];
    int ok = fwrite("AFT1", 1, 4, f) == 4 && fwrite(head, 4, 2, f) == 2 &&
             fwrite(dims, 8, (size_t)ndim, f) == (size_t)ndim && fwrite(x, 4, n, f) == n;
    return fclose(f) == 0 && ok;
}

static int is_trained(const afloc_param *p) {
    return strncmp(p->name, "text_encoder.model.", 19) == 0 && !strstr(p->name, ".pooler.");
}

static int group_of(const afloc_param *p) {
    if (strstr(p->name, "_embeddings.")) return G_EMBEDDING;
    if (strstr(p->name, "LayerNorm")) return G_LAYERNORM;
    return G_LINEAR;
}

/* scale_from: NULL, or the oracle tensor whose max |value| scales atol instead of the tensor's own
 * (for a gradient that is zero up to rounding, see run_case). */
static int compare_named(const char *dir, ops_summary *groups, int group, const char *name,
                         const float *got, size_t n, const char *scale_from) {
    size_t count = 0;
    float *want = ops_tensor_read(dir, name, OPS_F32, &count);
    if (!want) return -1;
    if (count != n) {
        fprintf(stderr, "%s: %zu elements, expected %zu\n", name, count, n);
        test_failures++;
        free(want);
        return 1;
    }
    float scale = ops_max_abs(want, n);
    if (scale_from) {
        size_t other_n = 0;
        float *other = ops_tensor_read(dir, scale_from, OPS_F32, &other_n);
        scale = other ? ops_max_abs(other, other_n) : scale;
        free(other);
    }
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (scale > 0 ? scale : 1.0f);
        if (!(e <= worst_scaled[group])) worst_scaled[group] = e;
    }
    int bad = ops_compare(&groups[group], name, &TOLERANCES[group], scale > 0 ? scale : 1.0f,
                          got, want, n);
    free(want);
    return bad;
}

typedef struct inputs {
    int32_t T, D;
    int32_t ids[B * AFLOC_MAX_SEQUENCE_LENGTH], mask[B * AFLOC_MAX_SEQUENCE_LENGTH], len[B];
    float *dw, *ds, *dr;
} inputs;

static int make_inputs(const char *dir, afloc_model *model, inputs *in) {
    const int32_t T = in->T = model->config.token_length, D = in->D = model->config.embedding_dim;
    int ok = 1;
    for (int b = 0; b < B; b++)
        ok &= afloc_tokenizer_encode(model->tokenizer, CAPTIONS[b], strlen(CAPTIONS[b]),
                                     in->ids + (size_t)b * T, in->mask + (size_t)b * T, T,
                                     &in->len[b]) == AFLOC_OK;
    const size_t n = (size_t)B * D * T;
    in->dw = malloc(n * sizeof(float));
    in->ds = malloc(n * sizeof(float));
    in->dr = malloc((size_t)B * D * sizeof(float));
    for (size_t i = 0; i < n; i++) in->dw[i] = uniform(-1, 1);
    for (size_t i = 0; i < n; i++) in->ds[i] = uniform(-1, 1);
    for (size_t i = 0; i < (size_t)B * D; i++) in->dr[i] = uniform(-1, 1);
    int64_t dids[2] = {B, T}, dwt[3] = {B, D, T}, dr[2] = {B, D};
    ok &= write_tensor(dir, "ids", in->ids, OPS_I32, 2, dids);
    ok &= write_tensor(dir, "mask", in->mask, OPS_I32, 2, dids);
    ok &= write_tensor(dir, "d_w", in->dw, OPS_F32, 3, dwt);
    ok &= write_tensor(dir, "d_s", in->ds, OPS_F32, 3, dwt);
    ok &= write_tensor(dir, "d_r", in->dr, OPS_F32, 2, dr);
    /* the vocabulary, one token a line, for the oracle's word names */
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    int32_t vocab = 0;
    ok &= afloc_tokenizer_vocab_size(model->tokenizer, &vocab) == AFLOC_OK;
    for (int32_t id = 0; id < vocab; id++) {
        char token[256];
        size_t needed = 0;
        ok &= afloc_tokenizer_token_text(model->tokenizer, id, token, sizeof token, &needed) ==
              AFLOC_OK;
        fprintf(f, "%s\n", token);
    }
    ok &= fclose(f) == 0;
    return ok;
}

static void run_case(const char *dir, afloc_model *model, const inputs *in, ops_summary *groups) {
    const afloc_param_table *t = &model->table;
    const size_t total = t->total_floats;
    float *grads = calloc(total, sizeof(float));
    afloc_train_text_plan *plan = NULL;
    CHECK_STATUS(afloc_train_text_plan_create(&plan, model, B, 0.0f), AFLOC_OK);
    if (!plan) {
        free(grads);
        return;
    }
    CHECK_STATUS(afloc_train_text_forward(plan, model->params, in->ids, in->len, 1), AFLOC_OK);
    CHECK_STATUS(afloc_train_text_backward(plan, grads, model->params, in->dw, in->ds, in->dr),
                 AFLOC_OK);
    const float *w, *s, *r;
    const int32_t *cw, *cs;
    afloc_train_text_outputs(plan, &w, &s, &r, &cw, &cs);
    const size_t BD = (size_t)B * in->D;
    CHECK(compare_named(dir, groups, G_OUTPUT, "text_emb_w", w, BD * in->T, NULL) == 0);
    CHECK(compare_named(dir, groups, G_OUTPUT, "text_emb_s", s, BD * in->T, NULL) == 0);
    CHECK(compare_named(dir, groups, G_OUTPUT, "text_emb_r", r, BD, NULL) == 0);
    /* cap_len: what text_units says for each caption (§5.8) */
    for (int b = 0; b < B; b++) {
        afloc_text_units u;
        CHECK_STATUS(afloc_text_units_build(model->tokenizer, in->ids + (size_t)b * in->T, in->T,
                                            &u, "test"), AFLOC_OK);
        CHECK(cw[b] == u.cap_len_words && cs[b] == u.cap_len_sentences);
        printf("  caption %d: %d tokens, cap_len words %d, sentences %d\n", b, in->len[b], cw[b],
               cs[b]);
    }
    int compared = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        if (!is_trained(p)) continue;
        char name[AFLOC_PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", p->name);
        /* key.bias: softmax ignores a per-query constant, and q·b_key is one, so its gradient is
         * zero up to rounding on both sides (~1e-10): scaled by the same layer's value.bias
         * gradient instead of its own noise. */
        char scale_from[AFLOC_PARAM_NAME_MAX + 8], *key = NULL;
        const size_t len = strlen(name);
        if (len > 8 && strcmp(name + len - 8, "key.bias") == 0) {
            snprintf(scale_from, sizeof scale_from, "%.*svalue.bias", (int)(len - 8), name);
            key = scale_from;
        }
        int rc = compare_named(dir, groups, group_of(p), name, grads + p->offset, p->count, key);
        if (rc < 0) {
            fprintf(stderr, "oracle tensor %s missing\n", name);
            test_failures++;
        } else compared++;
    }
    const int expected = 5 + 16 * model->config.bert_layers;
    printf("  %d BERT gradients compared (expected %d)\n", compared, expected);
    CHECK(compared == expected);
    size_t stray = 0;
    for (int32_t i = 0; i < t->count; i++) {
        const afloc_param *p = &t->params[i];
        if (!is_trained(p))
            for (size_t k = 0; k < p->count; k++) stray += grads[p->offset + k] != 0.0f;
    }
    CHECK(stray == 0);
    /* Accumulation: a second backward of the same forward adds the same gradients again. */
    float *once = malloc(total * sizeof(float));
    memcpy(once, grads, total * sizeof(float));
    CHECK_STATUS(afloc_train_text_backward(plan, grads, model->params, in->dw, in->ds, in->dr),
                 AFLOC_OK);
    double worst = 0.0, big = 0.0;
    for (size_t k = 0; k < total; k++) {
        double e = fabs((double)grads[k] - 2.0 * once[k]);
        if (e > worst) worst = e;
        if (fabs(once[k]) > big) big = fabs(once[k]);
    }
    printf("  accumulation: max |2·g − (g + g')| %.3e (max |g| %.3e)\n", worst, big);
    CHECK(worst <= 1e-5 * big);
    afloc_train_text_plan_free(plan);
    free(once);
    free(grads);
}

/* Dropout 0.1: the same seed gives the same outputs and gradients, another seed other ones, and
 * dropout changes the outputs. */
static void dropout_seeds(afloc_model *model, const inputs *in) {
    const size_t total = model->table.total_floats, n = (size_t)B * in->D * in->T;
    afloc_train_text_plan *plain = NULL, *drop = NULL;
    CHECK_STATUS(afloc_train_text_plan_create(&plain, model, B, 0.0f), AFLOC_OK);
    CHECK_STATUS(afloc_train_text_plan_create(&drop, model, B, 0.1f), AFLOC_OK);
    if (!plain || !drop) {
        afloc_train_text_plan_free(plain);
        afloc_train_text_plan_free(drop);
        return;
    }
    float *w0 = malloc(n * sizeof(float)), *w1 = malloc(n * sizeof(float));
    float *g0 = calloc(total, sizeof(float)), *g1 = calloc(total, sizeof(float));
    const float *w;
    CHECK_STATUS(afloc_train_text_forward(plain, model->params, in->ids, in->len, 5), AFLOC_OK);
    afloc_train_text_outputs(plain, &w, NULL, NULL, NULL, NULL);
    memcpy(w0, w, n * sizeof(float));
    CHECK_STATUS(afloc_train_text_forward(drop, model->params, in->ids, in->len, 5), AFLOC_OK);
    CHECK_STATUS(afloc_train_text_backward(drop, g0, model->params, in->dw, in->ds, in->dr),
                 AFLOC_OK);
    afloc_train_text_outputs(drop, &w, NULL, NULL, NULL, NULL);
    memcpy(w1, w, n * sizeof(float));
    CHECK(memcmp(w0, w1, n * sizeof(float)) != 0);
    CHECK_STATUS(afloc_train_text_forward(drop, model->params, in->ids, in->len, 5), AFLOC_OK);
    CHECK_STATUS(afloc_train_text_backward(drop, g1, model->params, in->dw, in->ds, in->dr),
                 AFLOC_OK);
    afloc_train_text_outputs(drop, &w, NULL, NULL, NULL, NULL);
    CHECK(memcmp(w1, w, n * sizeof(float)) == 0);
    CHECK(memcmp(g0, g1, total * sizeof(float)) == 0);
    CHECK_STATUS(afloc_train_text_forward(drop, model->params, in->ids, in->len, 6), AFLOC_OK);
    afloc_train_text_outputs(drop, &w, NULL, NULL, NULL, NULL);
    CHECK(memcmp(w1, w, n * sizeof(float)) != 0);
    free(w0);
    free(w1);
    free(g0);
    free(g1);
    afloc_train_text_plan_free(plain);
    afloc_train_text_plan_free(drop);
}

static void misuse(afloc_model *model, const inputs *in) {
    afloc_train_text_plan *plan = NULL;
    CHECK_STATUS(afloc_train_text_plan_create(NULL, model, 2, 0.0f), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_text_plan_create(&plan, NULL, 2, 0.0f), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_text_plan_create(&plan, model, 0, 0.0f), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_text_plan_create(&plan, model, 2, 1.0f), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_text_plan_create(&plan, model, 2, NAN), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(plan == NULL);
    CHECK_STATUS(afloc_train_text_plan_create(&plan, model, 2, 0.0f), AFLOC_OK);
    float g = 0.0f;
    CHECK_STATUS(afloc_train_text_backward(plan, model->params, model->params, &g, NULL, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT); /* no forward yet */
    CHECK_STATUS(afloc_train_text_forward(plan, NULL, in->ids, in->len, 0),
                 AFLOC_ERR_INVALID_ARGUMENT);
    int32_t bad_len[2] = {in->len[0] + 1, in->len[1]};
    CHECK_STATUS(afloc_train_text_forward(plan, model->params, in->ids, bad_len, 0),
                 AFLOC_ERR_INVALID_ARGUMENT);
    int32_t *bad_ids = malloc((size_t)2 * in->T * sizeof(int32_t));
    memcpy(bad_ids, in->ids, (size_t)2 * in->T * sizeof(int32_t));
    bad_ids[1] = model->config.vocab_size; /* out of range */
    CHECK_STATUS(afloc_train_text_forward(plan, model->params, bad_ids, in->len, 0),
                 AFLOC_ERR_INVALID_ARGUMENT);
    bad_ids[1] = in->ids[1];
    bad_ids[0] = in->ids[1]; /* no [CLS] */
    CHECK_STATUS(afloc_train_text_forward(plan, model->params, bad_ids, in->len, 0),
                 AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_train_text_backward(plan, model->params, model->params, &g, NULL, NULL),
                 AFLOC_ERR_INVALID_ARGUMENT); /* the failed forward left none */
    free(bad_ids);
    afloc_train_text_plan_free(plan);
    afloc_train_text_plan_free(NULL);
    int created = 0;
    for (long k = 0; k < 16 && !created; k++) {
        plan = NULL;
        afloc_test_inject_alloc_failure(k);
        afloc_status s = afloc_train_text_plan_create(&plan, model, 2, 0.1f);
        afloc_test_inject_alloc_failure(-1);
        if (s == AFLOC_OK) created = 1;
        else CHECK(s == AFLOC_ERR_OUT_OF_MEMORY && plan == NULL);
        afloc_train_text_plan_free(plan);
    }
    CHECK(created);
}

int main(void) {
    (void)tiny_image;
    afloc_context *context = NULL;
    afloc_model *model = tiny_model_create(&context, 2, 11);
    if (!model) {
        fprintf(stderr, "cannot create the tiny model\n");
        return 1;
    }
    char dir[64] = "/tmp/afloc_train_text_XXXXXX", path[4200];
    if (!mkdtemp(dir)) return 1;
    static inputs in;
    CHECK(make_inputs(dir, model, &in));
    misuse(model, &in);
    dropout_seeds(model, &in);
    const char *python = getenv("AFLOC_ORACLE_PYTHON");
    const char *source = getenv("AFLOC_SOURCE_DIR");
    int skip = 0, rc = -1;
    if (!python || !source) {
        printf("SKIP: AFLOC_ORACLE_PYTHON / AFLOC_SOURCE_DIR not set (run through ctest)\n");
        skip = 1;
    } else {
        snprintf(path, sizeof path, "%s/model.afloc", dir);
        CHECK_STATUS(afloc_model_save(model, path), AFLOC_OK);
        char command[8400];
        snprintf(command, sizeof command, "'%s' '%s/tests/train/ref_train_text.py' '%s'", python,
                 source, dir);
        rc = system(command);
        if (rc != 0) {
            skip = WIFEXITED(rc) && WEXITSTATUS(rc) == TEST_SKIP;
            if (skip) printf("SKIP: the PyTorch oracle is not available\n");
            else {
                fprintf(stderr, "oracle failed (%d): %s\n", rc, command);
                test_failures++;
            }
        }
    }
    ops_summary groups[G_COUNT] = {{0}};
    if (rc == 0) run_case(dir, model, &in, groups);
    free(in.dw);
    free(in.ds);
    free(in.dr);
    ops_oracle_remove(dir);
    afloc_model_free(model);
    afloc_context_free(context);
    if (skip && test_failures == 0) return TEST_SKIP;
    printf("train_text_vs_torch (B = %d):", B);
    for (int g = 0; g < G_COUNT; g++)
        printf(" %s %d tensors max abs %.2e, max |err|/max|want| %.2e%s", TOLERANCES[g].name,
               groups[g].tensors, groups[g].max_abs, worst_scaled[g], g + 1 < G_COUNT ? ";" : "\n");
    return test_finish("train_text_vs_torch");
}
