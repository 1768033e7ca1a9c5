/* test_cuda_table.c: the built plugin's table is complete (every device op filled, ABI version
 * and sizes as the core expects). Needs no device, so it runs in CI wherever the plugin is built;
 * skips (77) when it was not. */
#include <dlfcn.h>

#include "backend.h"
#include "cuda_test.h"

int main(void) {
    char path[4200];
    cuda_test_plugin_path(path, sizeof path);
    if (access(path, R_OK) != 0) {
        printf("SKIP: no CUDA plugin at %s (built without CUDA)\n", path);
        return TEST_SKIP;
    }
    void *plugin = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!plugin) {
        /* Built but not loadable here means cuBLAS/cuDNN are missing: a broken build. */
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return 1;
    }
    afloc_backend_table_fn get_table;
    *(void **)&get_table = dlsym(plugin, AFLOC_CUDA_PLUGIN_SYMBOL);
    CHECK(get_table != NULL);
    const afloc_backend_table *table = get_table ? get_table() : NULL;
    CHECK(table != NULL);
    if (table) {
        CHECK(table->abi_version == AFLOC_BACKEND_ABI_VERSION);
        CHECK(table->struct_size == sizeof(afloc_backend_table));
        CHECK(table->device != NULL);
        int32_t missing = afloc_device_ops_first_missing(table->device);
        if (missing != -1) fprintf(stderr, "device table entry %d is empty (-2: wrong size)\n", (int)missing);
        CHECK(missing == -1);
        size_t entries = (sizeof(afloc_device_ops) - offsetof(afloc_device_ops, create)) / sizeof(void (*)(void));
        printf("plugin %s: ABI %u, %zu device entries, first missing %d\n", path,
               (unsigned)table->abi_version, entries, (int)missing);
    }
    dlclose(plugin);
    return test_finish("test_cuda_table");
}
