/* trainer_fixture.h: what the trainer tests share: a tiny model made in memory with
 * afloc_model_create (no oracle), deterministic preprocessed frames and captions, PNG + manifest
 * writing, and access to a trainer's Adam buffers for bit comparisons. */
#ifndef AFLOC_TEST_TRAINER_FIXTURE_H
#define AFLOC_TEST_TRAINER_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afloc/afloc.h"
#include "model.h"
#include "trainer.h"

/* Every code path of the paper's model (bottlenecks with projections, a BERT of 2 layers with
 * both used) at a size where one step of batch 4 takes a fraction of a second. */
static const char fixture_config[] =
    "{\"resnet_blocks\":[1,1,1,1],\"resnet_planes\":[4,8,16,32],\"resnet_stem\":8,"
    "\"image_size\":40,\"crop_size\":32,\"upsample_size\":40,"
    "\"bert_layers\":2,\"bert_hidden\":16,\"bert_heads\":2,\"bert_intermediate\":32,"
    "\"vocab_size\":%d,\"max_positions\":32,\"token_length\":16,\"last_n_layers\":2,"
    "\"embedding_dim\":16}";

enum { FIXTURE_VOCAB = 80 };

static const char *const fixture_words[] = {
    "the", "left", "right", "pleural", "effusion", "small", "large", "lung", "lower", "upper",
    "lobe", "opacity", "no", "pneumothorax", "heart", "size", "is", "normal", "there", "mild",
    "edema", "clear", "lungs", "are", "seen", "focal", "consolidation"};

/* Specials, ".", the words, letters; then filler "w<k>" up to `count` tokens. */
static inline char *fixture_vocab(int count, size_t *size) {
    const size_t cap = (size_t)count * 24 + 64;
    char *v = malloc(cap);
    size_t pos = 0;
    int n = 0;
    const char *fixed[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","};
    for (int i = 0; i < 7 && n < count; i++, n++) pos += (size_t)snprintf(v + pos, cap - pos, "%s\n", fixed[i]);
    for (size_t i = 0; i < sizeof fixture_words / sizeof *fixture_words && n < count; i++, n++)
        pos += (size_t)snprintf(v + pos, cap - pos, "%s\n", fixture_words[i]);
    for (int c = 0; c < 26 && n < count; c++, n++) pos += (size_t)snprintf(v + pos, cap - pos, "%c\n", 'a' + c);
    for (int k = 0; n < count; k++, n++) pos += (size_t)snprintf(v + pos, cap - pos, "w%d\n", k);
    *size = pos;
    return v;
}

/* A CPU context with `threads` threads and a tiny model (config variant: `extra` is appended
 * inside the JSON object, e.g. ",\"temp3\":9", or ""). NULL on failure (printed). */
static inline afloc_model *fixture_model(afloc_context **context, int32_t threads, uint64_t seed,
                                  const char *extra) {
    afloc_context_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_CPU;
    o.num_threads = threads;
    if (!*context && afloc_context_create(&o, context) != AFLOC_OK) return NULL;
    char config[1024];
    int n = snprintf(config, sizeof config, fixture_config, FIXTURE_VOCAB);
    if (extra && extra[0]) snprintf(config + n - 1, sizeof config - (size_t)n + 1, "%s}", extra);
    size_t vsize;
    char *vocab = fixture_vocab(FIXTURE_VOCAB, &vsize);
    afloc_model *model = NULL;
    afloc_status s = afloc_model_create(*context, config, vocab, vsize, seed, &model);
    if (s != AFLOC_OK)
        fprintf(stderr, "afloc_model_create: %s: %s\n", afloc_status_string(s), afloc_last_error());
    free(vocab);
    return model;
}

/* Batch `k` of a deterministic stream: `count` frames of side x side floats in about [-1, 1]
 * (smooth gradient + a bright disc, different per image) and captions of 1-3 sentences. */
static inline void fixture_batch(int k, int count, int side, float *images, char captions[][160]) {
    for (int i = 0; i < count; i++) {
        const int id = k * count + i;
        const double cx = side * (0.3 + 0.05 * (id % 7)), cy = side * (0.4 + 0.04 * (id % 5));
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                const double d = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                double v = -0.8 + 1.2 * y / side + (d < side * side * 0.03 ? 0.6 : 0.0);
                v += 0.05 * (((id * 131 + y * 17 + x * 7) % 11) - 5) / 5.0;
                images[((size_t)i * side + y) * side + x] = (float)v;
            }
        const size_t nw = sizeof fixture_words / sizeof *fixture_words;
        snprintf(captions[i], 160, "%s %s %s. %s %s %s %s", fixture_words[id % nw],
                 fixture_words[(id * 3 + 1) % nw], fixture_words[(id * 5 + 2) % nw],
                 fixture_words[(id * 7 + 3) % nw], fixture_words[(id + 4) % nw],
                 fixture_words[(id * 2 + 5) % nw], id % 2 ? "effusion" : "normal");
    }
}

/* Copies of the model's parameters and the trainer's Adam m and v, for memcmp. */
typedef struct fixture_snapshot {
    float *params, *m, *v;
    size_t floats;
    int64_t step;
} fixture_snapshot;

static inline fixture_snapshot fixture_snap(afloc_trainer *t) {
    fixture_snapshot s;
    s.floats = t->model->table.total_floats;
    float *m, *v;
    afloc_train_step_adam_state(t->step, &m, &v);
    s.params = malloc(s.floats * sizeof(float));
    s.m = malloc(s.floats * sizeof(float));
    s.v = malloc(s.floats * sizeof(float));
    memcpy(s.params, t->model->params, s.floats * sizeof(float));
    memcpy(s.m, m, s.floats * sizeof(float));
    memcpy(s.v, v, s.floats * sizeof(float));
    s.step = afloc_train_step_count(t->step);
    return s;
}

static inline int fixture_same(const fixture_snapshot *a, const fixture_snapshot *b) {
    return a->floats == b->floats && a->step == b->step &&
           memcmp(a->params, b->params, a->floats * sizeof(float)) == 0 &&
           memcmp(a->m, b->m, a->floats * sizeof(float)) == 0 &&
           memcmp(a->v, b->v, a->floats * sizeof(float)) == 0;
}

static inline void fixture_snap_free(fixture_snapshot *s) {
    free(s->params);
    free(s->m);
    free(s->v);
}

static inline double fixture_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif /* AFLOC_TEST_TRAINER_FIXTURE_H */
