/* bench_gpu_localize.c: localization throughput on the CUDA backend (issue 6), paired with
 * bench_gpu_torch.py on the same machine by bench_gpu.py. Paper config, random weights (speed
 * does not depend on their values), frames already preprocessed (224x224, the same for both
 * sides). One "localize" = afloc_device_localize: frames uploaded, the image encoder up to
 * img_emb_l, the dot with a prompt embedding computed once, the Gaussian and the bilinear resize
 * to 224 on the device, the 224x224 maps downloaded. The device work runs as a CUDA graph after
 * the warm-ups (the default); the same is then timed without graphs.
 *
 * Usage: bench_gpu_localize [runs]    prints lines "gpu <mode> B<n>: <ms> ms/batch ..." (with
 *                                      graphs) and "no-graphs <mode> B<n>: ..." */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "context.h"
#include "device_model.h"
#include "inference.h"
#include "model.h"

/* The paper config's vocabulary size with made-up tokens (the benchmark never reads text). */
static char *make_vocab(size_t *size) {
    const char *special = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    size_t cap = 28996 * 12;
    char *v = malloc(cap);
    size_t at = (size_t)snprintf(v, cap, "%s", special);
    for (int k = 5; k < 28996; k++) at += (size_t)snprintf(v + at, cap - at, "tok%05d\n", k);
    *size = at;
    return v;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 20;
    afloc_context_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_CUDA;
    o.plugin_path = getenv("AFLOC_CUDA_PLUGIN"); /* NULL: beside the executable */
    afloc_context *context = NULL;
    if (afloc_context_create(&o, &context) != AFLOC_OK) {
        printf("SKIP: no CUDA device: %s\n", afloc_last_error());
        return 77;
    }
    size_t vocab_size = 0;
    char *vocab = make_vocab(&vocab_size);
    afloc_model *model = NULL;
    if (afloc_model_create(context, NULL, vocab, vocab_size, 1, &model) != AFLOC_OK) {
        fprintf(stderr, "model: %s\n", afloc_last_error());
        return 1;
    }
    const struct afloc_inference *inf = model->inference;
    int32_t crop = inf->crop, D = inf->D;
    size_t crop2 = (size_t)crop * crop;
    float *report = malloc((size_t)D * sizeof(float));
    afloc_model_embed_text(model, "small left pleural effusion", report, (size_t)D);
    printf("bench_gpu_localize: %s\n", context->info);

    const int batches[2] = {1, 64};
    for (int math = 0; math < 2; math++) {
        afloc_device_model *dm = NULL;
        if (afloc_device_model_create(model, context->cuda->device, 0, math, 64, "bench", &dm) != AFLOC_OK) {
            fprintf(stderr, "device model: %s\n", afloc_last_error());
            return 1;
        }
        for (int k = 0; k < 4; k++) {
            int B = batches[k % 2], graphs = k < 2; /* with CUDA graphs (the default), then without */
            afloc_device_model_set_graphs(dm, graphs);
            float *x = malloc((size_t)B * crop2 * sizeof(float));
            for (size_t i = 0; i < (size_t)B * crop2; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
            float *frames = malloc((size_t)B * crop2 * sizeof(float));
            double *wall = malloc((size_t)runs * sizeof(double)), *dev = malloc((size_t)runs * sizeof(double));
            for (int r = -2; r < runs; r++) { /* two warm-ups */
                double t0 = now();
                if (afloc_device_localize(dm, x, B, report, frames, NULL, "bench") != AFLOC_OK) {
                    fprintf(stderr, "localize: %s\n", afloc_last_error());
                    return 1;
                }
                double t1 = now();
                if (r < 0) continue;
                wall[r] = t1 - t0;
                dev[r] = afloc_device_model_last_seconds(dm);
            }
            qsort(wall, (size_t)runs, sizeof(double), cmp);
            qsort(dev, (size_t)runs, sizeof(double), cmp);
            double w = wall[runs / 2], d = dev[runs / 2];
            printf("%s %s B%d: %.3f ms/batch (device compute %.3f ms), localize %.1f images/s\n",
                   graphs ? "gpu" : "no-graphs", math ? "bf16" : "fp32", B, w * 1e3, d * 1e3, B / w);
            free(x);
            free(frames);
            free(wall);
            free(dev);
        }
        afloc_device_model_free(dm);
    }
    afloc_model_free(model);
    afloc_context_free(context);
    free(vocab);
    free(report);
    return 0;
}
