/* test_embedding.c: afloc_cpu_embedding_forward (embedding.c) against the HF BERT embedding sum
 * (word + token type) + position in PyTorch (ref_embedding.py), T 1 .. 97, with and without type
 * ids; bit-identical for 1..4 OpenMP threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"

/* The same two float additions in the same order as PyTorch: exact. */
static const ops_tolerance TOLERANCES[] = {
    {"embedding", 0.0f, 0.0f},
};

typedef struct emb_ctx {
    const int32_t *ids, *types;
    const float *word, *pos, *typ;
    int32_t T, C;
} emb_ctx;

static void emb_run(void *p, float *out) {
    const emb_ctx *c = p;
    afloc_cpu_embedding_forward(out, c->ids, c->types, c->word, c->pos, c->typ, c->T, c->C);
}

static int run_case(const char *dir, int i, ops_summary *summary) {
    char pre[16], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "e%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0;
    const int32_t T = p[0], C = p[1], V = p[2], P = p[3], has_types = p[4];
    free(p);
    size_t n_ids = 0, n_types = 0;
    snprintf(name, sizeof name, "%s.ids", pre);
    int32_t *ids = ops_tensor_read(dir, name, OPS_I32, &n_ids);
    snprintf(name, sizeof name, "%s.types", pre);
    int32_t *types = has_types ? ops_tensor_read(dir, name, OPS_I32, &n_types) : NULL;
    float *word = ops_read_f32(dir, pre, "word", (size_t)V * C);
    float *pos = ops_read_f32(dir, pre, "position", (size_t)P * C);
    float *typ = ops_read_f32(dir, pre, "token_type", (size_t)2 * C);
    float *want = ops_read_f32(dir, pre, "out", (size_t)T * C);
    float *got = malloc((size_t)T * C * sizeof(float));
    const int ok = ids && n_ids == (size_t)T && (!has_types || (types && n_types == (size_t)T)) &&
                   word && pos && typ && want && got;
    CHECK(ok);
    if (ok) {
        char label[96];
        emb_ctx ctx = {ids, types, word, pos, typ, T, C};
        emb_run(&ctx, got);
        snprintf(label, sizeof label, "%s embedding T%d C%d%s", pre, T, C,
                 has_types ? "" : " (no type ids)");
        ops_compare(summary, label, &TOLERANCES[0], 1.0f, got, want, (size_t)T * C);
        if (T * C >= 97 * 768) {
            snprintf(label, sizeof label, "%s embedding determinism", pre);
            ops_check_thread_counts(label, emb_run, &ctx, (size_t)T * C);
        }
    }
    free(ids);
    free(types);
    free(word);
    free(pos);
    free(typ);
    free(want);
    free(got);
    return 1;
}

int main(void) {
    return ops_run_cases("ref_embedding.py", run_case, 4, "ops_embedding_cpu_vs_torch");
}
