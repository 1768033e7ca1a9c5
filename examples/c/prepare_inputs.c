/* prepare_inputs.c: what a viewer does before asking the model anything, using only the public
 * API: decode a PNG (8- or 16-bit), turn it into the model's 224x224 input with the letterbox
 * geometry kept for later, and turn a finding sentence into model tokens.
 *
 *   prepare_inputs IMAGE.png "small left pleural effusion" [VOCAB.txt]
 *
 * Without a vocabulary file only the text cleaning is shown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <afloc/afloc.h>

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, afloc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s IMAGE.png \"finding sentence\" [VOCAB.txt]\n", argv[0]);
        return 2;
    }
    afloc_image *image = NULL;
    if (afloc_image_load_png(argv[1], NULL, &image) != AFLOC_OK) return fail("afloc_image_load_png");
    afloc_image_view view = {0};
    view.struct_size = sizeof view;
    afloc_image_get_view(image, &view);

    static float input[224 * 224];
    afloc_letterbox_geometry geometry = {0};
    geometry.struct_size = sizeof geometry;
    afloc_status status = afloc_image_preprocess(&view, NULL, input, 224 * 224, &geometry);
    afloc_image_free(image);
    if (status != AFLOC_OK) return fail("afloc_image_preprocess");
    printf("image %dx%d -> content %dx%d at (%d, %d) of the 224x224 model input\n",
           (int)geometry.source_width, (int)geometry.source_height, (int)geometry.resized_width,
           (int)geometry.resized_height, (int)geometry.pad_left, (int)geometry.pad_top);

    size_t needed = 0;
    const char *text = argv[2];
    afloc_text_clean_prompt(text, strlen(text), NULL, 0, &needed);
    char *cleaned = malloc(needed);
    if (!cleaned || afloc_text_clean_prompt(text, strlen(text), cleaned, needed, NULL) != AFLOC_OK) {
        free(cleaned);
        return fail("afloc_text_clean_prompt");
    }
    printf("text  \"%s\" -> \"%s\"\n", text, cleaned);

    int rc = 0;
    if (argc > 3) {
        afloc_tokenizer *tokenizer = NULL;
        int32_t ids[97], length = 0;
        if (afloc_tokenizer_load(argv[3], NULL, &tokenizer) != AFLOC_OK) rc = fail("afloc_tokenizer_load");
        else if (afloc_tokenizer_encode(tokenizer, cleaned, strlen(cleaned), ids, NULL, 97, &length) != AFLOC_OK)
            rc = fail("afloc_tokenizer_encode");
        else {
            printf("ids  ");
            for (int32_t i = 0; i < length; i++) printf(" %d", (int)ids[i]);
            printf("  (%d real tokens, padded to 97)\n", (int)length);
        }
        afloc_tokenizer_free(tokenizer);
    }
    free(cleaned);
    return rc;
}
