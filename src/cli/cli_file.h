/* cli_file.h: reading a whole file, as the tool's text inputs (vocabulary, config, CSV
 * manifests, metrics.json) need it. */
#ifndef AFLOC_CLI_FILE_H
#define AFLOC_CLI_FILE_H

#include <stddef.h>

/* The whole of `path` in a malloc'd buffer with a '\0' after its `*size` bytes (the file may hold
 * NULs of its own: callers that want text check). NULL when the file cannot be opened or read or
 * memory runs out, with errno set to say why (EIO for a read error that left none) and `*size`
 * untouched. Prints nothing. */
char *cli_read_file(const char *path, size_t *size);

#endif
