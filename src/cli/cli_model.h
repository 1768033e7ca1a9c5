/* cli_model.h: what the model subcommands share: loading a model (on the GPU when the CUDA
 * plugin finds one, else the CPU) and a PNG, and printing a failed call. Public API only. */
#ifndef AFLOC_CLI_MODEL_H
#define AFLOC_CLI_MODEL_H

#include "afloc/afloc.h"

typedef struct cli_model {
    afloc_context *context;
    afloc_model   *model;
    afloc_model_dims dims;
    int32_t map_alignment; /* the config's map_alignment: AFLOC_MAP_ALIGN_REFERENCE, _CENTRED
                              or _CENTRED_CUBIC */
    int32_t upsample_size; /* the config's upsample_size: the encoder's input side (0 unknown) */
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

/* `--align` values: "model" (AFLOC_MAP_ALIGN_MODEL), "reference", "centred" or
 * "centred-cubic"; returns 0, or prints a message and returns 2. */
int cli_parse_alignment(const char *command, const char *value, int32_t *alignment);

/* "reference", "centred" or "centred-cubic": the read-out a localize call with `alignment`
 * uses on m's model. */
const char *cli_alignment_name(const cli_model *m, int32_t alignment);

/* Loads a PNG and fills `view`; returns 0 or prints and returns 1. */
int cli_image_load(const char *command, const char *path, afloc_image **image,
                   afloc_image_view *view);

#endif /* AFLOC_CLI_MODEL_H */
