/* cmd_classify.c: `afloc classify MODEL IMAGE.png "prompt1" "prompt2" ... [--temperature T]`:
 * zero-shot classification (cosine of the global image embedding with each prompt's report
 * embedding, softmax over the prompts). Prints one line per prompt and the best one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_model.h"
#include "commands.h"

int afloc_cli_classify(int argc, char **argv) {
    const char *cmd = "classify";
    float temperature = 1.0f;
    if (argc >= 2 && !strcmp(argv[argc - 2], "--temperature")) {
        temperature = strtof(argv[argc - 1], NULL);
        argc -= 2;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: afloc classify MODEL IMAGE.png \"prompt1\" [\"prompt2\" ...] "
                        "[--temperature T]\n");
        return 2;
    }
    int32_t k = argc - 2;
    cli_model m;
    if (cli_model_load(cmd, argv[0], &m)) return 1;
    afloc_image *image = NULL;
    afloc_image_view view;
    if (cli_image_load(cmd, argv[1], &image, &view)) {
        cli_model_free(&m);
        return 1;
    }
    float *scores = malloc((size_t)k * sizeof(float)), *probs = malloc((size_t)k * sizeof(float));
    int rc = 1;
    afloc_status s = scores && probs ? afloc_model_classify(m.model, &view,
                                                            (const char *const *)(argv + 2), k,
                                                            temperature, scores, probs)
                                     : AFLOC_ERR_OUT_OF_MEMORY;
    if (s != AFLOC_OK) {
        rc = cli_fail(cmd, "afloc_model_classify", s);
    } else {
        int32_t best = 0;
        for (int32_t i = 0; i < k; i++) {
            printf("%-40s cosine %+.4f  p %.4f\n", argv[2 + i], (double)scores[i], (double)probs[i]);
            if (scores[i] > scores[best]) best = i;
        }
        printf("best: \"%s\"\n", argv[2 + best]);
        rc = 0;
    }
    free(scores);
    free(probs);
    afloc_image_free(image);
    cli_model_free(&m);
    return rc;
}
