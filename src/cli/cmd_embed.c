/* cmd_embed.c: `afloc embed MODEL IMAGE.png` or `afloc embed MODEL --text "..."`: prints the
 * global image embedding (img_emb_g) or the report text embedding (text_emb_r) as one JSON array
 * of D floats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_model.h"
#include "commands.h"

int afloc_cli_embed(int argc, char **argv) {
    const char *cmd = "embed";
    int text = argc == 3 && !strcmp(argv[1], "--text");
    if (argc != 2 && !text) {
        fprintf(stderr, "usage: afloc embed MODEL (IMAGE.png | --text \"...\")\n");
        return 2;
    }
    cli_model m;
    if (cli_model_load(cmd, argv[0], &m)) return 1;
    size_t D = (size_t)m.dims.embedding_dim;
    float *e = malloc(D * sizeof(float));
    afloc_status s = AFLOC_ERR_OUT_OF_MEMORY;
    afloc_image *image = NULL;
    if (e && text) {
        s = afloc_model_embed_text(m.model, argv[2], e, D);
    } else if (e) {
        afloc_image_view view;
        if (cli_image_load(cmd, argv[1], &image, &view)) {
            free(e);
            cli_model_free(&m);
            return 1;
        }
        s = afloc_model_embed_image(m.model, &view, e, D, NULL, 0);
    }
    int rc = 0;
    if (s != AFLOC_OK) {
        rc = cli_fail(cmd, text ? "afloc_model_embed_text" : "afloc_model_embed_image", s);
    } else {
        putchar('[');
        for (size_t i = 0; i < D; i++) printf("%s%.9g", i ? ", " : "", (double)e[i]);
        printf("]\n");
    }
    free(e);
    afloc_image_free(image);
    cli_model_free(&m);
    return rc;
}
