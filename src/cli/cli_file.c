/* cli_file.c: cli_read_file (cli_file.h). The file is read in doubling chunks rather than sized
 * with fseek/ftell first, so pipes and other unseekable files (a vocabulary from a process
 * substitution) work too. */
#include "cli_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *cli_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *data = malloc(cap + 1);
    int error = data ? 0 : ENOMEM;
    while (data) {
        n += fread(data + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(data, 2 * cap + 1);
        if (!bigger) {
            error = ENOMEM;
            free(data);
            data = NULL;
            break;
        }
        data = bigger;
        cap *= 2;
    }
    if (data && ferror(f)) {
        error = errno ? errno : EIO;
        free(data);
        data = NULL;
    }
    fclose(f);
    if (!data) {
        errno = error;
        return NULL;
    }
    data[n] = '\0';
    *size = n;
    return data;
}
