/* version.c: the run-time version, set from the compile-time AFLOC_VERSION_* macros. */
#include "afloc/afloc.h"

#define AFLOC_STR2(x) #x
#define AFLOC_STR(x) AFLOC_STR2(x)

const char *afloc_version(void) {
    return AFLOC_STR(AFLOC_VERSION_MAJOR) "." AFLOC_STR(AFLOC_VERSION_MINOR) "." AFLOC_STR(
        AFLOC_VERSION_PATCH);
}

int32_t afloc_version_number(void) {
    return AFLOC_VERSION_MAJOR * 10000 + AFLOC_VERSION_MINOR * 100 + AFLOC_VERSION_PATCH;
}
