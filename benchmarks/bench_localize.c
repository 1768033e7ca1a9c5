/* bench_localize.c: times afloc_model_localize on the default (paper) config with random weights
 * (afloc_model_create), the C side of benchmarks/bench_localize.py (paired with
 * bench_localize_torch.py on the same work: one 2500x2048 8-bit image + one prompt, batch 1).
 *
 * Usage: bench_localize [--runs N] [--threads T] [--callers P] [--config small]
 *   latency: median of N localize calls (after one warm-up) on one caller thread with T OpenMP
 *            threads; also preprocessing alone, embed_image and embed_text, so the figure
 *            without preprocessing can be compared with the torch one;
 *   throughput: P caller threads sharing the model, each N calls (context num_threads T / P).
 * Prints peak RSS (getrusage ru_maxrss). Public API only. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "afloc/afloc.h"
#include "bench_util.h"

static const char prompt[] = "Small left pleural effusion with adjacent atelectasis.";
enum { W = 2048, H = 2500 };

static void die(const char *what, afloc_status s) {
    fprintf(stderr, "bench_localize: %s: %s: %s\n", what, afloc_status_string(s), afloc_last_error());
    exit(1);
}

/* A vocabulary of `count` distinct entries with BERT's specials at their usual ids. */
static char *make_vocab(int count, size_t *size) {
    size_t cap = (size_t)count * 12 + 64, pos = 0;
    char *v = malloc(cap);
    static const char *const words[] = {"small", "left", "pleural", "effusion", "with",
                                        "adjacent", "at", "##ele", "##ct", "##asis"};
    pos += (size_t)snprintf(v + pos, cap - pos, "[PAD]\n");
    int n = 1;
    for (; n < 100; n++) pos += (size_t)snprintf(v + pos, cap - pos, "[unused%d]\n", n);
    pos += (size_t)snprintf(v + pos, cap - pos, "[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    n += 4;
    for (int k = 0; k < 10 && n < count; k++, n++) pos += (size_t)snprintf(v + pos, cap - pos, "%s\n", words[k]);
    for (int k = 0; n < count; k++, n++) pos += (size_t)snprintf(v + pos, cap - pos, "t%d\n", k);
    *size = pos;
    return v;
}

typedef struct job {
    const afloc_model *model;
    const afloc_image_view *view;
    afloc_heatmaps *h;
    int runs;
} job;

static void *caller(void *arg) {
    job *j = arg;
    for (int i = 0; i < j->runs; i++) {
        afloc_status s = afloc_model_localize(j->model, j->view, prompt, NULL, j->h);
        if (s != AFLOC_OK) die("afloc_model_localize", s);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int runs = 10, threads = 2, callers = 2;
    const char *config = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--callers")) callers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--config") && !strcmp(argv[i + 1], "small"))
            config = "{\"resnet_blocks\":[1,1,1,1],\"resnet_planes\":[8,16,32,64],\"resnet_stem\":16,"
                     "\"bert_layers\":3,\"bert_hidden\":64,\"bert_heads\":4,\"bert_intermediate\":128,"
                     "\"vocab_size\":1500,\"max_positions\":128,\"last_n_layers\":2,\"embedding_dim\":64}";
    }
    if (runs < 1 || threads < 1 || callers < 1 || callers > 64) return 2;

    afloc_context_options o = {.struct_size = sizeof o};
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_CPU;
    o.num_threads = threads;
    afloc_context *context = NULL;
    afloc_status s = afloc_context_create(&o, &context);
    if (s != AFLOC_OK) die("afloc_context_create", s);
    size_t vsize;
    char *vocab = make_vocab(config ? 1500 : 28996, &vsize);
    afloc_model *model = NULL;
    double t0 = now();
    s = afloc_model_create(context, config, vocab, vsize, 1, &model);
    if (s != AFLOC_OK) die("afloc_model_create", s);
    double build = now() - t0;
    free(vocab);
    afloc_model_dims dims = {.struct_size = sizeof dims};
    afloc_model_get_dims(model, &dims);

    uint8_t *pixels = malloc((size_t)W * H);
    uint32_t r = 1;
    for (size_t i = 0; i < (size_t)W * H; i++) {
        r = r * 1664525u + 1013904223u;
        pixels[i] = (uint8_t)(60 + (i / W) * 120 / H + (r >> 29));
    }
    afloc_image_view view = {.struct_size = sizeof view, .pixel_type = AFLOC_PIXEL_U8,
                             .channels = 1, .width = W, .height = H, .row_stride = W,
                             .pixels = pixels};
    size_t F2 = (size_t)dims.frame_size * dims.frame_size;
    float *frame = malloc(F2 * sizeof(float)), *g = malloc((size_t)dims.embedding_dim * 4);
    afloc_heatmaps h = {.struct_size = sizeof h, .frame = frame, .frame_len = F2};

    double *t = malloc((size_t)runs * sizeof(double));
    double med_pre, med_loc, med_img, med_txt;
    /* preprocessing alone (letterbox 2500x2048 -> 224, normalise) */
    for (int i = -1; i < runs; i++) {
        double a = now();
        afloc_image_preprocess(&view, NULL, frame, F2, NULL);
        if (i >= 0) t[i] = now() - a;
    }
    med_pre = median(t, runs);
    for (int i = -1; i < runs; i++) {
        double a = now();
        if ((s = afloc_model_localize(model, &view, prompt, NULL, &h)) != AFLOC_OK) die("localize", s);
        if (i >= 0) t[i] = now() - a;
    }
    med_loc = median(t, runs);
    for (int i = -1; i < runs; i++) {
        double a = now();
        if ((s = afloc_model_embed_image(model, &view, g, (size_t)dims.embedding_dim, NULL, 0)) != AFLOC_OK)
            die("embed_image", s);
        if (i >= 0) t[i] = now() - a;
    }
    med_img = median(t, runs);
    for (int i = -1; i < runs; i++) {
        double a = now();
        if ((s = afloc_model_embed_text(model, prompt, g, (size_t)dims.embedding_dim)) != AFLOC_OK)
            die("embed_text", s);
        if (i >= 0) t[i] = now() - a;
    }
    med_txt = median(t, runs);

    /* throughput: `callers` threads on the shared model */
    pthread_t tid[64];
    job jobs[64];
    afloc_heatmaps hs[64];
    float *frames[64];
    t0 = now();
    for (int c = 0; c < callers; c++) {
        frames[c] = malloc(F2 * sizeof(float));
        hs[c] = h;
        hs[c].frame = frames[c];
        jobs[c] = (job){model, &view, &hs[c], runs};
        pthread_create(&tid[c], NULL, caller, &jobs[c]);
    }
    for (int c = 0; c < callers; c++) pthread_join(tid[c], NULL);
    double wall = now() - t0;
    for (int c = 0; c < callers; c++) free(frames[c]);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench_localize: config %s, %d OpenMP threads, median of %d runs (model build %.1f s)\n",
           config ? "small" : "default", threads, runs, build);
    printf("  preprocess (2500x2048 u8 letterbox + normalise):        %8.2f ms\n", 1e3 * med_pre);
    printf("  embed_image (preprocess + encoder to img_emb_g):        %8.2f ms\n", 1e3 * med_img);
    printf("  embed_text (clean, tokenize, BERT, aggregation):        %8.2f ms\n", 1e3 * med_txt);
    printf("localize (preprocess excluded): %.2f ms/localize\n", 1e3 * (med_loc - med_pre));
    printf("localize with preprocess:       %.2f ms/localize\n", 1e3 * med_loc);
    printf("throughput: %d callers x %d calls: %.2f localize/s\n", callers, runs,
           callers * runs / wall);
    printf("peak RSS: %.0f MB\n", ru.ru_maxrss / 1024.0);
    free(t);
    free(frame);
    free(g);
    free(pixels);
    afloc_model_free(model);
    afloc_context_free(context);
    return 0;
}
