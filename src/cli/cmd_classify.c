/* cmd_classify.c: `afloc classify MODEL IMAGE.png "prompt1" "prompt2" ... [--temperature T]
 * [--ensembles]`: zero-shot classification (cosine of the global image embedding with each
 * prompt's report embedding, softmax over the prompts). With --ensembles each argument is an
 * ensemble of wordings separated by '|', scored by the mean of their unit embeddings
 * (afloc_prompt_set_create_ensembles). Prints one line per argument and the best one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_model.h"
#include "commands.h"

static const char usage[] =
    "usage: afloc classify MODEL IMAGE.png \"prompt1\" [\"prompt2\" ...] [--temperature T] "
    "[--ensembles]\n"
    "  --temperature T  softmax temperature (default 1)\n"
    "  --ensembles      each prompt argument is an ensemble of wordings separated by '|'\n"
    "                   (\"a pleural effusion is present.|small left effusion.\"), scored by the\n"
    "                   cosine with the mean of their unit text embeddings\n";

/* Splits every argument at '|' into `texts` (pointers into `buffer`, a copy of the arguments)
 * with its ensemble index in `ensemble_of`; returns the text count, or -1 for an empty part. */
static int32_t split_ensembles(char **args, int32_t k, char *buffer, const char **texts,
                               int32_t *ensemble_of) {
    int32_t n = 0;
    for (int32_t e = 0; e < k; e++) {
        size_t len = strlen(args[e]);
        memcpy(buffer, args[e], len + 1);
        char *part = buffer;
        for (char *p = buffer;; p++) {
            if (*p != '|' && *p != '\0') continue;
            int end = *p == '\0';
            *p = '\0';
            if (!*part) return -1;
            texts[n] = part;
            ensemble_of[n++] = e;
            part = p + 1;
            if (end) break;
        }
        buffer += len + 1;
    }
    return n;
}

int afloc_cli_classify(int argc, char **argv) {
    const char *cmd = "classify";
    float temperature = 1.0f;
    int ensembles = 0, k = 0;
    char **prompts = calloc((size_t)argc + 1, sizeof *prompts);
    if (!prompts) return cli_fail(cmd, "arguments", AFLOC_ERR_OUT_OF_MEMORY);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--ensembles")) {
            ensembles = 1;
        } else if (!strcmp(argv[i], "--temperature") && i + 1 < argc) {
            temperature = strtof(argv[++i], NULL);
        } else {
            prompts[k++] = argv[i];
        }
    }
    if (argc < 2 || k < 1) {
        fputs(usage, stderr);
        free(prompts);
        return 2;
    }
    size_t bytes = 0;
    for (int i = 0; i < k; i++) bytes += strlen(prompts[i]) + 1;
    char *buffer = malloc(bytes);
    const char **texts = malloc(bytes * sizeof *texts); /* at most one text per byte */
    int32_t *ensemble_of = malloc(bytes * sizeof *ensemble_of);
    float *scores = malloc((size_t)k * sizeof(float)), *probs = malloc((size_t)k * sizeof(float));
    int rc = 1;
    cli_model m = {0};
    afloc_image *image = NULL;
    afloc_image_view view;
    afloc_prompt_set *set = NULL;
    if (!buffer || !texts || !ensemble_of || !scores || !probs) {
        rc = cli_fail(cmd, "arguments", AFLOC_ERR_OUT_OF_MEMORY);
        goto done;
    }
    int32_t n = ensembles ? split_ensembles(prompts, k, buffer, texts, ensemble_of) : 0;
    if (n < 0) {
        fprintf(stderr, "afloc classify: an ensemble has an empty wording (check the '|')\n%s", usage);
        rc = 2;
        goto done;
    }
    if (cli_model_load(cmd, argv[0], &m)) goto done;
    if (cli_image_load(cmd, argv[1], &image, &view)) goto done;
    afloc_status s;
    const char *what = ensembles ? "afloc_prompt_set_create_ensembles" : "afloc_model_classify";
    if (ensembles) {
        s = afloc_prompt_set_create_ensembles(m.model, texts, n, ensemble_of, k, &set);
        if (s == AFLOC_OK) {
            what = "afloc_model_classify_prompt_set";
            s = afloc_model_classify_prompt_set(m.model, &view, set, temperature, scores, probs);
        }
    } else {
        s = afloc_model_classify(m.model, &view, (const char *const *)prompts, k, temperature,
                                 scores, probs);
    }
    if (s != AFLOC_OK) {
        rc = cli_fail(cmd, what, s);
        goto done;
    }
    int32_t best = 0;
    for (int32_t i = 0; i < k; i++) {
        printf("%-40s cosine %+.4f  p %.4f\n", prompts[i], (double)scores[i], (double)probs[i]);
        if (scores[i] > scores[best]) best = i;
    }
    printf("best: \"%s\"\n", prompts[best]);
    rc = 0;
done:
    afloc_prompt_set_free(set);
    afloc_image_free(image);
    if (m.model) cli_model_free(&m);
    free(scores);
    free(probs);
    free(ensemble_of);
    free(texts);
    free(buffer);
    free(prompts);
    return rc;
}
