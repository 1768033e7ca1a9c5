/* cli_model.c: model and image loading shared by `afloc localize`, `classify` and `embed`. */
#include "cli_model.h"

#include <stdio.h>
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
    return 0;
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
