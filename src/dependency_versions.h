/* dependency_versions.h: run-time version floors for the libraries that parse untrusted input
 * (RELIABILITY §2.4 step 9, T26). Below a floor, the functions that would use the library return
 * AFLOC_ERR_UNSUPPORTED_ENV instead of feeding it hostile bytes. */
#ifndef AFLOC_DEPENDENCY_VERSIONS_H
#define AFLOC_DEPENDENCY_VERSIONS_H

#include "afloc/afloc.h"

/* Floors: the Debian 12 security-maintained packages libpng16-16 1.6.39-2+deb12u* and zlib1g
 * 1.2.13. Debian backports CVE fixes without changing the upstream version number, so a floor
 * at upstream's latest release (libpng 1.6.58, zlib 1.3.1, as RELIABILITY.md proposes) would
 * refuse every patched Debian system; the package revision, not the version number, is what
 * carries the fixes there. Builds that link libpng/zlib statically should pin newer releases. */
#define AFLOC_MIN_LIBPNG_VERSION 10639 /* png_access_version_number() for 1.6.39 */
#define AFLOC_MIN_ZLIB_VERSION 0x12d0  /* zlibVersion() 1.2.13 as 0xMmpp: 1.2.13 -> 0x12d0 */

/* AFLOC_OK when the loaded libpng and zlib are at or above the floors, otherwise
 * AFLOC_ERR_UNSUPPORTED_ENV with a message naming `function` and both versions. */
afloc_status afloc_check_png_dependencies(const char *function);

#endif /* AFLOC_DEPENDENCY_VERSIONS_H */
