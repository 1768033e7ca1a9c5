/* safetensors.h: a strict reader and an atomic writer for the safetensors format (8-byte
 * little-endian header length N, N bytes of UTF-8 JSON, then the data region). Internal API.
 *
 * The reader validates everything before it touches tensor data (RELIABILITY rules 1-3, §1.5
 * S1-S24): header length against the real size and a cap, UTF-8, a lexical pre-scan of the JSON
 * (plain non-negative integers only, no control bytes, no \u0000), then cJSON, then the exact entry
 * schema, duplicate keys, dtypes, shapes with checked arithmetic, and exact contiguous coverage of
 * the data region. When `__metadata__["afloc.data_sha256"]` is present, the SHA-256 of the data
 * region must match it, and when `afloc.header_sha256` is present, the digest of the header's
 * content must match it (AFLOC_ERR_CORRUPT otherwise). The header digest covers what the data
 * digest cannot: a bit flip that keeps the JSON valid (a config number, a swapped dtype string,
 * two swapped names). It is taken over a canonical encoding, not the raw bytes, so that it can
 * live inside the header it describes (see afloc_st_header_digest).
 *
 * Decisions that differ from other parsers, on purpose (RELIABILITY rule 3):
 *  - the header must start with '{' (leading whitespace, a BOM: FORMAT), as the Rust reference's
 *    InvalidHeaderStart check does; after the closing '}' only 0x20 padding may follow;
 *  - duplicate keys at any level, unknown keys in a tensor entry, and numbers that are not plain
 *    non-negative integer literals of at most 15 digits are FORMAT (stricter than the reference);
 *  - a header that describes more data than the file holds is CORRUPT (truncated), one that
 *    leaves bytes after the last tensor is FORMAT. */
#ifndef AFLOC_SAFETENSORS_H
#define AFLOC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

#define AFLOC_ST_MAX_RANK 8                   /* hard cap on rank: the shape array size */
#define AFLOC_ST_SHA256_KEY        "afloc.data_sha256"   /* SHA-256 of the data region     */
#define AFLOC_ST_HEADER_SHA256_KEY "afloc.header_sha256" /* SHA-256 of the tensor table
                                                            and the other metadata         */

typedef enum afloc_st_dtype {
    AFLOC_ST_F64 = 0,
    AFLOC_ST_F32,
    AFLOC_ST_F16,
    AFLOC_ST_BF16,
    AFLOC_ST_I64,
    AFLOC_ST_I32,
    AFLOC_ST_I16,
    AFLOC_ST_I8,
    AFLOC_ST_U64,
    AFLOC_ST_U32,
    AFLOC_ST_U16,
    AFLOC_ST_U8,
    AFLOC_ST_BOOL,
    AFLOC_ST_DTYPE_COUNT
} afloc_st_dtype;

/* Caps applied by the reader. Exceeding one is AFLOC_ERR_LIMIT. */
typedef struct afloc_st_limits {
    size_t   max_header_bytes; /* N; default 16 MiB                                        */
    int32_t  max_tensors;      /* default 65,536                                           */
    int32_t  max_rank;         /* 0..AFLOC_ST_MAX_RANK; default 8                          */
    int64_t  max_dimension;    /* each shape entry; default 2^31 - 1 (S18)                 */
    size_t   max_name_bytes;   /* tensor names and metadata keys; default 1024             */
    uint64_t max_file_bytes;   /* afloc_st_read_file only; default 64 GiB                  */
    int32_t  verify_checksum;  /* 1: check afloc.data_sha256 when present; default 1       */
} afloc_st_limits;

/* One tensor of a parsed file. Dimensions are in 0..max_dimension. */
typedef struct afloc_st_tensor {
    char          *name;                     /* NUL-terminated UTF-8, owned by the file    */
    afloc_st_dtype dtype;
    int32_t        rank;                     /* 0 for a scalar                             */
    int64_t        shape[AFLOC_ST_MAX_RANK];
    size_t         offset;                   /* byte offset inside the data region         */
    size_t         nbytes;                   /* product(shape) * dtype size                */
} afloc_st_tensor;

typedef struct afloc_st_kv {
    const char *key;   /* NUL-terminated UTF-8 */
    const char *value; /* NUL-terminated UTF-8 */
} afloc_st_kv;

/* A validated file. Tensors are listed in data order (ascending offset). */
typedef struct afloc_st_file {
    afloc_st_tensor     *tensors;
    int32_t              tensor_count;
    int32_t             *by_name;        /* indices into tensors, sorted by name (strcmp) */
    afloc_st_kv         *metadata;       /* strings owned by the file                     */
    int32_t              metadata_count;
    const unsigned char *data;           /* the data region (may be unaligned)            */
    size_t               data_size;
    size_t               header_size;    /* N                                             */
    unsigned char       *owned;          /* the whole file, when read from disk           */
    char                *strings;        /* one block holding all names, keys and values  */
} afloc_st_file;

/* A tensor to write. `data` holds nbytes = product(shape) * dtype size bytes. */
typedef struct afloc_st_write_tensor {
    const char     *name;
    afloc_st_dtype  dtype;
    int32_t         rank;
    const int64_t  *shape;  /* rank entries; may be NULL when rank == 0 */
    const void     *data;   /* may be NULL when nbytes == 0            */
    size_t          nbytes;
} afloc_st_write_tensor;

void afloc_st_limits_default(afloc_st_limits *limits);

/* "F32", ... for a valid dtype, "?" otherwise; element size in bytes (0 for an invalid dtype). */
const char *afloc_st_dtype_name(afloc_st_dtype dtype);
size_t      afloc_st_dtype_size(afloc_st_dtype dtype);

/* Offset of the first byte of `s[0..n)` that is not strict UTF-8 (overlong forms, surrogates,
 * code points above U+10FFFF, truncated sequences, stray continuation bytes), or n if all are. */
size_t afloc_st_utf8_invalid_at(const unsigned char *s, size_t n);

/* Validates `bytes` (the whole file) and builds the tensor table. `limits` may be NULL (defaults).
 * The file keeps pointers into `bytes`, which must outlive it. Returns AFLOC_OK, FORMAT, LIMIT,
 * UNSUPPORTED, CORRUPT, OUT_OF_MEMORY or INVALID_ARGUMENT; messages start with `function` when it
 * is not NULL. On failure *out is untouched. */
afloc_status afloc_st_parse_from_memory(const unsigned char *bytes, size_t size,
                                        const afloc_st_limits *limits, afloc_st_file **out);
afloc_status afloc_st_parse_named(const unsigned char *bytes, size_t size,
                                  const afloc_st_limits *limits, const char *function,
                                  afloc_st_file **out);

/* Reads and validates the file at `path`. The header length is checked against the file size
 * and the cap before anything is allocated; then the whole file (<= max_file_bytes) is read
 * and parsed as above. IO on open/read failures. */
afloc_status afloc_st_read_file(const char *path, const afloc_st_limits *limits,
                                const char *function, afloc_st_file **out);

void afloc_st_free(afloc_st_file *file);

/* Index of the tensor called `name`, or -1. O(log n). */
int32_t afloc_st_find(const afloc_st_file *file, const char *name);

/* Value of metadata `key`, or NULL. */
const char *afloc_st_metadata(const afloc_st_file *file, const char *key);

/* Copies the bytes of tensor `index` into `dst` (capacity dst_size >= nbytes; any alignment,
 * since the data region may be unaligned: never cast a pointer into it). */
afloc_status afloc_st_tensor_copy(const afloc_st_file *file, int32_t index, void *dst,
                                  size_t dst_size);

/* Serializes a safetensors file: header built with cJSON, `__metadata__` = `metadata` plus
 * afloc.data_sha256, padded with spaces to a multiple of 8, then the tensors' data contiguously in
 * the given order. Names must be valid (1..1024 bytes of UTF-8, no control characters, not
 * "__metadata__"), unique, and nbytes must match the shape: INVALID_ARGUMENT otherwise. The
 * writer also adds afloc.header_sha256; callers may not pass either checksum key.
 * afloc_st_write replaces `path` atomically and durably (temp file, fsync, rename, fsync of the
 * directory), then removes stale temp files of dead processes left by earlier interrupted saves
 * of the same path. afloc_st_write_to_memory returns a new buffer (free with afloc_free). */
afloc_status afloc_st_write(const char *path, const afloc_st_write_tensor *tensors, int32_t count,
                            const afloc_st_kv *metadata, int32_t metadata_count,
                            const char *function);
afloc_status afloc_st_write_to_memory(const afloc_st_write_tensor *tensors, int32_t count,
                                      const afloc_st_kv *metadata, int32_t metadata_count,
                                      const char *function, unsigned char **bytes, size_t *size);

/* The lexical pre-scan of a JSON object text (safetensors_json.c): starts with '{', only 0x20
 * after the closing '}', no raw control bytes, no \u0000, valid escapes, true/false/null only,
 * numbers per the JSON grammar (integers_only: plain non-negative integers of <= 15 digits),
 * depth <= 64, at most max_nodes values (LIMIT). *members receives the number of top-level
 * members. FORMAT otherwise. The text must already be valid UTF-8. */
afloc_status afloc_st_json_prescan(const char *s, size_t n, int integers_only, size_t max_nodes,
                                   size_t *members, const char *function);

/* FORMAT if two members of `object` share a key (cJSON keeps both); `where` names it. */
struct cJSON;
afloc_status afloc_st_json_unique_keys(const struct cJSON *object, const char *where,
                                       const char *function);

/* Strict JSON for other file parts (the model config): `text` must be valid UTF-8, be a JSON
 * object that passes the lexical pre-scan (any JSON number allowed here) and have no duplicate
 * keys in any object. *out is a cJSON tree (free with cJSON_Delete),
 * passed as void * so this header does not need cJSON's. FORMAT or OUT_OF_MEMORY otherwise. */
afloc_status afloc_st_json_parse_strict(const char *text, size_t length, const char *function,
                                        void **out);

/* The header digest: SHA-256 over, for each tensor in name order (strcmp), the length-prefixed
 * name, dtype name, rank, dims, begin and end offsets; then for each metadata entry in key order,
 * except the two checksum keys, the length-prefixed key and value. Lengths and numbers are 8-byte
 * little-endian. `hex` receives 64 lowercase hex digits and a NUL. */
afloc_status afloc_st_header_digest(const afloc_st_tensor *tensors, int32_t count, const afloc_st_kv *metadata,
                                    int32_t metadata_count, char hex[65], const char *function);

/* Test hook (tests/safetensors): when > 0, the writer's data sink fails with an I/O error once
 * this many bytes have been written (0 = off). Process-global; single-threaded tests only. */
void afloc_st_test_fail_write_after(size_t bytes);

#endif /* AFLOC_SAFETENSORS_H */
