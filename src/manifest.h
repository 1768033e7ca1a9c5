/* manifest.h: the training manifest (issue 4, data side of the trainer): an RFC 4180 CSV with a
 * header row naming at least the columns `image` (PNG path; relative paths are resolved against
 * the manifest's folder) and `report` (MIMIC-style free text), read with validation and errors
 * that name the line and column. Internal; no public API yet. */
#ifndef AFLOC_MANIFEST_H
#define AFLOC_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

#define AFLOC_MANIFEST_MAX_BYTES ((size_t)64 << 20) /* largest manifest file         */
#define AFLOC_MANIFEST_MAX_ROWS  1000000            /* most data rows (before drops) */

/* One kept row. The strings point into the manifest's storage. */
typedef struct afloc_manifest_row {
    const char *image_path; /* resolved path, NUL-terminated UTF-8                        */
    const char *report;     /* the raw report bytes, NUL-terminated, report_len bytes     */
    size_t      report_len; /* <= AFLOC_MAX_TEXT_BYTES                                     */
    int64_t     line;       /* 1-based CSV line on which the record starts (for messages) */
} afloc_manifest_row;

typedef struct afloc_manifest {
    afloc_manifest_row *rows;  /* (count) kept rows, in file order                       */
    int32_t             count; /* >= 1 on success                                         */
    int32_t             dropped_empty; /* rows dropped because their cleaned report was empty */
    char                name[64];      /* manifest file name used in messages             */
    char               *storage;       /* owns every string of rows                       */
} afloc_manifest;

/* Parses `size` bytes of CSV (`data`, not NUL-terminated). `name` is the file name used in
 * messages ("manifest.csv line 17: unterminated quoted field"); `base_dir` (may be NULL or "")
 * is prefixed with '/' to relative image paths. A leading UTF-8 BOM is skipped; fields must be
 * valid UTF-8 without NUL bytes; every record must have the header's field count; blank lines are
 * skipped; extra columns are ignored. Rows whose report, cleaned as in MODEL.md §4.1, keeps no
 * sentence are dropped, as the reference does, and counted in (*out)->dropped_empty and
 * *dropped_empty (may be NULL). With check_files != 0 every kept image must be readable
 * (access(R_OK)). Errors: AFLOC_ERR_FORMAT (syntax, missing column, bad UTF-8, empty image
 * path, no row left), AFLOC_ERR_LIMIT (size, rows, report longer than AFLOC_MAX_TEXT_BYTES),
 * AFLOC_ERR_IO (unreadable image, naming the line and path), AFLOC_ERR_INVALID_ARGUMENT,
 * AFLOC_ERR_OUT_OF_MEMORY. Messages start with `function`. On failure *out is untouched. */
afloc_status afloc_manifest_parse(const char *data, size_t size, const char *name,
                                  const char *base_dir, int32_t check_files,
                                  afloc_manifest **out, int32_t *dropped_empty,
                                  const char *function);

/* Reads the file at `path` (at most AFLOC_MANIFEST_MAX_BYTES, else AFLOC_ERR_LIMIT; open and read
 * failures give AFLOC_ERR_IO) and parses it with base_dir = the folder of `path` and
 * check_files = 1. */
afloc_status afloc_manifest_load(const char *path, afloc_manifest **out, int32_t *dropped_empty,
                                 const char *function);

/* Releases a manifest. NULL is a no-op. */
void afloc_manifest_free(afloc_manifest *manifest);

#endif /* AFLOC_MANIFEST_H */
