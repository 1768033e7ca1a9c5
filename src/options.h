/* options.h: the struct_size convention for options structs (STYLE.md §5). A caller compiled
 * against an older header passes a smaller struct; the library reads and writes only the bytes
 * that fit, and uses its defaults for the rest. */
#ifndef AFLOC_OPTIONS_H
#define AFLOC_OPTIONS_H

#include <stddef.h>
#include <string.h>

#include "error.h"

/* Writes the defaults into the caller's struct, only the bytes inside caller_size. */
static inline void afloc_options_write(void *caller, size_t caller_size, const void *defaults,
                                       size_t full_size) {
    memcpy(caller, defaults, caller_size < full_size ? caller_size : full_size);
    memcpy(caller, &caller_size, sizeof caller_size); /* struct_size stays what the caller set */
}

/* The body of every afloc_*_options_default(): validates the caller's struct_size (at least the
 * size field, at most 1 MiB) and writes the defaults that fit. */
static inline afloc_status afloc_options_fill_defaults(void *caller, const void *defaults,
                                                       size_t full_size, const char *function) {
    if (!caller) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: options is NULL", function);
    size_t caller_size;
    memcpy(&caller_size, caller, sizeof caller_size);
    if (caller_size < sizeof(size_t) || caller_size > (1u << 20))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: options struct_size %zu is not a plausible size (expected %zu)",
                          function, caller_size, full_size);
    afloc_options_write(caller, caller_size, defaults, full_size);
    return AFLOC_OK;
}

/* Produces the full options the library uses: `defaults`, overwritten by the caller's bytes that
 * fit. caller == NULL means all defaults. A struct_size smaller than the size field itself, or
 * larger than any version could have defined (1 MiB), is refused. */
static inline afloc_status afloc_options_read(void *full, size_t full_size, const void *caller,
                                              const void *defaults, const char *function) {
    memcpy(full, defaults, full_size);
    if (!caller) return AFLOC_OK;
    size_t caller_size;
    memcpy(&caller_size, caller, sizeof caller_size);
    if (caller_size < sizeof(size_t) || caller_size > (1u << 20))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: options struct_size %zu is not a plausible size (expected %zu)",
                          function, caller_size, full_size);
    memcpy(full, caller, caller_size < full_size ? caller_size : full_size);
    memcpy(full, &full_size, sizeof full_size);
    return AFLOC_OK;
}

#endif /* AFLOC_OPTIONS_H */
