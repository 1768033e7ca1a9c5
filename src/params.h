/* params.h: the parameter table. One function builds, from a config, the list of every tensor of
 * the model: its name (the official checkpoint key, MODEL.md §10.2, without the "afloc." prefix),
 * shape and offset in the model's single parameter buffer. That one table drives allocation,
 * model-file load and save, the converter's checks, BatchNorm folding and the per-tensor test
 * comparisons; nothing else lists the tensors again (STYLE.md §6).
 *
 * Buffers not trained and not needed by libafloc (num_batches_tracked, embeddings.position_ids)
 * are not in the table; the converter drops them, and afloc_model_load refuses a file holding them
 * (AFLOC_ERR_SCHEMA, unexpected tensor). BatchNorm running statistics are in
 * it (they are state the forward pass uses). */
#ifndef AFLOC_PARAMS_H
#define AFLOC_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "config.h"

#define AFLOC_PARAM_NAME_MAX 96
#define AFLOC_PARAM_MAX_RANK 4

/* The position term's tensor (config local_position, libafloc's, not in the paper), (D, 2). */
#define AFLOC_LOCAL_POSITION_TENSOR "img_encoder.local_position.weight"

typedef enum afloc_param_kind {
    AFLOC_PARAM_WEIGHT       = 0, /* conv/linear weight, embedding table        */
    AFLOC_PARAM_BIAS         = 1, /* linear bias                                */
    AFLOC_PARAM_NORM_WEIGHT  = 2, /* BatchNorm γ or LayerNorm weight            */
    AFLOC_PARAM_NORM_BIAS    = 3, /* BatchNorm β or LayerNorm bias              */
    AFLOC_PARAM_RUNNING_MEAN = 4, /* BatchNorm running mean (not trained)       */
    AFLOC_PARAM_RUNNING_VAR  = 5  /* BatchNorm running var (not trained)        */
} afloc_param_kind;

typedef struct afloc_param {
    char    name[AFLOC_PARAM_NAME_MAX]; /* e.g. "img_encoder.model.layer1.0.conv1.weight" */
    int32_t kind;                       /* afloc_param_kind                               */
    int32_t rank;
    int64_t shape[AFLOC_PARAM_MAX_RANK];
    size_t  offset;                     /* in floats, from the start of the buffer        */
    size_t  count;                      /* product of shape                               */
    int64_t fan_in;                     /* for PyTorch's default init (0 when n/a)        */
} afloc_param;

typedef struct afloc_param_table {
    afloc_param *params; /* afloc_malloc'ed */
    int32_t      count;
    size_t       total_floats;
} afloc_param_table;

/* Builds the table for `config` (validated). AFLOC_ERR_OUT_OF_MEMORY or _INVALID_ARGUMENT. */
afloc_status afloc_params_build(afloc_param_table *table, const afloc_config *config);
void         afloc_params_free(afloc_param_table *table);

/* Index of `name` in the table, or -1. */
int32_t afloc_params_find(const afloc_param_table *table, const char *name);

#endif /* AFLOC_PARAMS_H */
