/* classify.c: zero-shot classification of a PNG radiograph against prompts given on the command
 * line, using only the public API. Each prompt gets the cosine similarity of its report
 * embedding with the image's global embedding, and the softmax of those scores over the prompts
 * (temperature 1).
 *
 *   classify MODEL.safetensors IMAGE.png "pleural effusion" "no pleural effusion" [...]
 *
 * The model cleans prompts as the AFLoc reference does, which drops one-word sentences: a prompt
 * such as "cardiomegaly" is encoded as empty text. The table flags such prompts; write a phrase
 * ("findings suggesting cardiomegaly") instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <afloc/afloc.h>

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, afloc_last_error());
    return 1;
}

/* 1 when the reference cleaning leaves nothing of `prompt`. */
static int cleans_to_empty(const char *prompt) {
    size_t needed = 0;
    if (afloc_text_clean_prompt(prompt, strlen(prompt), NULL, 0, &needed) != AFLOC_OK) return 0;
    return needed == 1; /* just the NUL */
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.safetensors IMAGE.png PROMPT [PROMPT ...]\n", argv[0]);
        return 2;
    }
    const char *const *prompts = (const char *const *)(argv + 3);
    int32_t count = (int32_t)(argc - 3);

    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CPU; /* models run on the CPU backend in 0.1 */
    afloc_context *context = NULL;
    afloc_model *model = NULL;
    afloc_image *image = NULL;
    float *scores = malloc((size_t)count * sizeof *scores);
    float *probabilities = malloc((size_t)count * sizeof *probabilities);
    int rc = 1;
    if (!scores || !probabilities) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    if (afloc_context_create(&options, &context) != AFLOC_OK) {
        rc = fail("afloc_context_create");
        goto done;
    }
    if (afloc_model_load(context, argv[1], &model) != AFLOC_OK) {
        rc = fail("afloc_model_load");
        goto done;
    }
    if (afloc_image_load_png(argv[2], NULL, &image) != AFLOC_OK) {
        rc = fail("afloc_image_load_png");
        goto done;
    }
    afloc_image_view view = {0};
    view.struct_size = sizeof view;
    afloc_image_get_view(image, &view);
    if (afloc_model_classify(model, &view, prompts, count, 1.0f, scores, probabilities) !=
        AFLOC_OK) {
        rc = fail("afloc_model_classify");
        goto done;
    }

    int32_t best = 0;
    double total = 0.0;
    printf("%-40s %9s %12s\n", "prompt", "cosine", "probability");
    for (int32_t k = 0; k < count; k++) {
        if (probabilities[k] > probabilities[best]) best = k;
        total += (double)probabilities[k];
        printf("%-40s %9.5f %12.5f%s\n", prompts[k], (double)scores[k], (double)probabilities[k],
               cleans_to_empty(prompts[k]) ? "  (one word: encoded as empty text)" : "");
    }
    printf("probabilities sum to %.5f\n", total);
    printf("best: \"%s\" (p = %.5f)\n", prompts[best], (double)probabilities[best]);
    rc = 0;
done:
    afloc_image_free(image);
    afloc_model_free(model);
    afloc_context_free(context);
    free(probabilities);
    free(scores);
    return rc;
}
