/* file_io.c: bounded whole-file reads and atomic, durable replacement of a file. */
#include "file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"

afloc_status afloc_read_file(const char *path, size_t max_bytes, const char *function,
                             unsigned char **data, size_t *size) {
    if (!path || !data || !size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path or output is NULL", function);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return afloc_fail(AFLOC_ERR_IO, "%s: cannot open %s: %s", function, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return afloc_fail(AFLOC_ERR_IO, "%s: %s is not a regular file", function, path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        close(fd);
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: %s is %lld bytes, limit %zu", function, path,
                          (long long)st.st_size, max_bytes);
    }
    size_t length = (size_t)st.st_size;
    unsigned char *buffer = afloc_malloc(length);
    if (!buffer) {
        close(fd);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes for %s", function,
                          length, path);
    }
    size_t done = 0;
    while (done < length) {
        ssize_t got = read(fd, buffer + done, length - done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            int error = got < 0 ? errno : 0;
            afloc_free(buffer);
            close(fd);
            return afloc_fail(AFLOC_ERR_IO, "%s: read of %s stopped at byte %zu of %zu: %s", function,
                              path, done, length, error ? strerror(error) : "file shrank");
        }
        done += (size_t)got;
    }
    close(fd);
    *data = buffer;
    *size = length;
    return AFLOC_OK;
}

afloc_status afloc_write_all(int fd, const void *data, size_t size, const char *function) {
    const unsigned char *p = data;
    while (size > 0) {
        ssize_t put = write(fd, p, size);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0)
            return afloc_fail(AFLOC_ERR_IO, "%s: write failed: %s", function,
                              put < 0 ? strerror(errno) : "no progress");
        p += put;
        size -= (size_t)put;
    }
    return AFLOC_OK;
}

static atomic_uint temp_counter;

/* fsync of the directory holding `path`, so the rename itself is durable. */
static int sync_parent_directory(const char *path) {
    char directory[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(directory, sizeof directory, ".");
    else if (slash == path) snprintf(directory, sizeof directory, "/");
    else snprintf(directory, sizeof directory, "%.*s", (int)(slash - path), path);
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

afloc_status afloc_write_file_atomic(const char *path, afloc_write_fn write_fn, void *user,
                                     const char *function) {
    if (!path || !*path)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path is NULL or empty", function);
    char temp[PATH_MAX];
    int n = snprintf(temp, sizeof temp, "%s.tmp.%ld.%u", path, (long)getpid(),
                     atomic_fetch_add(&temp_counter, 1u));
    if (n < 0 || (size_t)n >= sizeof temp)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path too long (%zu bytes)", function,
                          strlen(path));
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return afloc_fail(AFLOC_ERR_IO, "%s: cannot create %s: %s", function, temp, strerror(errno));
    afloc_status status = write_fn(user, fd);
    if (status == AFLOC_OK && fsync(fd) != 0)
        status = afloc_fail(AFLOC_ERR_IO, "%s: fsync of %s failed: %s", function, temp, strerror(errno));
    if (close(fd) != 0 && status == AFLOC_OK)
        status = afloc_fail(AFLOC_ERR_IO, "%s: close of %s failed: %s", function, temp, strerror(errno));
    if (status == AFLOC_OK && rename(temp, path) != 0)
        status = afloc_fail(AFLOC_ERR_IO, "%s: rename %s -> %s failed: %s", function, temp, path,
                            strerror(errno));
    if (status != AFLOC_OK) {
        unlink(temp);
        return status;
    }
    if (sync_parent_directory(path) != 0)
        return afloc_fail(AFLOC_ERR_IO, "%s: %s written, but fsync of its directory failed: %s",
                          function, path, strerror(errno));
    return AFLOC_OK;
}

struct buffer_writer {
    const void *data;
    size_t      size;
    const char *function;
};

static afloc_status write_buffer(void *user, int fd) {
    const struct buffer_writer *w = user;
    return afloc_write_all(fd, w->data, w->size, w->function);
}

afloc_status afloc_write_buffer_atomic(const char *path, const void *data, size_t size,
                                       const char *function) {
    struct buffer_writer w = {data, size, function};
    return afloc_write_file_atomic(path, write_buffer, &w, function);
}
