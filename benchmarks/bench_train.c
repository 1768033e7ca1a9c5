/* bench_train.c: times afloc_trainer_step on the CPU, the C side of benchmarks/bench_train.py
 * (paired with bench_train_torch.py on the same config, batch and captions).
 *
 * Usage: bench_train DATA_DIR [--steps N] [--threads T] [--seed S]
 *   DATA_DIR (written by bench_train_torch.py --prepare): config.json (the model config),
 *   vocab.txt, captions.txt (one caption per line, B lines, fed to the trainer as written) and
 *   frames.f32 (B preprocessed crop x crop frames, float32 native order, as afloc_image_preprocess
 *   writes them).
 * Creates a model of that config with fresh weights (afloc_model_create, seed S), a trainer of
 * batch B (constant learning rate 2e-5, BERT dropout 0.1, T OpenMP threads), takes one untimed
 * warm-up step and then N timed steps on the same batch. Prints the median step time, the median
 * time of the word-level loss (afloc_train_loss_terms.word_loss_seconds) and its share of the
 * step, the losses of the first and last step, and peak RSS (getrusage ru_maxrss). Public API
 * only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "afloc/afloc.h"
#include "bench_util.h"

enum { MAX_BATCH = 256 };

static void die(const char *what, afloc_status s) {
    fprintf(stderr, "bench_train: %s: %s: %s\n", what, afloc_status_string(s), afloc_last_error());
    exit(1);
}

/* The whole file DIR/NAME, NUL-terminated; *size without the NUL. Exits on failure. */
static char *slurp(const char *dir, const char *name, size_t *size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "bench_train: cannot read %s\n", path);
        exit(1);
    }
    long n = ftell(f);
    rewind(f);
    char *data = malloc((size_t)n + 1);
    if (n < 0 || !data || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench_train: short read on %s\n", path);
        exit(1);
    }
    fclose(f);
    data[n] = '\0';
    *size = (size_t)n;
    return data;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_train DATA_DIR [--steps N] [--threads T] [--seed S]\n");
        return 2;
    }
    const char *dir = argv[1];
    int steps = 10, threads = 2;
    uint64_t seed = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
    }
    if (steps < 1 || threads < 1) return 2;

    size_t config_size, vocab_size, captions_size, frames_size;
    char *config = slurp(dir, "config.json", &config_size);
    char *vocab = slurp(dir, "vocab.txt", &vocab_size);
    char *text = slurp(dir, "captions.txt", &captions_size);
    char *frames = slurp(dir, "frames.f32", &frames_size);
    const char *captions[MAX_BATCH];
    int32_t B = 0;
    for (char *line = strtok(text, "\n"); line && B < MAX_BATCH; line = strtok(NULL, "\n"))
        captions[B++] = line;

    afloc_context_options o = {.struct_size = sizeof o};
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_CPU;
    o.num_threads = threads;
    afloc_context *context = NULL;
    afloc_status s = afloc_context_create(&o, &context);
    if (s != AFLOC_OK) die("afloc_context_create", s);
    afloc_model *model = NULL;
    double t0 = now();
    if ((s = afloc_model_create(context, config, vocab, vocab_size, seed, &model)) != AFLOC_OK)
        die("afloc_model_create", s);
    afloc_model_dims dims = {.struct_size = sizeof dims};
    afloc_model_get_dims(model, &dims);
    const size_t plane = (size_t)dims.frame_size * (size_t)dims.frame_size;
    if (B < 1 || frames_size != (size_t)B * plane * sizeof(float)) {
        fprintf(stderr, "bench_train: %d captions but frames.f32 holds %zu bytes, not %d x %d x %d "
                "floats\n", B, frames_size, B, dims.frame_size, dims.frame_size);
        return 1;
    }

    afloc_trainer_options to = {.struct_size = sizeof to};
    afloc_trainer_options_default(&to);
    to.batch_size = B;
    to.threads = threads;
    to.seed = seed;
    to.lr_schedule = AFLOC_LR_SCHEDULE_CONSTANT;
    to.learning_rate = 2e-5;
    afloc_trainer *trainer = NULL;
    if ((s = afloc_trainer_create(model, &to, &trainer)) != AFLOC_OK) die("afloc_trainer_create", s);
    const double build = now() - t0;

    const float *images = (const float *)(const void *)frames;
    double *wall = malloc((size_t)steps * sizeof *wall), *word = malloc((size_t)steps * sizeof *word);
    double *share = malloc((size_t)steps * sizeof *share), first = 0, last = 0, warmup = 0;
    for (int i = -1; i < steps; i++) {
        afloc_train_loss_terms terms = {.struct_size = sizeof terms};
        const double a = now();
        s = afloc_trainer_step(trainer, images, (size_t)B * plane, captions, B, &terms);
        const double took = now() - a;
        if (s != AFLOC_OK) die("afloc_trainer_step", s);
        if (i < 0) {
            warmup = took;
            first = terms.total;
            continue;
        }
        wall[i] = took;
        word[i] = terms.word_loss_seconds;
        share[i] = terms.word_loss_seconds / terms.step_seconds;
        last = terms.total;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench_train: batch %d, frame %d, %d OpenMP threads, median of %d steps (model + trainer "
           "create %.2f s, warm-up step %.1f ms)\n", B, dims.frame_size, threads, steps, build,
           1e3 * warmup);
    printf("  loss: first step %.5f, last step %.5f\n", first, last);
    const double med_step = median(wall, steps), med_word = median(word, steps);
    printf("train step: %.2f ms/step\n", 1e3 * med_step);
    printf("word loss: %.2f ms/step\n", 1e3 * med_word);
    printf("word loss share: %.1f %%\n", 100.0 * median(share, steps));
    printf("peak RSS: %.0f MB\n", ru.ru_maxrss / 1024.0);
    free(wall);
    free(word);
    free(share);
    afloc_trainer_free(trainer);
    afloc_model_free(model);
    afloc_context_free(context);
    free(config);
    free(vocab);
    free(text);
    free(frames);
    return 0;
}
