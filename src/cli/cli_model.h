/* cli_model.h: what the model subcommands share: loading a model (on the GPU when the CUDA
 * plugin finds one, else the CPU) and a PNG, and printing a failed call. Public API only. */
#ifndef AFLOC_CLI_MODEL_H
#define AFLOC_CLI_MODEL_H

#include "afloc/afloc.h"

typedef struct cli_model {
    afloc_context *context;
    afloc_model   *model;
    afloc_model_dims dims;
} cli_model;

/* Prints "afloc <command>: <what> failed: STATUS: message" to stderr and returns 1. */
int cli_fail(const char *command, const char *what, afloc_status status);

/* The precision of the contexts the tool creates (afloc_precision), from `afloc --precision`;
 * AFLOC_PRECISION_FP32 unless given. */
extern int32_t cli_precision;

/* Loads the model file at `path` on a context of backend AUTO and cli_precision; returns 0 or
 * prints and returns 1. */
int cli_model_load(const char *command, const char *path, cli_model *m);
void cli_model_free(cli_model *m);

/* Loads a PNG and fills `view`; returns 0 or prints and returns 1. */
int cli_image_load(const char *command, const char *path, afloc_image **image,
                   afloc_image_view *view);

#endif /* AFLOC_CLI_MODEL_H */
