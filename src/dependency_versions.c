/* dependency_versions.c: checks the libpng and zlib actually loaded at run time against the
 * floors of dependency_versions.h (the versions compiled against may differ from those loaded). */
#include "dependency_versions.h"

#include <png.h>
#include <stdio.h>
#include <zlib.h>

#include "error.h"

/* "1.2.13" -> 0x12d0, the layout of ZLIB_VERNUM (major, minor, revision, subrevision nibbles). */
static unsigned zlib_version_number(const char *text) {
    unsigned major = 0, minor = 0, revision = 0;
    if (sscanf(text, "%u.%u.%u", &major, &minor, &revision) < 2) return 0;
    return (major & 0xf) << 12 | (minor & 0xf) << 8 | (revision > 15 ? 15 : revision) << 4;
}

afloc_status afloc_check_png_dependencies(const char *function) {
    png_uint_32 png_version = png_access_version_number();
    const char *zlib_text = zlibVersion();
    if (png_version < AFLOC_MIN_LIBPNG_VERSION)
        return afloc_fail(AFLOC_ERR_UNSUPPORTED_ENV, "%s: libpng %u is older than the supported floor %d",
                          function, (unsigned)png_version, AFLOC_MIN_LIBPNG_VERSION);
    if (zlib_version_number(zlib_text) < AFLOC_MIN_ZLIB_VERSION)
        return afloc_fail(AFLOC_ERR_UNSUPPORTED_ENV, "%s: zlib %s is older than the supported floor 1.2.13",
                          function, zlib_text);
    return AFLOC_OK;
}
