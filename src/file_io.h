/* file_io.h: the library's two file operations. Reading is bounded (the size is checked against a
 * cap before the buffer is allocated) and writing is atomic and durable (temp file in the same
 * directory, fsync, rename, fsync of the directory; RELIABILITY rule 9). */
#ifndef AFLOC_FILE_IO_H
#define AFLOC_FILE_IO_H

#include <stddef.h>

#include "afloc/afloc.h"

/* Reads the whole regular file at `path` into a new buffer (free with afloc_free). Files larger
 * than `max_bytes` give AFLOC_ERR_LIMIT before anything is allocated; open/read errors give
 * AFLOC_ERR_IO. Messages start with `function`. */
afloc_status afloc_read_file(const char *path, size_t max_bytes, const char *function,
                             unsigned char **data, size_t *size);

/* A writer that may produce its output in several pieces. */
typedef afloc_status (*afloc_write_fn)(void *user, int fd);

/* Replaces `path` atomically: `write` fills a temp file "<path>.tmp.<pid>.<n>" in the same
 * directory, which is fsync'ed, renamed over `path`, and the directory fsync'ed. On any failure
 * the temp file is removed, the previous file at `path` is untouched, and AFLOC_ERR_IO (or the
 * writer's status) is returned. A failed fsync is never retried. */
afloc_status afloc_write_file_atomic(const char *path, afloc_write_fn write, void *user,
                                     const char *function);

/* Writes all `size` bytes to `fd`, retrying short writes and EINTR. AFLOC_ERR_IO on failure. */
afloc_status afloc_write_all(int fd, const void *data, size_t size, const char *function);

/* afloc_write_file_atomic for one contiguous buffer. */
afloc_status afloc_write_buffer_atomic(const char *path, const void *data, size_t size,
                                       const char *function);

#endif /* AFLOC_FILE_IO_H */
