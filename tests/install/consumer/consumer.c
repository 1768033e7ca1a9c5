/* consumer.c: the smallest program a downstream user writes: include the header, link the
 * library, check that the header and the library agree on the version, create a CPU context. */
#include <stdio.h>

#include <afloc/afloc.h>

int main(void) {
    if (afloc_version_number() / 10000 != AFLOC_VERSION_MAJOR) {
        fprintf(stderr, "header %d.x, library %s\n", AFLOC_VERSION_MAJOR, afloc_version());
        return 1;
    }
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CPU;
    afloc_context *context = NULL;
    if (afloc_context_create(&options, &context) != AFLOC_OK) {
        fprintf(stderr, "afloc_context_create: %s\n", afloc_last_error());
        return 1;
    }
    afloc_context_free(context);
    printf("consumer linked libafloc %s\n", afloc_version());
    return 0;
}
