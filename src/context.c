/* context.c: context creation and backend selection. CPU is always available; CUDA comes from the
 * plugin libafloc_cuda.so, found beside libafloc.so (or at options.plugin_path), loaded with
 * dlopen and checked for its ABI version and a usable device before it is accepted
 * (DESIGN.md §2). AUTO falls back to the CPU and records why in the context's info text. */
#define _GNU_SOURCE
#include "context.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "options.h"

static const afloc_context_options default_options = {
    .struct_size  = sizeof(afloc_context_options),
    .backend      = AFLOC_BACKEND_AUTO,
    .device_index = 0,
    .num_threads  = 0,
    .log          = NULL,
    .log_user     = NULL,
    .plugin_path  = NULL,
    .precision    = AFLOC_PRECISION_FP32,
};

afloc_status afloc_context_options_default(afloc_context_options *options) {
    return afloc_options_fill_defaults(options, &default_options, sizeof default_options,
                                       "afloc_context_options_default");
}

void afloc_context_log(const afloc_context *context, int32_t level, const char *message) {
    if (context && context->options.log) context->options.log(context->options.log_user, level, message);
}

/* The plugin's default location: the directory holding libafloc.so itself. */
static void default_plugin_path(char *path, size_t capacity) {
    Dl_info self;
    snprintf(path, capacity, "%s", AFLOC_CUDA_PLUGIN_FILE);
    if (dladdr((void *)&afloc_context_create, &self) && self.dli_fname) {
        const char *slash = strrchr(self.dli_fname, '/');
        if (slash)
            snprintf(path, capacity, "%.*s/%s", (int)(slash - self.dli_fname), self.dli_fname,
                     AFLOC_CUDA_PLUGIN_FILE);
    }
}

int32_t afloc_device_ops_first_missing(const afloc_device_ops *ops) {
    if (!ops || ops->struct_size != sizeof(afloc_device_ops)) return -2;
    /* After struct_size the table holds only function pointers (device_ops.h). */
    const size_t first = offsetof(afloc_device_ops, create);
    const size_t count = (sizeof(afloc_device_ops) - first) / sizeof(void (*)(void));
    for (size_t i = 0; i < count; i++) {
        void (*entry)(void);
        memcpy(&entry, (const char *)ops + first + i * sizeof entry, sizeof entry);
        if (!entry) return (int32_t)i;
    }
    return -1;
}

/* Tries to load the CUDA plugin and find a device. On failure returns the status and writes the
 * reason into `why`; on success fills context->plugin/cuda and the info text. */
static afloc_status load_cuda(afloc_context *context, char *why, size_t why_capacity) {
    char path[PATH_MAX];
    if (context->options.plugin_path)
        snprintf(path, sizeof path, "%s", context->options.plugin_path);
    else
        default_plugin_path(path, sizeof path);

    if (strchr(path, '/') && access(path, F_OK) != 0) {
        snprintf(why, why_capacity, "no CUDA plugin file at %s (built without CUDA?)", path);
        return AFLOC_ERR_BACKEND_UNAVAILABLE;
    }
    void *plugin = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!plugin) {
        const char *reason = dlerror();
        snprintf(why, why_capacity, "CUDA plugin %s could not be loaded: %s", path,
                 reason ? reason : "unknown reason");
        return AFLOC_ERR_BACKEND_UNAVAILABLE;
    }
    afloc_backend_table_fn get_table;
    *(void **)&get_table = dlsym(plugin, AFLOC_CUDA_PLUGIN_SYMBOL);
    const afloc_backend_table *table = get_table ? get_table() : NULL;
    if (!table) {
        snprintf(why, why_capacity, "%s has no backend table (symbol %s)", path,
                 AFLOC_CUDA_PLUGIN_SYMBOL);
        dlclose(plugin);
        return AFLOC_ERR_ABI_MISMATCH;
    }
    if (table->abi_version != AFLOC_BACKEND_ABI_VERSION) {
        snprintf(why, why_capacity, "CUDA plugin %s has backend ABI version %u, libafloc expects %u",
                 path, (unsigned)table->abi_version, (unsigned)AFLOC_BACKEND_ABI_VERSION);
        dlclose(plugin);
        return AFLOC_ERR_ABI_MISMATCH;
    }
    int32_t missing = afloc_device_ops_first_missing(table->device);
    if (missing != -1) {
        snprintf(why, why_capacity, "CUDA plugin %s has an incomplete compute table (entry %d empty)",
                 path, (int)missing);
        dlclose(plugin);
        return AFLOC_ERR_ABI_MISMATCH;
    }
    int32_t count = 0;
    char reason[256] = "";
    int32_t rc = table->device_count(&count, reason, sizeof reason);
    if (rc != AFLOC_PLUGIN_OK || count <= context->options.device_index) {
        if (rc == AFLOC_PLUGIN_NO_DRIVER)
            snprintf(why, why_capacity, "no NVIDIA driver: %s", reason);
        else if (rc == AFLOC_PLUGIN_NO_DEVICE || (rc == AFLOC_PLUGIN_OK && count == 0))
            snprintf(why, why_capacity, "no CUDA device: %s", reason[0] ? reason : "0 devices");
        else if (rc == AFLOC_PLUGIN_OK)
            snprintf(why, why_capacity, "device_index %d requested, %d CUDA device(s) present",
                     (int)context->options.device_index, (int)count);
        else
            snprintf(why, why_capacity, "CUDA device query failed: %s", reason);
        dlclose(plugin);
        return AFLOC_ERR_BACKEND_UNAVAILABLE;
    }
    char device[256] = "";
    table->device_describe(context->options.device_index, device, sizeof device);
    context->plugin = plugin;
    context->cuda = table;
    context->backend = AFLOC_BACKEND_CUDA;
    snprintf(context->info, sizeof context->info, "backend: cuda (plugin %s); device %d: %s; precision %s",
             path, (int)context->options.device_index, device,
             context->options.precision == AFLOC_PRECISION_BF16 ? "bf16" : "fp32");
    return AFLOC_OK;
}

afloc_status afloc_context_create(const afloc_context_options *options, afloc_context **out) {
    afloc_context_options full;
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_context_create: out is NULL");
    AFLOC_TRY(afloc_options_read(&full, sizeof full, options, &default_options,
                                 "afloc_context_create"));
    if (full.backend < AFLOC_BACKEND_AUTO || full.backend > AFLOC_BACKEND_CUDA)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_context_create: backend %d is not an afloc_backend value",
                          (int)full.backend);
    if (full.precision != AFLOC_PRECISION_FP32 && full.precision != AFLOC_PRECISION_BF16)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_context_create: precision %d is not an afloc_precision value",
                          (int)full.precision);
    if (full.device_index < 0 || full.num_threads < 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "afloc_context_create: device_index %d / num_threads %d must be >= 0",
                          (int)full.device_index, (int)full.num_threads);

    afloc_context *context = afloc_calloc(1, sizeof *context);
    if (!context)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "afloc_context_create: out of memory (%zu bytes)",
                          sizeof *context);
    context->options = full;
    context->options.plugin_path = NULL; /* only read during this call */
    context->backend = AFLOC_BACKEND_CPU;

    if (full.backend != AFLOC_BACKEND_CPU) {
        char why[400];
        context->options.plugin_path = full.plugin_path;
        afloc_status status = load_cuda(context, why, sizeof why);
        context->options.plugin_path = NULL;
        if (status != AFLOC_OK) {
            if (full.backend == AFLOC_BACKEND_CUDA) {
                afloc_free(context);
                return afloc_fail(status, "afloc_context_create: CUDA backend unavailable: %s", why);
            }
            snprintf(context->info, sizeof context->info,
                     "backend: cpu (AUTO fell back to CPU: %s)", why);
            afloc_context_log(context, 1, context->info);
        }
    } else {
        snprintf(context->info, sizeof context->info, "backend: cpu (requested)");
    }
    *out = context;
    return AFLOC_OK;
}

void afloc_context_free(afloc_context *context) {
    if (!context) return;
    if (context->plugin) dlclose(context->plugin);
    afloc_free(context);
}

afloc_status afloc_context_backend(const afloc_context *context, int32_t *backend) {
    if (!context || !backend)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_context_backend: %s is NULL",
                          context ? "backend" : "context");
    *backend = context->backend;
    return AFLOC_OK;
}

afloc_status afloc_context_info(const afloc_context *context, char *buffer, size_t capacity,
                                size_t *needed) {
    if (!context) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_context_info: context is NULL");
    size_t size = strlen(context->info) + 1;
    if (needed) *needed = size;
    if (!buffer) return AFLOC_OK;
    if (capacity < size)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL,
                          "afloc_context_info: capacity %zu, %zu bytes needed", capacity, size);
    memcpy(buffer, context->info, size);
    return AFLOC_OK;
}

int32_t afloc_context_device_math(const afloc_context *context) {
    return context->options.precision == AFLOC_PRECISION_BF16 ? AFLOC_DEVICE_MATH_BF16
                                                               : AFLOC_DEVICE_MATH_FP32;
}
