/* model.h: the internal shape of afloc_model (opaque in the public header), shared by the files
 * that build it (model.c: create/load/save, init) and the files that run it (image_encoder.c,
 * text_encoder.c, localize.c). A model is immutable after creation, so many threads may run it at
 * once; every call takes its own workspace (DESIGN.md §4). */
#ifndef AFLOC_MODEL_H
#define AFLOC_MODEL_H

#include "afloc/afloc.h"
#include "backend.h"
#include "config.h"
#include "params.h"

struct afloc_inference;    /* the inference plan (folded weights, layer list), inference_plan.h */
struct afloc_device_model; /* its copy on a CUDA device, device_model.h                    */

struct afloc_model {
    const afloc_context     *context;
    const afloc_ops         *ops;        /* the backend's op table                          */
    afloc_config             config;
    afloc_param_table        table;      /* names, shapes, offsets (params.h)               */
    float                   *params;     /* table.total_floats floats, checkpoint values     */
    afloc_tokenizer         *tokenizer;  /* from the vocabulary in the model file            */
    unsigned char           *vocab;      /* the vocabulary bytes, kept for afloc_model_save  */
    size_t                   vocab_size;
    struct afloc_inference  *inference;  /* built once after create/load; never modified    */
    struct afloc_device_model *device;   /* on a CUDA context: the encoders run there       */
};

/* Pointer to the values of parameter `name`, or NULL if the table has no such tensor. */
float *afloc_model_param(const afloc_model *model, const char *name);

#endif /* AFLOC_MODEL_H */
