/* cli_model.c: model and image loading shared by `afloc localize`, `classify`, `embed` and
 * `eval`, and their --align option. */
#include "cli_model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *command, const char *what, afloc_status status) {
    fprintf(stderr, "afloc %s: %s failed: %s: %s\n", command, what, afloc_status_string(status),
            afloc_last_error());
    return 1;
}

int32_t cli_precision = AFLOC_PRECISION_FP32;

int cli_model_load(const char *command, const char *path, cli_model *m) {
    memset(m, 0, sizeof *m);
    afloc_context_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_AUTO; /* the GPU when the CUDA plugin finds one, else the CPU */
    o.precision = cli_precision;
    afloc_status s = afloc_context_create(&o, &m->context);
    if (s != AFLOC_OK) return cli_fail(command, "afloc_context_create", s);
    s = afloc_model_load(m->context, path, &m->model);
    if (s != AFLOC_OK) {
        afloc_context_free(m->context);
        return cli_fail(command, "afloc_model_load", s);
    }
    m->dims.struct_size = sizeof m->dims;
    afloc_model_get_dims(m->model, &m->dims);
    m->map_alignment = AFLOC_MAP_ALIGN_REFERENCE;
    char *config = NULL;
    size_t needed = 0;
    if (afloc_model_get_config(m->model, NULL, 0, &needed) == AFLOC_OK && needed &&
        (config = malloc(needed)) != NULL &&
        afloc_model_get_config(m->model, config, needed, &needed) == AFLOC_OK) {
        cJSON *root = cJSON_Parse(config);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "map_alignment");
        if (cJSON_IsNumber(a) && (a->valueint == AFLOC_MAP_ALIGN_CENTRED ||
                                  a->valueint == AFLOC_MAP_ALIGN_CENTRED_CUBIC))
            m->map_alignment = a->valueint;
        const cJSON *up = cJSON_GetObjectItemCaseSensitive(root, "upsample_size");
        if (cJSON_IsNumber(up) && up->valueint > 0) m->upsample_size = up->valueint;
        cJSON_Delete(root);
    }
    free(config);
    return 0;
}

int cli_parse_alignment(const char *command, const char *value, int32_t *alignment) {
    if (!strcmp(value, "model")) *alignment = AFLOC_MAP_ALIGN_MODEL;
    else if (!strcmp(value, "reference")) *alignment = AFLOC_MAP_ALIGN_REFERENCE;
    else if (!strcmp(value, "centred")) *alignment = AFLOC_MAP_ALIGN_CENTRED;
    else if (!strcmp(value, "centred-cubic")) *alignment = AFLOC_MAP_ALIGN_CENTRED_CUBIC;
    else {
        fprintf(stderr,
                "afloc %s: --align needs model, reference, centred or centred-cubic, got '%s'\n",
                command, value);
        return 2;
    }
    return 0;
}

const char *cli_alignment_name(const cli_model *m, int32_t alignment) {
    if (alignment == AFLOC_MAP_ALIGN_MODEL) alignment = m->map_alignment;
    if (alignment == AFLOC_MAP_ALIGN_CENTRED_CUBIC) return "centred-cubic";
    return alignment == AFLOC_MAP_ALIGN_CENTRED ? "centred" : "reference";
}

void cli_model_free(cli_model *m) {
    afloc_model_free(m->model);
    afloc_context_free(m->context);
}

int cli_image_load(const char *command, const char *path, afloc_image **image,
                   afloc_image_view *view) {
    afloc_status s = afloc_image_load_png(path, NULL, image);
    if (s != AFLOC_OK) return cli_fail(command, "afloc_image_load_png", s);
    memset(view, 0, sizeof *view);
    view->struct_size = sizeof *view;
    s = afloc_image_get_view(*image, view);
    if (s != AFLOC_OK) {
        afloc_image_free(*image);
        return cli_fail(command, "afloc_image_get_view", s);
    }
    return 0;
}
