/* test_context.c: context creation and backend selection. On a machine without a GPU (CI), CUDA
 * must be refused with AFLOC_ERR_BACKEND_UNAVAILABLE and a message naming the cause, and AUTO must
 * fall back to the CPU and say why. Also: options struct_size handling, NULL arguments, info
 * buffer sizing, status strings. */
#include <stdint.h>

#include "test_util.h"

static void test_cpu(void) {
    afloc_context *context = NULL;
    CHECK_STATUS(afloc_context_create(NULL, &context), AFLOC_OK);
    int32_t backend = -1;
    CHECK_STATUS(afloc_context_backend(context, &backend), AFLOC_OK);
    CHECK(backend == AFLOC_BACKEND_CPU || backend == AFLOC_BACKEND_CUDA);
    afloc_context_free(context);

    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    CHECK_STATUS(afloc_context_options_default(&options), AFLOC_OK);
    CHECK(options.backend == AFLOC_BACKEND_AUTO);
    options.backend = AFLOC_BACKEND_CPU;
    context = NULL;
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_OK);
    CHECK_STATUS(afloc_context_backend(context, &backend), AFLOC_OK);
    CHECK(backend == AFLOC_BACKEND_CPU);
    size_t needed = 0;
    CHECK_STATUS(afloc_context_info(context, NULL, 0, &needed), AFLOC_OK);
    CHECK(needed > 1);
    char small[4];
    CHECK_STATUS(afloc_context_info(context, small, sizeof small, &needed), AFLOC_ERR_BUFFER_TOO_SMALL);
    char info[512];
    CHECK_STATUS(afloc_context_info(context, info, sizeof info, NULL), AFLOC_OK);
    CHECK(strstr(info, "cpu") != NULL);
    afloc_context_free(context);
}

/* An old caller: a struct_size covering only struct_size and backend gets defaults for the rest. */
static void test_old_struct_size(void) {
    afloc_context_options options;
    memset(&options, 0xAB, sizeof options); /* garbage beyond the old size must not be read */
    options.struct_size = offsetof(afloc_context_options, device_index);
    options.backend = AFLOC_BACKEND_CPU;
    afloc_context *context = NULL;
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_OK);
    afloc_context_free(context);

    /* Defaults for an old caller fill only its fields and keep its struct_size. */
    memset(&options, 0xAB, sizeof options);
    options.struct_size = offsetof(afloc_context_options, device_index);
    CHECK_STATUS(afloc_context_options_default(&options), AFLOC_OK);
    CHECK(options.struct_size == offsetof(afloc_context_options, device_index));
    CHECK(options.backend == AFLOC_BACKEND_AUTO);
    CHECK(options.device_index == (int32_t)0xABABABAB); /* beyond the old size: untouched */

    options.struct_size = 0;
    context = (afloc_context *)&options; /* sentinel: must stay untouched on failure */
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(context == (afloc_context *)&options);
}

static void test_cuda_unavailable(void) {
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CUDA;
    afloc_context *context = NULL;
    afloc_status status = afloc_context_create(&options, &context);
    if (status == AFLOC_OK) {
        printf("a CUDA device is present; the refusal path is tested with a missing plugin only\n");
        afloc_context_free(context);
    } else {
        CHECK(status == AFLOC_ERR_BACKEND_UNAVAILABLE);
        const char *message = afloc_last_error();
        printf("CUDA refused as expected: %s\n", message);
        CHECK(strstr(message, "no CUDA plugin file") || strstr(message, "no NVIDIA driver") ||
              strstr(message, "no CUDA device") || strstr(message, "could not be loaded"));
        CHECK(context == NULL);
    }

    /* A plugin path that does not exist: the cause is "no plugin file", naming the path. */
    options.plugin_path = "/nonexistent/libafloc_cuda.so";
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_ERR_BACKEND_UNAVAILABLE);
    CHECK(strstr(afloc_last_error(), "no CUDA plugin file at /nonexistent/libafloc_cuda.so"));

    /* A file that is not a plugin: dlopen refuses, and the message says so. */
    options.plugin_path = "/etc/hostname";
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_ERR_BACKEND_UNAVAILABLE);
    CHECK(strstr(afloc_last_error(), "could not be loaded"));

    /* AUTO with the missing plugin falls back to CPU and reports why. */
    options.backend = AFLOC_BACKEND_AUTO;
    options.plugin_path = "/nonexistent/libafloc_cuda.so";
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_OK);
    int32_t backend = -1;
    afloc_context_backend(context, &backend);
    CHECK(backend == AFLOC_BACKEND_CPU);
    char info[512];
    afloc_context_info(context, info, sizeof info, NULL);
    printf("AUTO: %s\n", info);
    CHECK(strstr(info, "fell back to CPU") && strstr(info, "no CUDA plugin file"));
    afloc_context_free(context);
}

static void test_misuse(void) {
    CHECK_STATUS(afloc_context_create(NULL, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_context_backend(NULL, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_context_info(NULL, NULL, 0, NULL), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(afloc_context_options_default(NULL), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = 7;
    afloc_context *context = NULL;
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(afloc_last_error(), "backend 7"));
    CHECK(strlen(afloc_last_error()) <= 255);
    /* precision: only the two afloc_precision values; bf16 on a CPU context is accepted (it
     * computes fp32, as the header says) */
    options.backend = AFLOC_BACKEND_CPU;
    CHECK(options.precision == AFLOC_PRECISION_FP32);
    options.precision = 2;
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(afloc_last_error(), "precision 2"));
    options.precision = -1;
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_ERR_INVALID_ARGUMENT);
    options.precision = AFLOC_PRECISION_BF16;
    CHECK_STATUS(afloc_context_create(&options, &context), AFLOC_OK);
    afloc_context_free(context);
    context = NULL;
    afloc_context_free(NULL);

    for (int s = 0; s <= AFLOC_ERR_BUFFER_TOO_SMALL; s++)
        CHECK(strncmp(afloc_status_string((afloc_status)s), "AFLOC_", 6) == 0 &&
              strcmp(afloc_status_string((afloc_status)s), "AFLOC_STATUS_UNKNOWN") != 0);
    CHECK(strcmp(afloc_status_string((afloc_status)9999), "AFLOC_STATUS_UNKNOWN") == 0);
    CHECK(afloc_version_number() ==
          AFLOC_VERSION_MAJOR * 10000 + AFLOC_VERSION_MINOR * 100 + AFLOC_VERSION_PATCH);
}

int main(void) {
    test_cpu();
    test_old_struct_size();
    test_cuda_unavailable();
    test_misuse();
    return test_finish("test_context");
}
