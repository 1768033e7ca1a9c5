/* backend.h: the table of functions a compute backend provides. The CPU backend lives in src/cpu/,
 * the CUDA backend is the plugin libafloc_cuda.so (kernels/), loaded with dlopen so that
 * libafloc.so never links CUDA (DESIGN.md §2). The plugin exports one symbol,
 * AFLOC_CUDA_PLUGIN_SYMBOL, returning its table; the first field is abi_version, which the loader
 * checks before reading anything else.
 *
 * ABI version history: 1 = device query only (foundation). Op entries are appended by later
 * versions, and every append bumps AFLOC_BACKEND_ABI_VERSION. */
#ifndef AFLOC_BACKEND_H
#define AFLOC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define AFLOC_BACKEND_ABI_VERSION 1u
#define AFLOC_CUDA_PLUGIN_FILE "libafloc_cuda.so"
#define AFLOC_CUDA_PLUGIN_SYMBOL "afloc_cuda_backend_table"

/* Results of the plugin's device query. */
enum {
    AFLOC_PLUGIN_OK        = 0,
    AFLOC_PLUGIN_NO_DRIVER = 1, /* no NVIDIA driver, or one too old for the runtime */
    AFLOC_PLUGIN_NO_DEVICE = 2, /* driver present, no CUDA device visible           */
    AFLOC_PLUGIN_ERROR     = 3  /* anything else; the message says what            */
};

typedef struct afloc_backend_table {
    uint32_t    abi_version; /* must stay the first field: AFLOC_BACKEND_ABI_VERSION */
    uint32_t    struct_size; /* sizeof(afloc_backend_table) as the plugin saw it     */
    const char *name;        /* "cuda"                                               */

    /* Number of usable devices in *count. Returns an AFLOC_PLUGIN_* code and, unless OK, a
     * NUL-terminated reason in message[capacity]. Never touches the host's current device. */
    int32_t (*device_count)(int32_t *count, char *message, size_t capacity);

    /* One line about device `ordinal` (name, compute capability, memory, runtime/driver
     * versions). Returns an AFLOC_PLUGIN_* code. */
    int32_t (*device_describe)(int32_t ordinal, char *message, size_t capacity);
} afloc_backend_table;

typedef const afloc_backend_table *(*afloc_backend_table_fn)(void);

#endif /* AFLOC_BACKEND_H */
