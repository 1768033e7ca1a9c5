/* readme_quickstart.c: the C quick start of README.md, verbatim (a test keeps the two equal).
 *
 *   readme_quickstart MODEL.safetensors IMAGE.png */
#include <stdio.h>
#include <stdlib.h>

#include <afloc/afloc.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CPU;           /* models run on the CPU in 0.1 */
    afloc_context *context = NULL;
    afloc_model *model = NULL;
    afloc_image *image = NULL;
    if (afloc_context_create(&options, &context) != AFLOC_OK ||
        afloc_model_load(context, argv[1], &model) != AFLOC_OK ||
        afloc_image_load_png(argv[2], NULL, &image) != AFLOC_OK) {
        fprintf(stderr, "%s\n", afloc_last_error());
        return 1;
    }
    /* A view of caller-owned pixels; a PACS host fills one in for its decoded DICOM buffer
     * (pixel_type AFLOC_PIXEL_U16, significant_bits 12, its own row_stride). */
    afloc_image_view view = {0};
    view.struct_size = sizeof view;
    afloc_image_get_view(image, &view);

    /* Localize: the heatmap on the original pixel grid, values in [-1, 1]. */
    size_t n = (size_t)view.width * (size_t)view.height;
    float *heatmap = malloc(n * sizeof *heatmap);
    afloc_heatmaps maps = {0};
    maps.struct_size = sizeof maps;
    maps.original = heatmap;
    maps.original_len = n;
    afloc_status status = AFLOC_ERR_OUT_OF_MEMORY;
    if (heatmap)
        status = afloc_model_localize(model, &view, "small left pleural effusion", NULL, &maps);
    if (status == AFLOC_OK) {
        size_t peak = 0;
        for (size_t i = 1; i < n; i++)
            if (heatmap[i] > heatmap[peak]) peak = i;
        printf("peak at (%zu, %zu)\n", peak % (size_t)view.width, peak / (size_t)view.width);

        /* Zero-shot classify: cosine scores and softmax probabilities over the prompts. */
        const char *prompts[] = {"pleural effusion is present", "no pleural effusion"};
        float scores[2], probabilities[2];
        status = afloc_model_classify(model, &view, prompts, 2, 1.0f, scores, probabilities);
        for (int k = 0; status == AFLOC_OK && k < 2; k++)
            printf("%-28s cosine %+.4f  p %.4f\n", prompts[k], scores[k], probabilities[k]);
    }
    if (status != AFLOC_OK)
        fprintf(stderr, "%s: %s\n", afloc_status_string(status), afloc_last_error());
    free(heatmap);
    afloc_image_free(image);
    afloc_model_free(model);
    afloc_context_free(context);
    return status == AFLOC_OK ? 0 : 1;
}
