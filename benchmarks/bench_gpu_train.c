/* bench_gpu_train.c: one training step on the CUDA backend (issue 6, item 6), the C side of
 * benchmarks/bench_gpu_train.py, which runs the PyTorch AMP reference on the same GPU after it.
 * Paper config (ResNet-50, 224 frames upsampled to 299, BERT-base sizes, 97 tokens; what
 * afloc_model_create gives with a NULL config), fresh random weights (speed does not depend on
 * their values), BERT dropout 0.1, Adam at a constant 2e-5.
 *
 * One step = afloc_device_train_run: frames, ids and lengths uploaded from the host, image
 * forward (BatchNorm in train mode), BERT forward with dropout, word / sentence / report
 * aggregation, L_GR + L_DS + L_SW with their gradients, both backwards, the global gradient norm,
 * clipping at 0.25 and Adam, losses downloaded. "wall" is the host time around the call (it
 * returns with the losses, so after the device finished), "device" is
 * afloc_device_train_last_seconds (CUDA events), images/s = B / wall, "word" the device time of
 * the word-level loss (afloc_train_losses.word_seconds; 0 with that loss off).
 *
 * Rows: for B in --batches (default 64,128), math fp32 (TF32 off) and bf16 (bf16 GEMMs and
 * tensor-core convolutions, fp32 master weights and fp32 elementwise), loss weights 1,1,1 (the
 * paper's total) and 1,1,0 (word level off: L_SW's cost grows with B^2, so this row shows its
 * share). One device step object per (B, math), shared by its two weight rows; W untimed
 * warm-up steps, then N timed steps, medians. Memory: device memory in use (cudaMemGetInfo,
 * device-wide) above what it was just before the step object was created, largest value seen
 * after create and after each step: the step object's parameters, gradients, Adam moments,
 * activation arena and scratch (the context and the model's inference copy are excluded).
 *
 * Data: with --data DIR (written by bench_gpu_train.py, so both sides train on the same batch)
 * DIR/vocab.txt (config vocab_size lines), captions.txt (one caption per line, at least the largest
 * B) and frames.f32 (that many crop x crop preprocessed frames, float32 native order); without it,
 * a made-up vocabulary of the config's size holding the words of a built-in sentence pool, captions
 * of 3-6 sentences drawn from it, and smooth random frames in [-1, 1]. Captions are tokenized with
 * the model's tokenizer (afloc_tokenizer_encode), as the trainer does.
 *
 * Usage: bench_gpu_train [--data DIR] [--config FILE.json] [--steps N] [--warmup W]
 *                        [--batches 64,128]
 * --config: another model config (JSON, keys of src/config.h) instead of the paper's, e.g. for a
 * quick look at a small model; the data must then fit it (crop_size, vocab_size).
 * Prints one line per row:
 *   train impl=libafloc math=fp32 B=64 weights=1,1,1 status=ok wall_ms=... device_ms=...
 *         word_ms=... images_per_s=... mem_mib=... loss_global=... loss_sentence=... loss_word=... grad_norm=...
 * or status=OOM / status=ERROR (then " -- " and the message). Exits 77 with "SKIP: no CUDA
 * device" when no CUDA context can be created, 1 when a row failed other than by OOM, else 0. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "config.h"
#include "context.h"
#include "device_train.h"
#include "model.h"

#ifdef BENCH_GPU_TRAIN_HOST_OPS
/* tests/gpubench's build of this file: the CPU ops behind the device table (host memory), a CPU
 * context, no CUDA runtime; BENCH_HOST_FAIL_ALLOC=n makes the n-th device allocation fail. */
#include "host_device_ops.h"
#else
#include <cuda_runtime_api.h>
#endif

enum { MAX_BATCHES = 8, MAX_CAPTION = 1024 };

static const double LEARNING_RATE = 2e-5;
static const float DROPOUT = 0.1f;

/* ---- small helpers ---- */

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "bench_gpu_train: out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* Device-wide bytes in use on `ordinal`, or -1 when the runtime cannot say. */
static double device_used_bytes(int32_t ordinal) {
#ifdef BENCH_GPU_TRAIN_HOST_OPS
    (void)ordinal;
    return -1.0;
#else
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(ordinal) != cudaSuccess || cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess)
        return -1.0;
    return (double)(total_bytes - free_bytes);
#endif
}

/* The whole file DIR/NAME (NAME alone when dir is NULL), NUL-terminated; *size without the NUL.
 * Exits on failure. */
static char *slurp(const char *dir, const char *name, size_t *size) {
    char path[4096];
    if (dir) snprintf(path, sizeof path, "%s/%s", dir, name);
    else snprintf(path, sizeof path, "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "bench_gpu_train: cannot read %s\n", path);
        exit(1);
    }
    long n = ftell(f);
    rewind(f);
    char *data = xmalloc((size_t)(n < 0 ? 0 : n) + 1);
    if (n < 0 || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench_gpu_train: short read on %s\n", path);
        exit(1);
    }
    fclose(f);
    data[n] = '\0';
    *size = (size_t)n;
    return data;
}

/* ---- the batch: from --data, or made up here ---- */

typedef struct bench_data {
    char *vocab;       /* one entry per line                        */
    size_t vocab_size; /* bytes                                     */
    char **captions;   /* count NUL-terminated captions             */
    char *caption_text;
    float *frames;     /* (count, crop, crop) in [-1, 1]            */
    int32_t count;
} bench_data;

/* Sentences of the made-up captions: already clean, as training captions are (MODEL.md §4.3). */
static const char *const SENTENCES[] = {
    "there is a small left pleural effusion", "heart size is normal", "no pneumothorax is seen",
    "mild pulmonary edema", "bibasilar atelectasis", "the lungs are clear",
    "cardiomegaly with pulmonary vascular congestion", "unchanged compared with prior study",
    "focal consolidation in the right lower lobe", "nodule measuring approximately 7 mm",
    "endotracheal tube tip projects 5 cm above the carina", "stable mediastinal contour",
    "patchy opacities in the left upper lobe likely represent pneumonia",
    "degenerative changes of the thoracic spine", "no acute osseous abnormality",
    "sternotomy wires are intact", "minimal blunting of the right costophrenic angle",
};
enum { N_SENTENCES = (int)(sizeof SENTENCES / sizeof SENTENCES[0]) };

static uint64_t next_random(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Vocabulary of exactly `size` entries: the specials, ".", every word of SENTENCES, then
 * filler tokens (never produced by the captions). */
static char *make_vocab(int32_t size, size_t *bytes) {
    size_t cap = (size_t)size * 16 + 4096, at = 0;
    char *v = xmalloc(cap);
    int32_t n = 0;
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."};
    for (int k = 0; k < 6; k++, n++) at += (size_t)snprintf(v + at, cap - at, "%s\n", specials[k]);
    for (int s = 0; s < N_SENTENCES; s++) {
        const char *w = SENTENCES[s];
        while (*w) {
            size_t len = strcspn(w, " ");
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)len, w);
            char line[72];
            snprintf(line, sizeof line, "\n%s\n", word);
            if (!strstr(v, line) && n < size) { /* v starts with "[PAD]\n": words follow a \n */
                at += (size_t)snprintf(v + at, cap - at, "%s\n", word);
                n++;
            }
            w += len;
            while (*w == ' ') w++;
        }
    }
    for (int32_t k = 0; n < size; k++, n++) at += (size_t)snprintf(v + at, cap - at, "filler%06d\n", (int)k);
    *bytes = at;
    return v;
}

static void make_data(bench_data *d, int32_t count, int32_t vocab_entries, int32_t crop) {
    d->vocab = make_vocab(vocab_entries, &d->vocab_size);
    d->count = count;
    d->captions = xmalloc((size_t)count * sizeof *d->captions);
    d->caption_text = xmalloc((size_t)count * MAX_CAPTION);
    uint64_t rng = 12345;
    for (int32_t i = 0; i < count; i++) {
        char *c = d->caption_text + (size_t)i * MAX_CAPTION;
        size_t at = 0;
        const int n = 3 + (int)(next_random(&rng) % 4);
        for (int k = 0; k < n; k++)
            at += (size_t)snprintf(c + at, MAX_CAPTION - at, "%s%s", k ? ". " : "",
                                   SENTENCES[next_random(&rng) % N_SENTENCES]);
        d->captions[i] = c;
    }
    /* Smooth random frames: a few random plane waves per image plus a little noise, in [-1, 1]. */
    const size_t plane = (size_t)crop * crop;
    d->frames = xmalloc((size_t)count * plane * sizeof(float));
    for (int32_t i = 0; i < count; i++) {
        double fx[3], fy[3], ph[3];
        for (int k = 0; k < 3; k++) {
            fx[k] = (double)(next_random(&rng) % 1000) / 1000.0 * 0.2;
            fy[k] = (double)(next_random(&rng) % 1000) / 1000.0 * 0.2;
            ph[k] = (double)(next_random(&rng) % 1000) / 1000.0 * 6.2832;
        }
        for (int32_t y = 0; y < crop; y++)
            for (int32_t x = 0; x < crop; x++) {
                double v = 0.0;
                for (int k = 0; k < 3; k++) v += sin(fx[k] * x + fy[k] * y + ph[k]) / 3.0;
                v = 0.9 * v + 0.1 * ((double)(next_random(&rng) % 2001) / 1000.0 - 1.0);
                d->frames[(size_t)i * plane + (size_t)y * crop + x] = (float)(v > 1 ? 1 : v < -1 ? -1 : v);
            }
    }
}

static void read_data(bench_data *d, const char *dir, int32_t need, int32_t crop) {
    size_t caption_bytes = 0, frame_bytes = 0;
    d->vocab = slurp(dir, "vocab.txt", &d->vocab_size);
    d->caption_text = slurp(dir, "captions.txt", &caption_bytes);
    char *frames = slurp(dir, "frames.f32", &frame_bytes);
    d->captions = xmalloc((size_t)need * sizeof *d->captions);
    d->count = 0;
    for (char *line = strtok(d->caption_text, "\n"); line && d->count < need; line = strtok(NULL, "\n"))
        d->captions[d->count++] = line;
    const size_t plane = (size_t)crop * crop * sizeof(float);
    if (d->count < need || frame_bytes < (size_t)need * plane) {
        fprintf(stderr, "bench_gpu_train: %s holds %d captions and %zu frames of %dx%d; the largest "
                "batch needs %d of each\n", dir, (int)d->count, frame_bytes / plane, (int)crop,
                (int)crop, (int)need);
        exit(1);
    }
    d->frames = (float *)(void *)frames; /* slurp's malloc is suitably aligned */
}

/* ---- one (B, math) pair: create, then the two weight rows ---- */

typedef struct bench_run {
    afloc_model *model;
    const afloc_device_ops *ops;
    int32_t ordinal, steps, warmup, T;
    const float *frames;  /* (>= B, crop, crop) */
    const int32_t *ids;   /* (>= B, T)          */
    const int32_t *lengths;
} bench_run;

static const char *math_name(int32_t math) { return math == AFLOC_DEVICE_MATH_BF16 ? "bf16" : "fp32"; }

static void row_failed(int32_t math, int32_t B, const char *weights, afloc_status st, int *failures) {
    const int oom = st == AFLOC_ERR_OUT_OF_MEMORY;
    printf("train impl=libafloc math=%s B=%d weights=%s status=%s -- %s\n", math_name(math), (int)B,
           weights, oom ? "OOM" : "ERROR", afloc_last_error());
    fflush(stdout);
    if (!oom) (*failures)++;
}

static void bench_pair(const bench_run *r, int32_t B, int32_t math, int *failures) {
    static const double WEIGHTS[2][3] = {{1, 1, 1}, {1, 1, 0}};
    static const char *const NAMES[2] = {"1,1,1", "1,1,0"};
    const double base = device_used_bytes(r->ordinal);
    afloc_device_train *t = NULL;
    afloc_status st = afloc_device_train_create(r->model, r->ops, r->ordinal, math, B, DROPOUT,
                                                "bench_gpu_train", &t);
    if (st != AFLOC_OK) {
        for (int w = 0; w < 2; w++) row_failed(math, B, NAMES[w], st, failures);
        return;
    }
    double peak = device_used_bytes(r->ordinal);
    double *wall = xmalloc((size_t)r->steps * sizeof *wall), *dev = xmalloc((size_t)r->steps * sizeof *dev);
    double *word = xmalloc((size_t)r->steps * sizeof *word);
    uint64_t seed = 1;
    for (int w = 0; w < 2; w++) {
        afloc_device_train_set_weights(t, WEIGHTS[w][0], WEIGHTS[w][1], WEIGHTS[w][2]);
        afloc_train_losses l;
        memset(&l, 0, sizeof l);
        for (int k = -r->warmup; k < r->steps && st == AFLOC_OK; k++) {
            const double t0 = now();
            st = afloc_device_train_run(t, r->frames, r->ids, r->lengths, seed++, LEARNING_RATE, &l);
            const double took = now() - t0;
            const double used = device_used_bytes(r->ordinal);
            if (used > peak) peak = used;
            if (k < 0) continue;
            wall[k] = took;
            dev[k] = afloc_device_train_last_seconds(t);
            word[k] = l.word_seconds;
        }
        if (st != AFLOC_OK) {
            row_failed(math, B, NAMES[w], st, failures);
            continue;
        }
        const double wm = median(wall, r->steps), dm = median(dev, r->steps);
        const double xm = median(word, r->steps);
        const int finite = isfinite(l.global) && isfinite(l.sentence) && isfinite(l.word);
        if (!finite) (*failures)++;
        printf("train impl=libafloc math=%s B=%d weights=%s status=%s wall_ms=%.3f device_ms=%.3f "
               "word_ms=%.3f images_per_s=%.1f mem_mib=%.0f loss_global=%.5f loss_sentence=%.5f "
               "loss_word=%.5f grad_norm=%.5f\n", math_name(math), (int)B, NAMES[w],
               finite ? "ok" : "NONFINITE", 1e3 * wm, 1e3 * dm, 1e3 * xm, (double)B / wm,
               base < 0 ? -1.0 : (peak - base) / 1048576.0,
               l.global, l.sentence, l.word, l.grad_norm);
        fflush(stdout);
    }
    free(wall);
    free(dev);
    free(word);
    afloc_device_train_free(t);
}

/* ---- main ---- */

static int parse_batches(const char *s, int32_t *batches) {
    int n = 0;
    while (*s && n < MAX_BATCHES) {
        char *end = NULL;
        long b = strtol(s, &end, 10);
        if (end == s || b < 1 || b > 4096) return 0;
        batches[n++] = (int32_t)b;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return 0;
    }
    return n;
}

/* The context and the op table: the CUDA plugin's, or (host-ops build) the CPU's behind the
 * device table. NULL context: none (the caller skips). */
static afloc_context *open_context(const afloc_device_ops **ops, int32_t *ordinal) {
    afloc_context_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_context_options_default(&o);
#ifdef BENCH_GPU_TRAIN_HOST_OPS
    o.backend = AFLOC_BACKEND_CPU;
    const char *fail = getenv("BENCH_HOST_FAIL_ALLOC");
    if (fail) host_fail_countdown = atoi(fail);
#else
    o.backend = AFLOC_BACKEND_CUDA;
    o.plugin_path = getenv("AFLOC_CUDA_PLUGIN"); /* NULL: beside the executable */
#endif
    afloc_context *context = NULL;
    if (afloc_context_create(&o, &context) != AFLOC_OK) return NULL;
#ifdef BENCH_GPU_TRAIN_HOST_OPS
    *ops = host_device_ops();
#else
    *ops = context->cuda->device;
#endif
    *ordinal = context->options.device_index;
    return context;
}

int main(int argc, char **argv) {
    const char *data_dir = NULL, *config_path = NULL;
    int steps = 10, warmup = 2, n_batches = 2;
    int32_t batches[MAX_BATCHES] = {64, 128};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--data") && value) data_dir = value;
        else if (!strcmp(argv[i], "--config") && value) config_path = value;
        else if (!strcmp(argv[i], "--steps") && value) steps = atoi(value);
        else if (!strcmp(argv[i], "--warmup") && value) warmup = atoi(value);
        else if (!strcmp(argv[i], "--batches") && value) n_batches = parse_batches(value, batches);
        else {
            fprintf(stderr, "usage: bench_gpu_train [--data DIR] [--config FILE.json] [--steps N] "
                    "[--warmup W] [--batches 64,128]\n");
            return 2;
        }
    }
    if (steps < 1 || warmup < 0 || n_batches < 1) {
        fprintf(stderr, "bench_gpu_train: need --steps >= 1, --warmup >= 0 and a batch list\n");
        return 2;
    }
    int32_t max_batch = 0;
    for (int k = 0; k < n_batches; k++) max_batch = batches[k] > max_batch ? batches[k] : max_batch;

    const afloc_device_ops *ops = NULL;
    int32_t ordinal = 0;
    afloc_context *context = open_context(&ops, &ordinal);
    if (!context) {
        printf("SKIP: no CUDA device: %s\n", afloc_last_error());
        return 77;
    }

    /* The config (the paper's unless --config), whose sizes the made-up data needs. */
    size_t config_size = 0;
    char *config_json = config_path ? slurp(NULL, config_path, &config_size) : NULL;
    afloc_config config;
    afloc_config_default(&config);
    if (config_json && afloc_config_from_json(&config, config_json, config_size, "bench_gpu_train") != AFLOC_OK) {
        fprintf(stderr, "bench_gpu_train: %s\n", afloc_last_error());
        return 1;
    }
    bench_data data;
    memset(&data, 0, sizeof data);
    if (data_dir) read_data(&data, data_dir, max_batch, config.crop_size);
    else make_data(&data, max_batch, config.vocab_size, config.crop_size);

    const double t0 = now();
    afloc_model *model = NULL;
    if (afloc_model_create(context, config_json, data.vocab, data.vocab_size, 1, &model) != AFLOC_OK) {
        fprintf(stderr, "bench_gpu_train: afloc_model_create: %s\n", afloc_last_error());
        return 1;
    }
    const int32_t T = model->config.token_length;
    int32_t *ids = xmalloc((size_t)max_batch * (size_t)T * sizeof *ids);
    int32_t *mask = xmalloc((size_t)max_batch * (size_t)T * sizeof *mask);
    int32_t *lengths = xmalloc((size_t)max_batch * sizeof *lengths);
    long tokens = 0;
    for (int32_t i = 0; i < max_batch; i++) {
        const size_t len = strlen(data.captions[i]);
        if (afloc_tokenizer_encode(model->tokenizer, data.captions[i], len, ids + (size_t)i * T,
                                   mask + (size_t)i * T, T, &lengths[i]) != AFLOC_OK) {
            fprintf(stderr, "bench_gpu_train: caption %d: %s\n", (int)i, afloc_last_error());
            return 1;
        }
        tokens += lengths[i];
    }
    printf("bench_gpu_train: %s\n", context->info);
    printf("bench_gpu_train: %s config (crop %d -> %d, BERT %d x %d, T %d), data %s, %.1f tokens "
           "per caption, model create %.2f s, %d warm-up + %d timed steps per row, lr %g, dropout %.1f\n",
           config_path ? config_path : "paper", (int)model->config.crop_size, (int)model->config.upsample_size, (int)model->config.bert_layers,
           (int)model->config.bert_hidden, (int)T, data_dir ? data_dir : "made up",
           (double)tokens / max_batch, now() - t0, warmup, steps, LEARNING_RATE, (double)DROPOUT);
    fflush(stdout);

    bench_run r = {model, ops, ordinal, steps, warmup, T, data.frames, ids, lengths};
    int failures = 0;
    for (int k = 0; k < n_batches; k++) {
        bench_pair(&r, batches[k], AFLOC_DEVICE_MATH_FP32, &failures);
        bench_pair(&r, batches[k], AFLOC_DEVICE_MATH_BF16, &failures);
    }
    afloc_model_free(model);
    afloc_context_free(context);
    free(ids);
    free(mask);
    free(lengths);
    free(data.vocab);
    free(data.captions);
    free(data.caption_text);
    free(data.frames);
    free(config_json);
    return failures ? 1 : 0;
}
