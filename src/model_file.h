/* model_file.h: the libafloc model file convention (DESIGN.md §6) on top of safetensors.h. One
 * .safetensors file holds the parameters under their checkpoint names, `__metadata__` with
 * `afloc.format` ("1") and `afloc.config` (the model config as a JSON object), and the WordPiece
 * vocabulary as the U8 tensor `tokenizer.vocab` (tokens separated by '\n'). Both checksums of the
 * writer (afloc.data_sha256, afloc.header_sha256) are required in a model file. Internal API.
 *
 * Error codes tell "damaged or foreign file" from "wrong model": a broken file is FORMAT/CORRUPT/
 * LIMIT; a file of another format version is UNSUPPORTED; a valid file whose tensors do not match
 * the expected parameter table (missing, wrong dtype or shape, unexpected extra) is SCHEMA. */
#ifndef AFLOC_MODEL_FILE_H
#define AFLOC_MODEL_FILE_H

#include "safetensors.h"

#define AFLOC_MF_FORMAT_KEY     "afloc.format"
#define AFLOC_MF_CONFIG_KEY     "afloc.config"
#define AFLOC_MF_VOCAB_TENSOR   "tokenizer.vocab"
#define AFLOC_MF_FORMAT_VERSION "1"

/* One row of the parameter table the caller expects (the table itself comes with the model). */
typedef struct afloc_mf_expected {
    const char     *name;
    afloc_st_dtype  dtype;
    int32_t         rank;
    int64_t         shape[AFLOC_ST_MAX_RANK];
    int32_t         optional; /* 1: may be absent (the caller then fills it); if present, checked */
} afloc_mf_expected;

typedef struct afloc_model_file {
    afloc_st_file *st;          /* the validated safetensors file (owns everything below)   */
    const char    *config_json; /* afloc.config, a JSON object                               */
    int32_t        vocab_index; /* index of tokenizer.vocab in st->tensors                   */
    int32_t        vocab_size;  /* number of tokens                                          */
} afloc_model_file;

/* Writes a model file atomically: `config_json` must be a JSON object (strict: no duplicate
 * keys); `vocab` holds vocab_bytes bytes of '\n'-separated, non-empty UTF-8 tokens (one final '\n'
 * allowed); `tensors` must not include tokenizer.vocab. INVALID_ARGUMENT, IO, LIMIT or
 * OUT_OF_MEMORY on failure. */
afloc_status afloc_mf_write(const char *path, const char *config_json, const unsigned char *vocab,
                            size_t vocab_bytes, const afloc_st_write_tensor *tensors, int32_t count,
                            const char *function);
afloc_status afloc_mf_write_to_memory(const char *config_json, const unsigned char *vocab,
                                      size_t vocab_bytes, const afloc_st_write_tensor *tensors,
                                      int32_t count, const char *function, unsigned char **bytes,
                                      size_t *size);

/* Reads (or parses, with `bytes` outliving the result) and validates a model file. When
 * `expected` is not NULL, the file's tensors other than tokenizer.vocab must be exactly the
 * expected ones, with the same dtypes and shapes (SCHEMA otherwise). `limits` may be NULL. */
afloc_status afloc_mf_read(const char *path, const afloc_st_limits *limits,
                           const afloc_mf_expected *expected, int32_t expected_count,
                           const char *function, afloc_model_file **out);
afloc_status afloc_mf_parse(const unsigned char *bytes, size_t size, const afloc_st_limits *limits,
                            const afloc_mf_expected *expected, int32_t expected_count,
                            const char *function, afloc_model_file **out);

/* The schema check on its own, for any validated safetensors file. */
afloc_status afloc_mf_check_schema(const afloc_st_file *file, const afloc_mf_expected *expected,
                                   int32_t expected_count, const char *function);

/* The vocabulary bytes (a pointer into the file; may be unaligned, but it is bytes). */
const unsigned char *afloc_mf_vocab(const afloc_model_file *model_file, size_t *bytes);

void afloc_mf_free(afloc_model_file *model_file);

#endif /* AFLOC_MODEL_FILE_H */
