/* config.h: the model configuration. Every size of the model is a value here, so tests and the
 * demo run small models and a converted official checkpoint runs the paper's (DESIGN.md §7). It
 * travels as JSON inside the model file ("afloc.config"); afloc_config_default() gives the paper's
 * values (MODEL.md §1). */
#ifndef AFLOC_CONFIG_H
#define AFLOC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

typedef struct afloc_config {
    /* image encoder: torchvision ResNet (Bottleneck, expansion 4), MODEL.md §3 */
    int32_t resnet_blocks[4];   /* blocks per stage; ResNet-50: 3, 4, 6, 3                  */
    int32_t resnet_planes[4];   /* torchvision `planes` per stage; 64, 128, 256, 512: a
                                   stage outputs 4·planes channels                          */
    int32_t resnet_base_width;  /* torchvision width_per_group; 64: the bottleneck width is
                                   planes·base_width/64                                     */
    int32_t resnet_stem;        /* conv1 output channels (torchvision: 64)                  */
    int32_t input_channels;     /* conv1 input channels; 3 (gray replicated)                */
    float   bn_eps;             /* 1e-5                                                     */
    int32_t image_size;         /* letterbox side; 224                                      */
    int32_t crop_size;          /* centre crop; 224                                         */
    int32_t upsample_size;      /* encoder input resize (align_corners=True); 299           */
    int32_t use_local_f_embedder; /* 1 if img_encoder.local_f_embedder exists (MODEL §10.4) */
    /* text encoder: HF BertModel, MODEL.md §5 */
    int32_t bert_layers;        /* 12                                                       */
    int32_t bert_hidden;        /* 768                                                      */
    int32_t bert_heads;         /* 12                                                       */
    int32_t bert_intermediate;  /* 3072                                                     */
    int32_t vocab_size;         /* 28996                                                    */
    int32_t max_positions;      /* 512                                                      */
    int32_t type_vocab_size;    /* 2                                                        */
    float   layernorm_eps;      /* 1e-12                                                    */
    int32_t last_n_layers;      /* 4                                                        */
    int32_t token_length;       /* tokenizer max_length (word_num); 97                      */
    int32_t captions_per_image; /* caption-cache word stop (MODEL §4.3); 5                  */
    /* joint space and losses */
    int32_t embedding_dim;      /* 768; must equal bert_hidden (no text projection, §5.7)   */
    float   temp1, temp2, temp3; /* 4, 5, 10                                                */
    /* localization map (MODEL §8.2) */
    float   gaussian_sigma;     /* 1.5                                                      */
    float   gaussian_truncate;  /* 4.0                                                      */
    int32_t map_alignment;      /* 0: the reference read-out (bilinear align_corners=False,
                                   §8.3); 1: centred on the layer-3 receptive fields
                                   (cpu/bilinear_sample.c); 2: centred and bicubic
                                   (cpu/bicubic_sample.c). A default for localize calls.     */
    int32_t local_position;     /* 1: img_encoder.local_position.weight (D, 2) adds a learned
                                   linear function of each cell's position to the deep-local
                                   embedding (cpu/position.c; not in the paper). 0 default.  */
} afloc_config;

/* The paper's configuration (ResNet-50, BERT-base, 768, 224, 97, temperatures 4/5/10). */
void afloc_config_default(afloc_config *config);

/* Parses a JSON object into `config`: starts from the defaults, overrides the keys present
 * (names as the field names above; resnet_blocks/resnet_planes as 4-element arrays), and rejects
 * unknown keys, wrong types and out-of-range or inconsistent values with AFLOC_ERR_FORMAT or
 * AFLOC_ERR_INVALID_ARGUMENT naming the key. `function` starts the message. */
afloc_status afloc_config_from_json(afloc_config *config, const char *json, size_t json_len,
                                    const char *function);

/* Writes `config` as a JSON object (all keys) into a new NUL-terminated string (afloc_free). */
afloc_status afloc_config_to_json(const afloc_config *config, char **json, const char *function);

/* Derived spatial sizes for a config: layer2/layer3/layer4 output sides (38/19/10 by default). */
void afloc_config_feature_sides(const afloc_config *config, int32_t *layer2, int32_t *layer3,
                                int32_t *layer4);

#endif /* AFLOC_CONFIG_H */
