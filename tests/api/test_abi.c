/* test_abi.c: pins the layout of every released public struct (STYLE.md §5). A failure here means
 * the ABI changed: that must be a conscious edit of this file together with a version bump. */
#include <assert.h>
#include <stddef.h>

#include "test_util.h"

static_assert(sizeof(afloc_status) == 4, "afloc_status is int-sized");
static_assert(AFLOC_OK == 0 && AFLOC_ERR_BUFFER_TOO_SMALL == 16, "status values are append-only");

static_assert(offsetof(afloc_context_options, struct_size) == 0, "struct_size first");
static_assert(offsetof(afloc_context_options, backend) == 8, "context_options.backend");
static_assert(offsetof(afloc_context_options, device_index) == 12, "context_options.device_index");
static_assert(offsetof(afloc_context_options, num_threads) == 16, "context_options.num_threads");
static_assert(offsetof(afloc_context_options, log) == 24, "context_options.log");
static_assert(offsetof(afloc_context_options, log_user) == 32, "context_options.log_user");
static_assert(offsetof(afloc_context_options, plugin_path) == 40, "context_options.plugin_path");
static_assert(offsetof(afloc_context_options, precision) == 48, "context_options.precision");
static_assert(sizeof(afloc_context_options) == 56, "context_options size");

int main(void) {
    CHECK(strcmp(afloc_version(), "0.1.0") == 0 || AFLOC_VERSION_MINOR != 1);
    return test_finish("test_abi");
}
