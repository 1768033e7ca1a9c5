/* context.h: the internal shape of afloc_context (opaque in the public header). */
#ifndef AFLOC_CONTEXT_H
#define AFLOC_CONTEXT_H

#include "afloc/afloc.h"
#include "backend.h"

struct afloc_context {
    afloc_context_options       options;
    int32_t                     backend;      /* AFLOC_BACKEND_CPU or AFLOC_BACKEND_CUDA        */
    void                       *plugin;       /* dlopen handle of the CUDA plugin, or NULL      */
    const afloc_backend_table  *cuda;         /* the plugin's table, or NULL                    */
    char                        info[512];    /* afloc_context_info text                        */
};

/* Checks a plugin's compute table: -1 when complete, -2 when absent or of another size, else the
 * index (0-based, after struct_size) of the first empty entry. */
int32_t afloc_device_ops_first_missing(const afloc_device_ops *ops);

/* The device numeric mode (AFLOC_DEVICE_MATH_*) of the context's precision option: the one place
 * inference and training on CUDA read it from. */
int32_t afloc_context_device_math(const afloc_context *context);

/* Sends a message to the context's log callback, if any. */
void afloc_context_log(const afloc_context *context, int32_t level, const char *message);

#endif /* AFLOC_CONTEXT_H */
